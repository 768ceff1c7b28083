"""Pair-concordance counting against a brute-force loop over all pairs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau

from repalign.similarity.concordance import concordance_counts, permutation_inversions


def _brute(a, b):
    rows = []
    for ra, rb in zip(a, b, strict=True):
        sa = (ra[:, None] > ra[None, :]).astype(int) - (ra[:, None] < ra[None, :])
        sb = (rb[:, None] > rb[None, :]).astype(int) - (rb[:, None] < rb[None, :])
        iu = np.triu_indices(len(ra), 1)
        pa, pb = sa[iu], sb[iu]
        rows.append([np.sum(pa * pb > 0), np.sum(pa * pb < 0), np.sum(pa == 0), np.sum(pb == 0),
                     np.sum((pa == 0) & (pb == 0)), len(pa)])
    return np.array(rows).T


@pytest.mark.parametrize("m", [1, 2, 3, 15, 16, 17, 31, 32, 33, 100])
def test_counts_match_brute_force(rng, m):
    for ties in (True, False):
        if ties:
            a = rng.integers(0, 4, (5, m)).astype(float)
            b = rng.integers(0, 6, (5, m)).astype(float)
        else:
            a, b = rng.normal(size=(5, m)), rng.normal(size=(5, m))
        got = np.array(concordance_counts(a, b))
        np.testing.assert_array_equal(got, _brute(a, b))


def test_infinite_values_and_identical_rows(rng):
    a = rng.normal(size=(3, 20))
    a[:, :3] = -np.inf
    np.testing.assert_array_equal(np.array(concordance_counts(a, a)), _brute(a, a))


def test_wide_rows_match_scipy_tau_b(rng):
    # more than 2**15 entries: the int64/int32 code path
    a = rng.integers(0, 300, 40_000).astype(float)
    b = a + rng.integers(0, 200, 40_000)
    c = concordance_counts(a[None], b[None])
    tau_b = (c.concordant - c.discordant) / np.sqrt((c.pairs - c.tied_a) * (c.pairs - c.tied_b))
    assert tau_b[0] == pytest.approx(kendalltau(a, b).statistic, abs=1e-12)


def test_permutation_inversions(rng):
    x = np.stack([rng.permutation(64) for _ in range(4)]).astype(np.int16)
    brute = [sum(int(r[p] > r[q]) for p in range(64) for q in range(p + 1, 64)) for r in x]
    assert permutation_inversions(x).tolist() == brute
    with pytest.raises(ValueError, match=r"power-of-two"):
        permutation_inversions(x[:, :63])
