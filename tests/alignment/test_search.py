"""Object-disjoint splits and the grid search."""

from __future__ import annotations

import numpy as np
import pytest

from repalign.alignment import (
    DEFAULT_GRID,
    PUBLISHED_GRID,
    GLocal,
    object_disjoint_folds,
    object_disjoint_split,
    search_glocal,
    simulate_observer,
)
from repalign.errors import ConfigError, UnknownNameError


def test_folds_are_object_disjoint_and_complete(rng):
    t = np.array([rng.choice(30, 3, replace=False) for _ in range(3000)])
    folds = object_disjoint_folds(t, 30, n_folds=3, seed=0)
    assert len(folds) == 3
    test_sets = []
    for train, test in folds:
        assert len(np.intersect1d(np.unique(t[train]), np.unique(t[test]))) == 0
        assert len(np.intersect1d(train, test)) == 0
        test_sets.append(set(np.unique(t[test]).tolist()))
        # every triplet not used is one that mixes the two object sets
        unused = np.setdiff1d(np.arange(len(t)), np.concatenate([train, test]))
        objs = np.unique(t[test])
        mixed = np.isin(t[unused], objs).any(1) & ~np.isin(t[unused], objs).all(1)
        assert mixed.all()
    # the held-out object sets partition the objects
    assert set().union(*test_sets) == set(range(30)) and sum(map(len, test_sets)) == 30


def test_single_split(rng):
    t = np.array([rng.choice(40, 3, replace=False) for _ in range(2000)])
    train, test, objs = object_disjoint_split(t, 40, test_size=0.25, seed=1)
    assert len(objs) == 10
    assert np.isin(t[test], objs).all() and not np.isin(t[train], objs).any()
    with pytest.raises(ConfigError, match="test_size"):
        object_disjoint_split(t, 40, test_size=1.0)


def test_grids():
    n = 1
    for v in PUBLISHED_GRID.values():
        n *= len(v)
    assert n == 54 and set(PUBLISHED_GRID) == {"lr", "lam", "alpha", "tau"}
    assert set(DEFAULT_GRID) <= set(GLocal().get_params())


def test_search_picks_a_setting_and_refits():
    rng = np.random.default_rng(0)
    hidden = rng.gamma(0.6, size=(60, 4))
    sim = simulate_observer(hidden, 4000, temperature=0.3, seed=1)
    x = np.concatenate([hidden, rng.normal(size=(60, 4))], 1)
    base = GLocal(max_epochs=4, batch_size=256, device="cpu")
    grid = {"lr": [1e-2, 1e-6], "alpha": [0.0]}
    res = search_glocal(x, sim.triplets, grid=grid, folds=2, estimator=base, seed=0)
    assert len(res.table) == 4 and len(res.summary) == 2
    assert set(res.table["fold"]) == {0, 1}
    assert (res.table["n_train"] + res.table["n_test"] + res.table["n_unused"] == 4000).all()
    assert res.best_params["lr"] == 1e-2  # a near-zero learning rate cannot learn
    assert res.best_estimator is not None and res.best_estimator.lr == 1e-2
    assert res.best_score == pytest.approx(res.summary["mean_score"].max())


def test_search_bad_grid(rng):
    t = np.array([rng.choice(20, 3, replace=False) for _ in range(100)])
    x = rng.normal(size=(20, 3))
    with pytest.raises(UnknownNameError, match="published"):
        search_glocal(x, t, grid="publshed")
    with pytest.raises(ConfigError, match="unknown GLocal parameter"):
        search_glocal(x, t, grid={"learning_rate": [1e-3]})
