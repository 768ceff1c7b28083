"""Small experiments on bundled digits, their app under Starlette's TestClient, and helpers that
answer trials the way the page does."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient

from repalign.experiments import Experiment, create_app

BASE: dict[str, Any] = {
    "paradigm": "odd_one_out",
    "stimuli": {"source": "bundled:digits", "limit": 12},
    "design": {"trials_per_participant": 4, "planned_trials": 8, "participants_per_trial": 2},
    "catch": {"repeats": 1, "known": 1},
    "admin_token": "test-token-0123456789",
    "completion": {"code": "DONE-1", "failure_code": "FAIL-1"},
}


def make_config(**overrides: Any) -> dict[str, Any]:
    """BASE with top-level sections replaced (merged one level deep)."""
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


@pytest.fixture
def experiment(tmp_path):
    exp = Experiment.open(make_config(), tmp_path / "exp.sqlite")
    yield exp
    exp.store.close()


@pytest.fixture
def client(experiment):
    with TestClient(create_app(experiment), raise_server_exceptions=False) as c:
        yield c


def onscreen(trial: dict[str, Any]) -> list[str]:
    """The stimulus ids in on-screen order."""
    return [trial["stimuli"][p]["id"] for p in trial["positions"]]


def response_body(pid: str, trial: dict[str, Any], answer: dict[str, Any],
                  rid: str | None = None) -> dict[str, Any]:
    return {"participant_id": pid, "trial_index": trial["trial_index"],
            "response_id": rid or uuid.uuid4().hex, "response": answer, "rt_ms": 800.0,
            "onscreen_order": onscreen(trial), "client_sent_at": 1.0e12}


def complete(client: TestClient, pid: str, answer=None) -> list[dict[str, Any]]:
    """Answer every trial of ``pid`` (known catches right); returns the bodies sent."""
    s = client.post("/api/session", json={"participant_id": pid}).json()
    sent = []
    for t in s["trials"]:
        ids = [x["id"] for x in t["stimuli"]]
        if answer is not None:
            a = answer(t)
        elif t["kind"] == "catch_known":
            a = {"choice": ids.index(next(i for i in ids if ids.count(i) == 1))}
        else:
            a = {"choice": 0}
        body = response_body(pid, t, a)
        r = client.post("/api/response", json=body)
        assert r.status_code == 200, r.text
        sent.append(body)
    return sent
