"""Bootstrap over stimuli, Mantel permutation test, noise ceilings (against rsatoolbox)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from repalign.errors import ConfigError, ShapeError, UnknownNameError
from repalign.similarity import bootstrap, compare, mantel, noise_ceiling, rdm
from repalign.similarity.rsa import pair_vector, spearman


@pytest.fixture
def related(rng):
    x = rng.normal(size=(30, 4))
    return x, x + 0.7 * rng.normal(size=(30, 4))


def test_bootstrap_drops_self_pairs_of_copies(related):
    x, y = related
    res = bootstrap(x, y, "rsa_spearman", n_boot=20, seed=3, quiet=True)
    rng = np.random.default_rng(3)
    dx, dy = rdm(x), rdm(y)
    for value in res.samples:
        idx = np.sort(rng.integers(0, 30, 30))
        sub_x, sub_y = dx[np.ix_(idx, idx)], dy[np.ix_(idx, idx)]
        keep = [(i, j) for i in range(30) for j in range(i + 1, 30) if idx[i] != idx[j]]
        vx = np.array([sub_x[i, j] for i, j in keep])
        vy = np.array([sub_y[i, j] for i, j in keep])
        assert value == pytest.approx(spearman(vx, vy), abs=1e-12)
        assert np.all(vx > 0)  # no zero self-distance left in
    assert res.value == compare(x, y, "rsa_spearman")


@pytest.mark.parametrize("metric", ["rsa_pearson", "triplet_agreement", "cka_linear_debiased",
                                    "procrustes", "mutual_knn"])
def test_bootstrap_interval(related, metric):
    x, y = related
    res = bootstrap(x, y, metric, n_boot=200, quiet=True)
    assert res.low < res.high and res.n_failed == 0 and res.samples.shape == (200,)
    assert res.low <= np.median(res.samples) <= res.high and res.se > 0
    again = bootstrap(x, y, metric, n_boot=200, quiet=True)
    np.testing.assert_array_equal(res.samples, again.samples)  # seeded
    on_matrices = bootstrap(rdm(x), rdm(y), "rsa_pearson", n_boot=50, kind="dissimilarity",
                            quiet=True)
    assert on_matrices.value == compare(x, y, "rsa_pearson")


def test_bootstrap_failures_warn_then_raise(rng):
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    # k = n - 1 neighbours exist only in draws without copies (1.5 % of them)
    with pytest.raises(ShapeError, match=r"bootstrap of 'mutual_knn' failed on \d+ of 50 draws"):
        bootstrap(x, y, "mutual_knn", n_boot=50, quiet=True, k=5)
    x2 = rng.normal(size=(12, 2))
    x2[1:] = x2[0]
    x2[1, 0] += 1
    x2[2, 1] += 1
    with pytest.warns(UserWarning, match=r"bootstrap draws of 'rsa_pearson' were undefined"):
        res = bootstrap(x2, y.repeat(2, axis=0), "rsa_pearson", n_boot=100, quiet=True)
    assert res.n_failed > 0 and np.isnan(res.samples).sum() == res.n_failed
    with pytest.raises(ConfigError, match=r"n_boot must be an integer of at least 2, received 1"):
        bootstrap(x, y, n_boot=1)
    with pytest.raises(ConfigError, match=r"n_boot must be an integer of at least 2, received 10.5"):
        bootstrap(x, y, n_boot=10.5)
    with pytest.raises(ConfigError, match=r"level must be in \(0, 1\)"):
        bootstrap(x, y, level=95)


@pytest.mark.parametrize("metric", ["rsa_pearson", "rsa_spearman", "rsa_cosine"])
def test_mantel_fast_path_equals_loop(related, metric):
    x, y = related
    fast = mantel(x, y, metric, n_perm=200, seed=5, quiet=True)
    rng = np.random.default_rng(5)
    perms = np.stack([rng.permutation(30) for _ in range(200)])
    loop = [compare(x, y[p], metric) for p in perms]
    np.testing.assert_allclose(fast.null, loop, atol=1e-12)
    expected = (1 + np.sum(np.array(loop) >= fast.value - 1e-12)) / 201
    assert fast.p_value == pytest.approx(expected)


def test_mantel_p_values(rng, related):
    x, y = related
    assert mantel(x, y, n_perm=499, quiet=True).p_value == pytest.approx(1 / 500)
    null_p = [mantel(rng.normal(size=(20, 3)), rng.normal(size=(20, 3)), "rsa_pearson",
                     n_perm=99, seed=s, quiet=True).p_value for s in range(40)]
    # under the null the p-values are roughly uniform
    assert 0.3 < np.mean(null_p) < 0.7
    dist = mantel(x, y, "procrustes", n_perm=99, quiet=True)
    assert dist.alternative == "less" and dist.p_value == pytest.approx(0.01)
    two = mantel(x, y, "triplet_agreement", n_perm=49, alternative="two-sided", quiet=True)
    assert two.p_value == pytest.approx(2 / 50)
    with pytest.raises(ConfigError, match=r"alternative must be one of"):
        mantel(x, y, alternative="bigger")
    with pytest.raises(ConfigError, match=r"n_perm must be an integer of at least 1, received 0"):
        mantel(x, y, n_perm=0)
    with pytest.raises(ConfigError, match=r"n_perm must be an integer of at least 1, received 9.5"):
        mantel(x, y, n_perm=9.5)


@pytest.mark.parametrize("metric,theirs", [("rsa_pearson", "corr"), ("rsa_cosine", "cosine"),
                                           ("rsa_spearman", "spearman"), ("rsa_kendall_tau_a", "tau-a")])
def test_noise_ceiling_matches_rsatoolbox(rng, metric, theirs):
    pytest.importorskip("rsatoolbox", reason="rsatoolbox (the dev extra) is the reference")
    from rsatoolbox.inference import boot_noise_ceiling
    from rsatoolbox.rdm import RDMs

    truth = rng.random(45)
    subjects = np.abs(truth + 0.4 * rng.normal(size=(6, 45)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lo, hi = boot_noise_ceiling(RDMs(subjects), method=theirs)
    nc = noise_ceiling(subjects, metric)
    assert nc.lower == pytest.approx(lo, abs=1e-10) and nc.upper == pytest.approx(hi, abs=1e-10)
    assert nc.lower < nc.upper
    from repalign.similarity import to_matrix

    mats = np.stack([to_matrix(v) for v in subjects])
    assert noise_ceiling(mats, metric).lower == pytest.approx(nc.lower, abs=1e-12)
    assert noise_ceiling(1 - mats, metric, kind="similarity").upper == pytest.approx(nc.upper, abs=1e-12)
    assert pair_vector(mats[0]).shape == (45,)


def test_noise_ceiling_errors(rng):
    with pytest.raises(ShapeError, match=r"at least 2 subjects"):
        noise_ceiling(rng.random((1, 10)))
    with pytest.raises(UnknownNameError, match=r"Unknown noise-ceiling metric 'cka_linear'"):
        noise_ceiling(rng.random((3, 10)), "cka_linear")
    with pytest.raises(ShapeError, match=r"NaN or Inf"):
        noise_ceiling(np.where(rng.random((3, 10)) > 0.9, np.nan, 1.0))
    with pytest.raises(ShapeError, match=r"P = n\(n-1\)/2 upper-triangle values.*\(3, 7\)"):
        noise_ceiling(rng.random((3, 7)))
