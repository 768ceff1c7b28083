"""Few-shot transfer: exact shots per class, reproducibility, heads, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
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


def test_torch_heads_see_exactly_n_examples_per_class_with_input_dropout(data, monkeypatch):
    """mlp1/mlp2 train on n examples per class; 80 % of the inputs are zeroed, the rest x 5."""
    feats, labels = data
    seen, inputs = [], []
    fit_heads, baddbmm = fs._fit_heads, torch.baddbmm

    def spy_fit(xtr, ytr, xte, n_classes, layers, **kw):
        seen.append((layers, [np.bincount(y, minlength=4).tolist() for y in ytr], xtr.shape))
        return fit_heads(xtr, ytr, xte, n_classes, layers, **kw)

    def spy_baddbmm(bias, x, w):
        if x.shape[-1] == feats.shape[1]:  # the first layer: its input is the (dropped) features
            inputs.append(x.detach().clone())
        return baddbmm(bias, x, w)

    monkeypatch.setattr(fs, "_fit_heads", spy_fit)
    monkeypatch.setattr(fs.torch, "baddbmm", spy_baddbmm)
    few_shot_runs(feats, labels, shots=(3,), heads=("mlp1", "mlp2"), repeats=2, seed=0, epochs=20,
                  device="cpu", standardize=True)
    assert seen == [(1, [[3] * 4] * 2, (2, 12, 10)), (2, [[3] * 4] * 2, (2, 12, 10))]
    train_inputs = [x for x in inputs if x.shape[1] == 12]  # 2 heads x 20 epochs
    assert len(train_inputs) == 40
    clean = []  # the standardised training features of both repeats' draws
    for r in range(2):
        train, _ = sample_shots(labels, 3, 0 * 1_000_003 + 3 * 1009 + r)
        clean.append(StandardScaler().fit_transform(feats[train]))
    scaled = torch.as_tensor(np.stack(clean), dtype=torch.float32) / (1 - 0.8)
    for x in train_inputs:
        kept = x != 0
        assert 0.65 < 1 - kept.float().mean() < 0.95  # 240 entries, p = 0.8
        torch.testing.assert_close(x[kept], scaled[kept])
    assert not torch.equal(train_inputs[0] != 0, train_inputs[1] != 0)  # a new mask every epoch


def test_linear_head_matches_a_direct_computation(data):
    feats, labels = data
    runs = few_shot_runs(feats, labels, shots=(2,), heads=("linear",), repeats=1, seed=7,
                         standardize=True)
    train, test = sample_shots(labels, 2, 7 * 1_000_003 + 2 * 1009 + 0)
    sc = StandardScaler().fit(feats[train])
    clf = LogisticRegression(max_iter=2000).fit(sc.transform(feats[train]), labels[train])
    acc = (clf.predict(sc.transform(feats[test])) == labels[test]).mean()
    assert runs["accuracy"].iloc[0] == pytest.approx(acc)


def test_default_linear_head_is_plain_scikit_learn_as_in_seed_000():
    """Seed 000 fits scikit-learn's logistic regression on the embeddings as they are: the
    default head must equal plain LogisticRegression on the same split (zoo features, where
    standardising does change the answer)."""
    from repalign.data.bundled import digits_split
    from repalign.features import extract_features
    from repalign.models.zoo import load_zoo_model

    stim = digits_split().transfer  # classes the zoo never trained on
    model = load_zoo_model("cnn_standard_s0")
    layer = model.layers()[-2]
    feats = extract_features(model, stim, layers=[layer], cache=False, quiet=True)[layer]
    labels = stim.labels
    runs = few_shot_runs(feats, labels, shots=(1,), heads=("linear",), repeats=3, seed=0)
    plain = []
    for r in range(3):
        train, test = sample_shots(labels, 1, 0 * 1_000_003 + 1 * 1009 + r)
        clf = LogisticRegression(max_iter=2000).fit(feats[train], labels[train])
        plain.append((clf.predict(feats[test]) == labels[test]).mean())
    np.testing.assert_allclose(runs["accuracy"], plain)
    scaled = few_shot_runs(feats, labels, shots=(1,), heads=("linear",), repeats=3, seed=0,
                           standardize=True)
    assert not np.allclose(scaled["accuracy"], plain)  # the option matters on real features


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
    # another seed draws other training examples: the 1-shot runs differ (standardised, where
    # one example per class does not yet separate these classes perfectly)
    one = {"shots": (1,), "heads": ("linear",), "repeats": 3, "standardize": True}
    other = few_shot_runs(feats, labels, seed=2, **one)
    assert not np.allclose(other["accuracy"], few_shot_runs(feats, labels, seed=1, **one)["accuracy"])


def test_heads_trained_together_are_independent():
    """Changing one repeat's data leaves the other repeats' heads unchanged."""
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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_heads_train_on_cuda(data):
    feats, labels = data
    runs = few_shot_runs(feats, labels, shots=(5,), heads=("mlp1", "mlp2"), repeats=2, seed=0,
                         device="cuda")
    assert (runs["n_train"] == 20).all() and (runs["accuracy"] > 0.9).all()
