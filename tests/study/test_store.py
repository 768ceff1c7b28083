"""The run store: atomic unit commits, sha256-checked artifacts, sweeping of leftovers, tidy results."""

from __future__ import annotations

import math
import sqlite3

import pytest

from repalign.errors import DataFormatError
from repalign.study.store import Store, load_results
from repalign.study.units import UnitOutput, make_unit, result_row, rows_from_frame


def _unit(i: int, deps=()):
    return make_unit("features", f"unit {i}", {"i": i}, [d.key for d in deps])


def _output(i: int) -> UnitOutput:
    return UnitOutput(
        rows=[
            result_row("dim", 10 + i, model=f"m{i}", layer="fc"),
            result_row("score", 0.5, model=f"m{i}", layer="fc", other="ref", shots=5),
            result_row("nan", float("nan"), model=f"m{i}"),
        ],
        files={"feats.bin": bytes([i]) * 100, "sub/meta.json": b'{"i": %d}' % i},
    )


def test_unit_keys_are_content_hashes():
    a, b = _unit(1), _unit(1)
    assert a.key == b.key and len(a.key) == 64
    assert _unit(2).key != a.key
    assert make_unit("features", "x", {"i": 1}, [a.key]).key != a.key  # deps enter the key
    assert make_unit("features", "renamed", {"i": 1}).key == a.key  # the name does not
    assert make_unit("features", "x", {"i": 1}, cpus=4).key == a.key  # nor the resources


def test_commit_read_and_results(tmp_path):
    units = [_unit(0), _unit(1)]
    with Store(tmp_path) as store:
        run = store.begin_run({"name": "t"}, "sha", units)
        for i, u in enumerate(units):
            store.commit_unit(run, u, _output(i), 0.5)
        store.end_run(run, "finished")
        assert store.done_keys() == {u.key for u in units}
        assert store.read_files(units[1].key) == {"feats.bin": b"\x01" * 100, "sub/meta.json": b'{"i": 1}'}
        assert store.unit_rows(units[0].key)[1]["labels"] == {"other": "ref", "shots": 5}
        assert store.plan()["done"].tolist() == [True, True]
    assert (tmp_path / "results.sqlite").is_file()
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == 4
        sha = db.execute("SELECT sha256 FROM artifacts WHERE path = 'feats.bin' LIMIT 1").fetchone()[0]
    import hashlib

    assert sha == hashlib.sha256(b"\x00" * 100).hexdigest()
    df = load_results(tmp_path)
    assert list(df.columns) == ["stage", "model", "layer", "metric", "value", "other", "shots", "unit"]
    assert df["metric"].tolist() == ["dim", "score", "nan"] * 2
    assert df["model"].tolist() == ["m0"] * 3 + ["m1"] * 3
    assert df["value"].iloc[0] == 10 and math.isnan(df["value"].iloc[2])
    assert load_results(tmp_path, stage="similarity").empty


def test_a_unit_is_committed_once(tmp_path):
    u = _unit(0)
    with Store(tmp_path) as store:
        run = store.begin_run({}, "sha", [u])
        store.commit_unit(run, u, _output(0), 0.1)
        with pytest.raises(sqlite3.IntegrityError):
            store.commit_unit(run, u, _output(0), 0.1)
        assert len(store.results()) == 3  # the failed second commit left nothing behind


def test_results_follow_the_latest_plan(tmp_path):
    a, b = _unit(0), _unit(1)
    with Store(tmp_path) as store:
        run = store.begin_run({}, "sha", [a, b])
        store.commit_unit(run, a, _output(0), 0.1)
        store.commit_unit(run, b, _output(1), 0.1)
        store.begin_run({}, "sha2", [b])  # the study changed: unit a is no longer part of it
        assert set(store.results()["model"]) == {"m1"}


def test_altered_or_missing_artifacts_are_detected(tmp_path):
    u = _unit(0)
    with Store(tmp_path) as store:
        run = store.begin_run({}, "sha", [u])
        store.commit_unit(run, u, _output(0), 0.1)
        path = tmp_path / "artifacts" / u.key / "feats.bin"
        path.write_bytes(b"\x00" * 99 + b"\x01")  # same size, other bytes
        assert store.artifact_problems(u.key) == [f"{path} does not match its recorded sha256"]
        with pytest.raises(DataFormatError, match=r"does not match its recorded sha256; run `repalign run`"):
            store.read_files(u.key)
        with pytest.raises(DataFormatError, match="does not match"):
            store.artifact_path(u.key, "feats.bin")
        path.unlink()
        assert store.artifact_problems(u.key) == [f"{path} is missing"]
        store.forget_unit(u.key)
        assert store.done_keys() == set() and store.results().empty
        assert not (tmp_path / "artifacts" / u.key).exists()


def test_leftovers_of_a_killed_run_are_swept(tmp_path):
    u, v = _unit(0), _unit(1)
    with Store(tmp_path) as store:
        run = store.begin_run({}, "sha", [u, v])
        store.commit_unit(run, u, _output(0), 0.1)
    art = tmp_path / "artifacts"
    (art / f".tmp-{v.key}-123").mkdir()  # killed while writing files
    (art / f".tmp-{v.key}-123" / "feats.bin").write_bytes(b"half")
    (art / v.key).mkdir()  # killed after moving files into place, before the commit
    (art / v.key / "feats.bin").write_bytes(b"uncommitted")
    with Store(tmp_path) as store:
        assert sorted(p.name for p in art.iterdir()) == [u.key]
        run = store.begin_run({}, "sha", [u, v])
        store.commit_unit(run, v, _output(1), 0.1)
        assert store.read_files(v.key)["feats.bin"] == b"\x01" * 100


def test_readonly_store_errors(tmp_path):
    with pytest.raises(DataFormatError, match=r"not a study run directory: results\.sqlite not found"):
        Store(tmp_path / "nothing", readonly=True)
    Store(tmp_path).close()
    with pytest.raises(DataFormatError, match="holds no run yet"):
        load_results(tmp_path)


def test_bad_artifact_paths_and_labels(tmp_path):
    u = _unit(0)
    with Store(tmp_path) as store:
        run = store.begin_run({}, "sha", [u])
        with pytest.raises(DataFormatError, match="plain relative path"):
            store.commit_unit(run, u, UnitOutput(files={"../escape": b"x"}), 0.1)
        assert store.done_keys() == set()
    from repalign.errors import ShapeError

    with pytest.raises(ShapeError, match="label 'x' must be a string or number, received list"):
        result_row("m", 1.0, x=[1, 2])


def test_rows_from_frame():
    import pandas as pd

    wide = pd.DataFrame({"model": ["a", "b"], "layer": ["l", "l"], "observer": ["o", "o"], "acc": [0.5, 1.0], "sem": [0.1, float("nan")]})
    rows = rows_from_frame(wide, ["acc", "sem"], test="recog")
    assert [(r["model"], r["metric"], r["value"]) for r in rows] == [
        ("a", "acc", 0.5), ("a", "sem", 0.1), ("b", "acc", 1.0), ("b", "sem", None)]
    assert rows[0]["labels"] == {"test": "recog", "observer": "o"}
    long = pd.DataFrame({"model": ["a"], "metric": ["two_afc"], "value": [0.25], "n": [4]})
    (row,) = rows_from_frame(long, ["value"])
    assert row["metric"] == "two_afc" and row["value"] == 0.25 and row["labels"] == {"n": 4}


def test_a_store_of_another_schema_version_is_refused(tmp_path):
    from repalign.study.store import DB_NAME, SCHEMA_VERSION

    run = tmp_path / "run"
    with Store(run) as store:
        run_id = store.begin_run({"name": "t"}, "sha", [_unit(0)])
        store.commit_unit(run_id, _unit(0), _output(0), 0.1)
        store.end_run(run_id, "finished")
    with sqlite3.connect(run / DB_NAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    Store(run).close()  # the same version opens again
    with sqlite3.connect(run / DB_NAME) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    for readonly in (False, True):
        with pytest.raises(DataFormatError, match=rf"schema version {SCHEMA_VERSION + 1}.*new --out"):
            Store(run, readonly=readonly)
    with pytest.raises(DataFormatError, match="schema version"):
        load_results(run)
