"""Procrustes shape distance between two representations (Williams et al. 2021).

Both representations are centred and scaled to unit Frobenius norm; the optimal rotation
aligning them gives ``rho = ||X^T Y||_*`` (the nuclear norm, the sum of singular values), and

- the **angular** distance ``arccos(rho)`` in [0, pi/2] (default; a metric on shapes), or
- the **Euclidean** Procrustes distance ``sqrt(2 - 2 rho)`` = ``min_Q ||X - Y Q||_F``.

Different feature counts are allowed (the smaller space is zero-padded, which does not change
``rho``). When a representation has more features than stimuli it is first reduced to its
n-dimensional principal subspace (exact: only the Gram matrix matters).

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(50, 6))
    >>> q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    >>> procrustes_distance(x, 2.5 * x @ q + 1.0) < 1e-12
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from repalign._validation import as_array, check_same_length, describe
from repalign.errors import ShapeError

__all__ = ["procrustes_distance"]


def _normalised(x: np.ndarray, name: str) -> np.ndarray:
    x = x - x.mean(axis=0)
    if x.shape[1] > x.shape[0]:
        # same Gram matrix, n columns: U S from the thin SVD of the centred data
        u, s, _ = np.linalg.svd(x, full_matrices=False)
        x = u * s
    norm = float(np.linalg.norm(x))
    if norm <= 1e-12:
        raise ShapeError(
            f"Procrustes distance is undefined: {name} is constant across stimuli (all rows "
            "equal after centring); check the representation."
        )
    return x / norm


def procrustes_distance(x: Any, y: Any, *, angular: bool = True) -> float:
    """Procrustes shape distance between (n, Dx) and (n, Dy) features of the same stimuli.

    Args:
        x: (n, Dx) features.
        y: (n, Dy) features.
        angular: ``arccos(rho)`` in [0, pi/2] if True, else ``sqrt(2 - 2 rho)`` in [0, sqrt 2].

    Returns:
        The distance; 0 when y is a rotated, scaled and shifted copy of x.

    Raises:
        ShapeError: different n, fewer than 2 stimuli, NaN/Inf, constant features.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> procrustes_distance(rng.normal(size=(30, 4)), rng.normal(size=(30, 4))) > 0.5
        True
    """
    ax, ay = as_array(x, "x", ndim=2), as_array(y, "y", ndim=2)
    n = check_same_length(x=ax, y=ay)
    if n < 2:
        raise ShapeError(f"Procrustes distance needs at least 2 stimuli, received {describe(ax)}.")
    nx, ny = _normalised(ax, "x"), _normalised(ay, "y")
    d = max(nx.shape[1], ny.shape[1])  # zero-pad to a common width: rho is unchanged
    nx = np.pad(nx, ((0, 0), (0, d - nx.shape[1])))
    ny = np.pad(ny, ((0, 0), (0, d - ny.shape[1])))
    u, _, vt = np.linalg.svd(nx.T @ ny)
    # residual of the optimal rotation: ||X - Y Q||_F = sqrt(2 - 2 rho), computed without the
    # cancellation of 1 - rho, so identical shapes give 0 to machine precision
    resid = min(2.0, float(np.linalg.norm(nx - ny @ (vt.T @ u.T))))
    return float(2.0 * np.arcsin(resid / 2.0)) if angular else resid
