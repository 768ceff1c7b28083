"""Similarity and dissimilarity matrices (RSM/RDM), their vector forms, and input coercion.

Five pairwise measures are supported, each native either as a similarity or as a distance:

============== ============================ =============================
``metric``     similarity (``rsm``)         dissimilarity (``rdm``)
============== ============================ =============================
``cosine``     cos(x_i, x_j)                1 - cos(x_i, x_j)
``correlation`` Pearson r of the two rows   1 - r
``dot``        x_i . x_j                    -(x_i . x_j)
``euclidean``  -||x_i - x_j||               ||x_i - x_j||
``sqeuclidean`` -||x_i - x_j||^2            ||x_i - x_j||^2
============== ============================ =============================

Everything is computed in float64, in row blocks so that temporary memory stays bounded by
``block_size x N`` entries besides the (N, N) output.

Example:
    >>> x = np.random.default_rng(0).normal(size=(5, 3))
    >>> d = rdm(x, "euclidean")
    >>> v = to_vector(d)
    >>> v.shape, bool(np.allclose(to_matrix(v), d))
    ((10,), True)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from repalign._registry import unknown_name_message
from repalign._validation import as_array, describe
from repalign.errors import ShapeError, UnknownNameError

__all__ = [
    "INPUT_KINDS",
    "METRICS",
    "as_dissimilarity",
    "as_dissimilarity_pair",
    "as_square_matrix",
    "paired_values",
    "prepare_rows",
    "rdm",
    "row_blocks",
    "rsm",
    "to_matrix",
    "to_vector",
]

METRICS = ("cosine", "correlation", "dot", "euclidean", "sqeuclidean")
INPUT_KINDS = ("features", "similarity", "dissimilarity")
Kind = Literal["features", "similarity", "dissimilarity"]

_DEFAULT_BLOCK_BYTES = 64 * 2**20


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise UnknownNameError(unknown_name_message("pairwise metric", metric, list(METRICS)))


def row_blocks(n_rows: int, n_cols: int, block_size: int | None = None) -> Iterator[slice]:
    """Slices of rows so that a (block, n_cols) float64 block stays near 64 MiB."""
    if block_size is None:
        block_size = max(1, _DEFAULT_BLOCK_BYTES // (8 * max(n_cols, 1)))
    for start in range(0, n_rows, block_size):
        yield slice(start, min(start + block_size, n_rows))


def prepare_rows(x: np.ndarray, metric: str, name: str = "x") -> np.ndarray:
    """Centre and/or normalise rows for cosine and correlation (others pass through).

    After this, the cosine or correlation of two rows is their dot product.

    Raises:
        ShapeError: all-zero rows (cosine) or constant rows (correlation).
    """
    if metric not in ("cosine", "correlation"):
        return x
    if metric == "correlation":
        if x.shape[1] < 2:
            raise ShapeError(
                f"{name}: correlation between rows needs at least 2 features, received "
                f"{describe(x)}; use metric='euclidean' or 'dot' for 1-D features."
            )
        x = x - x.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(x, axis=1)
    bad = np.flatnonzero(norms <= 1e-12 * max(1.0, float(np.abs(x).max(initial=0.0))))
    if bad.size:
        what = "constant" if metric == "correlation" else "all-zero"
        raise ShapeError(
            f"{name}: {bad.size} row(s) are {what} (first: row {int(bad[0])}), so the {metric} "
            f"similarity is undefined for them; remove those stimuli or use metric='euclidean'."
        )
    return np.asarray(x / norms[:, None])


def paired_values(u: np.ndarray, v: np.ndarray, metric: str) -> np.ndarray:
    """Row-by-row values of (B, D) rows ``u`` and ``v`` prepared by :func:`prepare_rows`.

    Similarities for ``cosine``, ``correlation`` and ``dot``; distances for ``euclidean`` and
    ``sqeuclidean`` (the metric's native orientation).
    """
    if metric in ("euclidean", "sqeuclidean"):
        d = u - v
        d2 = np.einsum("ij,ij->i", d, d)
        return np.asarray(np.sqrt(d2) if metric == "euclidean" else d2)
    return np.asarray(np.einsum("ij,ij->i", u, v))


def _similarity_block(xb: np.ndarray, x: np.ndarray, metric: str) -> np.ndarray:
    """Similarity of the rows ``xb`` to all rows ``x`` in the metric's native orientation.

    Euclidean distances are computed from the coordinate differences (SciPy's ``cdist``, the
    formula of ``pdist``), not from ``|u|² + |v|² - 2 u·v``: the Gram-matrix shortcut is faster
    for wide features but rounds equal distances of different pairs to different values, which
    breaks the exact ties that rank correlations and triplet rules count.
    """
    if metric in ("euclidean", "sqeuclidean"):
        from scipy.spatial.distance import cdist

        return np.asarray(cdist(xb, x, metric))
    return np.asarray(xb @ x.T)


def _pairwise(x: Any, metric: str, *, block_size: int | None, name: str) -> np.ndarray:
    _check_metric(metric)
    arr = as_array(x, name, ndim=2)
    arr = prepare_rows(arr, metric, name)
    n = arr.shape[0]
    out = np.empty((n, n), dtype=np.float64)
    for sl in row_blocks(n, n, block_size):
        out[sl] = _similarity_block(arr[sl], arr, metric)
        # exact symmetry (BLAS may differ in the last bit between (i, j) and (j, i)):
        # copy the upper triangle of the rows above onto this block's lower part
        out[sl, : sl.start] = out[: sl.start, sl].T
    if metric in ("euclidean", "sqeuclidean"):
        np.fill_diagonal(out, 0.0)
    elif metric in ("cosine", "correlation"):
        np.fill_diagonal(out, 1.0)
    _tie_identical_rows(arr, out)
    return out


def _tie_identical_rows(arr: np.ndarray, out: np.ndarray) -> None:
    """Give identical rows bit-identical rows and columns, and their diagonal value between them.

    Rounding in the dot products (cosine, correlation, dot) would otherwise leave copies of a
    stimulus at slightly different values, and break the exact ties that triplet and odd-one-out rules rely on.
    """
    _, first, inverse = np.unique(arr, axis=0, return_index=True, return_inverse=True)
    if len(first) == arr.shape[0]:
        return
    rep = first[inverse.reshape(-1)]
    out[:] = out[rep]
    out[:] = out[:, rep]


def rsm(x: Any, metric: str = "cosine", *, block_size: int | None = None) -> np.ndarray:
    """Representational similarity matrix of the rows of ``x``.

    Args:
        x: (N, D) features (array or tensor); converted to float64.
        metric: ``"cosine"``, ``"correlation"``, ``"dot"``, ``"euclidean"`` or
            ``"sqeuclidean"`` (the last two give negative distances).
        block_size: rows per block (default: about 64 MiB per block).

    Returns:
        (N, N) float64 symmetric matrix; larger means more similar.

    Raises:
        ShapeError: wrong rank, NaN/Inf, or zero-norm/constant rows for cosine/correlation.
        UnknownNameError: unknown metric.

    Example:
        >>> rsm(np.eye(3), "cosine")[0, 1].item()
        0.0
    """
    out = _pairwise(x, metric, block_size=block_size, name="x")
    if metric in ("euclidean", "sqeuclidean"):
        np.negative(out, out=out)
    return out


def rdm(x: Any, metric: str = "euclidean", *, block_size: int | None = None) -> np.ndarray:
    """Representational dissimilarity matrix of the rows of ``x``.

    ``1 - similarity`` for cosine and correlation, ``-dot`` for dot, distances otherwise.

    Args:
        x: (N, D) features; converted to float64.
        metric: see :func:`rsm`.
        block_size: rows per block.

    Returns:
        (N, N) float64 symmetric matrix with a zero diagonal (except ``dot``: ``-||x_i||^2``).

    Example:
        >>> rdm(np.array([[0.0, 0.0], [3.0, 4.0]]), "euclidean")[0, 1].item()
        5.0
    """
    out = _pairwise(x, metric, block_size=block_size, name="x")
    if metric in ("cosine", "correlation"):
        np.subtract(1.0, out, out=out)
    elif metric == "dot":
        np.negative(out, out=out)
    return out


def to_vector(matrix: Any, *, name: str = "matrix") -> np.ndarray:
    """Upper triangle (diagonal excluded) of a square matrix, row by row (scipy's order).

    Args:
        matrix: (N, N) array.
        name: argument name for messages.

    Returns:
        (N (N - 1) / 2,) float64 vector.

    Example:
        >>> to_vector(np.arange(9.0).reshape(3, 3)).tolist()
        [1.0, 2.0, 5.0]
    """
    m = as_square_matrix(matrix, name, symmetric=False)
    return m[np.triu_indices(m.shape[0], k=1)]


def to_matrix(vector: Any, *, diagonal: float = 0.0, name: str = "vector") -> np.ndarray:
    """Symmetric (N, N) matrix from its upper-triangle vector (inverse of :func:`to_vector`).

    Args:
        vector: (N (N - 1) / 2,) values.
        diagonal: value placed on the diagonal (0 for dissimilarities, 1 for correlations).
        name: argument name for messages.

    Example:
        >>> to_matrix([1.0, 2.0, 5.0], diagonal=0.0)[2, 1].item()
        5.0
    """
    v = as_array(vector, name, ndim=1, min_rows=0)
    n = round((1 + float(np.sqrt(1 + 8 * v.size))) / 2)
    if n * (n - 1) // 2 != v.size:
        raise ShapeError(
            f"{name} must hold N(N-1)/2 values for some N (1, 3, 6, 10, ...), received "
            f"{v.size}; pass the upper triangle of a square matrix."
        )
    out = np.full((n, n), float(diagonal))
    iu = np.triu_indices(n, k=1)
    out[iu] = v
    out[(iu[1], iu[0])] = v
    return out


def as_square_matrix(x: Any, name: str, *, symmetric: bool = True, atol: float = 1e-8) -> np.ndarray:
    """Validate a square, finite (and by default symmetric) matrix; return it as float64."""
    m = as_array(x, name, ndim=2)
    if m.shape[0] != m.shape[1]:
        raise ShapeError(
            f"{name} must be a square (N, N) matrix, received {describe(m)}; pass "
            "kind='features' for an (N, D) feature matrix."
        )
    if symmetric:
        asym = float(np.max(np.abs(m - m.T), initial=0.0))
        scale = max(1.0, float(np.max(np.abs(m), initial=0.0)))
        if asym > atol * scale:
            raise ShapeError(
                f"{name} must be symmetric, but |M - M.T| reaches {asym:.3g}; symmetrise it "
                "first, e.g. (M + M.T) / 2, if the asymmetry is noise."
            )
    return m


def as_dissimilarity(x: Any, kind: Kind | str = "features", metric: str = "euclidean", *,
                     name: str = "x") -> np.ndarray:
    """Turn features or a similarity/dissimilarity matrix into an (N, N) dissimilarity matrix.

    Args:
        x: (N, D) features when ``kind="features"``, else an (N, N) symmetric matrix.
        kind: ``"features"``, ``"similarity"`` (converted as ``1 - S``; exact for cosine and
            correlation similarities, and order-preserving for any similarity) or
            ``"dissimilarity"`` (used as given).
        metric: pairwise metric for features (see :func:`rdm`).
        name: argument name for messages.

    Returns:
        (N, N) float64 dissimilarity matrix.
    """
    if kind not in INPUT_KINDS:
        raise UnknownNameError(unknown_name_message("input kind", str(kind), list(INPUT_KINDS)))
    if kind == "features":
        arr = as_array(x, name, ndim=2)
        return rdm(arr, metric)
    m = as_square_matrix(x, name)
    return 1.0 - m if kind == "similarity" else m


def as_dissimilarity_pair(x: Any, y: Any, kind: str | tuple[str, str] = "features",
                          metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as (N, N) dissimilarity matrices of the same N stimuli.

    Args:
        x, y: features or matrices (see :func:`as_dissimilarity`).
        kind: one kind for both, or a pair ``(kind_x, kind_y)``, e.g.
            ``("features", "similarity")`` for model features against human judgements.
        metric: pairwise metric for features.

    Raises:
        ShapeError: the two describe different numbers of stimuli (or any input problem).
    """
    kx, ky = (kind, kind) if isinstance(kind, str) else kind
    dx = as_dissimilarity(x, kx, metric, name="x")
    dy = as_dissimilarity(y, ky, metric, name="y")
    if dx.shape != dy.shape:
        raise ShapeError(
            "Inputs must describe the same stimuli in the same order, but x has "
            f"{dx.shape[0]} and y has {dy.shape[0]} stimuli."
        )
    return dx, dy
