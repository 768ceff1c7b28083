"""The optional ``[theory]`` study section: the simulation's rows, artifacts and report section."""

from __future__ import annotations

import numpy as np
import pytest

from repalign.cli import main
from repalign.errors import ConfigError
from repalign.study.config import load_config
from repalign.study.store import load_results

THEORY = """[theory]
eps = [0.0, 0.3, 0.7]
n = 6
d = 1
trials = 20
"""


def test_theory_stage_rows_and_report(small_study, tmp_path, capsys):
    cfg = small_study("theory", ["triplet_agreement"], THEORY)
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    df = load_results(out)
    theory = df[df["stage"] == "theory"]
    queries = theory[theory["metric"] == "theory_queries"]
    assert sorted(zip(queries["eps"], queries["student"], strict=True)) == [
        (0.0, "flip"), (0.3, "flip"), (0.7, "flip"), (0.7, "naive")]
    flip = queries[queries["student"] == "flip"].set_index("eps")["value"]
    assert flip[0.0] < flip[0.3]
    bound = theory[theory["metric"] == "theory_bound"].set_index(["eps", "student"])["value"]
    assert bound[(0.0, "flip")] == pytest.approx(np.log2(6))
    assert len(theory[theory["metric"] == "theory_shift_sensitivity"]) == 3
    html = (out / "report.html").read_text()
    assert "Theory: alignment and the cost of learning from a teacher" in html
    assert "students of zoo:cnn_l2_s0" in html and "mlp_standard_s0" in html


def test_theory_eps_outside_the_unit_interval_is_refused():
    with pytest.raises(ConfigError, match=r"theory\.eps.*\[0, 1\]"):
        load_config({"stimuli": {}, "models": {"specs": ["zoo:mlp_standard_s0"]},
                     "theory": {"eps": [0.2, 1.5]}})
