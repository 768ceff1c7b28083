"""Every paradigm in headless Chromium against the real server: two participants click through
whole sessions (one reloads midway), and the stored answers are exactly what their clicks meant.
Also: the "connection lost, retrying" state, and configuration texts rendered as text."""

from __future__ import annotations

import csv
import io
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.browser

CODE = "BROWSER-OK-7"


def _config(paradigm: str, metamer_dir: Path | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = {"paradigm": paradigm, "seed": 3,
                           "catch": {"repeats": 1, "known": 1},
                           # the bot clicks at random: its failed catch trials flag, not fail it
                           "exclusion": {"max_failed_known": 5},
                           "completion": {"code": CODE},
                           "texts": {"instructions": "Click the images."}}
    if paradigm in ("odd_one_out", "rating"):
        cfg["stimuli"] = {"source": "bundled:digits", "limit": 8}
    else:
        assert metamer_dir is not None
        cfg["stimuli"] = {"metamers": str(metamer_dir)}
    cfg["design"] = {"trials_per_participant": 2}
    if paradigm == "matching":  # no known answers there: the targets would be shown twice
        cfg["catch"]["known"] = 0
        cfg["matching"] = {"per_target": 2}  # six metamers, two to each of three targets
    return cfg


def _stored_answers(url: str, token: str) -> dict[str, dict[int, dict[str, Any]]]:
    """The server's per-response export, as {participant: {trial_index: answer}}."""
    req = urllib.request.Request(f"{url}/api/export", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as answer:
        rows = list(csv.DictReader(io.StringIO(answer.read().decode("utf-8"))))
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["participant_id"], {})[int(row["trial_index"])] = json.loads(row["answer"])
    return out


def _expected(answers: dict[int, dict[str, Any]], label_names: list[str]) -> dict[int, Any]:
    """The bot's clicks in the server's answer form (class names become class indices)."""
    out = {}
    for index, a in answers.items():
        out[index] = {"label": label_names.index(a["label_name"])} if "label_name" in a else a
    return out


def _watch(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    return errors


def _check_first_trial(paradigm: str) -> Any:
    """Checks the first trial on screen: every image loaded and the screen is not blank; with
    REPALIGN_SCREENSHOTS=DIR set, saves it as DIR/experiments_PARADIGM.png (docs/figures)."""
    from PIL import Image

    def check(page: Any, index: int) -> None:
        if index != 0:
            return
        images = page.locator("#rp-display img")
        assert images.count() >= 1
        assert all(img.evaluate("el => el.complete && el.naturalWidth > 0")
                   for img in images.all())
        if paradigm == "matching":  # show one pair made: the first image took the first target
            page.locator(".rp-row-metamers .rp-card").nth(0).click()
            page.locator(".rp-row-targets .rp-card").nth(0).click()
        page.mouse.move(0, 0)  # no hover highlight in the picture
        box = page.locator(".jspsych-content").bounding_box()
        top = max(30.0, box["y"] - 24)  # below the trial counter
        clip = {"x": 0, "y": top, "width": page.viewport_size["width"],
                "height": box["y"] + box["height"] + 24 - top}
        shot = np.asarray(Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("L"), float)
        assert shot.std() > 5.0, f"the first {paradigm} trial looks blank"
        folder = os.environ.get("REPALIGN_SCREENSHOTS")
        if folder:
            page.screenshot(path=os.path.join(folder, f"experiments_{paradigm}.png"), clip=clip)

    return check


def _assert_completed(page: Any) -> None:
    body = page.inner_text("body")
    assert "completion code" in body.lower(), body
    assert page.inner_text("#rp-code") == CODE


def _first_trial(chromium: Any, url: str, participant: str) -> Any:
    """A new page for ``participant``, past consent and instructions: the first trial's screen."""
    page = chromium.new_page()
    page.goto(f"{url}/?PROLIFIC_PID={participant}")
    page.locator(".rp-agree").click()
    page.locator("#jspsych-instructions-next").click()
    return page


def _choice(page: Any, index: int) -> tuple[Any, str]:
    """The ``index``-th image choice on screen and the stimulus name of its image."""
    choice = page.locator(".rp-image-choice").nth(index)
    return choice, Path(choice.locator("img").get_attribute("src")).stem


@pytest.mark.parametrize("paradigm", ["odd_one_out", "two_afc", "matching", "recognition",
                                      "rating"])
def test_two_participants_complete_every_paradigm(paradigm, chromium, serve_experiment, bot,
                                                  request, tmp_path):
    rng = np.random.default_rng(11)
    shows_metamers = paradigm not in ("odd_one_out", "rating")
    cfg = _config(paradigm, request.getfixturevalue("metamer_dir") if shows_metamers else None)
    with serve_experiment(cfg, tmp_path / "exp.sqlite") as (url, exp):
        page = chromium.new_page(viewport={"width": 900, "height": 760})
        errors = _watch(page)
        page.goto(f"{url}/?PROLIFIC_PID=alice&STUDY_ID=st1&SESSION_ID=se1")
        alice = bot(page, rng, before_answer=_check_first_trial(paradigm))
        _assert_completed(page)
        n_trials = len(alice)

        page = chromium.new_page(viewport={"width": 900, "height": 760})
        errors += _watch(page)
        page.goto(f"{url}/?PROLIFIC_PID=bob&STUDY_ID=st1&SESSION_ID=se2")
        bob = bot(page, rng, stop_after=2)
        page.reload()
        page.wait_for_selector("#rp-progress:not(:empty)")
        assert page.locator(".rp-agree").count() == 0  # consent was given before the reload
        assert page.inner_text("#rp-progress") == f"3 / {n_trials}"  # continues at next_trial
        bob.update(bot(page, rng))
        _assert_completed(page)

        stored = _stored_answers(url, exp.token)
        labels = list(exp.pool.label_names)
    assert errors == []
    assert sorted(alice) == sorted(bob) == list(range(n_trials))
    assert stored["alice"] == _expected(alice, labels)
    assert stored["bob"] == _expected(bob, labels)


def test_lost_connection_blocks_and_retries_until_acknowledged(chromium, serve_experiment, bot,
                                                               tmp_path):
    with serve_experiment(_config("odd_one_out"), tmp_path / "exp.sqlite") as (url, exp):
        page = _first_trial(chromium, url, "carol")
        page.route("**/api/response", lambda route: route.abort())
        first, chosen = _choice(page, 0)
        first.click()
        banner = page.locator("#rp-connection")
        banner.wait_for(state="visible", timeout=5000)
        assert "connection lost, retrying" in banner.inner_text().lower()
        page.wait_for_timeout(1200)  # several failed attempts later: still blocked, nothing stored
        assert banner.is_visible()
        assert page.locator(".rp-image-choice").count() == 0
        assert _stored_answers(url, exp.token) == {}
        page.unroute("**/api/response")
        banner.wait_for(state="hidden", timeout=15_000)
        page.wait_for_selector(".rp-image-choice")
        assert page.inner_text("#rp-progress").startswith("2 /")
        stored = _stored_answers(url, exp.token)
    assert stored == {"carol": {0: {"odd": chosen}}}


def test_config_texts_are_rendered_as_text(chromium, serve_experiment, bot, tmp_path):
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)><b>bold</b>'
    cfg = _config("odd_one_out")
    cfg["texts"] = {"title": f"T {attack}", "consent": f"C {attack}",
                    "instructions": f"I {attack}", "prompt": f"P {attack}",
                    "completed": f"D {attack}"}
    with serve_experiment(cfg, tmp_path / "exp.sqlite") as (url, _):
        page = chromium.new_page()
        errors = _watch(page)
        page.goto(f"{url}/?PROLIFIC_PID=dave")
        page.locator(".rp-agree").wait_for()
        assert page.title() == f"T {attack}"
        scripts = page.locator("script").count()
        for label in ("C ", "I ", "P "):
            page.get_by_text(f"{label}{attack}").wait_for()  # shown literally, markup and all
            assert page.locator("#rp-display b, #rp-display img[src='x']").count() == 0
            assert page.locator("script").count() == scripts
            if label == "C ":
                page.locator(".rp-agree").click()
            elif label == "I ":
                page.locator("#jspsych-instructions-next").click()
        bot(page, np.random.default_rng(0))
        assert f"D {attack}" in page.inner_text("body")
        assert page.locator("#rp-display b").count() == 0
    assert errors == []


def test_endings_completion_link_and_failure_code(chromium, serve_experiment, bot,
                                                  unused_port, tmp_path):
    cfg = _config("odd_one_out")
    cfg["exclusion"] = {"max_failed_known": 0}
    done = f"http://127.0.0.1:{unused_port}/healthz?cc=BROWSER-OK-7"  # the platform's stand-in
    cfg["completion"] = {"code": CODE, "redirect_url": done, "failure_code": "NOPE-3",
                         "redirect_after_ms": 1500}
    with serve_experiment(cfg, tmp_path / "exp.sqlite", port=unused_port) as (url, _):
        page = chromium.new_page()
        page.goto(f"{url}/?PROLIFIC_PID=erin")
        bot(page, np.random.default_rng(1))
        _assert_completed(page)
        assert page.locator("a.rp-link").get_attribute("href") == done
        page.wait_for_url(done, timeout=10_000)  # then off to the platform by itself
        page.close()

        page = chromium.new_page()
        page.goto(f"{url}/?PROLIFIC_PID=frank")
        bot(page, np.random.default_rng(2), attentive=False)
        body = page.inner_text("body").lower()
        assert "failure code" in body and "completion code" not in body
        assert page.inner_text("#rp-code") == "NOPE-3"
        assert page.locator("a.rp-link").count() == 0  # never the completion link
        page.goto(f"{url}/?PROLIFIC_PID=frank")  # coming back: the same ending, no new session
        page.locator("#rp-code").wait_for()
        assert page.inner_text("#rp-code") == "NOPE-3"
        page.close()


def test_link_without_participant_id_starts_nothing(chromium, serve_experiment, tmp_path):
    with serve_experiment(_config("odd_one_out"), tmp_path / "exp.sqlite") as (url, exp):
        page = chromium.new_page()
        page.goto(f"{url}/?STUDY_ID=s")
        page.get_by_text("This link is incomplete").wait_for()
        assert "PROLIFIC_PID" in page.inner_text("body")
        assert exp.progress()["participants"] == []
        page.close()


def test_answer_unacknowledged_at_a_reload_is_sent_after_it(chromium, serve_experiment,
                                                            tmp_path):
    with serve_experiment(_config("odd_one_out"), tmp_path / "exp.sqlite") as (url, exp):
        page = _first_trial(chromium, url, "gina")
        page.on("dialog", lambda d: d.accept())  # "leave the page?" while answers are pending
        page.route("**/api/response", lambda route: route.abort())
        third, chosen = _choice(page, 2)
        third.click()
        page.locator("#rp-connection").wait_for(state="visible")
        page.reload()  # still offline: the kept answer is retried before anything else
        page.locator("#rp-connection").wait_for(state="visible")
        assert _stored_answers(url, exp.token) == {}
        page.unroute("**/api/response")
        page.wait_for_selector(".rp-image-choice", timeout=15_000)
        assert page.inner_text("#rp-progress").startswith("2 /")  # trial 0 is answered
        assert _stored_answers(url, exp.token) == {"gina": {0: {"odd": chosen}}}
        page.close()


def test_number_keys_answer_like_clicks(chromium, serve_experiment, tmp_path):
    with serve_experiment(_config("odd_one_out"), tmp_path / "exp.sqlite") as (url, exp):
        page = _first_trial(chromium, url, "hana")
        _, chosen = _choice(page, 1)
        page.keyboard.press("2")
        page.wait_for_function("() => document.querySelector('#rp-progress').textContent"
                               ".startsWith('2 /')")
        assert _stored_answers(url, exp.token) == {"hana": {0: {"odd": chosen}}}
        page.close()
