"""Export an experiment database to the project's own formats, streaming (flat memory).

Always written:

- ``responses.csv``: one row per stored response: participant (number and external id, study and
  session ids, status), trial index and kind, planned trial, the trial's images (``stimuli``,
  canonical order), ``positions`` and ``onscreen_order``, the response as sent and as
  interpreted (``answer``), reaction time, client and server timestamps, exclusion flags.
- ``participants.csv``: one row per participant with status, counts and flags;
  ``stimuli.csv``: every image's name, kind, index, source id and label.

Per paradigm (main trials only; catch trials stay in ``responses.csv``):

- odd_one_out: ``triplets.csv`` in the ``trials`` layout of :func:`repalign.data.load_triplets`
  (``index_base=0``, ``choice_base=1``: three stimulus indices as shown, the position of the odd
  one out, the participant number) and ``triplets_included.csv`` without flagged participants;
- two_afc: ``two_afc/`` in the BAPPS layout (``ref`` = metamer, ``p0`` = target, ``p1`` = seed,
  ``judge`` = share of people choosing the seed) that :func:`repalign.data.load_two_afc` reads,
  and ``two_afc_scores.csv`` with the columns of :func:`repalign.evaluation.two_afc`
  (``distance="human"``);
- matching: ``matching.csv`` (per response: accuracy) and ``matching_scores.csv`` with the
  columns of :func:`repalign.evaluation.clustering` (``distance="human"``);
- recognition: ``recognition.csv`` and ``recognition_scores.csv`` with the columns of
  :func:`repalign.evaluation.recognizability` (``observer="human"``);
- rating: ``ratings.csv`` and ``similarity.csv`` (mean rating per pair rescaled to [0, 1],
  diagonal 1; stimulus names in the header), readable by
  :func:`repalign.data.load_similarity_matrix` once every pair has a rating.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from repalign._io import atomic_path, atomic_write_bytes
from repalign._progress import progress
from repalign.experiments.store import connect

__all__ = ["RAW_COLUMNS", "export_experiment", "raw_csv_chunks"]

log = logging.getLogger(__name__)

RAW_COLUMNS = ["participant", "participant_id", "study_id", "session_id", "status",
               "trial_index", "kind", "planned_trial", "repeat_of", "stimuli", "positions",
               "onscreen_order", "response", "answer", "rt_ms", "client_sent_at", "received_at",
               "response_id", "flags", "excluded"]

_QUERY = """
SELECT r.participant, p.external_id, p.study_id, p.session_id, p.status, r.trial_index,
       a.kind, a.planned_id, a.spec, r.onscreen_order, r.response, r.answer, r.rt_ms,
       r.client_sent_at, r.received_at, r.response_id
FROM responses r
JOIN participants p ON p.id = r.participant
JOIN assignments a ON a.participant = r.participant AND a.trial_index = r.trial_index
ORDER BY r.id
"""


def _flags(conn: sqlite3.Connection) -> dict[int, str]:
    out: dict[int, list[str]] = {}
    for pid, rule in conn.execute("SELECT participant, rule FROM flags ORDER BY participant, rule"):
        out.setdefault(int(pid), []).append(str(rule))
    return {k: ";".join(v) for k, v in out.items()}


def _rows(conn: sqlite3.Connection, flags: dict[int, str]) -> Iterator[dict[str, Any]]:
    cur = conn.execute(_QUERY)
    while True:
        chunk = cur.fetchmany(2000)
        if not chunk:
            return
        for (pid, ext, study, sess, status, ti, kind, planned, spec, onscreen, resp, answer,
             rt, sent, received, rid) in chunk:
            t = json.loads(spec)
            f = flags.get(int(pid), "")
            yield {"participant": pid, "participant_id": ext, "study_id": study,
                   "session_id": sess, "status": status, "trial_index": ti, "kind": kind,
                   "planned_trial": planned, "repeat_of": t.get("repeat_of"),
                   "stimuli": json.dumps(t["stimuli"]), "positions": json.dumps(t["positions"]),
                   "onscreen_order": onscreen, "response": resp, "answer": answer,
                   "rt_ms": rt, "client_sent_at": sent, "received_at": received,
                   "response_id": rid, "flags": f,
                   "excluded": int(bool(f) or status == "failed"),
                   "_trial": t, "_answer": json.loads(answer), "_onscreen": json.loads(onscreen)}


def raw_csv_chunks(db: str | Path) -> Iterator[bytes]:
    """The raw per-response table as CSV, in chunks of about 64 KiB (for streaming)."""
    conn = connect(db, readonly=True)
    try:
        buf = io.StringIO()
        w = csv.DictWriter(buf, RAW_COLUMNS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for row in _rows(conn, _flags(conn)):
            w.writerow(row)
            if buf.tell() > 65536:
                yield buf.getvalue().encode("utf-8")
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue().encode("utf-8")
    finally:
        conn.close()


class _Writer:
    """A CSV file written row by row, atomically replaced when closed."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self._ctx = atomic_path(path)
        self._tmp = self._ctx.__enter__()
        self._fh = open(self._tmp, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self._fh, lineterminator="\n")
        self.writer.writerow(header)
        self.n = 0

    def row(self, values: list[Any]) -> None:
        self.writer.writerow(values)
        self.n += 1

    def close(self) -> None:
        self._fh.close()
        self._ctx.__exit__(None, None, None)


def _summarize_rows(groups: dict[tuple[Any, ...], list[float]], recipe_cols: list[str],
                    fixed: dict[str, Any], extra: dict[tuple[Any, ...], dict[str, Any]],
                    columns: list[str], path: Path) -> None:
    import pandas as pd

    from repalign.evaluation._common import summarize

    rows = []
    for key, values in groups.items():
        rows.append({**dict(zip(recipe_cols, key[:len(recipe_cols)], strict=True)), **fixed,
                     **extra.get(key, {}), **summarize(values)})
    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=columns).to_csv(tmp, index=False)


def export_experiment(db: str | Path, out: str | Path, *, quiet: bool = False) -> dict[str, Any]:
    """Write the database ``db``'s responses into the folder ``out`` (see the module doc).

    Args:
        db: an experiment database (``repalign experiment serve --db``).
        out: output folder (created).
        quiet: no progress bar.

    Returns:
        ``{"responses": n, "participants": n, "files": [paths], "paradigm": ...}``.

    Raises:
        DataFormatError: ``db`` is not an experiment database.

    Example:
        >>> export_experiment("exp.sqlite", "export/")  # doctest: +SKIP
        >>> load_triplets("export/triplets.csv", index_base=0)  # doctest: +SKIP
    """
    from repalign.errors import DataFormatError
    from repalign.evaluation._common import RECIPE
    from repalign.evaluation.clustering import COLUMNS as CLUSTERING_COLUMNS
    from repalign.evaluation.recognizability import COLUMNS as RECOGNITION_COLUMNS
    from repalign.evaluation.two_afc import COLUMNS as TWO_AFC_COLUMNS

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    conn = connect(db, readonly=True)
    try:
        meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise DataFormatError(f"{db}: not an experiment database ({exc}).") from exc
    if "paradigm" not in meta:
        conn.close()
        raise DataFormatError(f"{db}: not an experiment database (no experiment in it).")
    paradigm = meta["paradigm"]
    cfg = meta["config"]
    files: list[Path] = []
    try:
        stimuli = {m["name"]: m for m in (json.loads(s) for (s,) in conn.execute(
            "SELECT meta FROM stimuli ORDER BY rowid"))}
        w = _Writer(out / "stimuli.csv", ["name", "kind", "index", "source_id", "label"])
        for m in stimuli.values():
            w.row([m["name"], m["kind"], m["index"], m["source_id"], m["label"]])
        w.close()
        flags = _flags(conn)
        people = conn.execute(
            "SELECT p.id, p.external_id, p.study_id, p.session_id, p.status, p.n_trials, "
            "p.created_at, p.finished_at, (SELECT count(*) FROM responses r WHERE "
            "r.participant = p.id) FROM participants p ORDER BY p.id").fetchall()
        w = _Writer(out / "participants.csv", ["participant", "participant_id", "study_id",
                                               "session_id", "status", "n_trials", "created_at",
                                               "finished_at", "n_responses", "flags", "excluded"])
        for row in people:
            f = flags.get(int(row[0]), "")
            w.row([*row, f, int(bool(f) or row[4] == "failed")])
        w.close()
        files += [out / "stimuli.csv", out / "participants.csv"]
        n_resp = conn.execute("SELECT count(*) FROM responses").fetchone()[0]

        raw = _Writer(out / "responses.csv", RAW_COLUMNS)
        files.append(out / "responses.csv")
        # per-paradigm writers and accumulators (bounded by planned trials, not responses)
        w_all = w_inc = None
        if paradigm == "odd_one_out":
            head = ["item_a", "item_b", "item_c", "odd_position", "participant"]
            w_all, w_inc = _Writer(out / "triplets.csv", head), _Writer(
                out / "triplets_included.csv", head)
            files += [out / "triplets.csv", out / "triplets_included.csv"]
        elif paradigm in ("matching", "recognition", "rating"):
            head = {"matching": ["participant", "trial_index", "planned_trial", "draw",
                                 "n_metamers", "n_correct", "accuracy", "excluded"],
                    "recognition": ["participant", "trial_index", "planned_trial", "image",
                                    "kind", "label", "answer", "correct", "excluded"],
                    "rating": ["participant", "trial_index", "image_a", "image_b", "rating",
                               "excluded"]}[paradigm]
            table = out / ("ratings.csv" if paradigm == "rating" else f"{paradigm}.csv")
            w_all = _Writer(table, head)
            files.append(table)
        counts: dict[int, list[int]] = {}
        groups: dict[tuple[Any, ...], list[float]] = {}
        pair_sum: dict[tuple[str, str], list[float]] = {}
        bar = progress(total=n_resp, quiet=quiet, desc="export", unit="response")
        for row in _rows(conn, flags):
            raw.row([row[c] for c in RAW_COLUMNS])
            bar.update(1)
            if row["kind"] != "main":
                continue
            t, a, pid = row["_trial"], row["_answer"], row["participant"]
            excl = row["excluded"]
            if paradigm == "odd_one_out":
                shown = row["_onscreen"]
                idx = [stimuli[n]["index"] for n in shown]
                line = [*idx, shown.index(a["odd"]) + 1, pid]
                assert w_all is not None and w_inc is not None
                w_all.row(line)
                if not excl:
                    w_inc.row(line)
            elif paradigm == "two_afc":
                c = counts.setdefault(int(row["planned_trial"]), [0, 0])
                c[0] += 1
                c[1] += int(a["chosen"] == t["stimuli"][2])
            elif paradigm == "matching":
                truth = {m: stimuli[m]["target"] for m in a["matches"]}
                n_ok = sum(truth[m] == tgt for m, tgt in a["matches"].items())
                n = len(t["stimuli"]) - len(t["choices"])
                rec = stimuli[t["stimuli"][0]]["recipe"]
                key = (*(rec.get(k, "") for k in RECIPE), cfg["matching"]["draw"])
                assert w_all is not None
                w_all.row([pid, row["trial_index"], row["planned_trial"], key[-1], n, n_ok,
                           n_ok / n, excl])
                groups.setdefault(key, []).append(n_ok / n)
            elif paradigm == "recognition":
                item = stimuli[t["stimuli"][0]]
                ok = int(a["label"] == item["label"])
                assert w_all is not None
                w_all.row([pid, row["trial_index"], row["planned_trial"], item["name"],
                           item["kind"], item["label"], a["label"], ok, excl])
                if item["kind"] == "target":
                    recipes = {tuple(m["recipe"].get(k, "") for k in RECIPE)
                               for m in stimuli.values()
                               if m["kind"] == "metamer" and m["target"] == item["name"]}
                    for rec_key in recipes:
                        groups.setdefault((*rec_key, "accuracy_targets"), []).append(ok)
                else:
                    rec_key = tuple(item["recipe"].get(k, "") for k in RECIPE) \
                        if item["kind"] == "metamer" else (("",) * len(RECIPE))
                    metric = "accuracy_metamers" if item["kind"] == "metamer" else "accuracy"
                    groups.setdefault((*rec_key, metric), []).append(ok)
            elif paradigm == "rating":
                sa, sb = sorted(t["stimuli"])
                assert w_all is not None
                w_all.row([pid, row["trial_index"], sa, sb, a["rating"], excl])
                pair_sum.setdefault((sa, sb), []).append(a["rating"])
        bar.close()
        raw.close()
        for wr in (w_all, w_inc):
            if wr is not None:
                wr.close()
        recipe_cols = list(RECIPE)
        if paradigm == "two_afc":
            files += _write_two_afc(conn, out, counts, stimuli, recipe_cols, TWO_AFC_COLUMNS)
        elif paradigm == "matching":
            metric = "clustering_hard" if cfg["matching"]["draw"] == "hard" else "clustering"
            _summarize_rows({k[:-1]: v for k, v in groups.items()}, recipe_cols,
                            {"distance": "human", "metric": metric, "chance": 1.0 / 3.0},
                            {}, CLUSTERING_COLUMNS, out / "matching_scores.csv")
            files.append(out / "matching_scores.csv")
        elif paradigm == "recognition":
            chance = 1.0 / max(1, len(meta.get("label_names") or []))
            extra = {k: {"metric": k[-1]} for k in groups}
            _summarize_rows(groups, recipe_cols, {"observer": "human", "chance": chance}, extra,
                            RECOGNITION_COLUMNS, out / "recognition_scores.csv")
            files.append(out / "recognition_scores.csv")
        elif paradigm == "rating":
            files.append(_write_similarity(out, stimuli, pair_sum, cfg["rating"]))
    finally:
        conn.close()
    log.info("exported %d responses of %d participants to %s", n_resp, len(people), out)
    return {"paradigm": paradigm, "responses": n_resp, "participants": len(people),
            "files": [str(f) for f in files]}


def _write_two_afc(conn: sqlite3.Connection, out: Path, counts: dict[int, list[int]],
                   stimuli: dict[str, Any], recipe_cols: list[str],
                   columns: list[str]) -> list[Path]:
    from repalign.evaluation._common import RECIPE

    root = out / "two_afc"
    groups: dict[tuple[Any, ...], dict[str, list[float]]] = {}
    for planned_id, (n, n_seed) in sorted(counts.items()):
        (spec,) = conn.execute("SELECT spec FROM planned_trials WHERE id = ?",
                               (planned_id,)).fetchone()
        items = json.loads(spec)["items"]  # metamer, target, seed
        stem = f"{stimuli[items[0]]['index']:05d}"
        for sub, name in zip(("ref", "p0", "p1"), items, strict=True):
            (png,) = conn.execute("SELECT png FROM stimuli WHERE name = ?", (name,)).fetchone()
            atomic_write_bytes(root / sub / f"{stem}.png", bytes(png))
        h = n_seed / n
        with atomic_path(root / "judge" / f"{stem}.npy") as tmp:
            np.save(tmp, np.array([h]))
        m = stimuli[items[0]]
        key = tuple(m["recipe"].get(k, "") for k in RECIPE)
        groups.setdefault(key, {}).setdefault(m["target"], []).append(1.0 - h)
    import pandas as pd

    from repalign.evaluation._common import summarize

    rows = []
    for key, by_target in groups.items():
        per_target = [float(np.mean(v)) for v in by_target.values()]
        rows.append({**dict(zip(recipe_cols, key, strict=True)), "distance": "human",
                     "metric": "two_afc", **summarize(per_target),
                     "n_metamers": sum(len(v) for v in by_target.values()), "chance": 0.5})
    with atomic_path(out / "two_afc_scores.csv") as tmp:
        pd.DataFrame(rows, columns=columns).to_csv(tmp, index=False)
    return [root, out / "two_afc_scores.csv"]


def _write_similarity(out: Path, stimuli: dict[str, Any], pair_sum: dict[tuple[str, str],
                      list[float]], rating: dict[str, Any]) -> Path:
    names = [n for n, m in stimuli.items() if m["kind"] == "stimulus"]
    pos = {n: i for i, n in enumerate(names)}
    lo, hi = float(rating["min"]), float(rating["max"])
    mat = np.full((len(names), len(names)), np.nan)
    np.fill_diagonal(mat, 1.0)
    for (a, b), vals in pair_sum.items():
        if a != b:
            mat[pos[a], pos[b]] = mat[pos[b], pos[a]] = (float(np.mean(vals)) - lo) / (hi - lo)
    missing = int(np.isnan(mat).sum() // 2)
    if missing:
        log.warning("similarity.csv: %d pair(s) have no rating yet (empty cells); the matrix "
                    "loads once every pair is rated", missing)
    with atomic_path(out / "similarity.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["", *names])
        for n, r in zip(names, mat, strict=True):
            w.writerow([n, *("" if np.isnan(v) else repr(float(v)) for v in r)])
    return out / "similarity.csv"
