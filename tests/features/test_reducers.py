"""Every reducer against a numpy reference, and its rank errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repalign.errors import ShapeError, UnknownNameError
from repalign.features.reducers import REDUCERS, apply_reducer, reducer_id

rng = np.random.default_rng(0)
MAPS = rng.normal(size=(4, 3, 5, 6)).astype(np.float32)
TOKENS = rng.normal(size=(4, 7, 8)).astype(np.float32)
POOLED = rng.normal(size=(4, 9)).astype(np.float32)

# name -> [(input, numpy reference)], and the ranks it must refuse
CASES = {
    "flatten": ([(MAPS, MAPS.reshape(4, -1)), (TOKENS, TOKENS.reshape(4, -1)), (POOLED, POOLED)], []),
    "avgpool": (
        [(MAPS, MAPS.mean(axis=(2, 3))), (TOKENS, TOKENS.mean(axis=1)), (POOLED, POOLED)],
        [np.zeros((4, 2, 2, 2, 2), np.float32), np.zeros(4, np.float32)],
    ),
    "cls_token": ([(TOKENS, TOKENS[:, 0])], [MAPS, POOLED]),
    "mean_tokens": ([(TOKENS, TOKENS.mean(axis=1))], [MAPS, POOLED]),
}


def test_every_reducer_has_cases():
    assert sorted(CASES) == REDUCERS.list()


@pytest.mark.parametrize("name", REDUCERS.list())
def test_reducer_matches_numpy(name):
    good, bad = CASES[name]
    for x, ref in good:
        out = apply_reducer(name, "layer", torch.from_numpy(x))
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)
    for x in bad:
        with pytest.raises(ShapeError, match=rf"Reducer '{name}' takes rank"):
            apply_reducer(name, "layer", torch.from_numpy(x))


def test_flatten_rank1_and_custom_callables():
    assert apply_reducer("flatten", "l", torch.ones(3)).shape == (3, 1)
    out = apply_reducer(lambda t: t[:, 1:].mean(1), "l", torch.from_numpy(TOKENS))
    np.testing.assert_allclose(out.numpy(), TOKENS[:, 1:].mean(1), rtol=1e-6)
    with pytest.raises(ShapeError, match=r"gave \(4, 7, 8\)"):
        apply_reducer(lambda t: t, "l", torch.from_numpy(TOKENS))
    with pytest.raises(UnknownNameError, match="Valid reducer names"):
        apply_reducer("nope", "l", torch.from_numpy(TOKENS))


def test_reducer_ids_are_stable_and_distinguish_code():
    assert reducer_id("avgpool") == "avgpool"

    def first(t):
        return t[:, 0]

    def second(t):
        return t[:, 1]

    assert reducer_id(first) == reducer_id(first)
    assert reducer_id(first) != reducer_id(second)
    with pytest.raises(UnknownNameError):
        reducer_id("avgpol")
