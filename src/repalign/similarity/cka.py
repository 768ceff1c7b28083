"""Centered kernel alignment (CKA): linear, RBF and debiased, with a streaming accumulator.

``CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` for kernel (Gram) matrices of the same
n stimuli (Kornblith et al. 2019).

- **Biased** HSIC: ``tr(K H L H) / (n - 1)^2`` with the centring matrix H. Inflated for small n
  (about 0.2 at n = 32 for independent data).
- **Debiased** HSIC: the U-statistic of Song et al. (2012), computed as the inner product of
  "unbiasedly centred" Gram matrices, so ``HSIC(K, K) >= 0`` always and the debiased CKA lies in
  [-1, 1]. **Negative values are returned as they are** (not clipped): they mean "no more
  similar than chance", and clipping would bias averages upwards. A representation whose
  self-HSIC is 0 (constant features) raises ``ShapeError``.
- **Linear** kernels use the feature-space formula when it is cheaper (``D_x^2 + D_y^2 +
  D_x D_y <= n (D_x + D_y)``): memory O(D^2) instead of O(n^2), exact, accumulated in float64
  over row chunks, so any n fits in memory.
- **RBF** kernel ``exp(-d^2 / (2 sigma^2))``. The bandwidth follows Kornblith et al.'s code by
  default (``bandwidth="kornblith"``): ``sigma^2 = sigma_scale^2 * median(d^2)`` over **all** n x n
  entries, the zero diagonal included. ``bandwidth="off_diagonal"`` uses ``sigma = sigma_scale *
  median(d)`` over the pairs of **distinct** stimuli only. The two differ at small n (the n zeros
  of the diagonal pull Kornblith's median down; at n = 10 they are 10 of 100 entries) and agree
  as n grows.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(100, 10))
    >>> q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    >>> round(cka(x, 3 * x @ q), 12)
    1.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from repalign._registry import unknown_name_message
from repalign._validation import as_array, check_same_length, describe
from repalign.errors import ConfigError, ShapeError, UnknownNameError
from repalign.similarity.matrices import as_square_matrix, rdm

__all__ = ["KERNELS", "CKAAccumulator", "cka", "cka_from_grams", "rbf_kernel"]

KERNELS = ("linear", "rbf")
_CHUNK_BYTES = 64 * 2**20


class CKAAccumulator:
    """Exact linear CKA (biased and debiased) from batches of rows, in O(D^2) memory.

    Accumulates float64 moments of the shifted features (shift = the first batch's mean, which
    keeps cancellation small; the result does not depend on it). Equivalent to :func:`cka` on
    the concatenated batches.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.normal(size=(300, 8)), rng.normal(size=(300, 5))
        >>> acc = CKAAccumulator()
        >>> for s in range(0, 300, 64):
        ...     _ = acc.update(x[s:s + 64], y[s:s + 64])
        >>> bool(np.isclose(acc.value(), cka(x, y)))
        True
    """

    def __init__(self) -> None:
        self.n = 0
        self._shift: tuple[np.ndarray, np.ndarray] | None = None
        self._m: dict[str, Any] = {}

    def update(self, x: Any, y: Any) -> CKAAccumulator:
        """Add a batch: x (B, Dx) and y (B, Dy) features of the same B stimuli."""
        bx = as_array(x, "x", ndim=2)
        by = as_array(y, "y", ndim=2)
        check_same_length(x=bx, y=by)
        if self._shift is None:
            self._shift = (bx.mean(axis=0), by.mean(axis=0))
        elif bx.shape[1] != self._shift[0].size or by.shape[1] != self._shift[1].size:
            raise ShapeError(
                f"Batch has {bx.shape[1]} and {by.shape[1]} features, but earlier batches had "
                f"{self._shift[0].size} and {self._shift[1].size}."
            )
        u, v = bx - self._shift[0], by - self._shift[1]
        p, q = np.einsum("ij,ij->i", u, u), np.einsum("ij,ij->i", v, v)
        terms = {
            "sx": u.sum(axis=0), "sy": v.sum(axis=0),
            "xx": u.T @ u, "yy": v.T @ v, "xy": u.T @ v,
            "p": p.sum(), "q": q.sum(), "pp": p @ p, "qq": q @ q, "pq": p @ q,
            "pu": p @ u, "qv": q @ v, "pv": p @ v, "qu": q @ u,
        }
        for key, val in terms.items():
            self._m[key] = self._m[key] + val if key in self._m else val
        self.n += bx.shape[0]
        return self

    def _hsic(self, which: str, debiased: bool) -> float:
        """HSIC of the pair ("xy", "xx" or "yy") from the moments, up to a factor common to all."""
        m, n = self._m, self.n
        a, b = which[0], which[1]
        p, q = {"x": "p", "y": "q"}[a], {"x": "p", "y": "q"}[b]
        s1, s2 = m["s" + a], m["s" + b]
        cross = m[which]
        mu1, mu2 = s1 / n, s2 / n
        frob = float(np.sum((cross - n * np.outer(mu1, mu2)) ** 2))
        if not debiased:
            return frob
        # sums over centred rows of |x_i|^2, |y_i|^2 and their products
        sum1 = m[p] - n * (mu1 @ mu1)
        sum2 = m[q] - n * (mu2 @ mu2)
        prod = m[p + q]
        cross_p2 = m[p + ("u" if b == "x" else "v")]   # sum_i p1_i * row2_i
        cross_q1 = m[q + ("u" if a == "x" else "v")]   # sum_i p2_i * row1_i
        n1, n2 = mu1 @ mu1, mu2 @ mu2
        ab = (prod - 2 * mu2 @ cross_p2 + n2 * m[p] - 2 * mu1 @ cross_q1 + 4 * mu1 @ cross @ mu2
              - 2 * n2 * (mu1 @ s1) + n1 * m[q] - 2 * n1 * (mu2 @ s2) + n * n1 * n2)
        return float(frob + sum1 * sum2 / ((n - 1) * (n - 2)) - n / (n - 2) * ab)

    def value(self, debiased: bool = False) -> float:
        """CKA of everything added so far (see the module docstring for the debiased policy)."""
        need = 4 if debiased else 2
        if self.n < need:
            raise ShapeError(
                f"{'Debiased' if debiased else 'Biased'} CKA needs at least {need} stimuli, "
                f"received {self.n}."
            )
        return _ratio(self._hsic("xy", debiased), self._hsic("xx", debiased),
                      self._hsic("yy", debiased))


def _ratio(kl: float, kk: float, ll: float) -> float:
    for name, val in (("x", kk), ("y", ll)):
        if not val > 0:
            raise ShapeError(
                f"CKA is undefined: the kernel of {name} has no variance across stimuli "
                "(constant features or a constant kernel); check the representation."
            )
    return float(np.clip(kl / np.sqrt(kk * ll), -1.0, 1.0))


def _center(k: np.ndarray, debiased: bool) -> np.ndarray:
    """Double-centred Gram matrix; with ``debiased``, the U-statistic centring (zero diagonal)."""
    n = k.shape[0]
    k = k.copy()
    if not debiased:
        means = k.mean(axis=0)
        k -= means[:, None]
        k -= means[None, :]
        k += means.mean()
        return k
    np.fill_diagonal(k, 0.0)
    means = k.sum(axis=0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    k -= means[:, None]
    k -= means[None, :]
    np.fill_diagonal(k, 0.0)
    return k


def cka_from_grams(k: Any, l: Any, debiased: bool = False) -> float:  # noqa: E741
    """CKA of two (n, n) symmetric kernel (Gram) matrices.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(20, 3))
        >>> round(cka_from_grams(x @ x.T, x @ x.T), 12)
        1.0
    """
    km = as_square_matrix(k, "x")
    lm = as_square_matrix(l, "y")
    n = check_same_length(x=km, y=lm)
    if n < (4 if debiased else 2):
        raise ShapeError(f"CKA needs at least {4 if debiased else 2} stimuli, received {n}.")
    kc, lc = _center(km, debiased), _center(lm, debiased)
    return _ratio(float(np.vdot(kc, lc)), float(np.vdot(kc, kc)), float(np.vdot(lc, lc)))


BANDWIDTHS = ("kornblith", "off_diagonal")


def rbf_kernel(d: np.ndarray, sigma_scale: float = 1.0, bandwidth: str = "kornblith"
               ) -> np.ndarray:
    """RBF kernel from (n, n) Euclidean distances (see the module doc for ``bandwidth``).

    Raises:
        ConfigError: ``sigma_scale`` is not a positive finite number.
        UnknownNameError: an unknown ``bandwidth``.
        ShapeError: the median distance is 0.
    """
    if bandwidth not in BANDWIDTHS:
        raise UnknownNameError(unknown_name_message("RBF bandwidth", str(bandwidth),
                                                    list(BANDWIDTHS)))
    if isinstance(sigma_scale, bool) or not isinstance(sigma_scale, (int, float, np.number)) \
            or not np.isfinite(sigma_scale) or sigma_scale <= 0:
        raise ConfigError(
            f"sigma_scale must be a positive number (the RBF bandwidth as a multiple of the "
            f"median distance), received {sigma_scale!r}."
        )
    sq = d**2
    if bandwidth == "kornblith":
        sigma2 = sigma_scale**2 * float(np.median(sq))
    else:
        iu = np.triu_indices(d.shape[0], k=1)
        sigma2 = (sigma_scale * float(np.median(d[iu]))) ** 2 if iu[0].size else 0.0
    if not sigma2 > 0:
        raise ShapeError(
            "The RBF bandwidth is 0: at least half of the pairwise distances are zero "
            "(repeated stimuli or constant features); use kernel='linear'."
        )
    return np.asarray(np.exp(-sq / (2.0 * sigma2)))


def _linear_features(x: np.ndarray, y: np.ndarray, debiased: bool) -> float:
    acc = CKAAccumulator()
    step = max(1, _CHUNK_BYTES // (8 * max(x.shape[1] + y.shape[1], 1)))
    for s in range(0, x.shape[0], step):
        acc.update(x[s:s + step], y[s:s + step])
    return acc.value(debiased)


def cka(x: Any, y: Any, kernel: str = "linear", debiased: bool = False, *,
        kind: str = "features", sigma_scale: float = 1.0, bandwidth: str = "kornblith") -> float:
    """Centered kernel alignment between two representations of the same n stimuli.

    Args:
        x: (n, Dx) features; with ``kind="similarity"`` an (n, n) kernel (Gram) matrix; with
            ``kind="dissimilarity"`` (RBF only) an (n, n) matrix of Euclidean distances.
        y: same form as ``x``.
        kernel: ``"linear"`` or ``"rbf"`` (ignored for ``kind="similarity"``: the matrices
            are the kernels).
        debiased: use the unbiased HSIC estimator (see the module docstring).
        kind: ``"features"``, ``"similarity"`` or ``"dissimilarity"``.
        sigma_scale: RBF bandwidth as a multiple of the median pairwise distance.
        bandwidth: ``"kornblith"`` (median of all squared distances, diagonal included, as
            Kornblith et al.'s code) or ``"off_diagonal"`` (median distance between distinct
            stimuli).

    Returns:
        CKA in [0, 1] (biased) or [-1, 1] (debiased).

    Raises:
        ShapeError: different n, too few stimuli, NaN/Inf, constant representations.
        UnknownNameError: unknown kernel or kind.
        ConfigError: ``kind="dissimilarity"`` with a linear kernel, or ``sigma_scale <= 0``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.normal(size=(500, 20)), rng.normal(size=(500, 20))
        >>> abs(cka(x, y, debiased=True)) < 0.05
        True
    """
    if kernel not in KERNELS:
        raise UnknownNameError(unknown_name_message("CKA kernel", str(kernel), list(KERNELS)))
    if kind == "similarity":
        return cka_from_grams(x, y, debiased)
    if kind == "dissimilarity":
        if kernel != "rbf":
            raise ConfigError(
                "Linear CKA needs features or Gram matrices; pass kind='similarity' with "
                "X X^T kernels, or kernel='rbf' to use the matrices as Euclidean distances."
            )
        dx, dy = as_square_matrix(x, "x"), as_square_matrix(y, "y")
        check_same_length(x=dx, y=dy)
        return cka_from_grams(rbf_kernel(dx, sigma_scale, bandwidth),
                              rbf_kernel(dy, sigma_scale, bandwidth), debiased)
    if kind != "features":
        raise UnknownNameError(unknown_name_message(
            "input kind", str(kind), ["features", "similarity", "dissimilarity"]))
    ax = as_array(x, "x", ndim=2, dtype=None)
    ay = as_array(y, "y", ndim=2, dtype=None)
    n = check_same_length(x=ax, y=ay)
    if n < (4 if debiased else 2):
        raise ShapeError(f"CKA needs at least {4 if debiased else 2} stimuli, received "
                         f"{describe(ax)}.")
    if kernel == "rbf":
        return cka_from_grams(rbf_kernel(rdm(ax, "euclidean"), sigma_scale, bandwidth),
                              rbf_kernel(rdm(ay, "euclidean"), sigma_scale, bandwidth), debiased)
    dx, dy = ax.shape[1], ay.shape[1]
    if dx * dx + dy * dy + dx * dy <= n * (dx + dy):
        return _linear_features(ax, ay, debiased)
    fx, fy = ax.astype(np.float64), ay.astype(np.float64)
    return cka_from_grams(fx @ fx.T, fy @ fy.T, debiased)
