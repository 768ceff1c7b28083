"""`repalign run` from a TOML file, its error path, and the progress ETA."""

from __future__ import annotations

import pytest

from repalign.cli import main
from repalign.study.runner import _fmt_seconds, _Progress
from repalign.study.store import load_results
from repalign.study.units import make_unit


def test_run_from_toml(small_study, tmp_path, capsys):
    cfg = small_study("cli", ["cka_linear", "procrustes"])
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--quiet", "--no-report"]) == 0
    printed = capsys.readouterr().out
    assert "5 unit(s), 5 run now, 0 reused" in printed and "Report:" not in printed
    df = load_results(out)
    sim = df[df["stage"] == "similarity"]
    assert set(sim["other"]) == {"zoo:cnn_l2_s0"} and set(sim["metric"]) == {"cka_linear", "procrustes"}
    assert not (out / "report.html").exists()


def test_run_reports_config_errors(small_study, tmp_path, capsys):
    cfg = small_study("cli", ["cka_linear", "procrustes"])
    cfg.write_text(cfg.read_text().replace("per_class", "per_clas"))
    assert main(["run", str(cfg), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "repalign: error: Invalid study configuration" in err and "did you mean 'per_class'" in err


def test_eta_weighs_each_stage_by_its_own_unit_time():
    units = [make_unit("features", f"f{i}", {"i": i}) for i in range(3)]
    units += [make_unit("metamers", f"m{i}", {"i": i}) for i in range(2)]
    bars = _Progress(units, quiet=True)
    assert bars.eta() is None
    bars.step(units[0], 1.0)
    assert bars.eta() == pytest.approx(2 * 1.0 + 2 * 1.0)  # metamers unknown yet: overall mean
    bars.step(units[3], 10.0)
    assert bars.eta() == pytest.approx(2 * 1.0 + 1 * 10.0)
    bars.close()
    assert _fmt_seconds(75) == "1m15s" and _fmt_seconds(3725) == "1h02m"
