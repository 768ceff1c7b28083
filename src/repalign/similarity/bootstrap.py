"""Bootstrap over stimuli: a confidence interval for any registered metric.

Each draw resamples the N stimuli with replacement. RDM-based metrics (RSA, triplet agreement,
mutual kNN) are computed once on full (N, N) dissimilarity matrices, which each draw indexes;
the pairs formed by two copies of the same stimulus (zero "self" distances that would inflate
the correlations) are **dropped**, as are triplets with a repeated stimulus and neighbours that
are copies of the anchor. Feature-based metrics (CKA, Procrustes) get the resampled rows (or the
resampled rows and columns of a kernel matrix): a standard case resample in which copies weigh
a stimulus more. The interval is the percentile interval of the draws.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(40, 5)); y = x + rng.normal(size=(40, 5))
    >>> res = bootstrap(x, y, "rsa_pearson", n_boot=200)
    >>> res.low < res.value < res.high
    True
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repalign._progress import progress
from repalign._validation import check_count
from repalign.errors import ConfigError, ShapeError
from repalign.similarity.compare import resolve_metric
from repalign.similarity.matrices import as_square_matrix

__all__ = ["BootstrapResult", "bootstrap"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BootstrapResult:
    """A metric's value on all stimuli and its bootstrap distribution.

    Attributes:
        metric: metric name (or the callable's name).
        value: the metric on the original stimuli.
        low, high: percentile confidence interval at ``level``.
        level: confidence level.
        se: standard deviation of the successful draws.
        samples: (n_boot,) values of the draws (NaN where a draw failed).
        n_failed: draws on which the metric was undefined (e.g. a constant resample).
    """

    metric: str
    value: float
    low: float
    high: float
    level: float
    se: float
    samples: np.ndarray = field(repr=False)
    n_failed: int = 0


def _resample(a: Any, kind: str, idx: np.ndarray) -> Any:
    if kind == "features":
        return np.asarray(a)[idx]
    return a[np.ix_(idx, idx)]


def bootstrap(x: Any, y: Any, metric: str | Callable[..., float] = "rsa_spearman",
              n_boot: int = 1000, *, kind: str | tuple[str, str] = "features",
              rdm_metric: str = "euclidean", level: float = 0.95, seed: int | None = 0,
              quiet: bool = False, **options: Any) -> BootstrapResult:
    """Bootstrap confidence interval of ``compare(x, y, metric)`` over stimuli.

    Args:
        x, y, metric, kind, rdm_metric, **options: as in :func:`~repalign.similarity.compare`.
        n_boot: number of draws.
        level: confidence level of the percentile interval.
        seed: random seed.
        quiet: no progress bar.

    Returns:
        :class:`BootstrapResult`.

    Raises:
        ShapeError: as :func:`compare`; also when more than half of the draws fail.
        ConfigError: ``n_boot < 2`` or ``level`` outside (0, 1).
    """
    check_count(n_boot, "n_boot", 2)
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), received {level}.")
    m = resolve_metric(metric, kind, options)
    kinds = m.kinds
    a, b = m.prepare(x, y, rdm_metric)
    value = m(a, b)
    if m.info.based_on == "rdm":
        kinds_b = ("dissimilarity", "dissimilarity")
    else:
        kinds_b = kinds
        a, b = (np.asarray(v, dtype=float) if k == "features" else as_square_matrix(v, name)
                for v, k, name in ((a, kinds[0], "x"), (b, kinds[1], "y")))
    n = len(a)
    rng = np.random.default_rng(seed)
    samples = np.full(n_boot, np.nan)
    errors: list[str] = []
    for i in progress(range(n_boot), quiet=quiet, desc=f"bootstrap {metric}"):
        idx = np.sort(rng.integers(0, n, n))
        try:
            if m.info.based_on == "rdm":
                samples[i] = m(a[np.ix_(idx, idx)], b[np.ix_(idx, idx)], kinds=kinds_b, groups=idx)
            else:
                samples[i] = m(_resample(a, kinds[0], idx), _resample(b, kinds[1], idx))
        except ShapeError as exc:
            errors.append(str(exc))
    ok = samples[np.isfinite(samples)]
    name = m.name
    if ok.size < max(2, n_boot // 2):
        raise ShapeError(
            f"The bootstrap of {name!r} failed on {n_boot - ok.size} of {n_boot} draws "
            f"(first reason: {errors[0] if errors else 'non-finite values'}); use more stimuli."
        )
    if errors:
        warnings.warn(
            f"{len(errors)} of {n_boot} bootstrap draws of {name!r} were undefined and left out "
            f"(first reason: {errors[0]})", stacklevel=2)
    low, high = np.quantile(ok, [(1 - level) / 2, (1 + level) / 2])
    return BootstrapResult(name, value, float(low), float(high), level,
                           float(np.std(ok, ddof=1)), samples, n_boot - ok.size)
