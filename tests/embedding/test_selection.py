"""Triplet selection: valid triples, balanced counts, adaptive rules against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repalign.embedding.selection import propose_triplets, triplet_scores
from repalign.embedding.selector import TripletSelector
from repalign.errors import ConfigError, ShapeError, UnknownNameError


def _valid(t: np.ndarray, n: int) -> bool:
    return bool(((t >= 0) & (t < n)).all() and (t[:, 0] != t[:, 1]).all()
                and (t[:, 0] != t[:, 2]).all() and (t[:, 1] != t[:, 2]).all())


def test_random_and_balanced_triples():
    rng = np.random.default_rng(0)
    t = propose_triplets(20, 500, strategy="random", rng=rng)
    assert t.shape == (500, 3) and _valid(t, 20)
    counts = np.bincount(propose_triplets(20, 300, rng=rng).ravel(), minlength=20)
    b = propose_triplets(20, 400, strategy="balanced", rng=rng, counts=counts)
    assert _valid(b, 20)
    after = counts + np.bincount(b.ravel(), minlength=20)
    assert after.max() - after.min() <= 1  # the least shown caught up, then all alike
    # a fresh grouping each time, not the same triples over and over: about as many distinct
    # triples as 400 uniform draws from the C(20, 3) = 1140 give, C (1 - exp(-400 / C)) = 337
    keys = {tuple(sorted(r)) for r in b.tolist()}
    assert len(keys) > 0.9 * 1140 * (1 - np.exp(-400 / 1140))


def test_uncertainty_and_infogain_scores_match_brute_force():
    rng = np.random.default_rng(1)
    emb = rng.gamma(1.0, size=(8, 3))
    items = np.array([[0, 1, 2], [3, 4, 5], [5, 6, 7]])
    ent = triplet_scores(items, emb, rule="uncertainty")
    for row, (a, b, c) in enumerate(items):
        s = np.array([emb[a] @ emb[b], emb[a] @ emb[c], emb[b] @ emb[c]])
        p = np.exp(s) / np.exp(s).sum()
        assert ent[row] == pytest.approx(-(p * np.log(p)).sum(), rel=1e-3)
    scale = np.full_like(emb, 0.3)
    bald = triplet_scores(items, emb, scale=scale, rule="infogain", samples=64, seed=0)
    gen = torch.Generator().manual_seed(0)
    mu, sd = torch.as_tensor(emb, dtype=torch.float32), torch.as_tensor(scale, dtype=torch.float32)
    rows = torch.unique(torch.as_tensor(items))
    draws = [torch.relu(mu[rows] + sd[rows] * torch.randn(mu[rows].shape, generator=gen)).numpy()
             for _ in range(64)]
    for r, (a, b, c) in enumerate(items):
        ps = []
        for x in draws:  # rows are 0..7 here, so local indices equal global ones
            s = np.array([x[a] @ x[b], x[a] @ x[c], x[b] @ x[c]])
            ps.append(np.exp(s) / np.exp(s).sum())
        ps = np.array(ps)
        h = lambda q: -(q * np.log(q)).sum(-1)  # noqa: E731
        assert bald[r] == pytest.approx(h(ps.mean(0)) - h(ps).mean(), rel=1e-3, abs=1e-6)
    assert (bald >= -1e-6).all()  # mutual information is non-negative


def test_adaptive_picks_the_most_uncertain_candidates_with_a_cap_per_object():
    rng = np.random.default_rng(2)
    emb = rng.gamma(1.0, size=(30, 4)) * 3
    t = propose_triplets(30, 10, strategy="uncertainty", rng=rng, embedding=emb, pool=20,
                         max_per_object=2)
    assert _valid(t, 30) and np.bincount(t.ravel()).max() <= 2
    scores = triplet_scores(t, emb)
    random_scores = triplet_scores(propose_triplets(30, 200, rng=rng), emb)
    assert scores.mean() > np.quantile(random_scores, 0.8)


def test_selection_errors():
    with pytest.raises(UnknownNameError, match="Did you mean 'balanced'"):
        propose_triplets(10, 2, strategy="balance")
    with pytest.raises(ConfigError, match="needs the current embedding"):
        propose_triplets(10, 2, strategy="uncertainty")
    with pytest.raises(ShapeError, match="10 rows"):
        propose_triplets(10, 2, strategy="uncertainty", embedding=np.ones((9, 2)))
    with pytest.raises(ConfigError, match="strategy must be one of"):
        TripletSelector(10, strategy="x")


def test_selector_proposes_random_until_fitted_then_from_the_fit():
    truth = np.random.default_rng(3).gamma(0.6, size=(15, 2)) * 2
    sel = TripletSelector(15, strategy="uncertainty", min_answers=50, seed=0,
                          fit_options={"epochs": 5, "dims": 5})
    assert sel.refit() is None and sel.result is None
    items = sel.propose(200)
    s = np.stack([(truth[items[:, 0]] * truth[items[:, 1]]).sum(1),
                  (truth[items[:, 0]] * truth[items[:, 2]]).sum(1),
                  (truth[items[:, 1]] * truth[items[:, 2]]).sum(1)], 1)
    pair = s.argmax(1)
    order = np.array([[0, 1, 2], [0, 2, 1], [1, 2, 0]])[pair]
    sel.observe(np.take_along_axis(items, order, 1))
    assert sel.n_answers == 200
    res = sel.refit()
    assert res is not None and res.n_train == 200 and sel.refits == 1
    assert sel.propose(5).shape == (5, 3)
    sel.set_answers(sel.answers()[:100])
    assert sel.n_answers == 100
