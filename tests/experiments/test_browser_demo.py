"""The acceptance path: `repalign experiment demo` serves the built-in odd-one-out experiment, a
headless-Chromium bot completes it by clicking buttons and ends on the completion code, and the
export's triplets.csv loads with load_triplets holding exactly that bot's answers."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from repalign.data import load_triplets
from repalign.experiments.export import export_experiment

pytestmark = pytest.mark.browser


def _wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the demo server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the demo server did not answer within a minute")


def test_demo_completed_by_a_clicking_bot_exports_its_triplets(chromium, bot, unused_port,
                                                              tmp_path):
    port = unused_port
    db = tmp_path / "demo.sqlite"
    cmd = [sys.executable, "-m", "repalign", "experiment", "demo", "--db", str(db),
           "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        page = chromium.new_page(viewport={"width": 1100, "height": 900})
        page.goto(f"{url}/?PROLIFIC_PID=demo-bot-1&STUDY_ID=demo&SESSION_ID=s1")
        seen: dict[int, list[str]] = {}
        clicks = bot(page, np.random.default_rng(5), seen=seen)
        body = page.inner_text("body")
        assert "completion code" in body.lower(), body
        assert page.inner_text("#rp-code") == "DIGITS-DEMO"
        # anyone can open the demo: a bare link gets an id made by the page, not "incomplete"
        bare = chromium.new_page(viewport={"width": 1100, "height": 900})
        bare.goto(f"{url}/")
        bare.get_by_role("button", name="I agree").wait_for(timeout=30_000)
        assert "incomplete" not in bare.inner_text("body").lower()
    finally:
        proc.terminate()
        proc.wait(10)
    assert len(clicks) == 34  # 30 triplets and 4 catch trials, every one clicked once

    out = tmp_path / "export"
    export_experiment(db, out, quiet=True)  # what `repalign experiment export` runs
    with open(out / "responses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(int(r["trial_index"]) for r in rows) == sorted(clicks)
    main = sorted(int(r["trial_index"]) for r in rows if r["kind"] == "main")
    assert len(main) == 30

    ts = load_triplets(out / "triplets.csv", index_base=0, n_objects=60)
    # what the bot saw and clicked, as (pair, pair, odd one out) of stimulus indices
    # (image x00012 is stimulus 12), in the order the page showed them
    expected = []
    for i in main:
        odd = clicks[i]["odd"]
        assert [json.loads(r["onscreen_order"]) for r in rows
                if int(r["trial_index"]) == i] == [seen[i]]
        pair = sorted(int(n[1:]) for n in seen[i] if n != odd)
        expected.append((*pair, int(odd[1:])))
    got = sorted((*sorted(t[:2]), t[2]) for t in ts.triplets.tolist())
    assert got == sorted(expected)
    assert len(set(ts.participants.tolist())) == 1
