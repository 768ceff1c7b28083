"""How well two embeddings of the same objects agree: dimension-matched Pearson correlation
(VICE's reproducibility check across seeds) and the Spearman correlation of their RDMs.

Example:
    >>> import numpy as np
    >>> a = np.random.default_rng(0).gamma(1.0, size=(50, 4))
    >>> r = matched_dimension_correlation(a, a[:, ::-1])
    >>> bool(np.allclose(r, 1.0))
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from repalign._validation import as_array, check_same_length
from repalign.errors import ShapeError

__all__ = ["matched_dimension_correlation", "rdm_spearman"]


def _columns(x: Any, name: str) -> np.ndarray:
    arr = as_array(x, name, ndim=2, min_rows=3)
    if arr.shape[1] == 0:
        raise ShapeError(f"{name} has no dimensions; received {arr.shape}.")
    return arr


def _pearson_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(Da, Db) Pearson correlations between the columns of a and b (0 for constant columns)."""
    za, zb = a - a.mean(0), b - b.mean(0)
    norms = np.outer(np.linalg.norm(za, axis=0), np.linalg.norm(zb, axis=0))
    corr: np.ndarray = (za.T @ zb) / np.where(norms > 0, norms, np.inf)
    return corr


def matched_dimension_correlation(a: Any, b: Any, *, held_out: float = 0.2,
                                  seed: int = 0) -> np.ndarray:
    """For each dimension of ``a``, the Pearson correlation with its best match in ``b``,
    matched on some objects and measured on the others (VICE's reproducibility check).

    The objects are split at random (``1 - held_out`` to match, ``held_out`` to measure); each
    column of ``a`` is matched to the column of ``b`` it correlates with most on the matching
    objects, and the correlation of the pair on the held-out objects is returned. VICE calls a
    dimension reproducible when this exceeds 0.8.

    Args:
        a: (N, Da) embedding.
        b: (N, Db) embedding of the same N objects (another seed, say).
        held_out: share of objects on which the matched correlation is measured; 0 matches
            and measures on all objects.
        seed: seeds the object split.

    Returns:
        (Da,) held-out correlations, in the order of ``a``'s columns.
    """
    a, b = _columns(a, "a"), _columns(b, "b")
    n = check_same_length(a=a, b=b)
    if not 0 <= held_out < 1:
        raise ShapeError(f"held_out must be in [0, 1), received {held_out!r}.")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = round(held_out * n)
    test, fit = (perm[:n_test], perm[n_test:]) if n_test >= 3 else (perm, perm)
    best = _pearson_matrix(a[fit], b[fit]).argmax(1)
    test_corr = _pearson_matrix(a[test], b[test])
    held_out_corr: np.ndarray = test_corr[np.arange(a.shape[1]), best]
    return held_out_corr


def rdm_spearman(a: Any, b: Any, similarity: str | tuple[str, str] = "dot") -> float:
    """Spearman correlation between the upper triangles of two embeddings' similarity matrices.

    Args:
        a, b: (N, D) embeddings of the same objects.
        similarity: ``"dot"``, ``"euclidean"``, ... (see :func:`repalign.similarity.rsm`), or
            one per embedding, e.g. ``("euclidean", "dot")`` for a cblearn fit against a
            SPoSE/VICE-style truth.
    """
    from repalign.similarity.matrices import rsm, to_vector
    from repalign.similarity.rsa import spearman

    sa, sb = (similarity, similarity) if isinstance(similarity, str) else similarity
    a, b = _columns(a, "a"), _columns(b, "b")
    check_same_length(a=a, b=b)
    return float(spearman(to_vector(rsm(a, sa)), to_vector(rsm(b, sb))))
