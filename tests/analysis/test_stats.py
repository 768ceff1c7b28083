"""partial_corr against a residual formula and (when installed) Pingouin; z²; the U-shape test
against numpy and (when installed) statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from repalign.analysis import extreme_groups, partial_corr, u_shape, z2
from repalign.errors import DataFormatError, ShapeError


@pytest.fixture
def table(rng):
    n = 60
    top1 = rng.uniform(0.6, 0.9, n)
    align = 0.5 * top1 + rng.normal(scale=0.05, size=n)
    few = 2 * top1 + 3 * (align - align.mean()) ** 2 + rng.normal(scale=0.02, size=n)
    return pd.DataFrame({"model": [f"m{i:02d}" for i in range(n)], "alignment": align,
                         "fewshot": few, "imagenet_top1": top1})


def _pingouin():
    return pytest.importorskip("pingouin", reason="pingouin (not a dependency) is the reference")


@pytest.mark.parametrize("method", ["pearson", "spearman"])
@pytest.mark.parametrize("covar", [None, "imagenet_top1", ["imagenet_top1", "params"]])
def test_partial_corr_equals_pingouin(table, rng, method, covar):
    pg = _pingouin()
    df = table.assign(params=rng.normal(size=60) + 3 * table["alignment"])
    got = partial_corr(df, "alignment", "fewshot", covar=covar, method=method)
    if covar is None:
        ref = pg.corr(df["alignment"], df["fewshot"], method=method)
    else:
        ref = pg.partial_corr(df, x="alignment", y="fewshot", covar=covar, method=method)
    assert got.r == pytest.approx(float(ref["r"].iloc[0]), rel=1e-10)
    pcol = "p_val" if "p_val" in ref.columns else "p-val"
    assert got.p == pytest.approx(float(ref[pcol].iloc[0]), rel=1e-8)
    # Pingouin rounds the interval (to 2 decimals in the versions before 0.6)
    np.testing.assert_allclose([got.ci_low, got.ci_high], ref["CI95"].iloc[0], atol=5e-3)


def test_partial_corr_equals_residuals(table):
    got = partial_corr(table, "alignment", "fewshot", covar="imagenet_top1")
    assert got.n == 60 and got.covar == ("imagenet_top1",)
    # independent formula: correlate the residuals of both on the covariate
    z = np.column_stack([np.ones(60), table["imagenet_top1"]])
    res = [table[c] - z @ np.linalg.lstsq(z, table[c], rcond=None)[0] for c in ("alignment", "fewshot")]
    assert got.r == pytest.approx(np.corrcoef(*res)[0, 1], rel=1e-10)
    plain = partial_corr(table, "alignment", "fewshot")
    assert plain.r == pytest.approx(stats.pearsonr(table.alignment, table.fewshot)[0], rel=1e-12)
    assert plain.p == pytest.approx(stats.pearsonr(table.alignment, table.fewshot)[1], rel=1e-8)
    spear = partial_corr(table, "alignment", "fewshot", method="spearman")
    assert spear.r == pytest.approx(stats.spearmanr(table.alignment, table.fewshot)[0], rel=1e-12)
    assert got.as_dict()["covar"] == "imagenet_top1"


def test_partial_corr_with_two_covariates(table, rng):
    df = table.assign(params=rng.normal(size=60) + 3 * table["alignment"])
    got = partial_corr(df, "alignment", "fewshot", covar=["imagenet_top1", "params"])
    z = np.column_stack([np.ones(60), df["imagenet_top1"], df["params"]])
    res = [df[c] - z @ np.linalg.lstsq(z, df[c], rcond=None)[0] for c in ("alignment", "fewshot")]
    r = np.corrcoef(*res)[0, 1]
    assert got.r == pytest.approx(r, rel=1e-10)
    t = r * np.sqrt((60 - 2 - 2) / (1 - r**2))  # n - 2 - (number of covariates) degrees of freedom
    assert got.p == pytest.approx(2 * stats.t.sf(abs(t), 56), rel=1e-8)
    assert got.covar == ("imagenet_top1", "params") and got.as_dict()["covar"] == "imagenet_top1+params"
    one = partial_corr(df, "alignment", "fewshot", covar="imagenet_top1")
    assert not np.isclose(got.r, one.r)


def test_partial_corr_bad_input(table):
    with pytest.raises(DataFormatError, match=r"column\(s\) \['nope'\] not in the table"):
        partial_corr(table, "alignment", "nope")
    bad = table.copy()
    bad.loc[3, "fewshot"] = np.nan
    with pytest.raises(ShapeError, match=r"NaN or Inf in .* \(first rows \[3\]\)"):
        partial_corr(bad, "alignment", "fewshot")
    with pytest.raises(ShapeError, match="constant"):
        partial_corr(table.assign(c=1.0), "alignment", "c")
    with pytest.raises(ShapeError, match="at least 4 models"):
        partial_corr(table.head(3), "alignment", "fewshot", covar="imagenet_top1")


def test_z2():
    x = np.array([1.0, 2.0, 4.0, 7.0])
    np.testing.assert_allclose(z2(x), ((x - x.mean()) / x.std()) ** 2)
    assert z2(x).mean() == pytest.approx(1.0)
    with pytest.raises(ShapeError, match="constant"):
        z2([2.0, 2.0, 2.0])
    with pytest.raises(ShapeError, match="NaN"):
        z2([1.0, np.nan, 2.0])


def test_u_shape_matches_numpy_least_squares(table):
    u = u_shape(table, "alignment", "fewshot")
    x, y = table.alignment.to_numpy(), table.fewshot.to_numpy()
    xc = x - x.mean()
    design = np.column_stack([np.ones_like(xc), xc, xc**2])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ beta
    sigma2 = resid @ resid / (len(y) - 3)
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(design.T @ design)))
    p = 2 * stats.t.sf(abs(beta[2] / se[2]), len(y) - 3)
    assert (u.intercept, u.linear, u.quadratic) == pytest.approx(tuple(beta), rel=1e-9)
    assert u.quadratic_se == pytest.approx(se[2], rel=1e-9)
    assert u.quadratic_p == pytest.approx(p, rel=1e-6)
    assert np.polyfit(x, y, 2)[0] == pytest.approx(u.quadratic, rel=1e-8)  # invariant to centring
    assert u.vertex == pytest.approx(x.mean() - beta[1] / (2 * beta[2]))
    # Lind & Mehlum: slopes at both ends with their one-sided t-tests
    cov = sigma2 * np.linalg.inv(design.T @ design)
    for end, slope, p_one, side in ((xc.min(), u.slope_low, u.slope_low_p, "low"),
                                    (xc.max(), u.slope_high, u.slope_high_p, "high")):
        g = np.array([0.0, 1.0, 2 * end])
        t = g @ beta / np.sqrt(g @ cov @ g)
        assert slope == pytest.approx(g @ beta, rel=1e-9)
        want = stats.t.cdf(t, len(y) - 3) if side == "low" else stats.t.sf(t, len(y) - 3)
        assert p_one == pytest.approx(want, rel=1e-6)
    assert u.u_test_p == max(u.slope_low_p, u.slope_high_p)
    assert u.r_z2 == pytest.approx(stats.pearsonr(z2(x), y)[0], rel=1e-10)
    assert u.r_linear == pytest.approx(stats.pearsonr(x, y)[0], rel=1e-10)


def test_u_shape_equals_statsmodels(table):
    sm = pytest.importorskip("statsmodels.api", reason="statsmodels (not a dependency) is the reference")
    u = u_shape(table, "alignment", "fewshot")
    x, y = table.alignment.to_numpy(), table.fewshot.to_numpy()
    xc = x - x.mean()
    quad = sm.OLS(y, np.column_stack([np.ones_like(xc), xc, xc**2])).fit()
    lin = sm.OLS(y, np.column_stack([np.ones_like(xc), xc])).fit()
    assert u.quadratic_se == pytest.approx(float(quad.bse[2]), rel=1e-9)
    assert u.quadratic_p == pytest.approx(float(quad.pvalues[2]), rel=1e-8)
    assert (u.r2_quadratic, u.r2_linear) == pytest.approx((quad.rsquared, lin.rsquared), rel=1e-10)


def test_u_shape_recognises_u_and_monotone():
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, 300)
    u = u_shape(pd.DataFrame({"a": a, "y": a**2 + 0.05 * rng.normal(size=300)}), "a", "y")
    assert u.is_u and u.r_z2 > 0.9
    mono = u_shape(pd.DataFrame({"a": a, "y": np.exp(a) + 0.01 * rng.normal(size=300)}), "a", "y")
    assert mono.quadratic > 0 and not mono.vertex_inside and not mono.is_u
    # a bend whose vertex is barely inside: b2 is significant but the fall at the low end is not
    r2 = np.random.default_rng(2)
    a2 = r2.uniform(-1, 1, 80)
    bend = u_shape(pd.DataFrame({"a": a2, "y": (a2 + 0.9) ** 2 + 0.3 * r2.normal(size=80)}),
                   "a", "y")
    assert bend.quadratic_p < 1e-10 and bend.vertex_inside and bend.slope_low < 0
    assert bend.slope_low_p > 0.05 and not bend.is_u
    flat = u_shape(pd.DataFrame({"a": a, "y": rng.normal(size=300)}), "a", "y")
    assert flat.quadratic_p > 0.01 and not flat.is_u


def test_extreme_groups_by_hand():
    df = pd.DataFrame({"model": list("abcdefghi"), "align": [5, 1, 9, 3, 7, 2, 8, 4, 6],
                       "acc": [50, 10, 90, 30, 70, 20, 80, 40, 60], "top": [1] * 9})
    g = extreme_groups(df, by="align", k=3, columns=["acc"])
    rows = {r.group: r for r in g.itertuples()}
    assert rows["high"].models == "c,g,e" and rows["high"].mean == pytest.approx(80)
    assert rows["low"].models == "b,f,d" and rows["low"].mean == pytest.approx(20)
    # mean alignment 5: the three closest among the rest are a (5), h (4), i (6)
    assert set(rows["mid"].models.split(",")) == {"a", "h", "i"} and rows["mid"].mean == pytest.approx(50)
    assert rows["mid"].sd == pytest.approx(np.std([50, 40, 60], ddof=1))
    with pytest.raises(ShapeError, match="at least 3k = 12 models"):
        extreme_groups(df, by="align", k=4, columns=["acc"])
