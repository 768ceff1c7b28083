"""fit_embedding: inputs checked at the boundary, seeds, checkpoints (kill and resume), cblearn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import repalign as ra
from repalign.alignment.simulate import simulate_observer
from repalign.data import TripletSet
from repalign.embedding import EmbeddingResult, fit_embedding
from repalign.embedding import _train as train_mod
from repalign.errors import ConfigError, ShapeError, UnknownNameError


@pytest.fixture(scope="module")
def small():
    truth = np.random.default_rng(0).gamma(0.5, size=(24, 3))
    return simulate_observer(truth, 3000, temperature=0.5, seed=0)


def test_bad_inputs_raise_named_errors(small):
    t = small.triplets
    with pytest.raises(UnknownNameError, match="Did you mean 'vice'"):
        fit_embedding(t, 24, method="vise")
    with pytest.raises(ConfigError, match="n_objects is required"):
        fit_embedding(t, method="spose")
    with pytest.raises(ShapeError, match=r"\(T, 3\)"):
        fit_embedding(t[:, :2], 24)
    with pytest.raises(ShapeError, match="must be < n_objects=10"):
        fit_embedding(t, 10)
    with pytest.raises(ShapeError, match="repeat an object"):
        fit_embedding(np.array([[0, 0, 1]] * 5), 24)
    with pytest.raises(ShapeError, match="TripletSet has n_objects=24"):
        fit_embedding(TripletSet(t, 24), 30)
    with pytest.raises(ConfigError, match="val_fraction"):
        fit_embedding(t, 24, val_fraction=1.0)
    with pytest.raises(ConfigError, match="unknown spose option"):
        fit_embedding(t, 24, method="spose", spike=0.1, epochs=1)
    with pytest.raises(ConfigError, match="spike < slab"):
        fit_embedding(t, 24, method="vice", spike=2.0, epochs=1)
    with pytest.raises(ConfigError, match="dims must be an integer"):
        fit_embedding(t, 24, dims=0)


@pytest.mark.parametrize("method", ["spose", "vice"])
def test_same_seed_same_result_and_the_result_round_trips(small, method, tmp_path):
    kw = dict(method=method, dims=8, epochs=3, batch_size=64, lr=0.01, quiet=True)
    a = fit_embedding(TripletSet(small.triplets, 24), seed=3, **kw)
    b = fit_embedding(small.triplets, 24, seed=3, **kw)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.n_train + a.n_val == 3000 and a.n_val == 300
    assert len(a.history) == 3 and {"train_nll", "val_accuracy", "dims"} <= set(a.history[0])
    assert a.weights.shape[0] == 24 and (a.weights >= 0).all()
    back = EmbeddingResult.load(a.save(tmp_path / "fit"))
    np.testing.assert_array_equal(back.weights, a.weights)
    assert back.summary() == a.summary()
    assert ra.fit_embedding is fit_embedding


@pytest.mark.parametrize("method", ["spose", "vice"])
def test_killed_fit_resumes_to_the_uninterrupted_result(small, method, tmp_path, monkeypatch):
    kw = dict(method=method, dims=6, epochs=4, batch_size=128, lr=0.01, quiet=True, seed=1,
              checkpoint_seconds=0.0, **({"k": 0} if method == "vice" else {}))
    full = fit_embedding(small.triplets, 24, **kw)
    ckpt = tmp_path / "ckpt.pt"
    real_evaluate = train_mod.evaluate
    calls = {"n": 0}

    def dying_evaluate(*args, **kwargs):  # the process dies during epoch 3's evaluation
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train_mod, "evaluate", dying_evaluate)
    with pytest.raises(KeyboardInterrupt):
        fit_embedding(small.triplets, 24, checkpoint=ckpt, **kw)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2
    monkeypatch.setattr(train_mod, "evaluate", real_evaluate)
    resumed = fit_embedding(small.triplets, 24, checkpoint=ckpt, **kw)
    np.testing.assert_array_equal(resumed.weights, full.weights)
    assert [r["train_nll"] for r in resumed.history] == [r["train_nll"] for r in full.history]
    with pytest.raises(ConfigError, match="other triplets or settings"):
        fit_embedding(small.triplets[:2000], 24, checkpoint=ckpt, **kw)


@pytest.mark.parametrize("method", ["soe", "tste", "ckl"])
def test_cblearn_methods_recover_a_planar_configuration(method):
    pytest.importorskip("cblearn")
    truth = np.random.default_rng(1).normal(size=(20, 2))
    # noiseless odd-one-out judgements from Euclidean distances
    items = np.array([np.random.default_rng(i).choice(20, 3, replace=False) for i in range(1500)])
    d = lambda i, j: np.linalg.norm(truth[i] - truth[j], axis=-1)  # noqa: E731
    dist = np.stack([d(items[:, 0], items[:, 1]), d(items[:, 0], items[:, 2]),
                     d(items[:, 1], items[:, 2])], 1)
    pair = dist.argmin(1)
    order = np.array([[0, 1, 2], [0, 2, 1], [1, 2, 0]])[pair]
    triplets = np.take_along_axis(items, order, 1)
    res = fit_embedding(triplets, 20, method=method, dims=2, seed=0, quiet=True)
    assert res.similarity == "euclidean" and res.weights.shape == (20, 2)
    assert res.val_accuracy is not None and res.val_accuracy > 0.85
    assert len(res.history) == 1


def test_missing_cblearn_names_the_extra(monkeypatch, small):
    import sys

    for mod in ("cblearn", "cblearn.embedding"):
        monkeypatch.setitem(sys.modules, mod, None)  # import raises ImportError
    with pytest.raises(ra.errors.MissingDependencyError, match=r"repalign\[embedding\]"):
        fit_embedding(small.triplets, 24, method="soe", dims=2)


def test_a_fit_with_nothing_held_out_checkpoints_and_resumes(small, tmp_path):
    kw = dict(method="spose", dims=4, epochs=2, batch_size=256, val_fraction=0.0, quiet=True,
              checkpoint=tmp_path / "c.pt", checkpoint_seconds=0.0)
    a = fit_embedding(small.triplets, 24, **kw)
    assert a.n_val == 0 and a.val_accuracy is None
    b = fit_embedding(small.triplets, 24, **kw)  # resumes the finished fit: nothing to redo
    np.testing.assert_array_equal(a.weights, b.weights)
