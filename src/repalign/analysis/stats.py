"""Statistics of seed 000: partial correlation, the z² transform and the U-shape test.

- :func:`partial_corr`: Pearson (or Spearman) correlation between two columns of a model table,
  controlling for covariates (Pingouin's formulas, in numpy/scipy), e.g. alignment vs. few-shot
  accuracy given ImageNet top-1.
- :func:`z2`: ``z²(x) = (x - mean)² / sd²``, large for models far from the mean alignment on
  either side.
- :func:`u_shape`: quadratic regression ``y = b0 + b1 x + b2 x²`` with the significance of
  ``b2``, where its vertex lies, Lind & Mehlum's test of a U (falling at the low end, rising at
  the high end) and the correlation of ``y`` with ``z²(x)``.

Example:
    >>> import pandas as pd, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.uniform(-1, 1, 200)
    >>> df = pd.DataFrame({"alignment": a, "fewshot": a**2 + 0.1 * rng.normal(size=200)})
    >>> u = u_shape(df, "alignment", "fewshot")
    >>> u.quadratic > 0 and u.quadratic_p < 1e-6 and u.vertex_inside and u.is_u
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from repalign._validation import as_array
from repalign.errors import DataFormatError, ShapeError

__all__ = ["Correlation", "UShape", "numeric_columns", "partial_corr", "u_shape", "z2"]


@dataclass(frozen=True)
class Correlation:
    """A (partial) correlation.

    Attributes:
        x, y: the correlated columns.
        covar: the covariates partialled out (empty for a plain correlation).
        method: ``"pearson"`` or ``"spearman"``.
        n: number of models.
        r: the coefficient.
        ci_low, ci_high: its 95 % confidence interval (Fisher z, as Pingouin).
        p: two-sided p-value.
    """

    x: str
    y: str
    covar: tuple[str, ...]
    method: str
    n: int
    r: float
    ci_low: float
    ci_high: float
    p: float

    def as_dict(self) -> dict[str, Any]:
        """Flat dict (covariates joined with '+') for a DataFrame row."""
        d = asdict(self)
        d["covar"] = "+".join(self.covar)
        return d


def z2(values: Any) -> np.ndarray:
    """``z²(x) = (x - mean(x))² / sd(x)²`` with the population sd (ddof 0).

    Args:
        values: (N,) numbers.

    Returns:
        (N,) float64; its mean is 1.

    Example:
        >>> z2([1.0, 2.0, 3.0]).round(6).tolist()
        [1.5, 0.0, 1.5]
    """
    x = as_array(values, "values", ndim=1, min_rows=2)
    sd = x.std()
    if sd == 0:
        raise ShapeError("values are constant; z² needs values that vary.")
    scores: np.ndarray = ((x - x.mean()) / sd) ** 2
    return scores


def numeric_columns(df: pd.DataFrame, names: Sequence[str], what: str) -> pd.DataFrame:
    """The columns ``names`` of ``df`` as floats, checked for the statistics of this package.

    Args:
        df: the table.
        names: the columns needed (a name given twice is taken once).
        what: the analysis asking, named in error messages.

    Returns:
        (N, len(unique names)) float DataFrame, rows and index as in ``df``.

    Raises:
        DataFormatError: ``df`` is not a DataFrame, a column is missing or not numeric.
        ShapeError: NaN or Inf in a column, or a constant column.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataFormatError(f"{what} needs a pandas DataFrame, received {type(df).__name__}.")
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise DataFormatError(
            f"{what}: column(s) {missing} not in the table; its columns are {list(df.columns)}."
        )
    sub = df[list(dict.fromkeys(names))]
    try:
        sub = sub.astype(float)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{what}: columns {list(names)} must be numeric ({exc}).") from exc
    bad = ~np.isfinite(sub.to_numpy())
    if bad.any():
        rows = sorted(set(np.argwhere(bad)[:, 0].tolist()))
        raise ShapeError(
            f"{what}: {len(rows)} row(s) have NaN or Inf in {list(names)} (first rows {rows[:5]}); "
            "drop or fill them explicitly before the analysis."
        )
    for c in sub.columns:
        if sub[c].nunique() < 2:
            raise ShapeError(f"{what}: column {c!r} is constant; a correlation needs variation.")
    return sub


def partial_corr(
    df: pd.DataFrame,
    x: str,
    y: str,
    covar: str | Sequence[str] | None = None,
    method: str = "pearson",
) -> Correlation:
    """Correlation of ``x`` and ``y`` controlling for ``covar`` (as Pingouin's ``partial_corr``).

    ``r`` is the correlation of the residuals of ``x`` and ``y`` after a least-squares fit on the
    covariates (and an intercept); Spearman ranks every column first. With ``k`` covariates and
    ``n`` models, ``p`` is the two-sided t-test of ``r`` with ``n - 2 - k`` degrees of freedom and
    the 95 % interval is Fisher's ``tanh(atanh(r) +- 1.96 / sqrt(n - k - 3))``, the formulas of
    Pingouin (which a test checks when it is installed).

    Args:
        df: one row per model.
        x, y: column names.
        covar: covariate column(s) (e.g. ``"imagenet_top1"``); None gives the plain correlation.
        method: ``"pearson"`` or ``"spearman"``.

    Returns:
        :class:`Correlation`.

    Raises:
        DataFormatError: a column is missing or not numeric.
        ShapeError: NaN/Inf in the used columns, a constant column, or too few models.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"])
        >>> -1 <= partial_corr(df, "a", "b", covar="c").r <= 1
        True
    """
    from scipy import stats

    if method not in ("pearson", "spearman"):
        raise DataFormatError(f"method must be 'pearson' or 'spearman', received {method!r}.")
    covars = () if covar is None else ((covar,) if isinstance(covar, str) else tuple(covar))
    sub = numeric_columns(df, [x, y, *covars], "partial_corr")
    n, k = len(sub), len(covars)
    if n < k + 3:
        raise ShapeError(
            f"partial_corr needs at least {k + 3} models for {k} covariate(s), received {n}."
        )
    if method == "spearman":
        sub = sub.rank()
    design = np.column_stack([np.ones(n), sub[list(covars)].to_numpy()])
    xy = sub[[x, y]].to_numpy()
    resid = xy - design @ np.linalg.lstsq(design, xy, rcond=None)[0]
    r = float(np.clip(np.corrcoef(resid.T)[0, 1], -1.0, 1.0))
    dof = n - 2 - k
    t = r * np.sqrt(dof / max(1.0 - r**2, np.finfo(float).tiny))
    p = float(2 * stats.t.sf(abs(t), dof))
    half = stats.norm.ppf(0.975) / np.sqrt(n - k - 3) if n > k + 3 else np.inf
    lo, hi = np.tanh(np.arctanh(r) - half), np.tanh(np.arctanh(r) + half)
    return Correlation(x, y, covars, method, n, r, float(lo), float(hi), p)


def _ols(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Least squares ``y ~ design`` (with an intercept column): coefficients, their covariance
    ``s² (XᵀX)⁻¹`` with ``s² = RSS / (n - p)``, the residual degrees of freedom and R²."""
    params, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ params
    dof = design.shape[0] - design.shape[1]
    rss = float(resid @ resid)
    cov = rss / dof * np.linalg.pinv(design.T @ design)
    return params, cov, dof, 1.0 - rss / float(((y - y.mean()) ** 2).sum())


@dataclass(frozen=True)
class UShape:
    """Result of :func:`u_shape`.

    Attributes:
        x, y: the columns.
        n: number of models.
        x_mean: mean of x (the fit uses x' = x - x_mean).
        intercept, linear, quadratic: ``b0``, ``b1`` and ``b2`` of ``y = b0 + b1 x' + b2 x'²``.
        quadratic_se, quadratic_p: standard error and two-sided p-value of ``b2``.
        vertex: the x at which the parabola turns, ``x_mean - b1 / (2 b2)``.
        vertex_inside: whether the vertex lies within the observed range of x.
        slope_low, slope_high: slopes of the fit at the smallest and the largest x.
        slope_low_p, slope_high_p: one-sided p-values that the slope at the low end is negative
            and the one at the high end positive.
        u_test_p: Lind & Mehlum's test of a U: the larger of the two one-sided p-values (a U
            needs the fit to fall significantly at the low end *and* rise at the high end).
        r2_linear, r2_quadratic: R² of the linear and the quadratic fits.
        r_z2, p_z2: Pearson correlation of ``y`` with ``z²(x)`` and its p-value (seed 000).
        r_linear, p_linear: Pearson correlation of ``y`` with ``x``.
    """

    x: str
    y: str
    n: int
    x_mean: float
    intercept: float
    linear: float
    quadratic: float
    quadratic_se: float
    quadratic_p: float
    vertex: float
    vertex_inside: bool
    slope_low: float
    slope_high: float
    slope_low_p: float
    slope_high_p: float
    u_test_p: float
    r2_linear: float
    r2_quadratic: float
    r_z2: float
    p_z2: float
    r_linear: float
    p_linear: float

    @property
    def is_u(self) -> bool:
        """Lind & Mehlum's test passes at the 5 % level: falling at the low end, rising at the high."""
        return self.u_test_p < 0.05

    def as_dict(self) -> dict[str, Any]:
        """Flat dict for a DataFrame row (with ``is_u``)."""
        return {**asdict(self), "is_u": self.is_u}


def u_shape(df: pd.DataFrame, x: str, y: str) -> UShape:
    """Test for a U-shaped relation between ``x`` (alignment) and ``y`` (a downstream metric).

    Fits ``y = b0 + b1 x' + b2 x'²`` (x' = x - mean(x), which leaves ``b2`` and its p-value
    unchanged) by ordinary least squares. A significant ``b2`` alone also fits a
    monotone curve that merely bends, so the U itself is tested as Lind & Mehlum (2010) do: the
    slope ``b1 + 2 b2 x'`` must be significantly negative at the smallest x and significantly
    positive at the largest (one-sided t-tests with the coefficients' covariance). The
    correlation of ``y`` with ``z²(x)`` is reported as seed 000 does.

    Args:
        df: one row per model.
        x: alignment column.
        y: downstream column.

    Returns:
        :class:`UShape`.
    """
    from scipy import stats

    sub = numeric_columns(df, [x, y], "u_shape")
    if len(sub) < 5:
        raise ShapeError(f"u_shape needs at least 5 models, received {len(sub)}.")
    xv, yv = sub[x].to_numpy(), sub[y].to_numpy()
    xc = xv - xv.mean()
    params, cov, dof, r2_quad = _ols(np.column_stack([np.ones_like(xc), xc, xc**2]), yv)
    r2_lin = _ols(np.column_stack([np.ones_like(xc), xc]), yv)[3]
    b0, b1, b2 = (float(v) for v in params)
    se_b2 = float(np.sqrt(cov[2, 2]))

    def slope(at: float) -> tuple[float, float]:
        grad = np.array([0.0, 1.0, 2.0 * at])
        return float(grad @ params), float(np.sqrt(grad @ cov @ grad))

    (s_lo, se_lo), (s_hi, se_hi) = slope(xc.min()), slope(xc.max())
    p_lo = float(stats.t.cdf(s_lo / se_lo, dof))  # H1: slope < 0 at the low end
    p_hi = float(stats.t.sf(s_hi / se_hi, dof))  # H1: slope > 0 at the high end
    vertex = float(xv.mean() - b1 / (2 * b2)) if b2 != 0 else float("nan")
    rz, pz = stats.pearsonr(z2(xv), yv)
    rl, pl = stats.pearsonr(xv, yv)
    return UShape(
        x=x, y=y, n=len(sub), x_mean=float(xv.mean()), intercept=b0, linear=b1, quadratic=b2,
        quadratic_se=se_b2, quadratic_p=float(2 * stats.t.sf(abs(b2 / se_b2), dof)), vertex=vertex,
        vertex_inside=bool(xv.min() < vertex < xv.max()), slope_low=s_lo, slope_high=s_hi,
        slope_low_p=p_lo, slope_high_p=p_hi, u_test_p=max(p_lo, p_hi),
        r2_linear=r2_lin, r2_quadratic=r2_quad,
        r_z2=float(rz), p_z2=float(pz), r_linear=float(rl), p_linear=float(pl),
    )  # fmt: skip
