"""The report in a real browser: headless Chromium loads it from disk, logs no error, makes no
request, and renders every figure (a screenshot of each that is not blank)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).is_file() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_report_renders_in_chromium(browser, tiny_run):
    from PIL import Image

    report = tiny_run / "report.html"
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.resolve().as_uri(), wait_until="load")
    assert errors == []
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    # names from the configuration are escaped: the study name is text, not markup
    assert page.title() == "repalign study: tiny <study> & co"
    assert page.locator("study").count() == 0
    figures = page.locator("figure.fig")
    n = figures.count()
    assert n >= 4
    names = []
    for i in range(n):
        fig = figures.nth(i)
        names.append(fig.get_attribute("data-name"))
        img = fig.locator("img")
        assert img.evaluate("el => el.complete && el.naturalWidth > 0 && el.naturalHeight > 0")
        shot = np.asarray(Image.open(io.BytesIO(img.screenshot())).convert("L"), dtype=float)
        assert shot.shape[0] > 50 and shot.shape[1] > 50
        assert shot.std() > 5.0, f"figure {names[-1]} looks blank"
        assert (shot < 200).mean() > 0.01, f"figure {names[-1]} has almost no ink"
    # every figure the report promises: alignment bars and model x model heatmaps, gLocal, the
    # metamer grid, the per-test bars, the transfer heatmap, few-shot and alignment vs few-shot
    assert set(names) >= {
        "alignment_reference", "alignment_pairwise_rsa_spearman", "glocal_odd_one_out",
        "metamers_cnn_l2_s0", "evaluation_two_afc", "evaluation_clustering",
        "evaluation_recognizability", "evaluation_representation_test", "transfer_accuracy",
        "few_shot", "alignment_vs_few_shot",
    }, names
    assert len(names) == len(set(names))
    assert page.locator("table").count() >= 10  # the tables next to the figures
    assert len(list((tiny_run / "figures").glob("*.png"))) == n
    page.close()


def test_report_is_rebuilt_by_the_cli(tiny_run, tmp_path):
    from repalign.cli import main

    out = tiny_run / "report.html"
    before = out.read_text()
    out.unlink()
    assert main(["report", str(tiny_run)]) == 0
    assert out.read_text().count("<figure") == before.count("<figure")
