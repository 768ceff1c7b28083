"""Representational similarity analysis: correlations between dissimilarity vectors.

Each function compares two RDMs through their upper triangles (pairs of distinct stimuli).
``pair_vector`` extracts that vector, dropping pairs of copies of one stimulus when ``groups``
is given (bootstrap draws). The correlations follow rsatoolbox's definitions:

- ``pearson``: Pearson r of the two vectors.
- ``spearman``: Pearson r of their ranks (average ranks for ties).
- ``kendall_tau_a``: (C - D) / P over all P pairs of entries (ties lower the value).
- ``kendall_tau_b``: (C - D) / sqrt((P - T_x)(P - T_y)), the tie-corrected version.
- ``cosine``: the uncentred cosine of the two vectors (for non-negative dissimilarities in
  [0, 1]).

Kendall counts are exact, in O(P log P), by
:func:`~repalign.similarity.concordance.concordance_counts`.

Example:
    >>> d = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]])
    >>> rsa_correlation(d, d, "spearman")
    1.0
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

from repalign._registry import unknown_name_message
from repalign.errors import ShapeError, UnknownNameError
from repalign.similarity.concordance import concordance_counts

__all__ = [
    "RSA_FUNCTIONS",
    "RSA_METHODS",
    "cosine",
    "kendall_tau_a",
    "kendall_tau_b",
    "pair_vector",
    "pearson",
    "rsa_correlation",
    "spearman",
]

RSA_METHODS = ("pearson", "spearman", "kendall_tau_a", "kendall_tau_b", "cosine")


def pair_vector(d: np.ndarray, groups: Any = None) -> np.ndarray:
    """Upper-triangle entries of an (n, n) matrix, without pairs of the same group.

    Args:
        d: (n, n) matrix.
        groups: optional (n,) labels; pairs ``(i, j)`` with ``groups[i] == groups[j]`` (copies
            of one stimulus in a bootstrap draw) are dropped.

    Returns:
        1-D float64 vector in row-major upper-triangle order.
    """
    iu, ju = np.triu_indices(d.shape[0], k=1)
    if groups is not None:
        g = np.asarray(groups)
        keep = g[iu] != g[ju]
        iu, ju = iu[keep], ju[keep]
    return d[iu, ju]


def _check_pair(vx: np.ndarray, vy: np.ndarray, what: str, *, need_variance: bool) -> None:
    if vx.shape != vy.shape:
        raise ShapeError(
            f"The two dissimilarity vectors differ in length ({vx.size} vs {vy.size}); both "
            "must describe the same stimuli."
        )
    if vx.size < 2:
        raise ShapeError(
            f"{what} needs at least 2 stimulus pairs (3 stimuli), received {vx.size}."
        )
    if need_variance:
        for name, v in (("x", vx), ("y", vy)):
            if np.all(v == v[0]):
                raise ShapeError(
                    f"{what} is undefined: all pairwise dissimilarities of {name} are equal "
                    f"({v[0]:.6g}); a constant representation carries no structure to correlate."
                )


def _corr(u: np.ndarray, v: np.ndarray) -> float:
    u = u - u.mean()
    v = v - v.mean()
    r = float(u @ v / np.sqrt((u @ u) * (v @ v)))
    return min(1.0, max(-1.0, r))


def pearson(vx: np.ndarray, vy: np.ndarray) -> float:
    """Pearson r between two dissimilarity vectors."""
    _check_pair(vx, vy, "Pearson correlation", need_variance=True)
    return _corr(vx, vy)


def spearman(vx: np.ndarray, vy: np.ndarray) -> float:
    """Spearman rho (Pearson r of average ranks) between two dissimilarity vectors."""
    _check_pair(vx, vy, "Spearman correlation", need_variance=True)
    return _corr(rankdata(vx), rankdata(vy))


def _kendall_counts(vx: np.ndarray, vy: np.ndarray) -> tuple[int, int, int, int, int]:
    c = concordance_counts(vx[None, :], vy[None, :])
    return (int(c.concordant[0]), int(c.discordant[0]), int(c.tied_a[0]), int(c.tied_b[0]),
            int(c.pairs[0]))


def kendall_tau_a(vx: np.ndarray, vy: np.ndarray) -> float:
    """Kendall tau-a, (C - D) / P, between two dissimilarity vectors (exact)."""
    _check_pair(vx, vy, "Kendall tau-a", need_variance=False)
    con, dis, _, _, pairs = _kendall_counts(vx, vy)
    return (con - dis) / pairs


def kendall_tau_b(vx: np.ndarray, vy: np.ndarray) -> float:
    """Kendall tau-b, tie-corrected, between two dissimilarity vectors (exact)."""
    _check_pair(vx, vy, "Kendall tau-b", need_variance=True)
    con, dis, tx, ty, pairs = _kendall_counts(vx, vy)
    return (con - dis) / float(np.sqrt(float(pairs - tx) * float(pairs - ty)))


def cosine(vx: np.ndarray, vy: np.ndarray) -> float:
    """Uncentred cosine similarity between two dissimilarity vectors."""
    _check_pair(vx, vy, "Cosine similarity", need_variance=False)
    nx, ny = float(np.linalg.norm(vx)), float(np.linalg.norm(vy))
    if nx == 0 or ny == 0:
        raise ShapeError(
            "Cosine similarity is undefined for an all-zero dissimilarity vector (every "
            "stimulus identical); check the representation."
        )
    return min(1.0, max(-1.0, float(vx @ vy) / (nx * ny)))


RSA_FUNCTIONS = {
    "pearson": pearson,
    "spearman": spearman,
    "kendall_tau_a": kendall_tau_a,
    "kendall_tau_b": kendall_tau_b,
    "cosine": cosine,
}


def rsa_correlation(dx: np.ndarray, dy: np.ndarray, method: str = "spearman", *,
                    groups: Any = None) -> float:
    """Compare two (n, n) dissimilarity matrices through their upper triangles.

    Args:
        dx: (n, n) dissimilarity matrix (validated by the caller, e.g. ``ra.compare``).
        dy: (n, n) dissimilarity matrix.
        method: one of :data:`RSA_METHODS`.
        groups: optional (n,) labels of copies (pairs within a group are dropped).

    Returns:
        The correlation in [-1, 1].

    Example:
        >>> rng = np.random.default_rng(0)
        >>> d = np.abs(rng.normal(size=(5, 5))); d = d + d.T
        >>> rsa_correlation(d, 2 * d + 1, "pearson")
        1.0
    """
    if method not in RSA_FUNCTIONS:
        raise UnknownNameError(unknown_name_message("RSA method", method, list(RSA_FUNCTIONS)))
    return RSA_FUNCTIONS[method](pair_vector(dx, groups), pair_vector(dy, groups))
