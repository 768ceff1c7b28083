"""A real uvicorn server process killed with SIGKILL while simulated participants answer, then
restarted: every acknowledged response is in the database once, and everyone finishes."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("uvicorn")

from repalign.experiments import Experiment
from repalign.experiments.loadtest import ServerProcess, audit
from repalign.experiments.simulate import simulate_participants

CONFIG = """
paradigm = "odd_one_out"
admin_token = "sigkill-test-token-0001"
[stimuli]
source = "bundled:digits"
limit = 20
[design]
trials_per_participant = 12
planned_trials = 60
participants_per_trial = 2
[catch]
repeats = 1
known = 0
"""


def test_sigkill_and_restart_loses_and_duplicates_nothing(tmp_path):
    cfg = tmp_path / "exp.toml"
    cfg.write_text(CONFIG)
    Experiment.open(cfg, tmp_path / "exp.sqlite").store.close()  # plan here, serve from the db
    server = ServerProcess(cfg, tmp_path / "exp.sqlite", log=tmp_path / "server.log").start()
    result = {}

    def participants():
        result["report"] = simulate_participants(server.url, 16, concurrency=8, retry_for_s=120)

    worker = threading.Thread(target=participants)
    try:
        worker.start()
        for threshold in (20, 70, 130):  # kill after this many stored responses
            deadline = time.monotonic() + 60
            while server.stored() < threshold and time.monotonic() < deadline:
                time.sleep(0.01)
            server.kill9()
            time.sleep(0.3)  # clients see refused connections and retry
            server.start()
        worker.join(timeout=180)
        assert not worker.is_alive()
    finally:
        server.stop()
    report = result["report"]
    assert server.kills == 3
    assert report.refused == []
    assert len(report.endings) == 16 and len(report.acked) == 16 * 13
    assert report.retries > 0  # the kills were felt
    check = audit(tmp_path / "exp.sqlite", report.acked)
    assert check == {"acked": 208, "stored": 208, "lost": 0, "duplicated": 0, "changed": 0}
