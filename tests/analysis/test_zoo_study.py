"""The zoo-scale study on built-in zoo models (small settings), and the ``zoo sweep`` command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import repalign.models.zoo as zoo
from repalign.analysis import reference_names, zoo_study
from repalign.cli import main
from repalign.errors import ConfigError
from repalign.similarity import compare, rsm

NAMES = ["mlp_standard_s0", "cnn_standard_s0", "resnet_standard_s0", "mlp_l2_s0", "cnn_linf_s1",
         "resnet_l2_s1"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo_study")
    return zoo_study(zoo.builtin_dir(), NAMES, shots=(1, 3), heads=("linear",), repeats=2,
                     per_class=8, k=2, out=out), out


def test_reference_is_the_robust_builtin_ensemble():
    names = reference_names()
    assert len(names) == 12 and all(("_l2_" in n) or ("_linf_" in n) for n in names)


def test_study_tables(study):
    res, out = study
    assert list(res.alignment["model"]) == NAMES
    assert res.alignment[["pearson", "spearman", "triplet"]].apply(np.isfinite).all().all()
    t = res.model_table
    assert {"fewshot_linear_1", "fewshot_linear_3", "clean_acc", "robust_acc_l2", "style"} <= set(t)
    assert len(res.few_shot) == 6 * 2 and set(res.few_shot["n_train"]) == {5, 15}
    assert res.analysis.covar == ["clean_acc"]
    assert res.analysis.tables["table3"].shape == (4, 3)
    for f in ("model_table.csv", "alignment.csv", "few_shot.csv", "reference.txt", "figure6.png"):
        assert (out / f).is_file()
    assert res.reference.startswith("robust-model ensemble (12 zoo models")


def test_member_is_compared_with_the_other_members(study):
    """mlp_l2_s0 is in the ensemble: its reference is the mean of the 11 others."""
    from repalign.analysis.zoo_study import _alignment_subset, _penultimate
    from repalign.data.bundled import digits_split

    res, _ = study
    transfer = digits_split().transfer
    sub = _alignment_subset(transfer.labels, 8, 0)
    feats = {n: _penultimate(zoo.load_zoo_model(n, device="cpu"), transfer.images[sub], "cpu")
             for n in reference_names()}
    ref = np.mean([rsm(f, "cosine") for n, f in feats.items() if n != "mlp_l2_s0"], axis=0)
    expect = compare(feats["mlp_l2_s0"], ref, "rsa_spearman", kind=("features", "similarity"),
                     rdm_metric="cosine")
    got = res.alignment.set_index("model").loc["mlp_l2_s0", "spearman"]
    assert got == pytest.approx(expect, rel=1e-9)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match="no checkpoint"):
        zoo_study(tmp_path, ["nope"])


def test_zoo_sweep_command_wires_training_and_study(monkeypatch, tmp_path, capsys):
    calls = {}

    def fake_train_sweep(n, out, *, seed, jobs, quiet):
        calls["train"] = (n, str(out), seed, jobs)
        return pd.DataFrame({"name": NAMES[:5], "status": ["skipped"] * 5})

    monkeypatch.setattr(zoo, "train_sweep", fake_train_sweep)
    rc = main(["zoo", "sweep", "--n", "5", "--out", str(zoo.builtin_dir()), "--shots", "1", "2",
               "--repeats", "1", "-k", "1", "--analysis-out", str(tmp_path / "a"), "--quiet"])
    assert rc == 0 and calls["train"] == (5, str(zoo.builtin_dir()), 0, 1)
    out = capsys.readouterr().out
    assert "robust-model ensemble" in out and "U-shape" in out
    assert (tmp_path / "a" / "table3.csv").is_file()
