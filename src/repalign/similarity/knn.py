"""Mutual k-nearest-neighbour alignment (Huh et al. 2024, "platonic representation").

For each stimulus, take its k nearest neighbours in each representation (itself excluded) and
count how many are shared; the score is the mean share, in [0, 1] (1: identical neighbourhoods;
about ``k / (n - 1)`` for unrelated representations). Neighbours come from a dissimilarity matrix
(features go through :func:`~repalign.similarity.matrices.rdm`; Huh et al. use cosine); equal
distances are broken by stimulus order, so the result is deterministic.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(40, 5))
    >>> mutual_knn(x, 2 * x + 1, k=5)
    1.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from repalign.errors import ShapeError
from repalign.similarity.matrices import as_dissimilarity_pair

__all__ = ["mutual_knn", "mutual_knn_from_rdms"]


def _neighbours(d: np.ndarray, k: int, own: np.ndarray) -> np.ndarray:
    masked = np.where(own, np.inf, d)
    return np.argsort(masked, axis=1, kind="stable")[:, :k]


def mutual_knn_from_rdms(dx: np.ndarray, dy: np.ndarray, k: int = 10, *,
                         groups: Any = None) -> float:
    """Mutual kNN score of two (n, n) dissimilarity matrices.

    Args:
        dx, dy: (n, n) dissimilarities (validated by the caller).
        k: neighbours per stimulus.
        groups: optional (n,) labels of copies; a stimulus's copies are never its neighbours.
    """
    n = dx.shape[0]
    g = np.arange(n) if groups is None else np.asarray(groups)
    own = g[:, None] == g[None, :]
    available = int(n - own.sum(axis=1).max())
    if not isinstance(k, (int, np.integer)) or k < 1 or k > available:
        raise ShapeError(
            f"k must be an integer in [1, {available}] (stimuli other than the anchor), "
            f"received {k!r}; lower k or provide more stimuli."
        )
    nx, ny = _neighbours(dx, k, own), _neighbours(dy, k, own)
    # shared neighbours per row: sort both lists and count common members
    both = np.sort(np.concatenate([nx, ny], axis=1), axis=1)
    shared = (both[:, 1:] == both[:, :-1]).sum(axis=1)
    return float(shared.mean() / k)


def mutual_knn(x: Any, y: Any, k: int = 10, *, kind: str | tuple[str, str] = "features",
               metric: str = "euclidean") -> float:
    """Mutual k-nearest-neighbour alignment of two representations of the same n stimuli.

    Args:
        x: (n, Dx) features, or an (n, n) similarity/dissimilarity matrix (see ``kind``).
        y: (n, Dy) features, or an (n, n) matrix of the same kind.
        k: neighbours per stimulus (1 <= k <= n - 1).
        kind: ``"features"``, ``"similarity"`` or ``"dissimilarity"``, or a pair of them.
        metric: dissimilarity for features (``"cosine"`` as in Huh et al., ``"euclidean"``...).

    Returns:
        Mean share of common neighbours, in [0, 1].

    Raises:
        ShapeError: different n, bad k, NaN/Inf, non-square or asymmetric matrices.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.normal(size=(200, 5)), rng.normal(size=(200, 5))
        >>> mutual_knn(x, y, k=10) < 0.2
        True
    """
    dx, dy = as_dissimilarity_pair(x, y, kind, metric)
    return mutual_knn_from_rdms(dx, dy, k)
