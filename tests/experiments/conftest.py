"""Small experiments on bundled digits, their app under Starlette's TestClient, and helpers that
answer trials the way the page does; for the browser tests, a running server on 127.0.0.1,
Debian's Chromium driven by Playwright, a bot that clicks, and a small real metamer result for
the paradigms that show metamers."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
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


# -- the browser tests -------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WEB = Path(__file__).resolve().parents[2] / "src" / "repalign" / "experiments" / "web"


def _unavailable(reason: str) -> None:
    """Skip a browser test on a machine without the browser or the npm packages; in CI (where
    the set-up installs both) that is a failure, so the browser tests can never go missing."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI must run the browser tests (make test installs both)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium (Playwright's own browsers cannot be downloaded here). Module
    scope: Playwright's sync API keeps an event loop running in this thread while it is open,
    which later tests calling asyncio.run must not find."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).is_file():
        _unavailable("Debian's chromium is not installed (make test installs it)")
    if not (WEB / "node_modules" / "jspsych" / "dist").is_dir():
        _unavailable("the page's npm packages are missing (make web runs npm ci)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(config: Any, db: Path, port: int | None = None) -> Iterator[tuple[str, Any]]:
    import uvicorn

    exp = Experiment.open(config, db)
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(exp), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the experiment server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", exp
    finally:
        server.should_exit = True
        thread.join(10)
        exp.store.close()


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return free_port()


@pytest.fixture
def serve_experiment() -> Callable[..., AbstractContextManager[tuple[str, Any]]]:
    """``with serve_experiment(config, db, port=None) as (url, experiment):`` a live server."""
    return _serving


@pytest.fixture(scope="session")
def metamer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real metamers of zoo:cnn_standard_s0 (block2), two per digit for one digit of each of six
    classes (two disjoint matching triples of two metamers per target)."""
    import repalign as ra

    stim = ra.load_stimuli("bundled:digits", limit=60)
    labels = np.asarray(stim.labels)
    idx = [int(np.flatnonzero(labels == c)[0]) for c in range(6)]
    model = ra.create_model("zoo:cnn_standard_s0")
    res = ra.generate_metamers([model], stim.subset(idx), layers="block2", steps=5, repeats=2,
                               null_stimuli=stim.images, quiet=True)
    out = tmp_path_factory.mktemp("metamers") / "result"
    res.save(out)
    return out


# -- a participant that clicks ----------------------------------------------------------------
_ANY_STATE = ("#rp-code, .rp-agree, #jspsych-instructions-next, .rp-matching, .rp-image-choice, "
              ".rp-label-choice, #jspsych-html-slider-response-next")

# what is on the screen, read from the DOM in one call: the state, the trial counter and the
# images (their file names are the stimulus ids) and labels of each part of the trial
_SCREEN = """() => {
  const q = (s) => document.querySelector(s);
  const names = (s) => [...document.querySelectorAll(s)].map(
    (i) => i.getAttribute("src").split("/").pop().replace(/[.]png$/, ""));
  const state = q("#rp-code") ? "end" : q(".rp-agree") ? "consent"
    : q("#jspsych-instructions-next") ? "instructions" : q(".rp-matching") ? "matching"
    : q(".rp-image-choice") ? "images" : q(".rp-label-choice") ? "labels" : "slider";
  return {state, counter: q("#rp-progress").textContent, shown: names("#rp-display img"),
          choices: names(".rp-image-choice img"), reference: names(".rp-reference img"),
          metamers: names(".rp-row-metamers img"), targets: names(".rp-row-targets img"),
          labels: [...document.querySelectorAll(".rp-label-choice")].map((b) => b.textContent)};
}"""


def _answer_trial(page: Any, screen: dict[str, Any], rng: np.random.Generator,
                  attentive: bool) -> dict[str, Any]:
    """Answer the trial on screen with clicks; returns what the clicks mean, in the server's
    normalised answer form, computed from what is on the screen (not from the page's code)."""
    if screen["state"] == "matching":
        metamers, targets = screen["metamers"], screen["targets"]
        per = len(metamers) // len(targets)
        assignment = rng.permutation(np.repeat(np.arange(len(targets)), per))
        for m, t in enumerate(assignment):  # metamer first, then target
            page.locator(".rp-row-metamers .rp-card").nth(m).click()
            page.locator(".rp-row-targets .rp-card").nth(int(t)).click()
        page.locator(".rp-continue").click()
        return {"matches": {metamers[m]: targets[int(t)] for m, t in enumerate(assignment)}}
    if screen["state"] == "images":
        names, reference = screen["choices"], screen["reference"]
        # check trials: attentive, the candidate identical to the reference, the image not
        # shown twice; inattentive, the other one / a doubled image; otherwise at random
        if reference and reference[0] in names:
            k = names.index(reference[0]) if attentive else 1 - names.index(reference[0])
        elif not reference and len(set(names)) < len(names):
            k = next(i for i, n in enumerate(names) if (names.count(n) == 1) == attentive)
        else:
            k = int(rng.integers(len(names)))
        page.locator(".rp-image-choice").nth(k).click()
        return {"chosen": names[k]} if reference else {"odd": names[k]}
    if screen["state"] == "labels":
        k = int(rng.integers(len(screen["labels"])))
        page.locator(".rp-label-choice").nth(k).click()
        return {"label_name": screen["labels"][k]}
    slider = page.locator("#jspsych-html-slider-response-response")
    box = slider.bounding_box()
    slider.click(position={"x": float(rng.uniform(0.05, 0.95)) * box["width"],
                           "y": box["height"] / 2})
    value = float(slider.evaluate("el => el.valueAsNumber"))
    page.locator("#jspsych-html-slider-response-next").click()
    return {"rating": value}


def play(page: Any, rng: np.random.Generator, *, stop_after: int | None = None,
         seen: dict[int, list[str]] | None = None,
         before_answer: Callable[[Any, int], None] | None = None, attentive: bool = True,
         timeout_ms: float = 15_000) -> dict[int, dict[str, Any]]:
    """Click through the session on ``page`` until the end screen (or ``stop_after`` answered
    trials): consent, instructions, every trial. Returns the meaning of each click by trial
    index (read from the progress counter ``k / n``); ``seen`` receives the image names on
    screen in each trial, in page order; ``before_answer(page, index)`` runs on each trial
    before the bot clicks; ``attentive=False`` fails the check trials it can recognise."""
    answers: dict[int, dict[str, Any]] = {}
    while True:
        page.wait_for_selector(_ANY_STATE, timeout=timeout_ms)
        screen = page.evaluate(_SCREEN)
        if screen["state"] == "end":
            return answers
        if screen["state"] in ("consent", "instructions"):
            page.locator(".rp-agree, #jspsych-instructions-next").click()
            continue
        if stop_after is not None and len(answers) >= stop_after:
            return answers
        index = int(screen["counter"].split("/")[0]) - 1
        assert index not in answers, f"trial {index} was shown twice"
        if seen is not None:
            seen[index] = screen["shown"]
        if before_answer is not None:
            before_answer(page, index)
        answers[index] = _answer_trial(page, screen, rng, attentive)
        page.wait_for_function(
            "prev => document.querySelector('#rp-code') || "
            "document.querySelector('#rp-progress').textContent !== prev",
            arg=screen["counter"], timeout=timeout_ms)


@pytest.fixture
def bot() -> Callable[..., dict[int, dict[str, Any]]]:
    """``bot(page, rng, stop_after=None)``: a participant who clicks (see :func:`play`)."""
    return play
