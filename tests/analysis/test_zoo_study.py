"""The zoo-scale study on built-in zoo models (small settings), and the ``zoo sweep`` command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import repalign.models.zoo as zoo
from repalign.analysis import reference_names, zoo_study
from repalign.analysis.zoo_study import alignment_subset
from repalign.cli import main
from repalign.data import SimilarityMatrix
from repalign.data.bundled import digits_split
from repalign.errors import ConfigError, DataFormatError
from repalign.features.extract import penultimate_features
from repalign.similarity import compare, rsm

NAMES = ["mlp_standard_s0", "cnn_standard_s0", "resnet_standard_s0", "mlp_l2_s0", "cnn_linf_s1",
         "resnet_l2_s1"]
SMALL = {"shots": (1, 3), "heads": ("linear",), "repeats": 2, "per_class": 8, "k": 2}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo_study")
    return zoo_study(zoo.builtin_dir(), NAMES, **SMALL, out=out), out


@pytest.fixture(scope="module")
def ensemble():
    """(896, 896) mean cosine similarity of the robust ensemble over every transfer image,
    computed here, and each ensemble member's (896, D) penultimate features."""
    images = digits_split().transfer.images
    feats = {n: penultimate_features(zoo.load_zoo_model(n, device="cpu"), images, "cpu")
             for n in reference_names()}
    return np.mean([rsm(f, "cosine") for f in feats.values()], axis=0), feats


@pytest.fixture(scope="module")
def human_study(ensemble, tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo_study_human")
    return zoo_study(zoo.builtin_dir(), NAMES, reference=ensemble[0], **SMALL, out=out), out


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
    assert res.analysis.tables["table3"].shape == (5, 3)
    assert "shift_acc" in res.analysis.downstream
    renditions = [c for c in t if c.startswith("shift_acc_")]
    assert len(renditions) == 6
    np.testing.assert_allclose(t["shift_acc"], t[renditions].mean(axis=1))
    assert t["shift_acc"].between(0, 1).all() and (t["shift_acc"] < t["clean_acc"]).all()
    for f in ("model_table.csv", "alignment.csv", "few_shot.csv", "reference.txt", "figure6.png",
              "figure_shift.png"):
        assert (out / f).is_file()
    assert res.reference.startswith("robust-model ensemble (12 zoo models")


def test_member_is_compared_with_the_other_members(study):
    """mlp_l2_s0 is in the ensemble: its reference is the mean of the 11 others."""
    res, _ = study
    transfer = digits_split().transfer
    sub = alignment_subset(transfer.labels, 8, 0)
    feats = {n: penultimate_features(zoo.load_zoo_model(n, device="cpu"), transfer.images[sub], "cpu")
             for n in reference_names()}
    ref = np.mean([rsm(f, "cosine") for n, f in feats.items() if n != "mlp_l2_s0"], axis=0)
    expect = compare(feats["mlp_l2_s0"], ref, "rsa_spearman", kind=("features", "similarity"),
                     rdm_metric="cosine")
    got = res.alignment.set_index("model").loc["mlp_l2_s0", "spearman"]
    assert got == pytest.approx(expect, rel=1e-9)


def test_matrix_reference_matches_the_ensemble_for_non_members(study, human_study):
    """The ensemble's matrix given as data equals the default reference for a non-member."""
    outside = [n for n in NAMES if n not in reference_names()]
    assert outside
    cols = ["pearson", "spearman", "triplet"]
    default = study[0].alignment.set_index("model").loc[outside, cols]
    given = human_study[0].alignment.set_index("model").loc[outside, cols]
    np.testing.assert_allclose(given.to_numpy(), default.to_numpy(), rtol=1e-6)


def test_matrix_reference_leaves_no_member_out(human_study, ensemble):
    """A member is compared with the whole given matrix, itself included."""
    mean, feats = ensemble
    sub = alignment_subset(digits_split().transfer.labels, SMALL["per_class"], 0)
    expect = compare(feats["mlp_l2_s0"][sub], mean[np.ix_(sub, sub)], "rsa_spearman",
                     kind=("features", "similarity"), rdm_metric="cosine")
    got = human_study[0].alignment.set_index("model").loc["mlp_l2_s0", "spearman"]
    assert got == pytest.approx(expect, rel=1e-9)


def test_dissimilarity_matrix_reference(human_study, ensemble):
    """1 - S given as a dissimilarity matrix gives the same rank alignments (same sign)."""
    dis = SimilarityMatrix(1.0 - ensemble[0], kind="dissimilarity", source="ensemble_rdm.npy")
    res = zoo_study(zoo.builtin_dir(), NAMES, reference=dis, **SMALL)
    cols = ["spearman", "triplet"]
    np.testing.assert_allclose(res.alignment[cols].to_numpy(),
                               human_study[0].alignment[cols].to_numpy(), rtol=1e-9)
    assert (res.alignment["spearman"] > 0).all()
    assert res.reference.startswith("human dissimilarity matrix (ensemble_rdm.npy, 896 x 896")


def test_matrix_reference_label(human_study):
    res, out = human_study
    assert res.reference.startswith("human similarity matrix (given array, 896 x 896")
    assert "stand-in" not in res.reference and "ensemble" not in res.reference
    assert (out / "reference.txt").read_text() == res.reference + "\n"


def test_matrix_reference_errors(ensemble):
    def run(reference):
        zoo_study(zoo.builtin_dir(), NAMES, reference=reference, **SMALL)

    with pytest.raises(DataFormatError, match=r"must be \(896, 896\).*shape \(10, 10\)"):
        run(np.eye(10))
    with pytest.raises(DataFormatError, match=r"must be \(896, 896\).*received \(5, 5\)"):
        run(SimilarityMatrix(np.eye(5)))
    bad = ensemble[0].copy()
    bad[0, 1] += 0.5
    with pytest.raises(DataFormatError, match=r"must be \(896, 896\).*not symmetric"):
        run(bad)
    bad = ensemble[0].copy()
    bad[3, 2] = bad[2, 3] = np.nan
    with pytest.raises(DataFormatError, match=r"must be \(896, 896\).*NaN"):
        run(bad)


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


def test_zoo_sweep_command_takes_a_reference_matrix(monkeypatch, tmp_path, capsys):
    """--reference-matrix, --reference-kind and --reference-key reach zoo_study."""
    from scipy.io import savemat

    transfer = digits_split().transfer
    sim = rsm(transfer.images.reshape(len(transfer), -1).numpy(), "cosine")
    path = tmp_path / "human.mat"
    savemat(path, {"dis": 1.0 - sim, "other": np.eye(4)})
    monkeypatch.setattr(zoo, "train_sweep", lambda n, out, *, seed, jobs, quiet: pd.DataFrame(
        {"name": NAMES[:5], "status": ["skipped"] * 5}))
    rc = main(["zoo", "sweep", "--n", "5", "--out", str(zoo.builtin_dir()), "--shots", "1", "2",
               "--repeats", "1", "-k", "1", "--analysis-out", str(tmp_path / "a"), "--quiet",
               "--reference-matrix", str(path), "--reference-kind", "dissimilarity",
               "--reference-key", "dis"])
    assert rc == 0
    out = capsys.readouterr().out
    assert f"alignment reference: human dissimilarity matrix ({path}, 896 x 896" in out
    assert "stand-in" not in out
    sub = alignment_subset(transfer.labels, 50, 0)
    model = zoo.load_checkpoint(zoo.builtin_dir() / f"{NAMES[0]}.pt", device="cpu")
    expect = compare(penultimate_features(model, transfer.images[sub], "cpu"), sim[np.ix_(sub, sub)],
                     "rsa_spearman", kind=("features", "similarity"), rdm_metric="cosine")
    got = pd.read_csv(tmp_path / "a" / "alignment.csv").set_index("model").loc[NAMES[0]]
    assert got["spearman"] == pytest.approx(expect, rel=1e-6)
