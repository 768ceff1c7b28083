"""The feature cache: identical arrays on a hit (no forward), recomputation when the weights,
the layer, the reducer or the stimuli change."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repalign.features import extract_features, feature_key
from repalign.features.cache import default_cache_dir, load_cached, store_cached


def _run(model, stim, tmp_path, **kw):
    kw.setdefault("layers", ["3"])
    return extract_features(model, stim, cache=True, cache_dir=tmp_path, quiet=True, **kw)


def test_hit_returns_identical_arrays_without_a_forward(counting_cnn, stimuli, tmp_path):
    first = _run(counting_cnn, stimuli, tmp_path, layers=["1", "3"])
    conv = counting_cnn.network[0]
    conv.calls = 0
    again = _run(counting_cnn, stimuli, tmp_path, layers=["1", "3"])
    assert conv.calls == 0
    for layer in first:
        np.testing.assert_array_equal(again[layer], first[layer])
        assert again[layer].dtype == np.float32
    # a partial hit computes only the missing layer, in one pass
    mixed = _run(counting_cnn, stimuli, tmp_path, layers=["1", "6"])
    np.testing.assert_array_equal(mixed["1"], first["1"])
    assert conv.calls == 1  # one batch of 10 images with the default batch size
    assert not list(tmp_path.rglob(".*.npy*"))  # no temporary file left behind


def test_recomputes_when_weights_change(counting_cnn, stimuli, tmp_path):
    before = _run(counting_cnn, stimuli, tmp_path)["3"]
    with torch.no_grad():
        counting_cnn.network[2].weight.mul_(2.0)
    conv = counting_cnn.network[0]
    conv.calls = 0
    after = _run(counting_cnn, stimuli, tmp_path)["3"]
    assert conv.calls == 1
    fresh = extract_features(counting_cnn, stimuli, ["3"], quiet=True)["3"]
    np.testing.assert_array_equal(after, fresh)
    assert not np.allclose(before, after)


def test_recomputes_when_preprocessing_changes(counting_cnn, stimuli, tmp_path):
    from repalign.models.model import Preprocess

    before = _run(counting_cnn, stimuli, tmp_path)["3"]
    counting_cnn.preprocess = Preprocess([0.4] * 3, [0.25] * 3)  # was mean 0.5
    conv = counting_cnn.network[0]
    conv.calls = 0
    after = _run(counting_cnn, stimuli, tmp_path)["3"]
    assert conv.calls == 1
    np.testing.assert_array_equal(after, extract_features(counting_cnn, stimuli, ["3"], quiet=True)["3"])
    assert not np.allclose(before, after)


def test_recomputes_when_layer_reducer_or_stimuli_change(counting_cnn, stimuli, tmp_path):
    base = _run(counting_cnn, stimuli, tmp_path)["3"]
    pooled = _run(counting_cnn, stimuli, tmp_path, reduce="avgpool")["3"]
    assert pooled.shape == (10, 8) and base.shape == (10, 8 * 8 * 8)
    other_layer = _run(counting_cnn, stimuli, tmp_path, layers=["1"])["1"]
    assert other_layer.shape == (10, 6 * 16 * 16)
    changed = stimuli.images.clone()
    changed[0, 0, 0, 0] = 1.0 - changed[0, 0, 0, 0]
    shifted = _run(counting_cnn, changed, tmp_path)["3"]
    assert not np.array_equal(shifted[0], base[0])
    np.testing.assert_array_equal(shifted[1:], base[1:])
    assert len(list(tmp_path.rglob("*.npy"))) == 4


def test_tensor_and_stimuli_share_entries(counting_cnn, stimuli, tmp_path):
    _run(counting_cnn, stimuli, tmp_path)
    conv = counting_cnn.network[0]
    conv.calls = 0
    _run(counting_cnn, stimuli.images, tmp_path)
    assert conv.calls == 0


def test_keys_and_default_folder(monkeypatch, tmp_path):
    k = feature_key("a" * 64, "fc", "flatten", "b" * 64)
    assert k != feature_key("a" * 64, "fc", "avgpool", "b" * 64)
    assert k != feature_key("a" * 64, "fc2", "flatten", "b" * 64)
    assert k != feature_key("c" * 64, "fc", "flatten", "b" * 64)
    assert k != feature_key("a" * 64, "fc", "flatten", "d" * 64)
    monkeypatch.setenv("REPALIGN_CACHE", str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    store_cached(k, np.ones((2, 2), np.float32))
    assert (tmp_path / "env" / "features" / k[:2] / f"{k}.npy").is_file()
    monkeypatch.delenv("REPALIGN_CACHE")
    assert default_cache_dir().parts[-2:] == (".cache", "repalign")


def test_corrupt_entry_is_a_miss(counting_cnn, stimuli, tmp_path):
    first = _run(counting_cnn, stimuli, tmp_path)["3"]
    (entry,) = list(tmp_path.rglob("*.npy"))
    entry.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable feature cache entry"):
        again = _run(counting_cnn, stimuli, tmp_path)["3"]
    np.testing.assert_array_equal(again, first)
    key = entry.stem
    np.testing.assert_array_equal(load_cached(key, tmp_path), first)  # rewritten
