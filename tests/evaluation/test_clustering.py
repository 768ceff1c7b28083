"""Clustering test: Hungarian vs brute force, separated groups, chance, hard triples, errors."""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from repalign.data.similarity_matrix import SimilarityMatrix
from repalign.errors import ConfigError, ShapeError
from repalign.evaluation import balanced_assignment, clustering, hard_triples
from repalign.evaluation.clustering import random_triples


def _brute_force(cost: np.ndarray, per_target: int) -> float:
    """Smallest total cost over every assignment giving each target ``per_target`` items."""
    t = cost.shape[1]
    slots = [j for j in range(t) for _ in range(per_target)]
    return min(sum(cost[i, s] for i, s in enumerate(p)) for p in set(itertools.permutations(slots)))


@pytest.mark.parametrize(("targets", "per_target"), [(3, 2), (3, 1), (2, 3), (4, 2)])
def test_balanced_assignment_is_optimal(rng, targets, per_target):
    for _ in range(5):
        cost = rng.random((targets * per_target, targets))
        got = balanced_assignment(cost, per_target)
        assert np.bincount(got, minlength=targets).tolist() == [per_target] * targets
        assert cost[np.arange(len(got)), got].sum() == pytest.approx(_brute_force(cost, per_target))
    with pytest.raises(ShapeError, match="per_target"):
        balanced_assignment(np.zeros((5, 3)), 2)


def _grouped(make, levels, n_targets, metamer_noise, seed=0, per_target=2, lv=None):
    lv = np.linspace(0.05, 0.95, n_targets) if lv is None else np.asarray(lv)
    targets = levels(lv, size=16)
    rows = np.repeat(np.arange(n_targets), per_target)
    tg = targets[torch.as_tensor(rows)]
    seeds = levels(np.full(len(rows), 0.5), size=16, noise=0.2, seed=seed + 1)
    mm = (tg + metamer_noise * torch.randn(tg.shape, generator=torch.Generator().manual_seed(seed)))
    reps = np.tile(np.arange(per_target), n_targets)
    return make(mm.clamp(0, 1), seeds, tg, [f"t{r}" for r in rows], repeats=reps)


def test_perfectly_separated_groups_score_one(make, levels):
    res = _grouped(make, levels, 9, 0.01)
    df = clustering(res, "pixel_l2", device="cpu")
    row = df.iloc[0]
    assert row.metric == "clustering" and row.value == 1.0 and row.n == 3 and row.chance == 1 / 3
    hard = clustering(res, "pixel_l2", hard=True, device="cpu").iloc[0]
    assert hard.metric == "clustering_hard" and hard.value == 1.0


def test_unrelated_metamers_score_chance(make, levels):
    res = _grouped(make, levels, 30, 0.0)
    g = torch.Generator().manual_seed(7)
    res.images = torch.rand(res.images.shape, generator=g)  # metamers unrelated to targets
    row = clustering(res, "pixel_l2", n_groups=400, device="cpu").iloc[0]
    assert row.n == 400
    assert 0.28 < row.value < 0.39  # 1/3, SE about 0.012 at 400 groups
    assert row.ci_low < 1 / 3 < row.ci_high


@pytest.mark.parametrize("hard", [False, True])
def test_an_uninformative_distance_scores_chance(make, levels, hard):
    """A distance that cannot tell the targets apart (every cost equal) must not favour the right
    answer: ties in the assignment fall on a random target, so accuracy is at chance."""
    res = _grouped(make, levels, 60, 0.01)

    def blind(x, y):
        return torch.zeros(x.shape[0])

    row = clustering(res, blind, hard=hard, hard_by="pixel_l2", device="cpu", n_boot=200).iloc[0]
    assert row.n >= 18  # greedy hard triples leave a few targets out
    assert row.value < 0.7  # 1/3 on average, SD about 0.08 over 18-20 groups; 1.0 if ties favour truth
    assert row.ci_low < 1 / 3 < row.ci_high


def test_hard_triples_find_the_tight_clusters(rng):
    centres = np.repeat(np.arange(4) * 10.0, 3)
    pts = centres + rng.normal(scale=0.1, size=12)
    d = np.abs(pts[:, None] - pts[None, :])
    tri = hard_triples(d)
    assert sorted(map(tuple, np.sort(tri, 1) // 3)) == [(k, k, k) for k in range(4)]
    assert len(hard_triples(d, n_groups=2)) == 2
    parts = random_triples(10, np.random.default_rng(0))
    assert parts.shape == (3, 3) and len(set(parts.ravel())) == 9
    with pytest.raises(ShapeError, match="at least 3 targets"):
        random_triples(2, np.random.default_rng(0))


def test_hard_by_human_dissimilarities(make, levels):
    res = _grouped(make, levels, 6, 0.01)
    ids = list(dict.fromkeys(res.target_ids))
    m = np.ones((6, 6)) - np.eye(6)
    m[np.ix_([0, 2, 4], [0, 2, 4])] = 0.1  # the "humans" group targets 0, 2, 4 together
    m[np.ix_([1, 3, 5], [1, 3, 5])] = 0.1
    np.fill_diagonal(m, 0)
    for hard_by in (m, pd.DataFrame(m, index=ids, columns=ids),
                    SimilarityMatrix(m, "dissimilarity", ids)):
        row = clustering(res, "pixel_l2", hard=True, hard_by=hard_by, device="cpu").iloc[0]
        assert row.value == 1.0 and row.n == 2
    with pytest.raises(ShapeError, match=r"must be \(6, 6\)"):
        clustering(res, "pixel_l2", hard=True, hard_by=np.zeros((4, 4)))
    with pytest.raises(ShapeError, match="no row"):
        clustering(res, "pixel_l2", hard=True, hard_by=SimilarityMatrix(m, "dissimilarity",
                                                                        list("abcdef")))


def test_hard_by_decides_the_triples(make, levels, monkeypatch):
    """The triples come from hard_by, matched to the targets by id whatever its row order."""
    module = importlib.import_module("repalign.evaluation.clustering")
    seen = []
    real = module.hard_triples

    def spy(d, n_groups=None, neighbours=10):
        seen.append(real(d, n_groups, neighbours))
        return seen[-1]

    monkeypatch.setattr(module, "hard_triples", spy)
    # two tight groups of grey levels, {0, 1, 2} and {3, 4, 5}
    res = _grouped(make, levels, 6, 0.01, lv=[0.05, 0.1, 0.15, 0.6, 0.65, 0.95])
    ids = list(dict.fromkeys(res.target_ids))
    m = np.ones((6, 6))
    m[np.ix_([0, 2, 4], [0, 2, 4])] = 0.1  # the "humans" group targets 0, 2, 4 together
    m[np.ix_([1, 3, 5], [1, 3, 5])] = 0.1
    np.fill_diagonal(m, 0)
    order = [3, 0, 5, 1, 4, 2]
    named = [ids[i] for i in order]
    for hard_by in (m, pd.DataFrame(m[np.ix_(order, order)], index=named, columns=named),
                    SimilarityMatrix(m[np.ix_(order, order)], "dissimilarity", named)):
        seen.clear()
        clustering(res, "pixel_l2", hard=True, hard_by=hard_by, device="cpu", n_boot=0)
        assert sorted(sorted(ids[i] for i in t) for t in seen[0]) == [["t0", "t2", "t4"],
                                                                     ["t1", "t3", "t5"]]
    seen.clear()  # by default the test's own distance between the targets: the grey levels
    clustering(res, "pixel_l2", hard=True, device="cpu", n_boot=0)
    assert sorted(sorted(ids[i] for i in t) for t in seen[0]) == [["t0", "t1", "t2"],
                                                                 ["t3", "t4", "t5"]]


def test_errors(make, levels):
    one_each = _grouped(make, levels, 6, 0.01, per_target=1)
    with pytest.raises(ShapeError, match="repeats=2"):
        clustering(one_each, "pixel_l2")
    assert clustering(one_each, "pixel_l2", per_target=1, device="cpu").iloc[0].value == 1.0
    with pytest.raises(ConfigError, match="per_target"):
        clustering(one_each, "pixel_l2", per_target=0)
    with pytest.raises(ConfigError, match="n_groups"):
        clustering(one_each, "pixel_l2", per_target=1, n_groups=0)
    two = _grouped(make, levels, 2, 0.01)
    with pytest.raises(ShapeError, match="needs 3 targets"):
        clustering(two, "pixel_l2")
