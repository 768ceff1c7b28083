"""thingsvision's transform.npz: reading the published file, writing, round trips, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from repalign.alignment import GLocal, load_transform, save_transform
from repalign.errors import DataFormatError, ShapeError


def test_published_transform_applies_as_thingsvision(shared_data, rng, tmp_path):
    path = shared_data / "glocal" / "resnet18_avgpool_transform.npz"
    raw = np.load(path)
    est = load_transform(path)
    x = rng.gamma(1.0, 1.0, size=(9, 512)).astype(np.float32)  # non-negative like avgpool
    expect = ((x.astype(np.float64) - float(raw["mean"])) / float(raw["std"])) @ raw["weights"].astype(
        np.float64
    ) + raw["bias"].astype(np.float64)
    np.testing.assert_allclose(est.transform(x), expect, rtol=1e-10, atol=1e-12)
    assert est.n_features_in_ == 512 and est.fit_bias
    # round trip: repalign writes the same arrays thingsvision wrote
    out = est.save(tmp_path / "transform.npz")
    again = np.load(out)
    assert sorted(again.files) == ["bias", "mean", "std", "weights"]
    for key in raw.files:
        np.testing.assert_array_equal(again[key], raw[key])
        assert again[key].dtype == raw[key].dtype
    np.testing.assert_array_equal(load_transform(out).transform(x), est.transform(x))


def test_fitted_estimator_round_trip(rng, tmp_path):
    x = rng.normal(size=(20, 6))
    t = np.array([rng.choice(20, 3, replace=False) for _ in range(60)])
    est = GLocal(max_epochs=2, device="cpu", random_state=0).fit(x, t, validation=None)
    path = est.save(tmp_path / "sub" / "transform.npz")
    loaded = load_transform(path)
    np.testing.assert_allclose(loaded.transform(x), est.transform(x), rtol=1e-5, atol=1e-6)
    assert loaded.score(x, t) == pytest.approx(est.score(x, t), abs=1 / 60 + 1e-9)


def test_bias_is_optional(tmp_path):
    save_transform(tmp_path / "t.npz", 2 * np.eye(2), None, 1.0, 0.5)
    est = load_transform(tmp_path / "t.npz")
    assert not est.fit_bias
    np.testing.assert_allclose(est.transform([[1.0, 2.0]]), [[0.0, 4.0]])


def test_bad_files(tmp_path):
    with pytest.raises(DataFormatError, match="No transform file"):
        load_transform(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(DataFormatError, match=r"not a readable \.npz"):
        load_transform(tmp_path / "junk.npz")
    np.savez(tmp_path / "nokey.npz", weights=np.eye(2))
    with pytest.raises(DataFormatError, match=r"lacks \['mean', 'std'\]"):
        load_transform(tmp_path / "nokey.npz")
    np.savez(tmp_path / "rect.npz", weights=np.ones((2, 3)), mean=0.0, std=1.0)
    with pytest.raises(DataFormatError, match="must be square"):
        load_transform(tmp_path / "rect.npz")
    np.savez(tmp_path / "bias.npz", weights=np.eye(2), bias=np.ones(3), mean=0.0, std=1.0)
    with pytest.raises(DataFormatError, match="'bias' must have 2 entries"):
        load_transform(tmp_path / "bias.npz")
    np.savez(tmp_path / "std.npz", weights=np.eye(2), mean=0.0, std=0.0)
    with pytest.raises(DataFormatError, match="std > 0"):
        load_transform(tmp_path / "std.npz")
    with pytest.raises(ShapeError, match="square"):
        save_transform(tmp_path / "w.npz", np.ones((2, 3)), None, 0.0, 1.0)
