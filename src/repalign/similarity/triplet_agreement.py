"""Triplet agreement between two representations: exact over all triplets, or sampled.

A triplet ``(i, j, k)`` asks "is ``i`` closer to ``j`` than to ``k``?". Two representations agree
on it when their dissimilarities order ``d(i, j)`` and ``d(i, k)`` the same way. Over all
``n (n - 1) (n - 2) / 2`` distinct triplets (anchor ``i``, unordered pair ``{j, k}``) this is,
per anchor, the concordance of rows ``D_x[i]`` and ``D_y[i]``, counted exactly in
O(n^2 log n) by :func:`~repalign.similarity.concordance.concordance_counts`.

Tie rules (a pair is *tied* when either representation has ``d(i, j) == d(i, k)``):

- ``"half"`` (default): a tied triplet counts 1/2; per anchor this is ``(1 + tau_a) / 2``.
- ``"strict"``: only strictly concordant triplets count as agreement; ties count 0.
- ``"exclude"``: tied triplets are dropped from numerator and denominator; the overall value
  pools the remaining triplets of all anchors (an anchor whose pairs are all tied is NaN in
  the per-anchor output).

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(30, 4))
    >>> triplet_agreement(x, x)
    1.0
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from repalign._registry import unknown_name_message
from repalign._validation import as_array, check_same_length, describe
from repalign.errors import ConfigError, ShapeError, UnknownNameError
from repalign.similarity.concordance import ConcordanceCounts, concordance_counts
from repalign.similarity.matrices import (
    INPUT_KINDS,
    as_dissimilarity,
    as_dissimilarity_pair,
    as_square_matrix,
    paired_values,
    prepare_rows,
)

__all__ = [
    "TIE_RULES",
    "SampledAgreement",
    "agreement_counts",
    "triplet_agreement",
    "triplet_agreement_from_counts",
    "triplet_agreement_sampled",
]

TIE_RULES = ("half", "strict", "exclude")
_CHUNK_ELEMENTS = 1 << 20  # rows per chunk * n
_SAMPLE_BLOCK = 100_000


def _check_ties(ties: str) -> None:
    if ties not in TIE_RULES:
        raise UnknownNameError(unknown_name_message("tie rule", str(ties), list(TIE_RULES)))


def _group_sizes(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Size of each element's group, and sum over groups of c(c - 1) / 2."""
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return counts[inverse], np.int64((counts * (counts - 1) // 2).sum())


def agreement_counts(dx: np.ndarray, dy: np.ndarray, groups: Any = None, *,
                     n_jobs: int | None = None) -> ConcordanceCounts:
    """Per-anchor concordance counts of two (n, n) dissimilarity matrices.

    Row ``i`` compares ``dx[i, j]`` with ``dy[i, j]`` over the other stimuli ``j``. With
    ``groups`` (e.g. bootstrap draws, where a stimulus appears several times), stimuli of the
    anchor's own group are left out of its row, and pairs ``{j, k}`` of the same group (copies
    of one stimulus) are dropped, so that only triplets of three distinct stimuli count.

    Args:
        dx: (n, n) dissimilarities (validated by the caller).
        dy: (n, n) dissimilarities.
        groups: optional (n,) labels; equal labels mark copies of one stimulus.
        n_jobs: threads (None: up to the number of CPUs, at most 8).

    Returns:
        :class:`~repalign.similarity.concordance.ConcordanceCounts` with (n,) arrays.
    """
    n = dx.shape[0]
    g = np.arange(n) if groups is None else np.asarray(groups)
    sizes, dup_pairs = _group_sizes(g)
    step = max(1, _CHUNK_ELEMENTS // max(n, 1))
    starts = list(range(0, n, step))

    def run(start: int) -> ConcordanceCounts:
        rows = slice(start, min(start + step, n))
        # the anchor and its copies become a block of -inf at the bottom of both rows
        own = g[rows, None] == g[None, :]
        a = np.where(own, -np.inf, dx[rows])
        b = np.where(own, -np.inf, dy[rows])
        return concordance_counts(a, b)

    workers = min(len(starts), n_jobs or min(os.cpu_count() or 1, 8))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(run, starts))
    else:
        parts = [run(s) for s in starts]
    c = ConcordanceCounts(*(np.concatenate(col) for col in zip(*parts, strict=True)))
    # remove the e excluded entries (e = own group size): they are concordant with the
    # n - e others and tied (in both) among themselves; and copies {j, k} elsewhere in the row
    e = sizes.astype(np.int64)
    own_pairs = e * (e - 1) // 2
    copies = dup_pairs - own_pairs
    return ConcordanceCounts(
        concordant=c.concordant - e * (n - e),
        discordant=c.discordant,
        tied_a=c.tied_a - own_pairs - copies,
        tied_b=c.tied_b - own_pairs - copies,
        tied_both=c.tied_both - own_pairs - copies,
        pairs=(n - e) * (n - e - 1) // 2 - copies,
    )


def _agreement_terms(c: ConcordanceCounts, ties: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-anchor numerator and denominator of the agreement under a tie rule."""
    _check_ties(ties)
    tied = c.pairs - c.concordant - c.discordant
    if ties == "exclude":
        return c.concordant.astype(float), (c.concordant + c.discordant).astype(float)
    if ties == "strict":
        return c.concordant.astype(float), c.pairs.astype(float)
    return c.concordant + 0.5 * tied, c.pairs.astype(float)


def triplet_agreement_from_counts(c: ConcordanceCounts, ties: str = "half") -> float:
    """Overall agreement from per-anchor counts under a tie rule."""
    num, den = _agreement_terms(c, ties)
    total = float(den.sum())
    if total == 0:
        raise ShapeError(
            "No triplet can be scored: every pair of distances is tied (or fewer than 3 distinct "
            "stimuli); use ties='half' or provide distinct representations."
        )
    return float(num.sum() / total)


def anchor_agreement_from_counts(c: ConcordanceCounts, ties: str = "half") -> np.ndarray:
    """(n,) agreement of each anchor from per-anchor counts (NaN where nothing can be scored)."""
    num, den = _agreement_terms(c, ties)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _prepare(x: Any, y: Any, kind: str | tuple[str, str], metric: str
             ) -> tuple[np.ndarray, np.ndarray]:
    dx, dy = as_dissimilarity_pair(x, y, kind, metric)
    if dx.shape[0] < 3:
        raise ShapeError(f"Triplet agreement needs at least 3 stimuli, received {dx.shape[0]}.")
    return dx, dy


def triplet_agreement(x: Any, y: Any, ties: str = "half", *,
                      kind: str | tuple[str, str] = "features", metric: str = "euclidean",
                      n_jobs: int | None = None) -> float:
    """Exact share of all ``n (n - 1) (n - 2) / 2`` triplets on which x and y agree.

    Args:
        x: (n, Dx) features, or an (n, n) similarity/dissimilarity matrix (see ``kind``).
        y: (n, Dy) features, or an (n, n) matrix of the same kind.
        ties: ``"half"``, ``"strict"`` or ``"exclude"`` (see the module docstring).
        kind: ``"features"``, ``"similarity"`` or ``"dissimilarity"``, or a pair
            ``(kind_x, kind_y)``.
        metric: dissimilarity for features (``"euclidean"`` as in Sucholutsky et al.; see
            :func:`~repalign.similarity.matrices.rdm`).
        n_jobs: threads (None: up to the number of CPUs).

    Returns:
        Agreement in [0, 1] (1 for a representation with itself when it has no ties); see
        :func:`triplet_agreement_per_anchor` for the value of each anchor stimulus.

    Raises:
        ShapeError: different numbers of stimuli, fewer than 3, NaN/Inf, non-square or
            asymmetric matrices.
        UnknownNameError: unknown tie rule, kind or metric.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.normal(size=(40, 5)), rng.normal(size=(40, 5))
        >>> 0.4 < triplet_agreement(x, y) < 0.6
        True
    """
    _check_ties(ties)
    dx, dy = _prepare(x, y, kind, metric)
    return triplet_agreement_from_counts(agreement_counts(dx, dy, n_jobs=n_jobs), ties)


def triplet_agreement_per_anchor(x: Any, y: Any, ties: str = "half", *,
                                 kind: str | tuple[str, str] = "features",
                                 metric: str = "euclidean",
                                 n_jobs: int | None = None) -> np.ndarray:
    """(n,) exact triplet agreement of each anchor stimulus ``i`` over its pairs ``{j, k}``.

    Arguments as :func:`triplet_agreement`. With ``ties="exclude"`` an anchor whose pairs are
    all tied is NaN.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(20, 3))
        >>> triplet_agreement_per_anchor(x, x).shape
        (20,)
    """
    _check_ties(ties)
    dx, dy = _prepare(x, y, kind, metric)
    return anchor_agreement_from_counts(agreement_counts(dx, dy, n_jobs=n_jobs), ties)


@dataclass(frozen=True)
class SampledAgreement:
    """A sampled triplet agreement with its normal-approximation confidence interval."""

    value: float
    low: float
    high: float
    n_triplets: int
    level: float


def _sample_triplets(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``size`` uniform triplets (anchor, j, k) of three distinct stimuli."""
    i = rng.integers(0, n, size)
    j = rng.integers(0, n - 1, size)
    j += j >= i
    k = rng.integers(0, n - 2, size)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    k += k >= lo
    k += k >= hi
    return np.column_stack([i, j, k])


def _sampled_distances(x: np.ndarray, kind: str, metric: str, t: np.ndarray) -> np.ndarray:
    """(T, 2) dissimilarities d(i, j), d(i, k) of sampled triplets (no (n, n) matrix for features)."""
    if kind != "features":
        d = as_dissimilarity(x, kind, metric)
        return np.column_stack([d[t[:, 0], t[:, 1]], d[t[:, 0], t[:, 2]]])
    z = prepare_rows(x, metric)
    out = np.empty((len(t), 2))
    for s in range(0, len(t), _SAMPLE_BLOCK):
        tb = t[s:s + _SAMPLE_BLOCK]
        u = z[tb[:, 0]]
        for col in (1, 2):
            out[s:s + len(tb), col - 1] = paired_values(u, z[tb[:, col]], metric)
    if metric in ("cosine", "correlation"):
        return 1.0 - out
    return -out if metric == "dot" else out


def triplet_agreement_sampled(x: Any, y: Any, n_triplets: int = 1_000_000, *,
                              ties: str = "half", kind: str | tuple[str, str] = "features",
                              metric: str = "euclidean", level: float = 0.95,
                              seed: int | None = 0) -> SampledAgreement:
    """Triplet agreement estimated on uniformly sampled triplets, for very large n.

    Feature inputs are never turned into (n, n) matrices: distances are computed only for the
    sampled triplets. The interval is the normal approximation ``mean ± z * sd / sqrt(T)`` over
    per-triplet scores (1, 1/2 or 0), valid for the large ``n_triplets`` this is meant for.

    Args:
        x, y: as in :func:`triplet_agreement`.
        n_triplets: number of sampled triplets (with replacement).
        ties, kind, metric: as in :func:`triplet_agreement`.
        level: confidence level of the interval.
        seed: random seed.

    Returns:
        :class:`SampledAgreement`.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(500, 3))
        >>> triplet_agreement_sampled(x, x, 10_000).value
        1.0
    """
    from scipy.stats import norm

    _check_ties(ties)
    kinds = (kind, kind) if isinstance(kind, str) else tuple(kind)
    if len(kinds) != 2:
        raise ConfigError(f"kind must be one kind or a pair of kinds, received {kind!r}.")
    for k in kinds:
        if k not in INPUT_KINDS:
            raise UnknownNameError(unknown_name_message("input kind", str(k), list(INPUT_KINDS)))
    if not 0 < level < 1:
        raise ShapeError(f"level must be in (0, 1), received {level}.")
    if n_triplets < 2:
        raise ShapeError(f"n_triplets must be at least 2, received {n_triplets}.")
    ax, ay = (as_array(a, name, ndim=2) if k == "features" else as_square_matrix(a, name)
              for a, k, name in ((x, kinds[0], "x"), (y, kinds[1], "y")))
    n = check_same_length(x=ax, y=ay)
    if n < 3:
        raise ShapeError(f"Triplet agreement needs at least 3 stimuli, received {describe(ax)}.")
    t = _sample_triplets(np.random.default_rng(seed), n, int(n_triplets))
    sx = np.sign(np.diff(_sampled_distances(ax, kinds[0], metric, t), axis=1)[:, 0])
    sy = np.sign(np.diff(_sampled_distances(ay, kinds[1], metric, t), axis=1)[:, 0])
    tied = (sx == 0) | (sy == 0)
    agree = (sx == sy) & ~tied
    if ties == "exclude":
        scores = agree[~tied].astype(float)
        if scores.size < 2:
            raise ShapeError("Fewer than 2 untied sampled triplets; use ties='half'.")
    else:
        scores = agree + (0.5 * tied if ties == "half" else 0.0)
    mean = float(np.mean(scores))
    half = float(norm.ppf(0.5 + level / 2) * np.std(scores, ddof=1) / math.sqrt(scores.size))
    return SampledAgreement(mean, max(0.0, mean - half), min(1.0, mean + half), int(scores.size),
                            level)
