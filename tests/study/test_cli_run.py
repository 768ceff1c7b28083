"""`repalign run` from a TOML file, its error path, and the progress ETA."""

from __future__ import annotations

import pytest

from repalign.cli import main
from repalign.study.runner import _fmt_seconds, _Progress
from repalign.study.store import load_results
from repalign.study.units import make_unit

STUDY = """
name = "cli"
device = "cpu"
[stimuli]
per_class = 2
[models]
specs = ["zoo:mlp_standard_s0", "zoo:cnn_standard_s0"]
[similarity]
reference = "zoo:cnn_l2_s0"
metrics = ["cka_linear", "procrustes"]
pairwise = []
[executor]
threads = 1
"""


def test_run_from_toml(tmp_path, capsys):
    cfg = tmp_path / "study.toml"
    cfg.write_text(STUDY)
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--quiet", "--no-report"]) == 0
    printed = capsys.readouterr().out
    assert "5 unit(s), 5 run now, 0 reused" in printed and "Report:" not in printed
    df = load_results(out)
    sim = df[df["stage"] == "similarity"]
    assert set(sim["other"]) == {"zoo:cnn_l2_s0"} and set(sim["metric"]) == {"cka_linear", "procrustes"}
    assert not (out / "report.html").exists()


def test_run_reports_config_errors(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(STUDY.replace("per_class", "per_clas"))
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
