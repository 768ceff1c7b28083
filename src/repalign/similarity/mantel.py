"""Permutation (Mantel) test: is the alignment larger than for randomly relabelled stimuli?

The stimulus labels of ``y`` are permuted (rows and columns of its matrix together, or rows
of its features), the metric is recomputed, and the p-value is
``(1 + #{null >= observed}) / (1 + n_perm)`` (``alternative="greater"``; ``"less"`` mirrors it
and is the default for distance metrics; ``"two-sided"`` doubles the smaller tail, capped at
1). ``rsa_pearson``, ``rsa_spearman`` and ``rsa_cosine`` run vectorised in blocks of
permutations (the permuted vector keeps its mean, norm and ranks, so each permutation costs
one gather and one dot product); other metrics call the metric once per permutation.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(30, 4)); y = x + 0.5 * rng.normal(size=(30, 4))
    >>> mantel(x, y, "rsa_spearman", n_perm=999).p_value
    0.001
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

from repalign._progress import progress
from repalign._validation import check_count
from repalign.errors import ConfigError
from repalign.similarity.compare import resolve_metric
from repalign.similarity.matrices import as_square_matrix, to_matrix
from repalign.similarity.rsa import pair_vector

__all__ = ["ALTERNATIVES", "MantelResult", "mantel"]

ALTERNATIVES = ("greater", "less", "two-sided")
_FAST = ("rsa_pearson", "rsa_spearman", "rsa_cosine")
_BLOCK_ELEMENTS = 1 << 23


@dataclass(frozen=True)
class MantelResult:
    """Observed value, permutation p-value and the null distribution."""

    metric: str
    value: float
    p_value: float
    n_perm: int
    alternative: str
    null: np.ndarray = field(repr=False)


def _fast_null(dx: np.ndarray, dy: np.ndarray, metric: str, perms: np.ndarray) -> np.ndarray:
    """Null values of the correlation-type RSA metrics for permutations of y's stimuli."""
    n = dx.shape[0]
    vx, vy = pair_vector(dx), pair_vector(dy)
    if metric == "rsa_spearman":
        vx, vy = rankdata(vx), rankdata(vy)
    if metric != "rsa_cosine":
        vx, vy = vx - vx.mean(), vy - vy.mean()
    scale = float(np.linalg.norm(vx) * np.linalg.norm(vy))
    # the permuted vector's entries are a re-ordering of vy's: gather from the square form
    ym = to_matrix(vy).ravel()
    iu, ju = np.triu_indices(n, k=1)
    null = np.empty(len(perms))
    step = max(1, _BLOCK_ELEMENTS // max(iu.size, 1))
    for s in range(0, len(perms), step):
        p = perms[s:s + step]
        null[s:s + step] = np.take(ym, p[:, iu] * n + p[:, ju]) @ vx / scale
    return null


def mantel(x: Any, y: Any, metric: str | Callable[..., float] = "rsa_spearman",
           n_perm: int = 10_000, *, kind: str | tuple[str, str] = "features",
           rdm_metric: str = "euclidean", alternative: str | None = None,
           seed: int | None = 0, quiet: bool = False, **options: Any) -> MantelResult:
    """Permutation p-value of ``compare(x, y, metric)`` against relabelled stimuli.

    Args:
        x, y, metric, kind, rdm_metric, **options: as in :func:`~repalign.similarity.compare`.
        n_perm: number of permutations.
        alternative: ``"greater"`` (default for similarity metrics), ``"less"`` (default for
            distances) or ``"two-sided"``.
        seed: random seed.
        quiet: no progress bar.

    Returns:
        :class:`MantelResult`; the smallest possible p-value is ``1 / (n_perm + 1)``.

    Raises:
        ConfigError: ``n_perm < 1`` or an unknown alternative.
    """
    m = resolve_metric(metric, kind, options)
    kinds = m.kinds
    check_count(n_perm, "n_perm")
    if alternative is None:
        alternative = "less" if m.info.type == "distance" else "greater"
    if alternative not in ALTERNATIVES:
        raise ConfigError(f"alternative must be one of {ALTERNATIVES}, received {alternative!r}.")
    a, b = m.prepare(x, y, rdm_metric)
    value = m(a, b)
    n = len(a)
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(n) for _ in range(n_perm)])
    name = m.name
    if name in _FAST and isinstance(metric, str):
        null = _fast_null(a, b, name, perms)
    else:
        if m.info.based_on != "rdm" and kinds[1] != "features":
            b = as_square_matrix(b, "y")
        null = np.empty(n_perm)
        for i in progress(range(n_perm), quiet=quiet, desc=f"mantel {name}"):
            p = perms[i]
            bp = b[np.ix_(p, p)] if (m.info.based_on == "rdm" or kinds[1] != "features") \
                else np.asarray(b)[p]
            null[i] = m(a, bp)
    greater = (1 + np.sum(null >= value - 1e-12)) / (n_perm + 1)
    less = (1 + np.sum(null <= value + 1e-12)) / (n_perm + 1)
    p_value = {"greater": greater, "less": less,
               "two-sided": min(1.0, 2 * min(greater, less))}[alternative]
    return MantelResult(name, value, float(p_value), n_perm, alternative, null)
