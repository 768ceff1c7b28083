"""RSA correlations against scipy and rsatoolbox."""

from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np
import pytest
from scipy.stats import kendalltau, pearsonr, spearmanr

from repalign.errors import ShapeError, UnknownNameError
from repalign.similarity import rdm, rsa_correlation, to_vector
from repalign.similarity.rsa import (
    cosine,
    kendall_tau_a,
    kendall_tau_b,
    pair_vector,
    pearson,
    spearman,
)


def _vectors(rng, ties):
    if ties:
        return rng.integers(0, 5, 190).astype(float), rng.integers(0, 3, 190).astype(float)
    return rng.random(190), rng.random(190)


@pytest.mark.parametrize("ties", [False, True])
def test_against_scipy(rng, ties):
    vx, vy = _vectors(rng, ties)
    assert pearson(vx, vy) == pytest.approx(pearsonr(vx, vy).statistic, abs=1e-12)
    assert spearman(vx, vy) == pytest.approx(spearmanr(vx, vy).statistic, abs=1e-12)
    assert kendall_tau_b(vx, vy) == pytest.approx(kendalltau(vx, vy).statistic, abs=1e-12)
    pairs = list(combinations(range(len(vx)), 2))
    tau_a = sum(np.sign(vx[i] - vx[j]) * np.sign(vy[i] - vy[j]) for i, j in pairs) / len(pairs)
    assert kendall_tau_a(vx, vy) == pytest.approx(tau_a, abs=1e-12)
    assert cosine(vx, vy) == pytest.approx(vx @ vy / np.linalg.norm(vx) / np.linalg.norm(vy))


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("method,theirs", [("pearson", "corr"), ("spearman", "spearman"),
                                           ("kendall_tau_a", "tau-a"), ("kendall_tau_b", "tau-b"),
                                           ("cosine", "cosine")])
def test_against_rsatoolbox(rng, ties, method, theirs):
    pytest.importorskip("rsatoolbox", reason="rsatoolbox (the dev extra) is the reference")
    from rsatoolbox.rdm import RDMs, compare

    vx, vy = _vectors(rng, ties)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = float(compare(RDMs(vx[None]), RDMs(vy[None]), method=theirs)[0, 0])
    from repalign.similarity import to_matrix

    assert rsa_correlation(to_matrix(vx), to_matrix(vy), method) == pytest.approx(expected, abs=1e-10)


def test_pair_vector_groups_drop_copies(rng):
    d = rdm(rng.normal(size=(6, 2)))
    idx = np.array([0, 0, 1, 2, 2, 2])
    v = pair_vector(d[np.ix_(idx, idx)], idx)
    # pairs of distinct stimuli only: 2*1 + 2*3 + 1*3 = 11 pairs, none of them a zero self-distance
    assert v.size == 11 and np.all(v > 0)
    np.testing.assert_array_equal(pair_vector(d), to_vector(d))


def test_errors(rng):
    vx, vy = _vectors(rng, False)
    with pytest.raises(ShapeError, match=r"all pairwise dissimilarities of y are equal \(2\)"):
        pearson(vx, np.full_like(vx, 2.0))
    with pytest.raises(ShapeError, match=r"differ in length"):
        spearman(vx, vy[:-1])
    with pytest.raises(ShapeError, match=r"at least 2 stimulus pairs"):
        kendall_tau_a(vx[:1], vy[:1])
    with pytest.raises(ShapeError, match=r"all-zero dissimilarity vector"):
        cosine(np.zeros(3), vy[:3])
    with pytest.raises(UnknownNameError, match=r"Unknown RSA method 'pearsonr'"):
        rsa_correlation(rdm(rng.normal(size=(4, 2))), rdm(rng.normal(size=(4, 2))), "pearsonr")
