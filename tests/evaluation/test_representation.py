"""Representation test: exact metamers pass with 1.0, swapped ones fail, scipy and brute-force
references for the match scores and the Mantel p-value."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, spearmanr

from repalign.errors import ConfigError, ShapeError, UnknownNameError
from repalign.evaluation import match_scores, representation_test


def _targets(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 16, 16, generator=g), torch.rand(n, 3, 16, 16, generator=g)


def test_exact_metamers_pass_with_one(make, tiny_cnn):
    targets, seeds = _targets()
    res = make(targets.clone(), seeds, targets, [f"t{i}" for i in range(8)])
    df = representation_test(res, [tiny_cnn], ["3", "6"], n_perm=199, device="cpu")
    val = df.set_index(["observer_layer", "metric"])
    for layer in ("3", "6"):
        assert val.loc[(layer, "match_rate"), "value"] == 1.0
        assert val.loc[(layer, "rho_target"), "value"] == pytest.approx(1.0)
        assert val.loc[(layer, "rdm_r"), "value"] == pytest.approx(1.0)
        assert val.loc[(layer, "rdm_r"), "p_value"] < 0.05
        assert val.loc[(layer, "match_rate"), "chance"] == pytest.approx(1 / 8)


def test_swapped_metamers_fail(make, tiny_cnn):
    targets, seeds = _targets()
    swapped = targets[torch.as_tensor([1, 2, 3, 4, 5, 6, 7, 0])]  # another target's image
    res = make(swapped, seeds, targets, [f"t{i}" for i in range(8)])
    df = representation_test(res, [tiny_cnn], "3", n_perm=99, device="cpu")
    assert df[df.metric == "match_rate"].value.iloc[0] == 0.0


def test_match_scores_against_scipy(rng):
    fm, ft = rng.normal(size=(12, 20)), rng.normal(size=(5, 20))
    own = rng.integers(0, 5, size=12)
    fm[:6] = ft[own[:6]] + 0.3 * rng.normal(size=(6, 20))  # half of them resemble their target
    for statistic, fn in (("spearman", spearmanr), ("pearson", pearsonr)):
        passed, rho = match_scores(fm, ft, own, statistic=statistic)
        for i in range(12):
            corr = np.array([fn(fm[i], ft[j])[0] for j in range(5)])
            assert rho[i] == pytest.approx(corr[own[i]])
            assert passed[i] == float(corr[own[i]] > np.delete(corr, own[i]).max())
        q_passed, _ = match_scores(fm, ft, own, statistic=statistic, quantile=0.5)
        assert np.all(q_passed >= passed)  # a lower bar passes at least as many
    assert passed[:6].sum() == 6
    const = fm.copy()
    const[0] = 1.0
    assert match_scores(const, ft, own)[0][0] == 0.0  # undefined correlation never passes
    with pytest.raises(ShapeError, match="at least 2 targets"):
        match_scores(fm, ft[:1], np.zeros(12, int))
    with pytest.raises(ConfigError, match="quantile"):
        match_scores(fm, ft, own, quantile=0.0)


def test_mantel_p_value_against_exact_permutations(make, tiny_cnn):
    """5 targets: the 120 relabellings of the target RDM give the exact p-value."""
    targets, seeds = _targets(n=5, seed=3)
    g = torch.Generator().manual_seed(4)
    metamers = (0.6 * targets + 0.4 * torch.rand(targets.shape, generator=g)).clamp(0, 1)
    res = make(metamers, seeds, targets, [f"t{i}" for i in range(5)])
    df = representation_test(res, [tiny_cnn], "5", n_perm=20000, device="cpu")
    row = df[df.metric == "rdm_r"].iloc[0]
    with torch.no_grad():
        fm = tiny_cnn.features(metamers, ["5"])["5"].flatten(1).double().numpy()
        ft = tiny_cnn.features(targets, ["5"])["5"].flatten(1).double().numpy()
    dm = pdist(fm, "correlation")
    iu = np.triu_indices(5, 1)
    dt_square = np.zeros((5, 5))
    dt_square[iu] = pdist(ft, "correlation")
    dt_square += dt_square.T
    observed = pearsonr(dm, dt_square[iu])[0]
    null = [pearsonr(dm, dt_square[np.ix_(p, p)][iu])[0] for p in itertools.permutations(range(5))]
    exact = np.mean(np.array(null) >= observed - 1e-12)
    assert row.value == pytest.approx(observed)
    assert row.p_value == pytest.approx(exact, abs=0.015)  # Monte Carlo SE < 0.0035


def test_repeats_count_once_and_bad_inputs(make, tiny_cnn):
    targets, seeds = _targets(n=4)
    both = torch.cat([targets, seeds])  # repeat 0 exact, repeat 1 unrelated
    res = make(both, torch.cat([seeds, seeds]), torch.cat([targets, targets]),
               [f"t{i}" for i in range(4)] * 2, repeats=[0] * 4 + [1] * 4)
    df = representation_test(res, [tiny_cnn], "3", n_perm=99, device="cpu")
    rows = df.set_index("metric")
    assert rows.loc["rdm_r", "value"] == pytest.approx(1.0)  # the lowest repeat only
    assert rows.loc["match_rate", "n"] == 4
    with pytest.raises(UnknownNameError, match="layer of test:tiny_cnn_s0"):
        representation_test(res, [tiny_cnn], "nope")
    with pytest.raises(ConfigError, match="statistic"):
        representation_test(res, [tiny_cnn], "3", statistic="kendall")
    with pytest.raises(ConfigError, match="n_perm must be an integer of at least 1, received 0"):
        representation_test(res, [tiny_cnn], "3", n_perm=0)
    with pytest.raises(ConfigError, match=r"n_perm must be an integer .* received 99\.5"):
        representation_test(res, [tiny_cnn], "3", n_perm=99.5)
    single = make(targets[:1], seeds[:1], targets[:1], ["t0"])
    with pytest.raises(ShapeError, match="at least 2 targets"):
        representation_test(single, [tiny_cnn], "3")
    with pytest.warns(UserWarning, match="at least 3 distinct targets"):
        representation_test(make(targets[:2], seeds[:2], targets[:2], ["a", "b"]), [tiny_cnn], "3",
                            n_perm=9)
