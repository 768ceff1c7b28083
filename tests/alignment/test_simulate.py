"""The simulated observer: choice frequencies follow its softmax; the ceiling is E[max p]."""

from __future__ import annotations

import numpy as np
import pytest

from repalign.alignment import distorted_view, simulate_observer
from repalign.errors import ConfigError
from repalign.similarity import odd_one_out_accuracy


def test_choices_follow_the_softmax():
    g = np.array([[1.0, 0.0], [0.8, 0.2], [0.0, 1.0], [0.5, 0.5], [0.3, 0.9]])
    sim = simulate_observer(g, 40000, temperature=0.5, seed=0)
    a, b, c = (g[sim.items[:, i]] for i in range(3))
    s = np.stack([(a * b).sum(1), (a * c).sum(1), (b * c).sum(1)], 1) / 0.5
    p = np.exp(s) / np.exp(s).sum(1, keepdims=True)
    np.testing.assert_allclose(sim.probabilities, p, rtol=1e-12)
    assert sim.ceiling == pytest.approx(p.max(1).mean(), rel=1e-12)
    # which pair was chosen: the odd one out is c, b or a
    odd = sim.triplets[:, 2]
    choice = np.select([odd == sim.items[:, 2], odd == sim.items[:, 1]], [0, 1], 2)
    assert set(sim.triplets[:, 0]) | set(sim.triplets[:, 1]) <= set(range(5))
    for k in range(3):  # frequencies match the probabilities (standard error ~0.0024)
        assert (choice == k).mean() == pytest.approx(p[:, k].mean(), abs=0.01)


def test_ceiling_is_reached_by_the_hidden_embedding_only():
    rng = np.random.default_rng(3)
    g = rng.gamma(0.5, size=(80, 5))
    sim = simulate_observer(g, 30000, temperature=0.3, seed=1)
    best = odd_one_out_accuracy(g, sim.triplets, "dot")
    assert best == pytest.approx(sim.ceiling, abs=0.01)
    other = odd_one_out_accuracy(rng.normal(size=(80, 5)), sim.triplets, "dot")
    assert other < sim.ceiling - 0.1
    pick = np.zeros(len(sim.items), dtype=int)
    assert 0.2 < sim.expected_accuracy(pick) < 0.5


def test_distorted_view_shape_and_errors():
    g = np.random.default_rng(0).gamma(1.0, size=(30, 4))
    x = distorted_view(g, dims=10, seed=0)
    assert x.shape == (30, 10) and np.isfinite(x).all()
    np.testing.assert_array_equal(x, distorted_view(g, dims=10, seed=0))
    with pytest.raises(ConfigError, match="even"):
        distorted_view(g, dims=7)
    with pytest.raises(ConfigError, match="temperature"):
        simulate_observer(g, 10, temperature=0.0)
