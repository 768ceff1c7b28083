"""The metric registry, :func:`compare` and :func:`list_metrics`.

Every alignment metric is registered with its facts: whether it is a similarity (higher = more
alike) or a distance, its range, whether it is symmetric and differentiable, what it is built
on (dissimilarity matrices, ``"rdm"``, or the features / kernels themselves, ``"features"``),
which input kinds it accepts and its options.

Every metric follows one calling convention, ``metric(a, b, *, kinds, groups, **options) ->
float``: ``a``, ``b`` are the prepared inputs (dissimilarity matrices for RDM-based metrics, the
inputs as given otherwise), ``kinds`` their kinds, ``groups`` the stimulus index of a bootstrap
draw (RDM metrics leave out pairs of copies of one stimulus) or None. A user's callable
``f(x, y, **options) -> float`` is wrapped into this convention by :func:`resolve_metric`.

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
from dataclasses import dataclass, field
from typing import Any, Literal

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
    "Metric",
    "MetricInfo",
    "ResolvedMetric",
    "compare",
    "list_metrics",
    "resolve_metric",
]

Metric = Callable[..., float]
"""``metric(a, b, *, kinds, groups, **options) -> float`` (see the module doc)."""

ALL_KINDS = INPUT_KINDS


@dataclass(frozen=True)
class MetricInfo:
    """A metric's facts (see :func:`list_metrics` for their meaning).

    Attributes:
        type: ``"similarity"`` (higher = more aligned) or ``"distance"``.
        low: the smallest value.
        high: the largest value.
        symmetric: ``f(x, y) == f(y, x)``.
        differentiable: smooth almost everywhere (usable as a loss).
        based_on: ``"rdm"`` (computed on dissimilarity matrices) or ``"features"``.
        accepts: the input kinds it takes.
        options: the option names it takes; None for a user's callable (anything goes).
        description: one line for listings.
    """

    type: Literal["similarity", "distance"]
    low: float
    high: float
    symmetric: bool
    differentiable: bool
    based_on: Literal["rdm", "features"]
    accepts: tuple[str, ...]
    options: tuple[str, ...] | None = ()
    description: str = ""


METRICS: Registry[Metric, MetricInfo] = Registry("metric", MetricInfo)
_CALLABLE_INFO = MetricInfo("similarity", -np.inf, np.inf, False, False, "features", ALL_KINDS,
                            None, "a user's callable")


def _rsa(method: str) -> Metric:
    def fn(dx: np.ndarray, dy: np.ndarray, *, kinds: tuple[str, str], groups: Any = None) -> float:
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
def _triplet(dx: np.ndarray, dy: np.ndarray, *, kinds: tuple[str, str], groups: Any = None,
             ties: str = "half") -> float:
    return float(triplet_agreement_from_counts(agreement_counts(dx, dy, groups), ties))


@METRICS.register("mutual_knn", type="similarity", low=0.0, high=1.0, symmetric=True,
                  differentiable=False, based_on="rdm", accepts=ALL_KINDS, options=("k",),
                  description="mean share of the k nearest neighbours common to both (k=10)")
def _knn(dx: np.ndarray, dy: np.ndarray, *, kinds: tuple[str, str], groups: Any = None,
         k: int = 10) -> float:
    return mutual_knn_from_rdms(dx, dy, k, groups=groups)


def _cka(kernel: str, debiased: bool) -> Metric:
    matrix_kind = "similarity" if kernel == "linear" else "dissimilarity"

    def fn(x: Any, y: Any, *, kinds: tuple[str, str], groups: Any = None,
           sigma_scale: float = 1.0, bandwidth: str = "kornblith") -> float:
        if kinds[0] != kinds[1]:  # features against a matrix: bring the features to the matrix
            x, y = (_to_matrix(a, k, matrix_kind) for a, k in ((x, kinds[0]), (y, kinds[1])))
            kinds = (matrix_kind, matrix_kind)
        return cka(x, y, kernel, debiased, kind=kinds[0], sigma_scale=sigma_scale,
                   bandwidth=bandwidth)

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
                 accepts=("features", "dissimilarity"), options=("sigma_scale", "bandwidth"),
                 description="RBF-kernel CKA, sigma^2 = sigma_scale^2 x median squared distance "
                             "(Kornblith et al.; bandwidth='off_diagonal': distinct pairs only); "
                             "a dissimilarity matrix must hold Euclidean distances")


@METRICS.register("procrustes", type="distance", low=0.0, high=float(np.pi / 2), symmetric=True,
                  differentiable=True, based_on="features", accepts=("features",),
                  options=("angular",),
                  description="angular Procrustes shape distance arccos(||X^T Y||_*) after "
                              "centring and unit Frobenius norm (0 = same shape)")
def _procrustes(x: Any, y: Any, *, kinds: tuple[str, str], groups: Any = None,
                angular: bool = True) -> float:
    return procrustes_distance(x, y, angular=angular)


@dataclass(frozen=True)
class ResolvedMetric:
    """A metric ready to call: its function, facts, input kinds and options (all checked).

    Built by :func:`resolve_metric`; :func:`compare`, :func:`~repalign.similarity.bootstrap` and
    :func:`~repalign.similarity.mantel` share it, so they call every metric the same way.
    """

    name: str
    fn: Metric
    info: MetricInfo
    kinds: tuple[str, str]
    options: dict[str, Any] = field(default_factory=dict)

    def prepare(self, x: Any, y: Any, rdm_metric: str) -> tuple[Any, Any]:
        """The inputs the metric is computed on (dissimilarity matrices for RDM metrics)."""
        if self.info.based_on == "rdm":
            return as_dissimilarity_pair(x, y, self.kinds, rdm_metric)
        return x, y

    def __call__(self, a: Any, b: Any, *, kinds: tuple[str, str] | None = None,
                 groups: Any = None) -> float:
        """The metric on prepared inputs ``a``, ``b`` (kinds default to the resolved ones)."""
        return float(self.fn(a, b, kinds=kinds or self.kinds, groups=groups, **self.options))


def _wrap_callable(fn: Callable[..., Any]) -> Metric:
    def metric(a: Any, b: Any, *, kinds: tuple[str, str], groups: Any = None,
               **options: Any) -> float:
        return float(fn(a, b, **options))

    metric.__name__ = getattr(fn, "__name__", "callable")
    return metric


def resolve_metric(metric: str | Callable[..., Any], kind: str | tuple[str, str] = "features",
                   options: dict[str, Any] | None = None) -> ResolvedMetric:
    """Look up a metric (a name, a spec with options, or a callable) and check kinds and options.

    Args:
        metric: a registered name, a spec of the one grammar (``"triplet_agreement:ties=strict"``,
            docs/specs.md) or a callable ``f(x, y, **options) -> float`` given the inputs unchanged.
        kind: the input kind, or a pair ``(kind_x, kind_y)``.
        options: further options (an option may not be given both here and in the spec).

    Raises:
        UnknownNameError: unknown metric or kind.
        ConfigError: a kind the metric does not accept, an unknown or repeated option.
        SpecError: a malformed spec string.

    Example:
        >>> m = resolve_metric("mutual_knn:k=5")
        >>> m.name, m.options, m.info.based_on
        ('mutual_knn:k=5', {'k': 5}, 'rdm')
    """
    options = dict(options or {})
    if isinstance(metric, str):
        name, own = METRICS.parse(metric)
        twice = sorted(set(own) & set(options))
        if twice:
            raise ConfigError(f"Metric option(s) {twice} are given both in {metric!r} and as "
                              "keyword arguments; give each once.")
        options.update(own)
        fn, info, label = METRICS.get(name), METRICS.info(name), metric.strip()
    else:
        fn, info = _wrap_callable(metric), _CALLABLE_INFO
        label = getattr(metric, "__name__", "callable")
    kinds = (kind, kind) if isinstance(kind, str) else tuple(kind)
    if len(kinds) != 2:
        raise ConfigError(f"kind must be one kind or a pair of kinds, received {kind!r}.")
    for k in kinds:
        if k not in ALL_KINDS:
            raise UnknownNameError(unknown_name_message("input kind", str(k), list(ALL_KINDS)))
        if k not in info.accepts:
            raise ConfigError(
                f"Metric {label!r} does not accept kind={k!r}; it accepts "
                f"{', '.join(info.accepts)}."
            )
    if info.options is not None:
        unknown = sorted(set(options) - set(info.options))
        if unknown:
            raise ConfigError(
                f"Metric {label!r} has no option(s) {unknown}; its options are "
                f"{list(info.options) or 'none'}."
            )
    return ResolvedMetric(label, fn, info, (kinds[0], kinds[1]), options)


def compare(x: Any, y: Any, metric: str | Callable[..., float] = "rsa_spearman", *,
            kind: str | tuple[str, str] = "features", rdm_metric: str = "euclidean",
            **options: Any) -> float:
    """Alignment between two representations of the same N stimuli under a registered metric.

    Args:
        x: (N, Dx) features, or an (N, N) similarity/dissimilarity matrix (see ``kind``).
        y: (N, Dy) features, or an (N, N) matrix.
        metric: a name from :func:`list_metrics`, a spec with options
            (``"triplet_agreement:ties=strict"``, docs/specs.md), or a callable
            ``f(x, y) -> float`` that gets the inputs unchanged.
        kind: ``"features"``, ``"similarity"`` or ``"dissimilarity"``, or a pair
            ``(kind_x, kind_y)``.
        rdm_metric: how RDM-based metrics turn features into dissimilarities (``"euclidean"``,
            ``"sqeuclidean"``, ``"cosine"``, ``"correlation"``, ``"dot"``).
        **options: metric options (``ties`` for triplet_agreement, ``k`` for mutual_knn,
            ``sigma_scale`` and ``bandwidth`` for cka_rbf, ``angular`` for procrustes).

    Returns:
        The metric's value (see :func:`list_metrics` for its range and direction).

    Raises:
        UnknownNameError: unknown metric, kind or rdm_metric.
        ConfigError: a kind the metric does not accept, or an unknown option.
        SpecError: a malformed metric spec.
        ShapeError: different N, NaN/Inf, non-square or asymmetric matrices, constant inputs.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> feats = rng.normal(size=(20, 4))
        >>> human = np.corrcoef(feats)                      # a similarity matrix
        >>> compare(feats, human, "rsa_spearman", kind=("features", "similarity"),
        ...         rdm_metric="correlation")
        1.0
    """
    m = resolve_metric(metric, kind, options)
    return m(*m.prepare(x, y, rdm_metric))


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
            "type": info.type,
            "low": info.low,
            "high": info.high,
            "best": info.high if info.type == "similarity" else info.low,
            "symmetric": info.symmetric,
            "differentiable": info.differentiable,
            "based_on": info.based_on,
            "accepts": ", ".join(info.accepts),
            "options": ", ".join(info.options or ()),
            "description": info.description,
        })
    columns = ["metric", "type", "low", "high", "best", "symmetric", "differentiable",
               "based_on", "accepts", "options", "description"]
    return pd.DataFrame(rows, columns=columns)
