"""Ground truth: triplets simulated from the THINGS embedding (200 objects) and answered by the
simulated observer; the fitted embeddings must approach the noise ceiling on held-out simulated
triplets, recover the true similarity structure, and agree across seeds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from repalign.alignment.simulate import simulate_observer
from repalign.embedding import fit_embedding, predicted_pair
from repalign.embedding.compare import matched_dimension_correlation, rdm_spearman

# as tests/conftest.py's shared_data fixture, for a module-scoped fixture
SHARED_DATA = Path(os.environ.get("REPALIGN_SHARED_DATA",
                                  Path(__file__).resolve().parents[3] / "shared" / "data"))

pytestmark = pytest.mark.slow  # three fits on 200,000 triplets: about 50 s of CPU


@pytest.fixture(scope="module")
def things():
    path = SHARED_DATA / "things" / "final_embedding.npy"
    if not path.is_file():
        pytest.skip(f"the THINGS embedding is not at {path}")
    full = np.load(path)
    truth = full[np.random.default_rng(0).choice(len(full), 200, replace=False)]
    train = simulate_observer(truth, 200_000, seed=1)
    test = simulate_observer(truth, 50_000, seed=2)
    kw = dict(dims=100, batch_size=512, val_fraction=0.0, quiet=True)
    fits = {
        "vice": [fit_embedding(train.triplets, 200, method="vice", epochs=25, lr=0.02, seed=s, **kw)
                 for s in (0, 1)],
        "spose": [fit_embedding(train.triplets, 200, method="spose", epochs=4, lr=0.005, seed=0,
                                **kw)],
    }
    return truth, test, fits


def _ceiling_fraction(weights, test) -> float:
    pick = predicted_pair(torch.as_tensor(weights), torch.as_tensor(test.items)).numpy()
    return test.expected_accuracy(pick) / test.ceiling


@pytest.mark.parametrize("method", ["vice", "spose"])
def test_fit_reaches_97_percent_of_the_noise_ceiling_and_the_true_rdm(things, method):
    truth, test, fits = things
    for res in fits[method]:
        assert res.n_train == 200_000
        assert _ceiling_fraction(res.weights, test) >= 0.97
        assert rdm_spearman(res.weights, truth) >= 0.9
        # the empirical agreement with the observer's sampled choices tells the same story
        hits = (predicted_pair(torch.as_tensor(res.weights), torch.as_tensor(test.triplets)) == 0)
        assert float(hits.float().mean()) >= 0.95 * test.ceiling


def test_vice_prunes_and_its_dimensions_reproduce_across_seeds(things):
    _, _, fits = things
    a, b = fits["vice"]
    assert 10 <= a.n_dims < 60 and 10 <= b.n_dims < 60  # pruned from 100
    assert a.history[-1]["dims"] == a.n_dims
    for x, y in ((a, b), (b, a)):
        # VICE's check (match on 80 % of the objects, correlate on 20 %), over 10 object splits
        r = np.mean([matched_dimension_correlation(x.weights, y.weights, seed=s)
                     for s in range(10)], axis=0)
        assert np.median(r) >= 0.8
    # the reference check: an embedding matched with a column permutation of itself is perfect
    perm = np.random.default_rng(0).permutation(a.n_dims)
    np.testing.assert_allclose(matched_dimension_correlation(a.weights, a.weights[:, perm]), 1.0)
