"""Exact triplet agreement against a brute-force loop over all triplets; sampled estimator."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from repalign.errors import ShapeError, UnknownNameError
from repalign.similarity import (
    rdm,
    rsm,
    triplet_agreement,
    triplet_agreement_per_anchor,
    triplet_agreement_sampled,
)
from repalign.similarity.triplet_agreement import agreement_counts, triplet_agreement_from_counts


def _brute(dx, dy, ties, groups=None):
    """Loop over every anchor i and unordered pair {j, k} of distinct stimuli."""
    n = len(dx)
    g = np.arange(n) if groups is None else np.asarray(groups)
    per_anchor, num_all, den_all = [], 0.0, 0.0
    for i in range(n):
        num = den = 0.0
        for j, k in combinations(range(n), 2):
            if len({g[i], g[j], g[k]}) < 3:
                continue
            sx = np.sign(dx[i, j] - dx[i, k])
            sy = np.sign(dy[i, j] - dy[i, k])
            tied = sx == 0 or sy == 0
            if ties == "exclude" and tied:
                continue
            den += 1
            num += 0.5 if (tied and ties == "half") else float(sx == sy and not tied)
        per_anchor.append(num / den if den else np.nan)
        num_all, den_all = num_all + num, den_all + den
    return num_all / den_all, np.array(per_anchor)


@pytest.mark.parametrize("ties", ["half", "strict", "exclude"])
@pytest.mark.parametrize("n,with_ties", [(3, False), (8, True), (25, True), (25, False),
                                         (60, True), (60, False)])
def test_exact_matches_brute_force(rng, ties, n, with_ties):
    if with_ties:  # integer coordinates: many equal distances
        x, y = rng.integers(0, 3, (n, 2)).astype(float), rng.integers(0, 3, (n, 2)).astype(float)
    else:
        x, y = rng.normal(size=(n, 3)), rng.normal(size=(n, 4))
    dx, dy = rdm(x, "sqeuclidean"), rdm(y, "sqeuclidean")
    total, per = _brute(dx, dy, ties)
    assert triplet_agreement(dx, dy, ties, kind="dissimilarity") == pytest.approx(total, abs=1e-12)
    got = triplet_agreement_per_anchor(dx, dy, ties, kind="dissimilarity")
    np.testing.assert_allclose(got, per, atol=1e-12)
    # the same through features with the squared-Euclidean metric
    assert triplet_agreement(x, y, ties, metric="sqeuclidean") == pytest.approx(total, abs=1e-12)


@pytest.mark.parametrize("ties", ["half", "strict", "exclude"])
def test_bootstrap_copies_drop_triplets_with_repeated_stimuli(rng, ties):
    x, y = rng.integers(0, 3, (14, 2)).astype(float), rng.normal(size=(14, 2))
    idx = np.sort(rng.integers(0, 14, 14))
    dx, dy = rdm(x)[np.ix_(idx, idx)], rdm(y)[np.ix_(idx, idx)]
    expected, _ = _brute(dx, dy, ties, groups=idx)
    got = triplet_agreement_from_counts(agreement_counts(dx, dy, idx), ties)
    assert got == pytest.approx(expected, abs=1e-12)


def test_half_rule_is_one_plus_tau_a_over_two(rng):
    x, y = rng.integers(0, 4, (12, 2)).astype(float), rng.normal(size=(12, 2))
    dx, dy = rdm(x), rdm(y)
    per = triplet_agreement_per_anchor(dx, dy, "half", kind="dissimilarity")
    for i in range(12):
        others = np.delete(np.arange(12), i)
        a, b = dx[i, others], dy[i, others]
        pairs = list(combinations(range(11), 2))
        tau_a = sum(np.sign(a[p] - a[q]) * np.sign(b[p] - b[q]) for p, q in pairs) / len(pairs)
        assert per[i] == pytest.approx((1 + tau_a) / 2, abs=1e-12)


def test_invariances_and_threads(rng):
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 5))
    value = triplet_agreement(x, y)
    perm = rng.permutation(40)
    assert triplet_agreement(x[perm], y[perm]) == pytest.approx(value, abs=1e-12)
    assert triplet_agreement(y, x) == value
    assert triplet_agreement(x, x) == 1.0
    assert triplet_agreement(x, 3 * x + 2) == 1.0
    assert triplet_agreement(x, y, n_jobs=1) == triplet_agreement(x, y, n_jobs=3)
    # a similarity matrix is ordered the other way round from a dissimilarity matrix
    s = rsm(x, "cosine")
    assert triplet_agreement(s, x, kind=("similarity", "features"), metric="cosine") == 1.0
    assert triplet_agreement(s, 1 - s, kind="similarity") == 0.0


def test_sampled_estimator_covers_exact_value(rng):
    x = rng.normal(size=(120, 3))
    y = x + rng.normal(size=(120, 3))
    exact = triplet_agreement(x, y, "half")
    for metric in ("euclidean", "cosine", "dot", "correlation", "sqeuclidean"):
        est = triplet_agreement_sampled(x, y, 200_000, metric=metric, seed=1)
        ref = triplet_agreement(x, y, metric=metric)
        assert est.low <= ref <= est.high, metric
        assert est.high - est.low < 0.01
    est = triplet_agreement_sampled(rdm(x), rdm(y), 50_000, kind="dissimilarity", seed=2)
    assert est.low <= exact <= est.high
    # a pair of kinds, as in triplet_agreement: the same sampled triplets give the same value
    mixed = triplet_agreement_sampled(x, 1 - rsm(y, "cosine"), 50_000, metric="cosine",
                                      kind=("features", "dissimilarity"), seed=2)
    assert mixed == triplet_agreement_sampled(x, y, 50_000, metric="cosine", seed=2)
    assert triplet_agreement_sampled(x, x, 5_000).value == 1.0


def test_errors(rng):
    x = rng.normal(size=(10, 2))
    with pytest.raises(UnknownNameError, match=r"Unknown tie rule 'halves'.*'half'"):
        triplet_agreement(x, x, "halves")
    with pytest.raises(ShapeError, match=r"same stimuli in the same order"):
        triplet_agreement(x, x[:9])
    with pytest.raises(ShapeError, match=r"at least 3 stimuli"):
        triplet_agreement(x[:2], x[:2])
    with pytest.raises(ShapeError, match=r"No triplet can be scored"):
        triplet_agreement(np.ones((5, 2)), x[:5], "exclude")
    with pytest.raises(ShapeError, match=r"must be symmetric"):
        triplet_agreement(rng.normal(size=(5, 5)), rdm(x[:5]), kind="dissimilarity")
    with pytest.raises(ShapeError, match=r"level must be in"):
        triplet_agreement_sampled(x, x, level=1.5)
    with pytest.raises(UnknownNameError, match=r"Unknown input kind"):
        triplet_agreement_sampled(x, x, kind="matrix")
    with pytest.raises(UnknownNameError, match=r"Unknown input kind 'sim'"):
        triplet_agreement_sampled(x, x, kind=("features", "sim"))
