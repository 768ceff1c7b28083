"""Kill a study with SIGKILL at several points, resume it, and get the uninterrupted results."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from repalign.study.runner import run_study
from repalign.study.store import load_results, load_units

_DRIVER = (
    "import json, sys\n"
    "from repalign.study.runner import run_study\n"
    "run_study(json.loads(sys.argv[1]), out=sys.argv[2], report=False, quiet=True)\n"
)


def _finished_units(db: Path) -> int:
    """Units finished by the current invocation's plan (-1 while it has not recorded its run)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            runs, planned = con.execute(
                "SELECT COUNT(*), (SELECT COUNT(*) FROM plan WHERE run_id = (SELECT MAX(id) FROM runs)) FROM runs"
            ).fetchone()
            if not runs or not planned:
                return -1
            return int(con.execute("SELECT COUNT(*) FROM units").fetchone()[0])
    except sqlite3.Error:  # not created yet, or the schema is being written
        return -1


def _run_and_kill(kill_when, config: dict, out: Path, after: int) -> int:
    """Start the study in a subprocess, SIGKILL it once ``after`` units are finished (``after=0``:
    as soon as it has planned, before any unit ends); return the finished count after the kill."""
    db = out / "results.sqlite"
    kill_when(_DRIVER, [json.dumps(config), str(out)], lambda: _finished_units(db) >= after,
              f"{after} finished units", poll=0.02)
    return _finished_units(db)


def test_sigkill_at_several_points_then_resume(kill_when, tiny_run, tiny_config, comparable, tmp_path):
    baseline = comparable(load_results(tiny_run))
    total = len(load_units(tiny_run))
    out = tmp_path / "killed"
    cfg = tiny_config()
    seen = []
    for after in (0, 8, 20):  # before any unit, among the features, in the gLocal stage
        done = _run_and_kill(kill_when, cfg, out, after)
        assert after <= done < total, (after, done)
        seen.append(done)
        # what a killed run left is consistent: every finished unit has all its rows and files
        partial = load_results(out)
        assert set(partial["unit"]) <= set(baseline["unit"])
        for unit, rows in partial.groupby("unit"):
            expected = baseline[baseline["unit"] == unit].dropna(axis=1, how="all")
            pd.testing.assert_frame_equal(
                comparable(rows.dropna(axis=1, how="all")), comparable(expected), check_exact=True
            )
    assert seen == sorted(seen)
    run = run_study(cfg, out=out, report=False, quiet=True)
    assert run.ran == total - seen[-1]
    resumed = comparable(load_results(out))
    pd.testing.assert_frame_equal(resumed, baseline, check_exact=True)
    assert not resumed.duplicated().any()
    with sqlite3.connect(out / "results.sqlite") as con:
        statuses = [r[0] for r in con.execute("SELECT status FROM runs ORDER BY id")]
    assert statuses == ["running"] * 3 + ["finished"]  # killed runs never got to record an end
    assert not [p for p in (out / "artifacts").iterdir() if p.name.startswith(".tmp-")]


def test_a_damaged_artifact_is_recomputed(tiny_run, tiny_config, comparable, tmp_path, caplog):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(tiny_run, out)
    units = load_units(out)
    key = units[units["stage"] == "metamers"]["key"].iloc[0]
    (out / "artifacts" / key / "result.npz").write_bytes(b"half-written")
    run = run_study(tiny_config(), out=out, report=False, quiet=True)
    assert run.ran == 1
    assert "is damaged and runs again" in caplog.text
    pd.testing.assert_frame_equal(comparable(load_results(out)), comparable(load_results(tiny_run)))


def test_one_writer_at_a_time(tiny_run, tiny_config):
    import fcntl

    from repalign.errors import ConfigError

    with open(tiny_run / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ConfigError, match="Another `repalign run` is writing to"):
            run_study(tiny_config(), out=tiny_run, report=False, quiet=True)
