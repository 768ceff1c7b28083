"""Feature files: npy/npz/HDF5/thingsvision folders round-trip; HDF5 streaming during extraction."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from repalign.errors import ConfigError, DataFormatError, ShapeError
from repalign.features import (
    HDF5FeatureWriter,
    extract_features,
    load_feature_ids,
    load_features,
    save_features,
)

rng = np.random.default_rng(0)
FEATS = {"layer3": rng.normal(size=(5, 7)).astype(np.float32), "fc": rng.normal(size=(5, 3)).astype(np.float32)}
IDS = [f"im{i}.png" for i in range(5)]


@pytest.mark.parametrize("target", ["f.npz", "f.h5", "f.hdf5", "folder", "folder_h5"])
def test_round_trip_with_ids(tmp_path, target):
    fmt = "hdf5" if target == "folder_h5" else "npy"
    path = tmp_path / target
    save_features(FEATS, path, ids=IDS, file_format=fmt)
    back = load_features(path)
    assert set(back) == set(FEATS)
    for k in FEATS:
        np.testing.assert_array_equal(back[k], FEATS[k])
    assert load_feature_ids(path) == IDS
    assert list(load_features(path, layers=["fc"])) == ["fc"]


def test_single_npy(tmp_path):
    save_features({"fc": FEATS["fc"]}, tmp_path / "fc.npy")
    np.testing.assert_array_equal(load_features(tmp_path / "fc.npy")["fc"], FEATS["fc"])
    assert load_feature_ids(tmp_path / "fc.npy") is None


def test_hdf5_order_is_the_written_order(tmp_path):
    save_features(FEATS, tmp_path / "f.h5")
    assert list(load_features(tmp_path / "f.h5")) == ["layer3", "fc"]


def test_reads_thingsvision_layouts(tmp_path):
    # thingsvision: <out>/<module>/features.npy, file_names.txt next to it
    root = tmp_path / "tv"
    (root / "classifier.3").mkdir(parents=True)
    np.save(root / "classifier.3" / "features.npy", FEATS["fc"])
    (root / "file_names.txt").write_text("".join(f"{i}\n" for i in IDS))
    # streamed chunks features_<start>-<end>.npy, out of lexical order
    (root / "features.10").mkdir()
    np.save(root / "features.10" / "features_0-2.npy", FEATS["layer3"][:2])
    np.save(root / "features.10" / "features_2-5.npy", FEATS["layer3"][2:])
    # features.hdf5 with dataset 'features'
    (root / "avgpool").mkdir()
    with h5py.File(root / "avgpool" / "features.hdf5", "w") as h5:
        h5.create_dataset("features", data=FEATS["fc"] * 2)
    back = load_features(root)
    np.testing.assert_array_equal(back["classifier.3"], FEATS["fc"])
    np.testing.assert_array_equal(back["features.10"], FEATS["layer3"])
    np.testing.assert_array_equal(back["avgpool"], FEATS["fc"] * 2)
    assert load_feature_ids(root) == IDS
    # a module folder alone
    np.testing.assert_array_equal(load_features(root / "classifier.3")["classifier.3"], FEATS["fc"])


def test_io_errors(tmp_path):
    with pytest.raises(ConfigError, match="one layer"):
        save_features(FEATS, tmp_path / "x.npy")
    with pytest.raises(ConfigError, match="Cannot tell the format"):
        save_features(FEATS, tmp_path / "x.csv")
    with pytest.raises(ShapeError, match="same number of rows"):
        save_features({"a": np.zeros((2, 2)), "b": np.zeros((3, 2))}, tmp_path / "x.npz")
    with pytest.raises(ShapeError, match="3 ids for 5"):
        save_features(FEATS, tmp_path / "x.npz", ids=["a", "b", "c"])
    with pytest.raises(ShapeError, match="non-empty dict"):
        save_features({}, tmp_path / "x.npz")
    with pytest.raises(DataFormatError, match="does not exist"):
        load_features(tmp_path / "missing.h5")
    save_features(FEATS, tmp_path / "ok.npz")
    with pytest.raises(DataFormatError, match=r"no layer\(s\) \['conv'\]"):
        load_features(tmp_path / "ok.npz", layers=["conv"])
    (tmp_path / "bad.h5").write_bytes(b"nope")
    with pytest.raises(DataFormatError, match=r"bad\.h5"):
        load_features(tmp_path / "bad.h5")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="holds no features"):
        load_features(tmp_path / "empty")


def test_streaming_to_hdf5_equals_in_memory(counting_cnn, stimuli, tmp_path, monkeypatch):
    writes: list[tuple[str, int, int]] = []
    original = HDF5FeatureWriter.write

    def spy(self, layer, start, block):
        writes.append((layer, start, len(block)))
        return original(self, layer, start, block)

    monkeypatch.setattr(HDF5FeatureWriter, "write", spy)
    out = tmp_path / "feats.h5"
    streamed = extract_features(counting_cnn, stimuli, ["1", "3"], batch_size=4, out=out, quiet=True)
    memory = extract_features(counting_cnn, stimuli, ["1", "3"], batch_size=4, quiet=True)
    # written batch by batch, as they finished
    assert writes == [(layer, s, n) for s, n in ((0, 4), (4, 4), (8, 2)) for layer in ("1", "3")]
    for layer in memory:
        assert isinstance(streamed[layer], np.memmap) and not streamed[layer].flags.writeable
        np.testing.assert_array_equal(streamed[layer], memory[layer])
    back = load_features(out)
    np.testing.assert_array_equal(back["3"], memory["3"])
    assert load_feature_ids(out) == list(stimuli.ids)


def test_failed_streaming_leaves_no_file(counting_cnn, stimuli, tmp_path):
    calls = {"n": 0}

    def fails_late(t):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom")
        return t.flatten(1)

    out = tmp_path / "feats.h5"
    with pytest.raises(RuntimeError, match="boom"):
        extract_features(counting_cnn, stimuli, ["3"], reduce=fails_late, batch_size=4, out=out, quiet=True)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_streaming_with_cache_hits(counting_cnn, stimuli, tmp_path):
    cached = extract_features(counting_cnn, stimuli, ["3"], cache=True, cache_dir=tmp_path / "c", quiet=True)
    out = extract_features(
        counting_cnn, stimuli, ["3", "1"], cache=True, cache_dir=tmp_path / "c", out=tmp_path / "o.h5", quiet=True
    )
    np.testing.assert_array_equal(out["3"], cached["3"])
    assert list(out) == ["3", "1"]
