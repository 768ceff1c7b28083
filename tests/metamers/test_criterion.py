import itertools

import numpy as np
import pytest
import scipy.stats as ss
import torch

from repalign.errors import ConfigError, ShapeError
from repalign.metamers import criterion as C
from repalign.metamers.evaluate import ActiveSet, Criterion, evaluate
from repalign.metamers.objectives import normalized_l2
from repalign.metamers.plan import build_plan


def _tied(rng, shape):
    # ReLU-like activations with many exact ties
    return torch.from_numpy(np.maximum(rng.normal(size=shape), 0).round(1))


def test_ranks_match_scipy_with_ties(rng):
    x = _tied(rng, (6, 200))
    np.testing.assert_array_equal(C.rank_rows(x).numpy(), ss.rankdata(x.numpy(), axis=1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_packed_ranks_of_float32_match_scipy(rng, dtype):
    # the CPU float path: negatives, exact ties, -0.0 tying with 0.0, extremes
    x = torch.from_numpy(rng.normal(size=(4, 300)).round(1)).to(dtype)
    x[0, :40] = 0.0
    x[0, 40:60] = -0.0
    x[1, :5] = -torch.finfo(dtype).max
    x[2, :5] = torch.finfo(dtype).max
    x[3] = 1.5  # one constant row: every rank is the average
    got = C.rank_rows(x)
    assert got.dtype == torch.float64
    ref = ss.rankdata(x.float().numpy(), axis=1)
    np.testing.assert_array_equal(got.numpy(), ref)
    np.testing.assert_array_equal(got.numpy(), C.rank_rows(x.double()).numpy())  # torch sort path


@pytest.mark.parametrize("statistic", ["spearman", "pearson"])
def test_rowwise_correlation_matches_scipy(rng, statistic):
    a, b = _tied(rng, (5, 150)), _tied(rng, (5, 150))
    b[0] = 2 * a[0] + 1  # perfectly related row
    ref_fn = ss.spearmanr if statistic == "spearman" else ss.pearsonr
    ref = [ref_fn(u, v)[0] for u, v in zip(a.numpy(), b.numpy(), strict=True)]
    got = C.rowwise_correlation(a, b, statistic).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-12)
    assert got[0] == pytest.approx(1.0)


def test_constant_rows_give_nan_and_bad_statistic():
    a = torch.tensor([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]])
    rho = C.rowwise_correlation(a, torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]))
    assert np.isnan(rho[0].item()) and rho[1].item() == pytest.approx(-1.0)
    with pytest.raises(ConfigError, match="statistic must be one of"):
        C.standardize_rows(a, "kendall")
    with pytest.raises(ShapeError, match="differ"):
        C.rowwise_correlation(a, a[:, :2])


def test_null_all_pairs_matches_brute_force(identity_model, rng):
    imgs = torch.from_numpy(rng.random((7, 1, 4, 4))).float()
    null = C.null_distribution(identity_model, "1", imgs)
    flat = imgs.flatten(1).numpy()
    ref = [ss.spearmanr(flat[i], flat[j])[0] for i, j in itertools.combinations(range(7), 2)]
    np.testing.assert_allclose(np.sort(null), np.sort(ref), atol=1e-6)
    assert C.threshold_from_null(null) == pytest.approx(max(ref), abs=1e-6)
    assert C.threshold_from_null(null, 0.5) == pytest.approx(np.quantile(ref, 0.5), abs=1e-6)
    with pytest.raises(ConfigError, match=r"quantile must be in \(0, 1\]"):
        C.threshold_from_null(null, 0.0)


def test_null_random_pairs_are_distinct_images(identity_model, rng):
    imgs = torch.from_numpy(rng.random((5, 1, 4, 4))).float()
    null = C.null_distribution(identity_model, "1", imgs, n_pairs=500, seed=3)
    assert null.shape == (500,) and np.all(null < 1.0 - 1e-9)  # never a stimulus with itself


def test_null_leaves_out_copies_of_a_stimulus(identity_model, rng):
    """A stimulus and its exact copy are not two natural images: with copies in the set the null
    is the one of its distinct images (else rho = 1 would make the threshold unreachable)."""
    imgs = torch.from_numpy(rng.random((6, 1, 4, 4))).float()
    with_copies = imgs[torch.as_tensor([0, 1, 2, 1, 3, 4, 5, 0])]
    flat = imgs.flatten(1).numpy()
    ref = [ss.spearmanr(flat[i], flat[j])[0] for i, j in itertools.combinations(range(6), 2)]
    with pytest.warns(UserWarning, match="2 of the 8 null stimuli are exact copies"):
        null = C.null_distribution(identity_model, "1", with_copies)
    np.testing.assert_allclose(np.sort(null), np.sort(ref), atol=1e-6)
    assert C.threshold_from_null(null) < 1.0
    with pytest.warns(UserWarning, match="exact copies"):
        random_pairs = C.null_distribution(identity_model, "1", with_copies, n_pairs=300, seed=1)
    assert random_pairs.shape == (300,) and np.all(random_pairs < 1.0 - 1e-9)
    with pytest.raises(ShapeError, match="at least 2 distinct natural stimuli"):
        C.null_distribution(identity_model, "1", imgs[[2, 2, 2]])


def test_null_cache_memory_and_disk(identity_model, rng, tmp_path, monkeypatch):
    imgs = torch.from_numpy(rng.random((6, 1, 4, 4))).float()
    calls = []
    real = C._features
    monkeypatch.setattr(C, "_features", lambda *a: calls.append(1) or real(*a))
    C._MEMORY.clear()
    first = C.null_distribution(identity_model, "1", imgs, cache_dir=tmp_path)
    again = C.null_distribution(identity_model, "1", imgs, cache_dir=tmp_path)
    assert len(calls) == 1 and again is first
    C._MEMORY.clear()
    from_disk = C.null_distribution(identity_model, "1", imgs, cache_dir=tmp_path)
    assert len(calls) == 1 and len(list(tmp_path.glob("null_*.npy"))) == 1
    np.testing.assert_array_equal(from_disk, first)
    C.null_distribution(identity_model, "1", imgs[:5], cache_dir=tmp_path)  # other stimuli
    assert len(calls) == 2
    with pytest.raises(ShapeError, match="at least 2 natural stimuli"):
        C.null_distribution(identity_model, "1", imgs[:1])


def test_criterion_logic_on_constructed_activations(identity_model):
    """Activations are the pixels: construct candidates with known Spearman rho to the target."""
    target = torch.linspace(0.05, 0.95, 16).view(1, 1, 4, 4)
    perm_far = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    near = target.flatten().clone()
    near[[0, 1]] = near[[1, 0]]  # one swap of neighbours: rho just below 1
    cands = torch.stack([target.flatten(), near, target.flatten()[perm_far]]).view(3, 1, 4, 4)
    rhos = [ss.spearmanr(c.flatten(), target.flatten())[0] for c in cands]
    plan = build_plan(identity_model, 3, ["1"])
    act = ActiveSet(plan, np.arange(3), "mean", torch.device("cpu"))
    tfeat = {(0, "1"): target.flatten(1).expand(3, -1)}
    for thr, expected in [(0.5, [r > 0.5 for r in rhos]), (0.999, [True, False, False])]:
        crit = Criterion({(0, "1"): thr})
        dist, ok = evaluate(act, cands, tfeat, normalized_l2, criterion=crit)
        assert ok.tolist() == expected
    assert dist[0].item() == pytest.approx(0.0)


def test_criterion_requires_every_layer_and_label(identity_model):
    """With two layers the sample must pass both; the same-label check uses reference labels."""
    target = torch.linspace(0.05, 0.95, 16).view(1, 1, 4, 4).expand(2, -1, -1, -1)
    plan = build_plan(identity_model, 2, ["0+1"])
    act = ActiveSet(plan, np.arange(2), "mean", torch.device("cpu"))
    tfeat = {(0, "0"): target.flatten(1), (0, "1"): target.flatten(1)}
    both = Criterion({(0, "0"): 0.5, (0, "1"): 0.5})
    one_high = Criterion({(0, "0"): 0.5, (0, "1"): 1.1})  # layer "1" can never pass
    assert evaluate(act, target, tfeat, normalized_l2, criterion=both)[1].tolist() == [True, True]
    assert evaluate(act, target, tfeat, normalized_l2, criterion=one_high)[1].tolist() == [
        False, False,
    ]
    # logits of the identity model are its 16 pixels: argmax is the brightest pixel (index 15)
    labelled = Criterion({(0, "0"): 0.5, (0, "1"): 0.5}, same_label="predicted")
    refs = {0: torch.tensor([15, 3])}
    ok = evaluate(act, target, tfeat, normalized_l2, criterion=labelled, ref_labels=refs)[1]
    assert ok.tolist() == [True, False]
