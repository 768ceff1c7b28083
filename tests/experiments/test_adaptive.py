"""An adaptive odd-one-out experiment through the server with simulated participants: fresh
triplets per session from the latest fit, refits in the background between sessions, and a
refit in progress never blocks a participant."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from repalign.experiments import Experiment, create_app
from repalign.experiments.simulate import simulate_participants

from .conftest import TestClient, complete, make_config

pytest.importorskip("uvicorn")

N, K = 24, 30  # stimuli, trials per participant

CONFIG = make_config(stimuli={"source": "bundled:digits", "limit": N},
                     design={"trials_per_participant": K, "adaptive": True,
                             "planned_trials": None, "participants_per_trial": 1},
                     catch={"repeats": 0, "known": 0})


def _truth() -> np.ndarray:
    return 2.0 * np.random.default_rng(3).gamma(0.6, size=(N, 3))  # one row per stimulus


def test_adaptive_experiment_runs_through_the_server(serve_experiment, tmp_path):
    truth = _truth()
    with serve_experiment(CONFIG, tmp_path / "exp.sqlite") as (url, exp):
        planner = exp.adaptive
        assert planner is not None and planner.selector.strategy == "uncertainty"
        assert exp.store.read("SELECT count(*) FROM planned_trials")[0][0] == 0  # none upfront
        first = simulate_participants(url, 2, embedding=truth, concurrency=1, seed=0, prefix="a")
        assert planner.wait(120) and not planner.errors
        fit = planner.selector.result
        assert fit is not None and planner.selector.refits >= 1
        assert fit.n_train == 2 * K  # every answered main trial, read back from the database
        second = simulate_participants(url, 6, embedding=truth, concurrency=2, seed=1, prefix="b")
        assert planner.wait(120) and not planner.errors
        for report in (first, second):
            assert not report.refused
            assert all(e["status"] == "completed" for e in report.endings.values())
        n_planned = exp.store.read("SELECT count(*) FROM planned_trials")[0][0]
        assert n_planned == 8 * K  # each session got its own proposed triplets
        answered = planner.answered_triplets()
        assert answered.shape == (8 * K, 3) and planner.selector.result.n_train == 8 * K
        # the answers really are the simulated observer's: the final fit beats chance clearly
        items = np.sort(answered, axis=1)
        est = planner.selector.result.weights
        s_true = truth @ truth.T
        s_fit = est @ est.T
        pairs = [(0, 1), (0, 2), (1, 2)]
        agree = np.mean([np.argmax([s_true[t[i], t[j]] for i, j in pairs])
                         == np.argmax([s_fit[t[i], t[j]] for i, j in pairs]) for t in items])
        assert agree > 0.6


def test_a_refit_in_progress_never_blocks_a_participant(tmp_path):
    exp = Experiment.open(CONFIG, tmp_path / "exp.sqlite")
    planner = exp.adaptive
    assert planner is not None and planner.wait(60)
    release, started = threading.Event(), threading.Event()
    real_refit = planner.selector.refit

    def slow_refit():
        started.set()
        release.wait(60)
        return real_refit()

    planner.selector.refit = slow_refit  # type: ignore[method-assign]
    try:
        with TestClient(create_app(exp)) as client:
            complete(client, "p1")
            assert client.post("/api/finish", json={"participant_id": "p1"}).json()["status"] == "completed"
            assert started.wait(30)  # the refit runs and is held
            # meanwhile a new participant starts, answers everything and finishes
            sent = complete(client, "p2")
            assert len(sent) == K
            assert client.post("/api/finish", json={"participant_id": "p2"}).json()["status"] == "completed"
            assert planner._thread is not None and planner._thread.is_alive()  # still refitting
        release.set()
        assert planner.wait(120) and not planner.errors
        assert planner.selector.result is not None
        assert planner.selector.result.n_train == 2 * K  # the second finish queued one more refit
    finally:
        release.set()
        planner.wait(120)
        exp.store.close()
