"""`repalign demo` end to end (about 1-2 minutes on 2 cores: marked slow)."""

from __future__ import annotations

import pytest

from repalign.cli import main
from repalign.study.store import load_results, load_units


@pytest.mark.slow
def test_demo_runs_and_says_where_the_report_is(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"Report: {(out / 'report.html').resolve()}" in printed
    units = load_units(out)
    assert units["done"].all() and len(units) == 250
    df = load_results(out)
    assert set(df["stage"]) == {"features", "similarity", "glocal", "metamers", "evaluation", "analysis"}
    met = df[df["stage"] == "metamers"]
    assert set(met["regularizer"]) == {"none", "human_leaning", "adversarial:distance=ssim"}
    assert met["init"].nunique() >= 2 and met["optimizer"].nunique() == 2 and met["layer"].nunique() == 2
    assert df[(df["stage"] == "similarity") & (df["kind"] == "reference")]["model"].nunique() == 18
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    assert "0 run now, 250 reused" in capsys.readouterr().out
