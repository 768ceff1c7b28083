"""The run directory's store: ``results.sqlite`` (WAL) and ``artifacts/``.

Tables: ``runs`` (one row per invocation), ``plan`` (the units each run planned), ``units``
(finished units), ``results`` (long format: stage, model, layer, metric, value, labels as JSON) and
``artifacts`` (files under ``artifacts/<unit key>/`` with their sha256).

A unit is finished when, and only when, its row is committed: its artifact files are first written
to a temporary folder and moved into place, then the unit, its results and its artifacts' hashes
are inserted in one transaction. A run killed at any moment therefore leaves either a finished unit
or nothing that is read back: leftovers are swept on the next open, and every artifact is checked
against its sha256 when read.

Example:
    >>> import tempfile
    >>> from repalign.study.units import UnitOutput, make_unit, result_row
    >>> store = Store(tempfile.mkdtemp())
    >>> run = store.begin_run({"name": "demo"}, "cafe", [])
    >>> u = make_unit("features", "features m", {"m": 1})
    >>> store.commit_unit(run, u, UnitOutput([result_row("dim", 3.0, model="m")], {"x.txt": b"hi"}), 0.1)
    >>> store.read_files(u.key)
    {'x.txt': b'hi'}
    >>> store.close()
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from repalign._hashing import hash_file
from repalign._sqlite import immediate_transaction
from repalign.errors import DataFormatError
from repalign.study.units import Unit, UnitOutput

__all__ = ["Store", "load_results", "load_units"]

DB_NAME = "results.sqlite"
ARTIFACTS = "artifacts"
SCHEMA_VERSION = 1
_TMP_PREFIX = ".tmp-"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL,
    name TEXT, config TEXT NOT NULL, config_sha256 TEXT NOT NULL, version TEXT, host TEXT);
CREATE TABLE IF NOT EXISTS plan (
    run_id INTEGER NOT NULL REFERENCES runs(id), position INTEGER NOT NULL, unit_key TEXT NOT NULL,
    stage TEXT NOT NULL, name TEXT NOT NULL, params TEXT NOT NULL, deps TEXT NOT NULL,
    PRIMARY KEY (run_id, position));
CREATE TABLE IF NOT EXISTS units (
    key TEXT PRIMARY KEY, stage TEXT NOT NULL, name TEXT NOT NULL, params TEXT NOT NULL,
    deps TEXT NOT NULL, run_id INTEGER NOT NULL, finished TEXT NOT NULL, seconds REAL NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    unit_key TEXT NOT NULL REFERENCES units(key), seq INTEGER NOT NULL, stage TEXT NOT NULL,
    model TEXT, layer TEXT, metric TEXT NOT NULL, value REAL, labels TEXT NOT NULL,
    PRIMARY KEY (unit_key, seq));
CREATE TABLE IF NOT EXISTS artifacts (
    unit_key TEXT NOT NULL REFERENCES units(key), path TEXT NOT NULL, sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL, PRIMARY KEY (unit_key, path));
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_relpath(path: str) -> str:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts or path != str(p):
        raise DataFormatError(f"artifact path {path!r} must be a plain relative path inside the unit's folder.")
    return str(p)


class Store:
    """Read and write one run directory. Only the driver process writes.

    Args:
        run_dir: the run directory (created when missing).
        readonly: open an existing store for reading only (reports, ``repalign results``).
    """

    def __init__(self, run_dir: str | Path, *, readonly: bool = False) -> None:
        self.root = Path(run_dir)
        db = self.root / DB_NAME
        existed = db.is_file()
        if readonly:
            if not db.is_file():
                raise DataFormatError(
                    f"{self.root} is not a study run directory: {DB_NAME} not found in it. Give the "
                    "folder that `repalign run` wrote (its --out)."
                )
            self._db = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(db, isolation_level=None, timeout=30)
            if existed:
                self._check_schema()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._sweep()
        if readonly:
            self._check_schema()
        self._db.execute("PRAGMA foreign_keys=ON")
        self.readonly = readonly

    def _check_schema(self) -> None:
        """Refuse a store written with another schema (its tables or meaning differ)."""
        found = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if found != SCHEMA_VERSION:
            self._db.close()
            raise DataFormatError(
                f"{self.root} was written with study store schema version {found}, but this "
                f"repalign reads version {SCHEMA_VERSION}; its units cannot be reused or read. "
                "Run the study into a new --out folder (or use the repalign version that wrote "
                "it to read it)."
            )

    # -- housekeeping ---------------------------------------------------------------------------
    @property
    def artifacts_dir(self) -> Path:
        return self.root / ARTIFACTS

    def _sweep(self) -> None:
        """Remove what a killed run left behind: temporary folders and artifact folders whose
        unit was never committed."""
        art = self.artifacts_dir
        if not art.is_dir():
            return
        done = self.done_keys()
        for entry in art.iterdir():
            if entry.name.startswith(_TMP_PREFIX) or (entry.is_dir() and entry.name not in done):
                shutil.rmtree(entry, ignore_errors=True)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._db)

    # -- runs -----------------------------------------------------------------------------------
    def begin_run(self, config: dict[str, Any], config_sha256: str, plan: Sequence[Unit]) -> int:
        """Record a new invocation and the units it plans; returns the run id."""
        from repalign import __version__

        with self._transaction() as db:
            cur = db.execute(
                "INSERT INTO runs (started, status, name, config, config_sha256, version, host) "
                "VALUES (?, 'running', ?, ?, ?, ?, ?)",
                (_now(), config.get("name"), json.dumps(config, sort_keys=True), config_sha256,
                 __version__, socket.gethostname()),
            )
            run_id = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO plan (run_id, position, unit_key, stage, name, params, deps) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (run_id, i, u.key, u.stage, u.name, json.dumps(dict(u.params), sort_keys=True),
                     json.dumps(list(u.deps)))
                    for i, u in enumerate(plan)
                ],
            )
        return run_id

    def end_run(self, run_id: int, status: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE runs SET finished = ?, status = ? WHERE id = ?", (_now(), status, run_id))

    def last_run(self) -> dict[str, Any]:
        """The latest run's row (id, status, name, config, ...)."""
        cur = self._db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1")
        row = cur.fetchone()
        if row is None:
            raise DataFormatError(f"{self.root} holds no run yet; start one with `repalign run`.")
        rec = dict(zip([c[0] for c in cur.description], row, strict=True))
        rec["config"] = json.loads(rec["config"])
        return rec

    def plan(self, run_id: int | None = None) -> pd.DataFrame:
        """The units planned by a run (default the latest): position, key, stage, name, params,
        deps, and whether each is finished."""
        run_id = self.last_run()["id"] if run_id is None else run_id
        df = pd.read_sql_query(
            "SELECT p.position, p.unit_key AS key, p.stage, p.name, p.params, p.deps, "
            "u.seconds, u.finished IS NOT NULL AS done FROM plan p LEFT JOIN units u "
            "ON u.key = p.unit_key WHERE p.run_id = ? ORDER BY p.position",
            self._db,
            params=(run_id,),
        )
        df["params"] = [json.loads(s) for s in df["params"]]
        df["deps"] = [json.loads(s) for s in df["deps"]]
        df["done"] = df["done"].astype(bool)
        return df

    # -- units ----------------------------------------------------------------------------------
    def done_keys(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT key FROM units")}

    def commit_unit(self, run_id: int, unit: Unit, output: UnitOutput, seconds: float) -> None:
        """Write a finished unit: artifact files moved into place, then one transaction."""
        final = self.artifacts_dir / unit.key
        records = []
        if output.files:
            tmp = self.artifacts_dir / f"{_TMP_PREFIX}{unit.key}-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            for rel, data in sorted(output.files.items()):
                rel = _check_relpath(rel)
                path = tmp / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                records.append((unit.key, rel, hashlib.sha256(data).hexdigest(), len(data)))
            shutil.rmtree(final, ignore_errors=True)  # left by a run killed before its commit
            os.replace(tmp, final)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO units (key, stage, name, params, deps, run_id, finished, seconds) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (unit.key, unit.stage, unit.name, json.dumps(dict(unit.params), sort_keys=True),
                 json.dumps(list(unit.deps)), run_id, _now(), float(seconds)),
            )
            db.executemany(
                "INSERT INTO results (unit_key, seq, stage, model, layer, metric, value, labels) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (unit.key, i, unit.stage, r.get("model"), r.get("layer"), r["metric"], r["value"],
                     json.dumps(r.get("labels", {}), sort_keys=True))
                    for i, r in enumerate(output.rows)
                ],
            )
            db.executemany("INSERT INTO artifacts (unit_key, path, sha256, bytes) VALUES (?, ?, ?, ?)", records)

    def forget_unit(self, key: str) -> None:
        """Remove a finished unit (its rows and artifacts) so that it is computed again."""
        with self._transaction() as db:
            for table, col in (("results", "unit_key"), ("artifacts", "unit_key"), ("units", "key")):
                db.execute(f"DELETE FROM {table} WHERE {col} = ?", (key,))
        shutil.rmtree(self.artifacts_dir / key, ignore_errors=True)

    # -- artifacts ------------------------------------------------------------------------------
    def _artifact_records(self, key: str) -> list[tuple[str, str, int]]:
        return list(
            self._db.execute(
                "SELECT path, sha256, bytes FROM artifacts WHERE unit_key = ? ORDER BY path", (key,)
            )
        )

    def artifact_problems(self, key: str) -> list[str]:
        """What is wrong with a finished unit's files (missing, resized, altered); empty if none."""
        problems = []
        for rel, sha, size in self._artifact_records(key):
            path = self.artifacts_dir / key / rel
            if not path.is_file():
                problems.append(f"{path} is missing")
            elif path.stat().st_size != size or hash_file(path) != sha:
                problems.append(f"{path} does not match its recorded sha256")
        return problems

    def read_files(self, key: str) -> dict[str, bytes]:
        """A finished unit's artifact files, each checked against its sha256.

        Raises:
            DataFormatError: a file is missing or altered.
        """
        out = {}
        for rel, sha, _ in self._artifact_records(key):
            path = self.artifacts_dir / key / rel
            try:
                data = path.read_bytes()
            except OSError:
                data = None
            if data is None or hashlib.sha256(data).hexdigest() != sha:
                raise DataFormatError(
                    f"Artifact {path} is missing or does not match its recorded sha256; run "
                    f"`repalign run` on {self.root} again to recompute it."
                )
            out[rel] = data
        return out

    def artifact_path(self, key: str, rel: str) -> Path:
        """Path of a finished unit's artifact file (checked against its sha256 first)."""
        recs = {r[0]: r for r in self._artifact_records(key)}
        if rel not in recs:
            raise DataFormatError(f"Unit {key[:12]} has no artifact {rel!r}; it has {sorted(recs)}.")
        path = self.artifacts_dir / key / rel
        if not path.is_file() or hash_file(path) != recs[rel][1]:
            raise DataFormatError(
                f"Artifact {path} is missing or does not match its recorded sha256; run "
                f"`repalign run` on {self.root} again to recompute it."
            )
        return path

    # -- results --------------------------------------------------------------------------------
    def unit_rows(self, key: str) -> list[dict[str, Any]]:
        """A finished unit's result rows (as produced by the unit)."""
        cur = self._db.execute(
            "SELECT model, layer, metric, value, labels FROM results WHERE unit_key = ? ORDER BY seq", (key,)
        )
        return [
            {"model": m, "layer": la, "metric": me, "value": v, "labels": json.loads(lb)}
            for m, la, me, v, lb in cur
        ]

    def results(self, keys: Iterable[str] | None = None, *, stage: str | None = None) -> pd.DataFrame:
        """Results of the latest run's plan (or of ``keys``) in long format; labels become columns.

        Columns: ``stage, model, layer, metric, value``, then one column per label (sorted), then
        ``unit``. Rows follow the plan's order and each unit's own order.
        """
        if keys is None:
            order = self.plan()["key"].tolist()
        else:
            order = list(keys)
        pos = {k: i for i, k in enumerate(order)}
        df = pd.read_sql_query(
            "SELECT unit_key AS unit, seq, stage, model, layer, metric, value, labels FROM results",
            self._db,
        )
        df = df[df["unit"].isin(pos)]
        if stage is not None:
            df = df[df["stage"] == stage]
        df = df.assign(_pos=df["unit"].map(pos)).sort_values(["_pos", "seq"], kind="stable")
        labels = pd.DataFrame([json.loads(s) for s in df["labels"]], index=df.index)
        base = df[["stage", "model", "layer", "metric", "value"]].astype({"value": float})
        out = pd.concat([base, labels[sorted(labels.columns)], df[["unit"]]], axis=1)
        return out.reset_index(drop=True)

    def units(self) -> pd.DataFrame:
        """Finished units: key, stage, name, run id, finish time and seconds taken."""
        return pd.read_sql_query(
            "SELECT key, stage, name, run_id, finished, seconds FROM units ORDER BY finished", self._db
        )


def load_results(run_dir: str | Path, *, stage: str | None = None) -> pd.DataFrame:
    """The results of a study run as a tidy DataFrame (see :meth:`Store.results`).

    Example:
        >>> df = load_results("repalign_demo")                           # doctest: +SKIP
        >>> df[df.metric == "rsa_spearman"].pivot_table("value", "model", "other")  # doctest: +SKIP
    """
    with Store(run_dir, readonly=True) as store:
        return store.results(stage=stage)


def load_units(run_dir: str | Path) -> pd.DataFrame:
    """The latest run's planned units with their status (``done``) and seconds taken."""
    with Store(run_dir, readonly=True) as store:
        return store.plan()

