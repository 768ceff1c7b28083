"""GLocal as a scikit-learn estimator: fitting, transform, score, errors, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

from repalign.alignment import GLocal
from repalign.alignment.simulate import distorted_view, simulate_observer
from repalign.data.triplets import TripletSet
from repalign.errors import ConfigError, NotFittedError, ShapeError
from repalign.similarity import odd_one_out_accuracy


@pytest.fixture(scope="module")
def problem():
    """A hidden embedding, a simulated observer's choices and a distorted 'model' of it."""
    rng = np.random.default_rng(1)
    hidden = rng.gamma(0.6, 1.0, size=(120, 6))
    sim = simulate_observer(hidden, 6000, temperature=0.5, seed=2)
    x = distorted_view(hidden, dims=32, nuisance_rank=4, nuisance_scale=1.5, noise=0.3, seed=3)
    return hidden, sim, x


def _fast(**kw):
    base = dict(max_epochs=40, patience=5, batch_size=512, lr=1e-2, lam=0.01, alpha=0.0,
                device="cpu", random_state=0)
    return GLocal(**{**base, **kw})


def test_fit_raises_held_out_accuracy_towards_ceiling(problem):
    _, sim, x = problem
    train, test = sim.triplets[:5000], sim.triplets[5000:]
    raw = odd_one_out_accuracy(x, test, "dot")
    est = _fast().fit(x, train)
    aligned = est.score(x, test)
    assert aligned > raw + 0.05
    assert aligned <= sim.ceiling + 0.03  # cannot beat the observer's own noise (up to sampling)
    h = est.history_
    assert list(h.columns[:5]) == ["epoch", "train_loss", "train_global", "train_local", "train_pull"]
    assert h["val_loss"].iloc[est.best_epoch_] == h["val_loss"].min()


def test_transform_is_the_affine_formula(problem):
    _, sim, x = problem
    est = _fast(max_epochs=2).fit(x, sim.triplets[:500], validation=None)
    expect = ((x - x.mean()) / x.std()) @ est.W_ + est.b_
    np.testing.assert_allclose(est.transform(x), expect, rtol=1e-12)
    assert est.mean_ == pytest.approx(x.mean()) and est.std_ == pytest.approx(x.std())
    assert len(est.history_) == 2 and est.best_epoch_ == 1
    assert est.get_feature_names_out()[0] == "glocal0"


def test_initial_transform_is_scaled_identity(problem):
    """With lr ~ 0 the fitted W stays at init_scale * I and b at 0."""
    _, sim, x = problem
    est = _fast(max_epochs=1, lr=1e-12, init_scale=1e-3).fit(x, sim.triplets[:200], validation=None)
    np.testing.assert_allclose(est.W_, 1e-3 * np.eye(32), atol=1e-9)
    np.testing.assert_allclose(est.b_, 0.0, atol=1e-9)


def test_same_seed_same_result_and_clone(problem):
    _, sim, x = problem
    a = _fast(max_epochs=3, alpha=0.5, local_batch_size=16).fit(x, sim.triplets[:1000])
    b = clone(a).fit(x, sim.triplets[:1000])
    np.testing.assert_array_equal(a.W_, b.W_)
    assert clone(a).get_params() == a.get_params()
    assert not hasattr(clone(a), "W_")


def test_triplet_set_and_explicit_validation(problem):
    _, sim, x = problem
    ts = TripletSet(sim.triplets[:1000], n_objects=120)
    est = _fast(max_epochs=2).fit(x, ts, validation=sim.triplets[1000:1200])
    assert est.score(x, sim.triplets[1000:1200]) == pytest.approx(
        odd_one_out_accuracy(est.transform(x), sim.triplets[1000:1200], "dot"))
    with pytest.raises(ShapeError, match="refer to 50 objects but X has 120 rows"):
        _fast().fit(x, TripletSet(np.array([[0, 1, 2]]), n_objects=50))


def test_local_term_uses_auxiliary_stimuli(problem):
    _, sim, x = problem
    aux = np.random.default_rng(5).normal(size=(40, 32))
    est = _fast(max_epochs=2, alpha=0.5).fit(x, sim.triplets[:500], x_local=aux)
    assert (est.history_["train_local"] > 0).all()
    glob = _fast(max_epochs=2, alpha=0.0).fit(x, sim.triplets[:500], x_local=aux)
    assert (glob.history_["train_local"] == 0).all()


def test_sgd_optimizer_runs(problem):
    _, sim, x = problem
    est = _fast(max_epochs=3, optimizer="sgd", lr=1e-3).fit(x, sim.triplets[:500], validation=None)
    assert np.isfinite(est.W_).all() and not np.allclose(est.W_, 1e-3 * np.eye(32))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(triplets=np.array([[0, 1, 120]])), ShapeError, "< n_objects=120"),
        (dict(triplets=np.array([[0, 1, -1]])), ShapeError, ">= 0"),
        (dict(triplets=np.array([[0, 0, 1]])), ShapeError, "repeat an object"),
        (dict(triplets=np.array([[0, 1]])), ShapeError, r"\(T, 3\)"),
        (dict(triplets=np.zeros((0, 3), dtype=int)), ShapeError, "empty"),
        (dict(X="nan"), ShapeError, "NaN or Inf"),
        (dict(x_local=np.zeros((5, 7))), ShapeError, "expecting 32 features"),
        (dict(validation=1.5), ConfigError, r"fraction must lie in \(0, 1\)"),
        (dict(validation=np.array([[0, 1, 500]])), ShapeError, "validation"),
    ],
)
def test_bad_input_raises_named_errors(problem, kwargs, error, match):
    _, sim, x = problem
    args = dict(X=x, triplets=sim.triplets[:300], x_local=None, validation=0.1)
    args.update(kwargs)
    if isinstance(args["X"], str):
        args["X"] = x.copy()
        args["X"][3, 4] = np.nan
    with pytest.raises(error, match=match):
        _fast().fit(args["X"], args["triplets"], x_local=args["x_local"], validation=args["validation"])


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [("alpha", 1.5, "alpha must be in"), ("tau", 0.0, "tau must be > 0"),
     ("optimizer", "rmsprop", "'adam' or 'sgd'"), ("lam", -1.0, "lam must be >= 0")],
)
def test_bad_parameters_raise_config_error_at_fit(problem, param, value, match):
    _, sim, x = problem
    est = _fast(**{param: value})  # nothing is checked in __init__
    with pytest.raises(ConfigError, match=match):
        est.fit(x, sim.triplets[:100])


def test_unfitted_and_wrong_width(problem):
    _, sim, x = problem
    with pytest.raises(NotFittedError, match="not fitted yet"):
        GLocal().transform(x)
    est = _fast(max_epochs=1).fit(x, sim.triplets[:200], validation=None)
    with pytest.raises(ShapeError, match="X has 5 features, but GLocal is expecting 32"):
        est.transform(x[:, :5])
    with pytest.raises(ShapeError, match="at least 3 samples"):
        _fast().fit(x[:2], np.array([[0, 1, 0]]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fits_on_cuda_like_on_cpu(problem):
    """Same batches and start on both devices; only float32 rounding differs. The global fit
    follows the same path. With the local term the path is sensitive to rounding (a 1e-6
    perturbation of X moves W by about 35 % after one epoch, mostly by a rotation W -> W Q, under
    which both main terms are invariant), so there the losses and the accuracy are compared."""
    _, sim, x = problem
    test = sim.triplets[5000:]
    cpu = _fast(max_epochs=3).fit(x, sim.triplets[:2000], validation=None)
    gpu = _fast(max_epochs=3, device="cuda").fit(x, sim.triplets[:2000], validation=None)
    assert isinstance(gpu.W_, np.ndarray) and gpu.W_.dtype == np.float64
    assert np.linalg.norm(gpu.W_ - cpu.W_) < 1e-3 * np.linalg.norm(cpu.W_)  # measured ~3e-6 on CPU
    kw = dict(max_epochs=3, alpha=0.25, local_batch_size=64)
    cpu = _fast(**kw).fit(x, sim.triplets[:2000], validation=None)
    gpu = _fast(device="cuda", **kw).fit(x, sim.triplets[:2000], validation=None)
    np.testing.assert_allclose(gpu.history_["train_loss"], cpu.history_["train_loss"], rtol=0.01)
    assert gpu.score(x, test) == pytest.approx(cpu.score(x, test), abs=0.03)
