"""Noise ceiling of RSA from per-subject dissimilarity matrices (Nili et al. 2014).

With S subjects' RDMs of the same stimuli:

- **upper bound**: the mean over subjects of the metric between each subject and the pooled RDM
  of *all* subjects (the pooled RDM is the best any model could do on average);
- **lower bound**: the same with the pooled RDM of the *other* subjects (leave one out).

Pooling follows rsatoolbox: the mean of z-scored vectors for ``rsa_pearson``, of unit-RMS
vectors for ``rsa_cosine``, and of rank-transformed vectors for ``rsa_spearman`` and the Kendall
variants (for Kendall this is an approximation of the best-fitting RDM, as in rsatoolbox).

Example:
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.random(45)
    >>> subjects = truth + 0.3 * rng.normal(size=(8, 45))
    >>> nc = noise_ceiling(subjects, "rsa_pearson")
    >>> 0 < nc.lower < nc.upper < 1
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

from repalign._registry import unknown_name_message
from repalign._validation import as_array, describe
from repalign.errors import ShapeError, UnknownNameError
from repalign.similarity.matrices import as_square_matrix
from repalign.similarity.rsa import RSA_FUNCTIONS, pair_vector

__all__ = ["NoiseCeiling", "noise_ceiling"]

_METHODS = {
    "rsa_pearson": "pearson",
    "rsa_spearman": "spearman",
    "rsa_kendall_tau_a": "kendall_tau_a",
    "rsa_kendall_tau_b": "kendall_tau_b",
    "rsa_cosine": "cosine",
}


@dataclass(frozen=True)
class NoiseCeiling:
    """Lower and upper noise-ceiling bounds, with the per-subject values they average."""

    metric: str
    lower: float
    upper: float
    per_subject_lower: np.ndarray = field(repr=False)
    per_subject_upper: np.ndarray = field(repr=False)


def _vectors(rdms: Any, kind: str) -> np.ndarray:
    arr = as_array(rdms, "rdms", ndim=(2, 3))
    if arr.ndim == 3:
        mats = [as_square_matrix(m, f"rdms[{i}]") for i, m in enumerate(arr)]
        if kind == "similarity":
            mats = [1.0 - m for m in mats]
        arr = np.stack([pair_vector(m) for m in mats])
    else:
        p = arr.shape[1]
        n = round((1 + float(np.sqrt(1 + 8 * p))) / 2)
        if n * (n - 1) // 2 != p or n < 3:
            raise ShapeError(
                f"rdms as (S, P) vectors must hold P = n(n-1)/2 upper-triangle values for some "
                f"n >= 3 (3, 6, 10, ...), received {describe(arr)}; pass (S, n, n) matrices or "
                "each subject's to_vector(rdm)."
            )
        if kind == "similarity":
            arr = 1.0 - arr
    if arr.shape[0] < 2:
        raise ShapeError(
            f"A noise ceiling needs the RDMs of at least 2 subjects, received {describe(arr)}."
        )
    return arr


def _pool(vectors: np.ndarray, method: str) -> np.ndarray:
    if method == "pearson":
        z = vectors - vectors.mean(axis=1, keepdims=True)
        z = z / z.std(axis=1, keepdims=True)
        return np.asarray(z.mean(axis=0))
    if method == "cosine":
        return np.asarray((vectors / np.sqrt(np.mean(vectors**2, axis=1, keepdims=True))).mean(axis=0))
    return np.asarray(np.stack([rankdata(v) for v in vectors]).mean(axis=0))


def noise_ceiling(rdms: Any, metric: str = "rsa_spearman", *,
                  kind: str = "dissimilarity") -> NoiseCeiling:
    """Lower and upper noise ceiling for an RSA metric from per-subject RDMs.

    Args:
        rdms: (S, n, n) per-subject matrices, or (S, P) upper-triangle vectors.
        metric: ``rsa_pearson``, ``rsa_spearman``, ``rsa_kendall_tau_a``,
            ``rsa_kendall_tau_b`` or ``rsa_cosine``.
        kind: ``"dissimilarity"`` or ``"similarity"`` (converted as ``1 - S``).

    Returns:
        :class:`NoiseCeiling`; a model whose alignment with the subjects (the mean of the
        metric against each subject) reaches ``lower`` is as good as the subjects predict each
        other.

    Raises:
        ShapeError: fewer than 2 subjects, NaN/Inf, asymmetric matrices, constant RDMs.
        UnknownNameError: a metric without a noise ceiling, or an unknown kind.
    """
    if metric not in _METHODS:
        raise UnknownNameError(unknown_name_message("noise-ceiling metric", metric,
                                                    list(_METHODS)))
    if kind not in ("dissimilarity", "similarity"):
        raise UnknownNameError(unknown_name_message("input kind", kind,
                                                    ["dissimilarity", "similarity"]))
    vec = _vectors(rdms, kind)
    method = _METHODS[metric]
    score = RSA_FUNCTIONS[method]
    pooled_all = _pool(vec, method)
    upper = np.array([score(pooled_all, v) for v in vec])
    lower = np.array([score(_pool(np.delete(vec, i, axis=0), method), v)
                      for i, v in enumerate(vec)])
    return NoiseCeiling(metric, float(lower.mean()), float(upper.mean()), lower, upper)
