"""The metric registry, :func:`compare` and :func:`list_metrics`.

Every alignment metric is registered with its facts: whether it is a similarity (higher = more
alike) or a distance, its range, whether it is symmetric and differentiable, what it is built
on (dissimilarity matrices, ``"rdm"``, or the features / kernels themselves, ``"features"``),
which input kinds it accepts and its options.

Inputs are two feature matrices (N, Dx), (N, Dy), or precomputed (N, N) similarity or
dissimilarity matrices; ``kind`` says which, for both inputs or as a pair (e.g. model features
against a human similarity matrix: ``kind=("features", "similarity")``). RDM-based metrics turn
features into dissimilarities with ``rdm_metric`` (Euclidean by default) and similarity
matrices into ``1 - S``.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(30, 8))
    >>> compare(x, x @ rng.normal(size=(8, 8)), "cka_linear") > 0.5
    True
    >>> list_metrics().set_index("metric").loc["rsa_spearman", "type"]
    'similarity'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from repalign._registry import Registry, unknown_name_message
from repalign._validation import as_array
from repalign.errors import ConfigError, UnknownNameError
from repalign.similarity.cka import cka
from repalign.similarity.knn import mutual_knn_from_rdms
from repalign.similarity.matrices import (
    INPUT_KINDS,
    as_dissimilarity,
    as_dissimilarity_pair,
    as_square_matrix,
)
from repalign.similarity.procrustes import procrustes_distance
from repalign.similarity.rsa import rsa_correlation
from repalign.similarity.triplet_agreement import agreement_counts, triplet_agreement_from_counts

__all__ = [
    "METRICS",
    "call_metric",
    "check_options",
    "compare",
    "list_metrics",
    "metric_name",
    "prepare_inputs",
    "resolve_kinds",
]

METRICS: Registry[Callable[..., float]] = Registry("metric")
ALL_KINDS = INPUT_KINDS


def _rsa(method: str) -> Callable[..., float]:
    def fn(dx: np.ndarray, dy: np.ndarray, groups: Any = None) -> float:
        return rsa_correlation(dx, dy, method, groups=groups)

    fn.__name__ = f"rsa_{method}"
    return fn


_RSA = {
    "rsa_pearson": ("pearson", True, "Pearson r between the upper triangles of the two RDMs"),
    "rsa_spearman": ("spearman", False, "Spearman rho between the RDM upper triangles"),
    "rsa_kendall_tau_a": ("kendall_tau_a", False,
                          "Kendall tau-a (ties lower it; rsatoolbox's choice for tied models)"),
    "rsa_kendall_tau_b": ("kendall_tau_b", False, "Kendall tau-b (tie-corrected)"),
    "rsa_cosine": ("cosine", True, "uncentred cosine between the RDM upper triangles"),
}
for _name, (_method, _diff, _desc) in _RSA.items():
    METRICS.register(_name, _rsa(_method), type="similarity", low=-1.0, high=1.0, symmetric=True,
                     differentiable=_diff, based_on="rdm", accepts=ALL_KINDS, options=(),
                     description=_desc)


@METRICS.register("triplet_agreement", type="similarity", low=0.0, high=1.0, symmetric=True,
                  differentiable=False, based_on="rdm", accepts=ALL_KINDS, options=("ties",),
                  description="exact share of all n(n-1)(n-2)/2 triplets ordered alike "
                              "(ties: 'half', 'strict', 'exclude')")
def _triplet(dx: np.ndarray, dy: np.ndarray, groups: Any = None, ties: str = "half") -> float:
    return float(triplet_agreement_from_counts(agreement_counts(dx, dy, groups), ties))


@METRICS.register("mutual_knn", type="similarity", low=0.0, high=1.0, symmetric=True,
                  differentiable=False, based_on="rdm", accepts=ALL_KINDS, options=("k",),
                  description="mean share of the k nearest neighbours common to both (k=10)")
def _knn(dx: np.ndarray, dy: np.ndarray, groups: Any = None, k: int = 10) -> float:
    return mutual_knn_from_rdms(dx, dy, k, groups=groups)


def _cka(kernel: str, debiased: bool) -> Callable[..., float]:
    matrix_kind = "similarity" if kernel == "linear" else "dissimilarity"

    def fn(x: Any, y: Any, kinds: tuple[str, str], sigma_scale: float = 1.0) -> float:
        if kinds[0] != kinds[1]:  # features against a matrix: bring the features to the matrix
            x, y = (_to_matrix(a, k, matrix_kind) for a, k in ((x, kinds[0]), (y, kinds[1])))
            kinds = (matrix_kind, matrix_kind)
        return cka(x, y, kernel, debiased, kind=kinds[0], sigma_scale=sigma_scale)

    return fn


def _to_matrix(a: Any, kind: str, target: str) -> np.ndarray:
    if kind != "features":
        return as_square_matrix(a, "input")
    f = as_array(a, "features", ndim=2)
    return f @ f.T if target == "similarity" else as_dissimilarity(f, "features", "euclidean")


METRICS.register("cka_linear", _cka("linear", False), type="similarity", low=0.0, high=1.0,
                 symmetric=True, differentiable=True, based_on="features",
                 accepts=("features", "similarity"), options=(),
                 description="linear CKA (biased HSIC; feature-space formula when D < N); "
                             "a similarity matrix is used as the Gram matrix")
METRICS.register("cka_linear_debiased", _cka("linear", True), type="similarity", low=-1.0,
                 high=1.0, symmetric=True, differentiable=True, based_on="features",
                 accepts=("features", "similarity"), options=(),
                 description="linear CKA with the unbiased HSIC (negative values kept)")
METRICS.register("cka_rbf", _cka("rbf", False), type="similarity", low=0.0, high=1.0,
                 symmetric=True, differentiable=True, based_on="features",
                 accepts=("features", "dissimilarity"), options=("sigma_scale",),
                 description="RBF-kernel CKA, bandwidth = sigma_scale x median distance "
                             "(diagonal excluded); a dissimilarity matrix must hold Euclidean "
                             "distances")


@METRICS.register("procrustes", type="distance", low=0.0, high=float(np.pi / 2), symmetric=True,
                  differentiable=True, based_on="features", accepts=("features",),
                  options=("angular",),
                  description="angular Procrustes shape distance arccos(||X^T Y||_*) after "
                              "centring and unit Frobenius norm (0 = same shape)")
def _procrustes(x: Any, y: Any, kinds: tuple[str, str], angular: bool = True) -> float:
    return procrustes_distance(x, y, angular=angular)


def resolve_kinds(metric: str | Callable[..., float], kind: str | tuple[str, str]
                  ) -> tuple[Callable[..., float], dict[str, Any], tuple[str, str]]:
    """Look up a metric and check the input kinds it is given.

    Returns:
        The metric function, its facts (empty for a callable) and the pair of kinds.
    """
    fn = METRICS.get(metric)
    info: dict[str, Any] = METRICS.info(metric) if isinstance(metric, str) else {
        "based_on": "features", "accepts": ALL_KINDS, "options": None}
    kinds = (kind, kind) if isinstance(kind, str) else tuple(kind)
    if len(kinds) != 2:
        raise ConfigError(f"kind must be one kind or a pair of kinds, received {kind!r}.")
    for k in kinds:
        if k not in ALL_KINDS:
            raise UnknownNameError(unknown_name_message("input kind", str(k), list(ALL_KINDS)))
        if k not in info["accepts"]:
            raise ConfigError(
                f"Metric {metric!r} does not accept kind={k!r}; it accepts "
                f"{', '.join(info['accepts'])}."
            )
    return fn, info, (kinds[0], kinds[1])


def check_options(metric: Any, info: dict[str, Any], options: dict[str, Any]) -> None:
    allowed = info.get("options")
    if allowed is None:
        return
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"Metric {metric!r} has no option(s) {unknown}; its options are "
            f"{list(allowed) or 'none'}."
        )


def metric_name(metric: str | Callable[..., float]) -> str:
    """The registry name of a metric, or a callable's ``__name__``."""
    return metric if isinstance(metric, str) else getattr(metric, "__name__", "callable")


def prepare_inputs(x: Any, y: Any, info: dict[str, Any], kinds: tuple[str, str],
                   rdm_metric: str) -> tuple[Any, Any]:
    """Turn the inputs into what the metric is computed on (dissimilarities for RDM metrics)."""
    if info["based_on"] == "rdm":
        return as_dissimilarity_pair(x, y, kinds, rdm_metric)
    return x, y


def call_metric(fn: Callable[..., float], info: dict[str, Any], a: Any, b: Any,
                kinds: tuple[str, str], groups: Any = None, **options: Any) -> float:
    """Call a metric function on prepared inputs (see :func:`prepare_inputs`)."""
    if info["based_on"] == "rdm":
        return float(fn(a, b, groups=groups, **options))
    if info.get("options") is None:  # a user callable
        return float(fn(a, b, **options))
    return float(fn(a, b, kinds, **options))


def compare(x: Any, y: Any, metric: str | Callable[..., float] = "rsa_spearman", *,
            kind: str | tuple[str, str] = "features", rdm_metric: str = "euclidean",
            **options: Any) -> float:
    """Alignment between two representations of the same N stimuli under a registered metric.

    Args:
        x: (N, Dx) features, or an (N, N) similarity/dissimilarity matrix (see ``kind``).
        y: (N, Dy) features, or an (N, N) matrix.
        metric: a name from :func:`list_metrics`, or a callable ``f(x, y) -> float`` that gets
            the inputs unchanged.
        kind: ``"features"``, ``"similarity"`` or ``"dissimilarity"``, or a pair
            ``(kind_x, kind_y)``.
        rdm_metric: how RDM-based metrics turn features into dissimilarities (``"euclidean"``,
            ``"sqeuclidean"``, ``"cosine"``, ``"correlation"``, ``"dot"``).
        **options: metric options (``ties`` for triplet_agreement, ``k`` for mutual_knn,
            ``sigma_scale`` for cka_rbf, ``angular`` for procrustes).

    Returns:
        The metric's value (see :func:`list_metrics` for its range and direction).

    Raises:
        UnknownNameError: unknown metric, kind or rdm_metric.
        ConfigError: a kind the metric does not accept, or an unknown option.
        ShapeError: different N, NaN/Inf, non-square or asymmetric matrices, constant inputs.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> feats = rng.normal(size=(20, 4))
        >>> human = np.corrcoef(feats)                      # a similarity matrix
        >>> compare(feats, human, "rsa_spearman", kind=("features", "similarity"),
        ...         rdm_metric="correlation")
        1.0
    """
    fn, info, kinds = resolve_kinds(metric, kind)
    check_options(metric, info, options)
    a, b = prepare_inputs(x, y, info, kinds, rdm_metric)
    return call_metric(fn, info, a, b, kinds, **options)


def list_metrics(pattern: str = "*") -> pd.DataFrame:
    """The registered metrics and their facts: a tidy DataFrame, one row per metric.

    Columns: ``metric`` (the name), ``type`` ("similarity": higher = more aligned; "distance": lower = more aligned),
    ``low``/``high`` (range), ``best`` (the value of a representation compared with itself,
    when it has no ties), ``symmetric`` (``f(x, y) == f(y, x)``), ``differentiable`` (a smooth
    function of the inputs almost everywhere: usable as a training loss), ``based_on``
    ("rdm" or "features"), ``accepts`` (input kinds), ``options`` and ``description``.

    Example:
        >>> list_metrics("cka*")["metric"].tolist()
        ['cka_linear', 'cka_linear_debiased', 'cka_rbf']
    """
    rows = []
    for name in METRICS.list(pattern):
        info = METRICS.info(name)
        rows.append({
            "metric": name,
            "type": info["type"],
            "low": info["low"],
            "high": info["high"],
            "best": info["high"] if info["type"] == "similarity" else info["low"],
            "symmetric": info["symmetric"],
            "differentiable": info["differentiable"],
            "based_on": info["based_on"],
            "accepts": ", ".join(info["accepts"]),
            "options": ", ".join(info["options"]),
            "description": info["description"],
        })
    columns = ["metric", "type", "low", "high", "best", "symmetric", "differentiable",
               "based_on", "accepts", "options", "description"]
    return pd.DataFrame(rows, columns=columns)
