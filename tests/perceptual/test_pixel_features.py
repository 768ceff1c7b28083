"""pixel_l2 and model feature distances against direct NumPy / Model.features computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repalign.errors import ConfigError, ShapeError, UnknownNameError
from repalign.perceptual import FeatureDistance, PixelL2, get_distance
from repalign.perceptual.features import parse_model_spec


def test_pixel_l2_is_the_rms_difference(rng):
    x, y = rng.random((4, 3, 9, 7)), rng.random((4, 3, 9, 7))
    ours = PixelL2()(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    ref = np.sqrt(((x - y) ** 2).reshape(4, -1).mean(1))
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    z = torch.zeros(1, 1, 3, 3, requires_grad=True)
    PixelL2()(z, z.detach()).sum().backward()
    assert torch.equal(z.grad, torch.zeros_like(z))  # zero, not NaN, at x == y


def test_feature_distance_by_hand(tiny_cnn, images):
    x, y = images[:3], images[3:]
    d = FeatureDistance(tiny_cnn, ["3", "5"])
    assert d.name == "model:test:tiny_cnn_s0@3+5"
    with torch.no_grad():
        fx, fy = tiny_cnn.features(x, ["3", "5"]), tiny_cnn.features(y, ["3", "5"])
    ref = torch.stack([
        torch.sqrt(((fx[k] - fy[k]) ** 2).flatten(1).mean(1)) for k in ("3", "5")
    ]).mean(0)
    torch.testing.assert_close(d(x, y), ref)
    torch.testing.assert_close(d.pairwise(x, y).diagonal(), ref)
    # float64 input: the float32 model is neither moved nor cast; the result follows the input
    out = d(x.double(), y.double())
    assert out.dtype == torch.float64
    assert next(tiny_cnn.parameters()).dtype == torch.float32
    xg = x.clone().requires_grad_(True)
    d(xg, y).sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0


def test_model_spec_parsing_and_errors(tiny_cnn, images):
    assert parse_model_spec("model:zoo:cnn_l2_s0@features.4") == ("zoo:cnn_l2_s0", ["features.4"])
    assert parse_model_spec("model:file:/a@b.pt@x+y") == ("file:/a@b.pt", ["x", "y"])
    for bad in ("model:zoo:cnn_l2_s0", "model:@features.4", "model:zoo:x@"):
        with pytest.raises(ConfigError, match="model:SPEC@LAYER"):
            parse_model_spec(bad)
    with pytest.raises(UnknownNameError, match="layer of test:tiny_cnn_s0"):
        FeatureDistance(tiny_cnn, ["nope"])
    with pytest.raises(ConfigError, match="needs a repalign Model"):
        FeatureDistance(torch.nn.Identity(), ["0"])
    with pytest.raises(ShapeError, match="3-channel images"):
        FeatureDistance(tiny_cnn, ["3"])(images[:2, :1], images[2:4, :1])


def test_model_spec_builds_through_create_model(images):
    from repalign.models import factory

    names = factory.list_models("zoo:*")
    assert names, "the zoo ships checkpoints"
    model = factory.create_model(names[0])
    layer = model.layers()[0]
    d = get_distance(f"model:{names[0]}@{layer}")
    c = model.input_size[0]
    x = torch.rand(2, c, *model.input_size[1:])
    assert d(x, x.flip(0)).shape == (2,)
    assert not any(p.requires_grad for p in d.model.parameters())
