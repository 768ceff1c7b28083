"""Out-of-distribution detection on frozen features (gLocal's downstream test, seed 001).

A test image is scored by how far its features lie from the in-distribution training features;
a high score means "out of distribution". Two scores:

- ``"knn"`` (Sun et al. 2022, used by Muttenthaler et al. 2023 for gLocal): the cosine distance
  ``1 - cos(x, t)`` from the test feature ``x`` to its ``k``-th nearest training feature ``t``;
- ``"mahalanobis"``: ``(x - mu)^T S^+ (x - mu)`` with the mean ``mu`` and the (maximum-likelihood)
  covariance ``S`` of the training features; with ``train_labels``, one mean per class, a shared
  within-class covariance and the smallest of the class distances (Lee et al. 2018). ``S^+`` is
  the pseudo-inverse, so fewer training examples than dimensions still work.

The in-distribution test images are the positives of the detection task, scored by ``-score``
(the usual convention of the OOD literature):

- ``auroc``: area under the ROC curve, the probability that an in-distribution image scores
  below an out-of-distribution one (ties count one half);
- ``fpr95``: the fraction of out-of-distribution images accepted when the threshold keeps 95 %
  of the in-distribution ones (the largest threshold with a true-positive rate of at least 0.95);
- ``aupr_in``: average precision with the in-distribution images as positives;
  ``aupr_out``: the same with the out-of-distribution images as positives.

Intervals come from a stratified bootstrap over the test images (the in- and out-of-distribution
sets are resampled separately, the training features stay fixed): percentile intervals.

Example:
    >>> rng = np.random.default_rng(0)
    >>> train, test_in = rng.normal(size=(200, 8)) + 2.0, rng.normal(size=(100, 8)) + 2.0
    >>> test_out = rng.normal(size=(100, 8)) - 2.0
    >>> res = ood_detection(train, test_in, test_out, method="knn", k=5, n_boot=200)
    >>> res.value("auroc") > 0.95
    True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, stats

from repalign._progress import progress
from repalign._registry import unknown_name_message
from repalign._validation import as_array, check_count, describe
from repalign.errors import ConfigError, ShapeError, UnknownNameError

__all__ = ["OOD_METHODS", "OODResult", "detection_metrics", "ood_detection", "ood_scores"]

log = logging.getLogger(__name__)

OOD_METHODS = ("knn", "mahalanobis")
METRICS = ("auroc", "fpr95", "aupr_in", "aupr_out")
TPR_LEVEL = 0.95


@dataclass(frozen=True)
class OODResult:
    """Result of :func:`ood_detection`.

    Attributes:
        method: ``"knn"`` or ``"mahalanobis"``.
        k: neighbour rank for ``"knn"`` (None for Mahalanobis).
        metrics: tidy table, one row per metric: ``metric`` (auroc, fpr95, aupr_in, aupr_out),
            ``value``, ``low``, ``high`` (percentile interval), ``level``, ``n_in``, ``n_out``.
        scores_in: (N_in,) scores of the in-distribution test images (higher: more OOD).
        scores_out: (N_out,) scores of the out-of-distribution images.
        samples: (n_boot, 4) bootstrap draws of the metrics, columns in the order of ``metrics``.
    """

    method: str
    k: int | None
    metrics: pd.DataFrame
    scores_in: np.ndarray = field(repr=False)
    scores_out: np.ndarray = field(repr=False)
    samples: np.ndarray = field(repr=False)

    def value(self, metric: str) -> float:
        """The value of one metric (``auroc``, ``fpr95``, ``aupr_in``, ``aupr_out``)."""
        if metric not in METRICS:
            raise UnknownNameError(unknown_name_message("OOD metric", metric, list(METRICS)))
        return float(self.metrics.set_index("metric").loc[metric, "value"])


def _unit_rows(x: np.ndarray, name: str) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    zero = np.flatnonzero(norm[:, 0] == 0)
    if len(zero):
        raise ShapeError(
            f"{name} has {len(zero)} all-zero row(s) (first: {zero[0]}); the cosine distance of "
            "the kNN score is undefined for them. Drop them or use method='mahalanobis'."
        )
    unit: np.ndarray = x / norm
    return unit


def _knn_scores(train: np.ndarray, tests: list[np.ndarray], k: int) -> list[np.ndarray]:
    from sklearn.neighbors import NearestNeighbors

    if k > len(train):
        raise ConfigError(f"k must be at most the number of training rows ({len(train)}), received {k}.")
    nn = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute")
    nn.fit(_unit_rows(train, "train"))
    names = ("test_in", "test_out") if len(tests) == 2 else ("test",)
    return [nn.kneighbors(_unit_rows(t, name), return_distance=True)[0][:, k - 1]
            for t, name in zip(tests, names, strict=True)]


def _mahalanobis_scores(train: np.ndarray, tests: list[np.ndarray],
                        labels: np.ndarray | None) -> list[np.ndarray]:
    if labels is None:
        means = train.mean(0, keepdims=True)
        centred = train - means
    else:
        classes, inverse = np.unique(labels, return_inverse=True)
        means = np.stack([train[inverse == c].mean(0) for c in range(len(classes))])
        centred = train - means[inverse]
    precision = linalg.pinvh(centred.T @ centred / len(train))
    out = []
    for t in tests:
        diff = t[:, None, :] - means[None, :, :]                       # (n, C, D)
        dist = np.einsum("ncd,de,nce->nc", diff, precision, diff)
        out.append(dist.min(1))
    return out


def ood_scores(train: Any, test: Any, method: str = "knn", *, k: int = 10,
               train_labels: Any = None) -> np.ndarray:
    """OOD scores of test features against in-distribution training features.

    Args:
        train: (N_train, D) in-distribution training features.
        test: (N, D) features to score.
        method: ``"knn"`` (k-th nearest-neighbour cosine distance) or ``"mahalanobis"``.
        k: neighbour rank for ``"knn"``.
        train_labels: optional (N_train,) class labels for class-conditional Mahalanobis.

    Returns:
        (N,) scores; higher means farther from the training distribution.
    """
    tr, te = _check_inputs(train, [test], method, k, train_labels)
    return _scores(tr, te, method, k, train_labels)[0]


def _check_inputs(train: Any, tests: list[Any], method: str, k: int,
                  train_labels: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    if method not in OOD_METHODS:
        raise UnknownNameError(unknown_name_message("OOD method", str(method), list(OOD_METHODS)))
    check_count(k, "k", 1)
    tr = as_array(train, "train", ndim=2, min_rows=2)
    names = ("test_in", "test_out") if len(tests) == 2 else ("test",)
    te = [as_array(t, n, ndim=2, min_rows=1) for t, n in zip(tests, names, strict=True)]
    for t, n in zip(te, names, strict=True):
        if t.shape[1] != tr.shape[1]:
            raise ShapeError(
                f"{n} must have the training features' {tr.shape[1]} columns, received {describe(t)}."
            )
    if train_labels is not None:
        if method != "mahalanobis":
            raise ConfigError("train_labels are used only by method='mahalanobis'.")
        lab = np.asarray(train_labels)
        if lab.shape != (len(tr),):
            raise ShapeError(f"train_labels must be ({len(tr)},), one per training row, received {describe(lab)}.")
    return tr, te


def _scores(tr: np.ndarray, te: list[np.ndarray], method: str, k: int,
            train_labels: Any) -> list[np.ndarray]:
    if method == "knn":
        return _knn_scores(tr, te, k)
    return _mahalanobis_scores(tr, te, None if train_labels is None else np.asarray(train_labels))


def _average_precision(pos: np.ndarray, neg: np.ndarray) -> float:
    """Average precision of ranking ``pos`` above ``neg`` by a score (higher first), ties grouped."""
    scores = np.concatenate([pos, neg])
    is_pos = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], is_pos[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # end of each tie group
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall_step = np.diff(np.r_[0.0, tp]) / len(pos)
    return float(np.sum(recall_step * precision))


def detection_metrics(scores_in: Any, scores_out: Any) -> dict[str, float]:
    """AUROC, FPR at 95 % TPR and AUPR (in and out) from OOD scores (higher: more OOD).

    Args:
        scores_in: (N_in,) scores of in-distribution images (the positives).
        scores_out: (N_out,) scores of out-of-distribution images.

    Returns:
        ``{"auroc", "fpr95", "aupr_in", "aupr_out"}``.

    Example:
        >>> detection_metrics([0.1, 0.2], [0.3, 0.4])["auroc"]
        1.0
    """
    s_in = as_array(scores_in, "scores_in", ndim=1)
    s_out = as_array(scores_out, "scores_out", ndim=1)
    u = stats.mannwhitneyu(s_out, s_in, alternative="two-sided").statistic
    auroc = float(u / (len(s_in) * len(s_out)))
    conf_in = np.sort(-s_in)[::-1]
    m = int(np.ceil(TPR_LEVEL * len(s_in) - 1e-9))
    threshold = conf_in[max(m, 1) - 1]
    fpr95 = float(np.mean(-s_out >= threshold))
    return {"auroc": auroc, "fpr95": fpr95, "aupr_in": _average_precision(-s_in, -s_out),
            "aupr_out": _average_precision(s_out, s_in)}


def ood_detection(
    train: Any,
    test_in: Any,
    test_out: Any,
    method: str = "knn",
    *,
    k: int = 10,
    train_labels: Any = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int | None = 0,
    quiet: bool = True,
) -> OODResult:
    """Out-of-distribution detection from features: AUROC, FPR@95 % TPR, AUPR with intervals.

    Args:
        train: (N_train, D) in-distribution training features (e.g. digits 0-4, training split).
        test_in: (N_in, D) held-out in-distribution features (the positives).
        test_out: (N_out, D) out-of-distribution features (e.g. unseen digits 5-9).
        method: ``"knn"`` (k-th nearest-neighbour cosine distance) or ``"mahalanobis"``.
        k: neighbour rank for ``"knn"`` (the gLocal paper and Sun et al. use small k, e.g. 1-50).
        train_labels: optional (N_train,) labels for class-conditional Mahalanobis.
        n_boot: bootstrap draws (stratified over the two test sets); 0 gives no interval
            (``low`` = ``high`` = NaN).
        level: confidence level of the percentile intervals.
        seed: bootstrap seed.
        quiet: hide the progress bar.

    Returns:
        :class:`OODResult`.

    Raises:
        ShapeError: NaN/Inf, wrong rank, different feature dimensions, all-zero rows for kNN,
            mismatched ``train_labels``.
        UnknownNameError: unknown method.
        ConfigError: ``k`` larger than the training set or below 1, bad ``n_boot``/``level``.
    """
    if n_boot != 0:
        check_count(n_boot, "n_boot", 2)
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), received {level}.")
    tr, te = _check_inputs(train, [test_in, test_out], method, k, train_labels)
    s_in, s_out = _scores(tr, te, method, k, train_labels)
    point = detection_metrics(s_in, s_out)
    rng = np.random.default_rng(seed)
    samples = np.full((n_boot, len(METRICS)), np.nan)
    for i in progress(range(n_boot), quiet=quiet, desc="OOD bootstrap"):
        a = s_in[rng.integers(0, len(s_in), len(s_in))]
        b = s_out[rng.integers(0, len(s_out), len(s_out))]
        draw = detection_metrics(a, b)
        samples[i] = [draw[m] for m in METRICS]
    if n_boot:
        low, high = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
    else:
        low = high = np.full(len(METRICS), np.nan)
    table = pd.DataFrame({
        "metric": list(METRICS), "value": [point[m] for m in METRICS], "low": low, "high": high,
        "level": level, "n_in": len(s_in), "n_out": len(s_out),
    })  # fmt: skip
    return OODResult(method, k if method == "knn" else None, table, s_in, s_out, samples)
