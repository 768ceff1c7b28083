"""2AFC: known answers, per-target averaging, composite distances, human judgements, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from repalign.data.two_afc import TwoAFCSet, two_afc_agreement
from repalign.errors import ConfigError, UnknownNameError
from repalign.evaluation import metamer_judgements, two_afc
from repalign.evaluation.two_afc import decisions
from repalign.perceptual import get_distance


def _base(make, n=6, size=32):
    g = torch.Generator().manual_seed(0)
    targets = torch.rand(n, 1, size, size, generator=g)
    seeds = torch.rand(n, 1, size, size, generator=g)
    return targets, seeds


@pytest.mark.parametrize("spec", ["pixel_l2", "ssim", "ms_ssim", "lpips:alex"])
def test_metamer_equal_to_target_scores_one_and_to_seed_zero(make, spec):
    if spec.startswith("lpips"):
        pytest.importorskip("lpips", reason="the lpips extra is not installed")
    targets, seeds = _base(make)
    ids = [f"t{i}" for i in range(6)]
    opts = {"pnet_rand": True} if spec.startswith("lpips") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        good = two_afc(make(targets, seeds, targets, ids), spec, device="cpu", **opts)
        bad = two_afc(make(seeds, seeds, targets, ids), spec, device="cpu", **opts)
    g = good[good.metric == "two_afc"].iloc[0]
    b = bad[bad.metric == "two_afc"].iloc[0]
    assert (g.value, g.ci_low, g.ci_high, g.sd) == (1.0, 1.0, 1.0, 0.0)
    assert (b.value, b.ci_low, b.ci_high) == (0.0, 0.0, 0.0)
    assert g.n == 6 and g.n_metamers == 6 and g.chance == 0.5
    assert float(good[good.metric == "d_target"].value.iloc[0]) == pytest.approx(0.0, abs=1e-5)


def test_ties():
    d = np.array([0.1, 0.2, 0.3])
    s = np.array([0.2, 0.2, 0.1])
    assert decisions(d, s, "strict").tolist() == [1.0, 0.0, 0.0]
    assert decisions(d, s, "half").tolist() == [1.0, 0.5, 0.0]
    assert decisions(d, s, "inclusive").tolist() == [1.0, 1.0, 0.0]
    with pytest.raises(ConfigError, match="ties must be one of"):
        decisions(d, s, "loose")


def test_against_a_brute_force_loop_with_recipes_and_repeats(make, rng):
    n_t = 8
    g = torch.Generator().manual_seed(1)
    targets = torch.rand(n_t, 1, 16, 16, generator=g)
    seeds = torch.rand(n_t, 1, 16, 16, generator=g)
    rows_t, rows_s, rows_m, ids, regs, reps = [], [], [], [], [], []
    for reg in ("none", "adversarial"):
        for rep in range(2):
            for t in range(n_t):
                w = float(rng.random())  # how far along from the seed to the target
                rows_t.append(targets[t])
                rows_s.append(seeds[t])
                rows_m.append(w * targets[t] + (1 - w) * seeds[t])
                ids.append(f"t{t}")
                regs.append(reg)
                reps.append(rep)
    res = make(torch.stack(rows_m), torch.stack(rows_s), torch.stack(rows_t), ids,
               regularizers=regs, repeats=reps)
    df = two_afc(res, "pixel_l2", device="cpu", n_boot=500)
    scores = df[df.metric == "two_afc"].set_index("regularizer")
    im, tg, sd = (np.stack([r.numpy().ravel() for r in rows]) for rows in (rows_m, rows_t, rows_s))
    for reg in ("none", "adversarial"):
        per_target = {}
        for i in range(len(ids)):
            if regs[i] != reg:
                continue
            choice = float(np.linalg.norm(im[i] - tg[i]) < np.linalg.norm(im[i] - sd[i]))
            per_target.setdefault(ids[i], []).append(choice)
        vals = np.array([np.mean(v) for v in per_target.values()])
        row = scores.loc[reg]
        assert row.value == pytest.approx(vals.mean())
        assert row.sd == pytest.approx(vals.std(ddof=1))
        assert row.n == n_t and row.n_metamers == 2 * n_t
        assert row.ci_low <= row.value <= row.ci_high
    assert list(df.columns[:5]) == ["generator", "layer", "regularizer", "init", "optimizer"]


def test_composite_distance_averages_the_decisions(make):
    targets, seeds = _base(make, n=4)
    metamers = 0.8 * targets + 0.2 * seeds  # pixel-wise closer to the target

    def inverted(x, y):  # a judge that prefers the seed: large when the images are close
        return 1.0 / (1e-3 + (x - y).flatten(1).norm(dim=1))

    res = make(metamers, seeds, targets, [f"t{i}" for i in range(4)])
    df = two_afc(res, ["pixel_l2", inverted], device="cpu")
    scores = df[df.metric == "two_afc"].set_index("distance").value
    assert scores["pixel_l2"] == 1.0
    assert scores["inverted"] == 0.0
    assert scores["mean(pixel_l2, inverted)"] == 0.5


def test_human_judgements_of_these_metamers(make, rng):
    targets, seeds = _base(make, n=6)
    metamers = 0.7 * targets + 0.3 * seeds
    res = make(metamers, seeds, targets, [f"t{i}" for i in range(6)])
    h = rng.random(6)
    df = two_afc(res, "pixel_l2", human=metamer_judgements(res, h), device="cpu")
    human = df[(df.distance == "human") & (df.metric == "two_afc")].iloc[0]
    assert human.value == pytest.approx(np.mean(1 - h))
    agree = df[df.metric == "human_agreement"].iloc[0]
    d_t = get_distance("pixel_l2")(metamers, targets).numpy()
    d_s = get_distance("pixel_l2")(metamers, seeds).numpy()
    assert agree.value == pytest.approx(two_afc_agreement(d_t, d_s, h).mean())
    assert agree.value == pytest.approx(np.mean(1 - h))  # pixel_l2 always picks the target here


def test_other_human_sets_score_the_distance(make, rng):
    targets, seeds = _base(make, n=4)
    res = make(targets, seeds, targets, [f"t{i}" for i in range(4)])
    g = torch.Generator().manual_seed(3)
    ref = torch.rand(10, 3, 16, 16, generator=g)
    p0 = (ref + 0.05 * torch.randn(ref.shape, generator=g)).clamp(0, 1)
    p1 = torch.rand(10, 3, 16, 16, generator=g)
    h = rng.random(10) * 0.3  # raters mostly chose p0
    df = two_afc(res, "pixel_l2", human=TwoAFCSet(ref, p0, p1, h), device="cpu")
    row = df[df.metric == "human_agreement"].iloc[0]
    assert pd.isna(row.generator) and row.n == 10
    assert row.value == pytest.approx(np.mean(1 - h))


def test_bad_inputs(make):
    targets, seeds = _base(make, n=3)
    res = make(targets, seeds, targets, ["a", "b", "c"])
    with pytest.raises(ConfigError, match="must be a MetamerResult"):
        two_afc(targets, "ssim")
    with pytest.raises(ConfigError, match="ties must be one of"):
        two_afc(res, "ssim", ties="sometimes")
    with pytest.raises(ConfigError, match="human must be a TwoAFCSet"):
        two_afc(res, "ssim", human=np.zeros(3))
    with pytest.raises(UnknownNameError, match="Did you mean 'ssim'"):
        two_afc(res, "ssmi")


def test_repeated_components_are_refused(make):
    targets, seeds = _base(make, n=3)
    res = make(targets, seeds, targets, ["a", "b", "c"])
    with pytest.raises(ConfigError, match="must be distinct"):
        two_afc(res, ["ssim", "ssim"])


def test_percent_scale_is_nandas_formula(make):
    """REFERENCE.md: the score is 100 * mean_i 1[d(x_r, x_t) < d(x_r, x0)]; scale='percent'
    gives it, the default the same share as a fraction."""
    targets, seeds = _base(make, n=8)
    w = torch.linspace(0.1, 0.9, 8).view(-1, 1, 1, 1)
    metamers = w * targets + (1 - w) * seeds
    res = make(metamers, seeds, targets, [f"t{i}" for i in range(8)])
    m, t, s = (a.flatten(1).double().numpy() for a in (metamers, targets, seeds))
    ref = 100 * np.mean(np.linalg.norm(m - t, axis=1) < np.linalg.norm(m - s, axis=1))
    assert 0 < ref < 100
    pct = two_afc(res, "pixel_l2", scale="percent", device="cpu", n_boot=0)
    frac = two_afc(res, "pixel_l2", device="cpu", n_boot=0)
    p = pct[pct.metric == "two_afc"].iloc[0]
    assert p["value"] == pytest.approx(ref) and p["chance"] == 50.0
    assert frac[frac.metric == "two_afc"].iloc[0]["value"] == pytest.approx(ref / 100)
    with pytest.raises(ConfigError, match="scale must be one of"):
        two_afc(res, "pixel_l2", scale="percentage", device="cpu")
