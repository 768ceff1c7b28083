"""Seed 000's channel quantities: the capacity C(eps), the query bound, the shift prediction.

In the proof of Proposition 3.8 the student (Bob) hears the teacher (Alice) through a binary
symmetric channel whose flip probability is their stochastic misalignment
``eps = D_P(A, B; X)``. Its capacity, in bits per triplet, is

    C(eps) = 1 - H(eps, 1 - eps) = 1 + eps log2(eps) + (1 - eps) log2(1 - eps)

(logarithms base 2, with 0 log 0 = 0, so that C maps [0, 1] onto [0, 1] as the seed states:
C(0) = C(1) = 1, C(0.5) = 0), and Bob needs Omega(d log(n) / C(eps)) triplet queries to locate a
new object among n shared objects in d dimensions.

Example:
    >>> round(capacity(0.11), 3), capacity(0.5), capacity(0.0) == capacity(1.0) == 1.0
    (0.5, 0.0, True)
"""

from __future__ import annotations

import numpy as np

from repalign.errors import ConfigError

__all__ = ["capacity", "query_bound", "shift_sensitivity"]


def _check_eps(eps: float | np.ndarray) -> np.ndarray:
    arr = np.asarray(eps, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any((arr < 0) | (arr > 1)):
        raise ConfigError(f"eps must lie in [0, 1], received {eps!r}.")
    return arr


def capacity(eps: float | np.ndarray) -> np.ndarray | float:
    """Capacity of the binary symmetric channel with flip probability ``eps``, in bits.

    Args:
        eps: a probability or an array of them, in [0, 1].

    Returns:
        C(eps) = 1 + eps log2 eps + (1 - eps) log2 (1 - eps), same shape as ``eps``.
    """
    e = _check_eps(eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(e > 0, e * np.log2(e), 0.0) + np.where(e < 1, (1 - e) * np.log2(1 - e), 0.0))
    out = 1.0 - h
    return float(out) if out.ndim == 0 else out


def query_bound(eps: float | np.ndarray, n: int, d: int) -> np.ndarray | float:
    """Seed 000's bound d log2(n) / C(eps) on the triplet queries that locate one new object.

    Infinite at eps = 0.5, where the teacher's answers carry no information.
    """
    if n < 2 or d < 1:
        raise ConfigError(f"need n >= 2 shared objects and d >= 1 dimensions, received n={n}, d={d}.")
    cap = np.asarray(capacity(eps), dtype=float)
    with np.errstate(divide="ignore"):
        out = d * np.log2(n) / cap
    return float(out) if out.ndim == 0 else out


def shift_sensitivity(eps: float | np.ndarray) -> np.ndarray | float:
    """Predicted domain-shift sensitivity of a student under a robust teacher: 2 eps (1 - eps).

    Appendix A of seed 000 (Definition A.1, Corollary A.2): the teacher's triplets do not change
    under the shift (sigma_A = 0); a student that disagrees with the teacher at rate ``eps`` on
    each domain, independently, changes a triplet between the domains exactly when it is flipped
    on one domain and not on the other, with probability 2 eps (1 - eps): largest at 0.5 and
    symmetric, so robustness 1 - sigma is U-shaped in eps.
    """
    e = _check_eps(eps)
    out = 2.0 * e * (1.0 - e)
    return float(out) if out.ndim == 0 else out
