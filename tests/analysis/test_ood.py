"""OOD detection: metrics against scikit-learn, scores against brute force and direct formulas."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import mahalanobis
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from repalign.analysis import detection_metrics, ood_detection, ood_scores
from repalign.errors import ConfigError, ShapeError, UnknownNameError


def _sklearn_metrics(s_in: np.ndarray, s_out: np.ndarray) -> dict[str, float]:
    y = np.r_[np.ones(len(s_in)), np.zeros(len(s_out))]
    conf = -np.r_[s_in, s_out]
    fpr, tpr, _ = roc_curve(y, conf, drop_intermediate=False)
    return {
        "auroc": roc_auc_score(y, conf),
        "fpr95": float(fpr[np.argmax(tpr >= 0.95 - 1e-12)]),
        "aupr_in": average_precision_score(y, conf),
        "aupr_out": average_precision_score(1 - y, -conf),
    }


@pytest.mark.parametrize("case", ["continuous", "ties", "separated", "reversed", "small"])
def test_metrics_equal_sklearn(case: str) -> None:
    rng = np.random.default_rng(3)
    if case == "continuous":
        s_in, s_out = rng.normal(size=137), rng.normal(0.7, 1.0, size=91)
    elif case == "ties":
        s_in, s_out = rng.integers(0, 6, 120).astype(float), rng.integers(2, 8, 77).astype(float)
    elif case == "separated":
        s_in, s_out = rng.uniform(0, 1, 40), rng.uniform(2, 3, 60)
    elif case == "reversed":
        s_in, s_out = rng.uniform(2, 3, 40), rng.uniform(0, 1, 60)
    else:
        s_in, s_out = np.array([0.1, 0.5, 0.5, 0.9]), np.array([0.5, 0.7])
    ours = detection_metrics(s_in, s_out)
    ref = _sklearn_metrics(s_in, s_out)
    for m in ref:
        assert ours[m] == pytest.approx(ref[m], abs=1e-12), m
    if case == "separated":
        assert ours == {"auroc": 1.0, "fpr95": 0.0, "aupr_in": 1.0, "aupr_out": 1.0}


def test_knn_scores_equal_brute_force() -> None:
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(30, 4)), rng.normal(size=(12, 4))
    for k in (1, 3, 30):
        ours = ood_scores(train, test, "knn", k=k)
        brute = []
        for x in test:
            d = [1 - x @ t / (np.linalg.norm(x) * np.linalg.norm(t)) for t in train]
            brute.append(sorted(d)[k - 1])
        np.testing.assert_allclose(ours, brute, atol=1e-12)
    # invariant to rescaling rows (cosine)
    np.testing.assert_allclose(ood_scores(3 * train, test * 0.5, "knn", k=2),
                               ood_scores(train, test, "knn", k=2), atol=1e-12)


def test_mahalanobis_equals_direct_formula() -> None:
    rng = np.random.default_rng(1)
    train = rng.normal(size=(50, 3)) @ rng.normal(size=(3, 3))
    test = rng.normal(size=(8, 3))
    cov = np.cov(train, rowvar=False, bias=True)
    vi = np.linalg.inv(cov)
    direct = [mahalanobis(x, train.mean(0), vi) ** 2 for x in test]
    np.testing.assert_allclose(ood_scores(train, test, "mahalanobis"), direct, rtol=1e-8)
    # class-conditional: shared within-class covariance, smallest class distance
    labels = rng.integers(0, 3, 50)
    means = {c: train[labels == c].mean(0) for c in range(3)}
    within = sum((train[labels == c] - means[c]).T @ (train[labels == c] - means[c]) for c in range(3)) / 50
    vi = np.linalg.inv(within)
    direct = [min(mahalanobis(x, means[c], vi) ** 2 for c in range(3)) for x in test]
    np.testing.assert_allclose(ood_scores(train, test, "mahalanobis", train_labels=labels), direct, rtol=1e-8)


def test_ood_detection_table_and_intervals() -> None:
    rng = np.random.default_rng(2)
    e1, e2 = np.eye(6)[0] * 2, np.eye(6)[1] * 2
    train, test_in = rng.normal(size=(100, 6)) + e1, rng.normal(size=(60, 6)) + e1
    test_out = rng.normal(size=(40, 6)) + e2
    res = ood_detection(train, test_in, test_out, k=5, n_boot=200, seed=0)
    assert res.metrics["metric"].tolist() == ["auroc", "fpr95", "aupr_in", "aupr_out"]
    assert (res.metrics["low"] <= res.metrics["value"]).all()
    assert (res.metrics["value"] <= res.metrics["high"]).all()
    assert res.samples.shape == (200, 4)
    expect = detection_metrics(res.scores_in, res.scores_out)
    assert res.value("auroc") == pytest.approx(expect["auroc"])
    assert 0.6 < res.value("auroc") <= 1.0
    again = ood_detection(train, test_in, test_out, k=5, n_boot=200, seed=0)
    np.testing.assert_array_equal(res.samples, again.samples)
    none = ood_detection(train, test_in, test_out, method="mahalanobis", n_boot=0)
    assert none.metrics["low"].isna().all() and none.k is None


def test_bad_input() -> None:
    rng = np.random.default_rng(0)
    tr, te = rng.normal(size=(10, 3)), rng.normal(size=(5, 3))
    with pytest.raises(UnknownNameError, match="mahalanobis"):
        ood_detection(tr, te, te, method="energy")
    with pytest.raises(ShapeError, match="3 columns"):
        ood_detection(tr, te, rng.normal(size=(5, 4)))
    with pytest.raises(ShapeError, match="NaN"):
        ood_detection(tr, np.full((2, 3), np.nan), te)
    with pytest.raises(ConfigError, match="at most the number of training rows"):
        ood_detection(tr, te, te, k=11)
    with pytest.raises(ConfigError, match="k must be"):
        ood_detection(tr, te, te, k=0)
    with pytest.raises(ShapeError, match="all-zero"):
        ood_detection(tr, np.zeros((2, 3)), te)
    with pytest.raises(ShapeError, match="train_labels"):
        ood_detection(tr, te, te, method="mahalanobis", train_labels=[0, 1])
    with pytest.raises(ConfigError, match="only by method='mahalanobis'"):
        ood_detection(tr, te, te, train_labels=np.zeros(10))
    with pytest.raises(ConfigError, match="n_boot"):
        ood_detection(tr, te, te, n_boot=1)
    with pytest.raises(ShapeError, match="rank"):
        ood_detection(tr, te[0], te)
