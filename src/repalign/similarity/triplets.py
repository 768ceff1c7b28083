"""Odd-one-out accuracy of a representation on human triplets (THINGS style).

For a triplet ``(i, j, k)`` in the (pair, pair, odd-one-out) layout, the representation is
correct when the pair the humans chose is the most similar of the three pairs. Exact ties
(rare with continuous features, common with quantised ones) are counted by ``ties``:

- ``"reference"`` (default): as the THINGS/gLocal reference code (seed 001): the model's choice
  is the ``argmax`` of ``(s(i, j), s(i, k), s(j, k))``, so a tie between the human pair and
  another pair goes to the human pair (column 0), while a three-way tie counts as wrong (a
  constant representation scores 0, not chance);
- ``"strict"``: the human pair must be strictly the most similar; every tie counts as wrong.

Example:
    >>> x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> odd_one_out_accuracy(x, np.array([[0, 1, 2], [0, 2, 1]]))
    0.5
"""

from __future__ import annotations

from typing import Any

import numpy as np

from repalign._registry import unknown_name_message
from repalign._validation import as_array, describe
from repalign.data.triplets import TripletSet, check_triplets
from repalign.errors import ShapeError, UnknownNameError
from repalign.similarity.matrices import as_square_matrix, paired_values, prepare_rows, rsm

__all__ = ["SIMILARITIES", "odd_one_out_accuracy", "odd_one_out_correct"]

SIMILARITIES = ("cosine", "dot", "euclidean")
_KINDS = ("features", "similarity", "dissimilarity")
_MATRIX_LIMIT = 8192  # objects: above this, similarities are computed per triplet in blocks
_BLOCK = 500_000  # triplets per block on the per-triplet path


def _from_matrix(s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, ...]:
    """Similarities s01, s02, s12 of each triplet gathered from an (N, N) matrix."""
    flat, n = s.ravel(), s.shape[0]
    i, j, k = t[:, 0], t[:, 1], t[:, 2]
    return np.take(flat, i * n + j), np.take(flat, i * n + k), np.take(flat, j * n + k)


def _from_rows(x: np.ndarray, t: np.ndarray, similarity: str) -> tuple[np.ndarray, ...]:
    """Similarities s01, s02, s12 computed from the rows of x, per triplet, in blocks."""
    metric = "sqeuclidean" if similarity == "euclidean" else similarity
    z = prepare_rows(x, metric)
    sign = -1.0 if similarity == "euclidean" else 1.0
    out = np.empty((3, len(t)))
    for start in range(0, len(t), _BLOCK):
        tb = t[start:start + _BLOCK]
        a, b, c = z[tb[:, 0]], z[tb[:, 1]], z[tb[:, 2]]
        for col, (u, v) in enumerate(((a, b), (a, c), (b, c))):
            out[col, start:start + len(tb)] = sign * paired_values(u, v, metric)
    return out[0], out[1], out[2]


TIES = ("reference", "strict")


def odd_one_out_correct(x: Any, triplets: Any, similarity: str = "cosine", *,
                        kind: str = "features", ties: str = "reference") -> np.ndarray:
    """Per-triplet correctness of the odd-one-out choice (see :func:`odd_one_out_accuracy`).

    Returns:
        (T,) bool array, True where the human pair is the most similar (ties: module doc).
    """
    if ties not in TIES:
        raise UnknownNameError(unknown_name_message("odd-one-out ties rule", str(ties), list(TIES)))
    if kind not in _KINDS:
        raise UnknownNameError(unknown_name_message("input kind", str(kind), list(_KINDS)))
    if kind == "features":
        if similarity not in SIMILARITIES:
            raise UnknownNameError(
                unknown_name_message("odd-one-out similarity", str(similarity), list(SIMILARITIES))
            )
        arr = as_array(x, "x", ndim=2, min_rows=3)
    else:
        arr = as_square_matrix(x, "x")
        if arr.shape[0] < 3:
            raise ShapeError(f"x must describe at least 3 objects, received {describe(arr)}.")
    n = arr.shape[0]
    t = check_triplets(triplets, n, name="triplets")
    if isinstance(triplets, TripletSet) and triplets.n_objects != n:
        raise ShapeError(
            f"triplets refer to {triplets.n_objects} objects but x has {n} rows; the rows of x "
            "must be the objects in the triplets' numbering (use TripletSet.remap with a sortind)."
        )
    if kind != "features":
        s01, s02, s12 = _from_matrix(arr if kind == "similarity" else -arr, t)
    elif n <= _MATRIX_LIMIT and n * n <= 3 * len(t) * max(arr.shape[1], 1):
        s = rsm(arr, "sqeuclidean" if similarity == "euclidean" else similarity)
        s01, s02, s12 = _from_matrix(s, t)
    else:
        s01, s02, s12 = _from_rows(arr, t, similarity)
    if ties == "strict":
        return np.asarray((s01 > s02) & (s01 > s12))
    return np.asarray((s01 >= s02) & (s01 >= s12) & ~((s01 == s02) & (s01 == s12)))


def odd_one_out_accuracy(x: Any, triplets: Any, similarity: str = "cosine", *,
                         kind: str = "features", ties: str = "reference") -> float:
    """Share of human triplets on which the representation picks the same odd one out.

    Args:
        x: (N, D) features (``kind="features"``) or an (N, N) symmetric similarity or
            dissimilarity matrix; rows are objects in the triplets' numbering.
        triplets: (T, 3) 0-based int array in the (pair, pair, odd-one-out) layout, or a
            :class:`~repalign.data.triplets.TripletSet`.
        similarity: for features: ``"cosine"`` (default, as thingsvision/gLocal), ``"dot"`` or
            ``"euclidean"`` (negative distance).
        kind: ``"features"``, ``"similarity"`` or ``"dissimilarity"``.
        ties: ``"reference"`` (THINGS/gLocal's argmax: a two-way tie with the human pair is
            correct, a three-way tie wrong) or ``"strict"`` (every tie wrong).

    Returns:
        The accuracy in [0, 1] (chance 1/3); the (T,) correctness of
        each triplet is :func:`odd_one_out_correct`.

    Raises:
        ShapeError: bad shapes, NaN/Inf, indices out of range or repeated within a triplet,
            zero-norm rows with cosine.
        UnknownNameError: unknown similarity or kind.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(50, 8))
        >>> t = np.array([rng.choice(50, 3, replace=False) for _ in range(200)])
        >>> 0.0 <= odd_one_out_accuracy(x, t) <= 1.0
        True
    """
    correct = odd_one_out_correct(x, triplets, similarity, kind=kind, ties=ties)
    if correct.size == 0:
        raise ShapeError("triplets is empty; odd-one-out accuracy needs at least one triplet.")
    return float(correct.mean())
