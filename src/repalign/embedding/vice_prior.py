"""VICE's spike-and-slab prior, its dimension pruning and its convergence rule.

Muttenthaler et al. (2022), *VICE: Variational Interpretable Concept Embeddings*:

- the prior on every embedding entry is a two-component mixture centred at 0, a narrow *spike*
  and a wide *slab*: ``p(x) = pi * f(x; spike) + (1 - pi) * f(x; slab)`` with ``f`` a Gaussian
  (scale = standard deviation) or a Laplace density;
- a dimension is *important* for an object when the posterior ``q(x) = N(mu, sigma^2)`` puts
  little mass at or below zero: the p-value ``P(x <= 0) = Phi(-mu / sigma)`` is rejected after a
  Benjamini-Hochberg correction over the objects (alpha 0.05); a dimension is kept when more than
  ``k`` objects find it important;
- the fit has converged when the number of kept dimensions has not changed over the last
  ``window`` epochs (and is not zero), checked after a burn-in.

Example:
    >>> import torch
    >>> lp = spike_and_slab_logpdf(torch.zeros(2, 2), spike=0.25, slab=1.0, pi=0.6)
    >>> lp.shape
    torch.Size([2, 2])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy.stats import false_discovery_control, norm

__all__ = ["converged", "important_dimensions", "posterior_pvalues", "spike_and_slab_logpdf"]

PRIORS = ("gaussian", "laplace")


def _log_density(x: torch.Tensor, scale: float, prior: str) -> torch.Tensor:
    if prior == "gaussian":
        return -0.5 * (x / scale) ** 2 - math.log(scale) - 0.5 * math.log(2 * math.pi)
    return -x.abs() / scale - math.log(2 * scale)


def spike_and_slab_logpdf(x: torch.Tensor, *, spike: float, slab: float, pi: float,
                          prior: str = "gaussian") -> torch.Tensor:
    """Elementwise log density of the spike-and-slab mixture.

    Args:
        x: any shape.
        spike: scale of the narrow component (std for ``"gaussian"``, b for ``"laplace"``).
        slab: scale of the wide component.
        pi: weight of the spike, in (0, 1).
        prior: ``"gaussian"`` or ``"laplace"``.

    Returns:
        ``log(pi f(x; spike) + (1 - pi) f(x; slab))``, same shape as ``x``.
    """
    a = _log_density(x, spike, prior) + math.log(pi)
    b = _log_density(x, slab, prior) + math.log1p(-pi)
    return torch.logaddexp(a, b)


def posterior_pvalues(loc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(N, D) probabilities ``P(x <= 0)`` under ``N(loc, scale^2)``, entry by entry."""
    p: np.ndarray = norm.cdf(0.0, loc=loc, scale=scale)
    return p


def important_dimensions(loc: np.ndarray, scale: np.ndarray, *, k: int = 5,
                         alpha: float = 0.05) -> np.ndarray:
    """Indices of the dimensions that more than ``k`` objects find important (VICE pruning).

    Args:
        loc: (N, D) posterior means.
        scale: (N, D) posterior standard deviations.
        k: a dimension is kept when more than ``k`` objects reject ``x <= 0``.
        alpha: false discovery rate of the Benjamini-Hochberg correction, per dimension.

    Returns:
        (D_kept,) int64 sorted indices.
    """
    pvals = posterior_pvalues(loc, scale)
    # Benjamini-Hochberg adjusted p-values over the objects, one dimension (column) at a time
    counts = (false_discovery_control(pvals, axis=0, method="bh") <= alpha).sum(axis=0)
    return np.flatnonzero(counts > k).astype(np.int64)


def converged(dimensions: Sequence[int], window: int) -> bool:
    """VICE's rule: the last ``window`` kept-dimension counts are all equal and not zero."""
    if window < 1 or len(dimensions) < window:
        return False
    last = set(dimensions[-window:])
    return len(last) == 1 and next(iter(last)) != 0
