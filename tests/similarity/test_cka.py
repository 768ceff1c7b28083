"""CKA against textbook HSIC formulas, its invariances, the streaming accumulator."""

from __future__ import annotations

import numpy as np
import pytest

from repalign.errors import ConfigError, ShapeError, UnknownNameError
from repalign.similarity import CKAAccumulator, cka, cka_from_grams, compare, rdm


def _hsic_biased(k, l):  # noqa: E741
    n = len(k)
    h = np.eye(n) - np.ones((n, n)) / n
    return np.trace(k @ h @ l @ h) / (n - 1) ** 2


def _hsic_unbiased(k, l):  # noqa: E741  (Song et al. 2012, eq. 5)
    n = len(k)
    kt, lt = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    one = np.ones(n)
    return (np.trace(kt @ lt) + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ kt @ lt @ one) / (n * (n - 3))


def _cka_ref(k, l, hsic):  # noqa: E741
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


@pytest.mark.parametrize("n,dx,dy", [(12, 3, 5), (40, 60, 8), (150, 20, 30)])
@pytest.mark.parametrize("debiased", [False, True])
def test_linear_matches_textbook_hsic(rng, n, dx, dy, debiased):
    x = rng.normal(size=(n, dx)) + 5.0  # uncentred on purpose
    y = x[:, :1] @ rng.normal(size=(1, dy)) + rng.normal(size=(n, dy)) - 3.0
    k, l = x @ x.T, y @ y.T  # noqa: E741
    expected = _cka_ref(k, l, _hsic_unbiased if debiased else _hsic_biased)
    assert cka(x, y, debiased=debiased) == pytest.approx(expected, abs=1e-10)
    assert cka(k, l, debiased=debiased, kind="similarity") == pytest.approx(expected, abs=1e-10)
    assert cka_from_grams(k, l, debiased) == pytest.approx(expected, abs=1e-10)


def test_rbf_matches_textbook(rng):
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 6))

    def kernel(a, scale):
        d = np.sqrt(((a[:, None] - a[None]) ** 2).sum(-1))
        sigma = scale * np.median(d[np.triu_indices(len(a), 1)])
        return np.exp(-(d**2) / (2 * sigma**2))

    off = {"bandwidth": "off_diagonal"}
    for scale in (0.5, 1.0, 2.0):
        expected = _cka_ref(kernel(x, scale), kernel(y, scale), _hsic_biased)
        assert cka(x, y, "rbf", sigma_scale=scale, **off) == pytest.approx(expected, abs=1e-10)
    expected = _cka_ref(kernel(x, 1.0), kernel(y, 1.0), _hsic_unbiased)
    assert cka(x, y, "rbf", debiased=True, **off) == pytest.approx(expected, abs=1e-10)
    assert cka(rdm(x), rdm(y), "rbf", kind="dissimilarity", **off) == pytest.approx(
        cka(x, y, "rbf", **off), abs=1e-12)
    assert cka(rdm(x), rdm(y), "rbf", kind="dissimilarity") == pytest.approx(
        cka(x, y, "rbf"), abs=1e-12)


@pytest.mark.parametrize("n", [8, 11, 40])
def test_rbf_default_bandwidth_is_kornblith_et_al(rng, n):
    """Kornblith et al. (2019)'s published code: squared distances from the Gram matrix,
    ``sigma^2 = threshold^2 * median(all n x n squared distances)``, HSIC with centring."""

    def gram_rbf(a, threshold=1.0):
        dots = a @ a.T
        sq_norms = np.diag(dots)
        sq = -2 * dots + sq_norms[:, None] + sq_norms[None, :]
        return np.exp(-sq / (2 * threshold**2 * np.median(sq)))

    def cka_kornblith(k, l):  # noqa: E741
        h = np.eye(len(k)) - 1.0 / len(k)
        kc, lc = h @ k @ h, h @ l @ h
        return (kc * lc).sum() / np.sqrt((kc * kc).sum() * (lc * lc).sum())

    x, y = rng.normal(size=(n, 5)), rng.normal(size=(n, 7))
    for threshold in (0.5, 1.0):
        ref = cka_kornblith(gram_rbf(x, threshold), gram_rbf(y, threshold))
        assert cka(x, y, "rbf", sigma_scale=threshold) == pytest.approx(ref, abs=1e-9)
        assert compare(x, y, f"cka_rbf:sigma_scale={threshold}") == pytest.approx(ref, abs=1e-9)
    # the other documented bandwidth differs at small n (the check can fail)
    off = cka(x, y, "rbf", bandwidth="off_diagonal")
    assert abs(off - cka_kornblith(gram_rbf(x), gram_rbf(y))) > 1e-4
    with pytest.raises(UnknownNameError, match="RBF bandwidth"):
        cka(x, y, "rbf", bandwidth="median")


@pytest.mark.parametrize("kernel,debiased", [("linear", False), ("linear", True), ("rbf", False)])
def test_invariances(rng, kernel, debiased):
    x = rng.normal(size=(60, 7))
    y = np.tanh(x @ rng.normal(size=(7, 9))) + 0.3 * rng.normal(size=(60, 9))
    value = cka(x, y, kernel, debiased)
    q, _ = np.linalg.qr(rng.normal(size=(9, 9)))
    assert cka(x, 4.2 * y @ q, kernel, debiased) == pytest.approx(value, abs=1e-10)
    perm = rng.permutation(60)
    assert cka(x[perm], y[perm], kernel, debiased) == pytest.approx(value, abs=1e-10)
    assert cka(y, x, kernel, debiased) == pytest.approx(value, abs=1e-12)
    assert cka(x, x, kernel, debiased) == pytest.approx(1.0, abs=1e-12)
    if kernel == "linear":
        # but not invariant to anisotropic scaling: the check can fail
        assert abs(cka(x, y * np.arange(1, 10), kernel, debiased) - value) > 1e-3


def test_small_sample_bias_and_debiasing(rng):
    biased, unbiased = [], []
    for _ in range(30):
        x, y = rng.normal(size=(32, 10)), rng.normal(size=(32, 10))
        biased.append(cka(x, y))
        unbiased.append(cka(x, y, debiased=True))
    assert 0.15 < np.mean(biased) < 0.3  # REFERENCE: about 0.2 at n = 32
    assert abs(np.mean(unbiased)) < 0.03
    assert min(unbiased) < 0  # negative values are kept, not clipped


def test_accumulator_equals_batch_and_feature_space_chunks(rng, monkeypatch):
    import importlib

    mod = importlib.import_module("repalign.similarity.cka")

    x = rng.normal(size=(503, 12)) * 10 + 100.0
    y = rng.normal(size=(503, 4)) + x[:, :4]
    acc = CKAAccumulator()
    for s in range(0, 503, 50):
        acc.update(x[s:s + 50], y[s:s + 50])
    assert acc.n == 503
    for debiased in (False, True):
        expected = _cka_ref(*(a @ a.T for a in (x - x.mean(0), y - y.mean(0))),
                            _hsic_unbiased if debiased else _hsic_biased)
        assert acc.value(debiased) == pytest.approx(expected, abs=1e-9)
        monkeypatch.setattr(mod, "_CHUNK_BYTES", 8 * 16 * 64)  # 64-row chunks
        assert cka(x, y, debiased=debiased) == pytest.approx(expected, abs=1e-9)


def test_errors(rng):
    x = rng.normal(size=(10, 3))
    with pytest.raises(ShapeError, match=r"kernel of y has no variance"):
        cka(x, np.ones((10, 2)))
    with pytest.raises(ShapeError, match=r"at least 4 stimuli"):
        cka(x[:3], x[:3], debiased=True)
    with pytest.raises(ShapeError, match=r"same stimuli"):
        cka(x, x[:9])
    with pytest.raises(UnknownNameError, match=r"Unknown CKA kernel 'gauss'"):
        cka(x, x, "gauss")
    with pytest.raises(ConfigError, match=r"Linear CKA needs features or Gram matrices"):
        cka(rdm(x), rdm(x), kind="dissimilarity")
    with pytest.raises(ShapeError, match=r"RBF bandwidth is 0"):
        z = np.vstack([np.repeat(x[:1], 9, axis=0), x[1:4]])
        cka(z, z, "rbf")
    for scale in (0, -1.0, float("nan"), "1"):
        with pytest.raises(ConfigError, match=r"sigma_scale must be a positive number"):
            cka(x, x + 1, "rbf", sigma_scale=scale)
    with pytest.raises(ConfigError, match=r"received -2.0"):
        cka(rdm(x), rdm(x), "rbf", kind="dissimilarity", sigma_scale=-2.0)
    acc = CKAAccumulator().update(x, x)
    with pytest.raises(ShapeError, match=r"earlier batches had 3 and 3"):
        acc.update(rng.normal(size=(4, 5)), x[:4])
    with pytest.raises(ShapeError, match=r"at least 4 stimuli"):
        CKAAccumulator().update(x[:3], x[:3]).value(debiased=True)
