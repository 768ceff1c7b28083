"""harmonized: weights from files the test writes (a Keras-layout HDF5 file and a state dict),
checked against a channels-last forward written with the Keras kernels as they are stored."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import repalign as ra
from repalign.errors import ConfigError, DataFormatError, UnknownNameError, WeightsUnavailableError
from repalign.models.sources import harmonized_source

CFG = [4, "M", 8, 8, "M"]          # block1_conv1, block2_conv1, block2_conv2
KERAS_LAYERS = ["block1_conv1", "block2_conv1", "block2_conv2"]


def _small_vgg() -> nn.Module:
    """torchvision's VGG class (same module names as vgg16) with fewer, narrower layers."""
    net = torchvision.models.VGG(torchvision.models.vgg.make_layers(CFG), num_classes=6, init_weights=False)
    net.classifier = nn.Sequential(nn.Linear(8 * 49, 12), nn.ReLU(True), nn.Dropout(),
                                   nn.Linear(12, 12), nn.ReLU(True), nn.Dropout(), nn.Linear(12, 6))
    return net


def _write_keras(path, rng) -> dict[str, np.ndarray]:
    """A file laid out as Keras saves a model: model_weights/<layer>/<layer>/kernel:0."""
    shapes = {"block1_conv1": (3, 3, 3, 4), "block2_conv1": (3, 3, 4, 8), "block2_conv2": (3, 3, 8, 8),
              "fc1": (7 * 7 * 8, 12), "fc2": (12, 12), "predictions": (12, 6)}
    w = {}
    with h5py.File(path, "w") as f:
        for layer, shape in shapes.items():
            g = f.create_group(f"model_weights/{layer}/{layer}")
            w[f"{layer}/kernel"] = rng.normal(scale=0.3, size=shape).astype(np.float32)
            w[f"{layer}/bias"] = rng.normal(scale=0.1, size=shape[-1]).astype(np.float32)
            g["kernel:0"], g["bias:0"] = w[f"{layer}/kernel"], w[f"{layer}/bias"]
    return w


def _keras_forward(x: torch.Tensor, w: dict[str, np.ndarray]) -> torch.Tensor:
    """Channels-last reference: convs as cross-correlations over (H, W, C_in) windows with
    HWIO kernels, flattening in (H, W, C) order, dense layers as ``x @ kernel + bias``."""
    h = x.permute(0, 2, 3, 1)  # NHWC
    for layer in KERAS_LAYERS:
        k, b = torch.from_numpy(w[f"{layer}/kernel"]), torch.from_numpy(w[f"{layer}/bias"])
        padded = F.pad(h, (0, 0, 1, 1, 1, 1))
        windows = padded.unfold(1, 3, 1).unfold(2, 3, 1)           # N, H, W, C, 3, 3
        h = torch.relu(torch.einsum("nhwcij,ijco->nhwo", windows, k) + b)
        if layer in ("block1_conv1", "block2_conv2"):
            h = h.reshape(h.shape[0], h.shape[1] // 2, 2, h.shape[2] // 2, 2, -1).amax((2, 4))
    h = h.reshape(h.shape[0], -1)
    for layer in ("fc1", "fc2", "predictions"):
        h = h @ torch.from_numpy(w[f"{layer}/kernel"]) + torch.from_numpy(w[f"{layer}/bias"])
        if layer != "predictions":
            h = torch.relu(h)
    return h


@pytest.fixture
def small_vgg16(monkeypatch):
    monkeypatch.setitem(harmonized_source.ARCHITECTURES, "vgg16", (_small_vgg, "torchvision vgg16", "vgg16_harmonized.h5"))


def test_keras_file_converts_to_the_keras_forward(tmp_path, monkeypatch, small_vgg16, no_network):
    rng = np.random.default_rng(0)
    monkeypatch.setenv("REPALIGN_HARMONIZED_DIR", str(tmp_path))
    w = _write_keras(tmp_path / "vgg16_harmonized", rng)  # the name Keras' get_file caches it under
    m = ra.create_model("harmonized:vgg16", device="cpu")
    assert m.meta["source"] == "harmonized" and m.meta["pretrained"] and m.input_size == (3, 224, 224)
    x = torch.rand(2, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    m.preprocess.size = None  # 28 x 28 keeps the 7 x 7 map of the reference
    with torch.no_grad():
        torch.testing.assert_close(m(x), _keras_forward((x - mean) / std, w), rtol=1e-4, atol=1e-4)
    # the same weights as a PyTorch state dict file
    torch.save(m.network.state_dict(), tmp_path / "sd.pt")
    m2 = ra.create_model("harmonized:vgg16", weights=tmp_path / "sd.pt", device="cpu")
    assert m2.weights_sha256() == m.weights_sha256()


def test_errors(tmp_path, monkeypatch, small_vgg16):
    monkeypatch.setenv("REPALIGN_HARMONIZED_DIR", str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match=r"not available offline.*vgg16_harmonized\.pt.*vgg16_harmonized\.h5"):
        ra.create_model("harmonized:vgg16")
    with pytest.raises(WeightsUnavailableError, match=r"vit_b16_harmonized\.pt.*timm vit_base_patch16_224"):
        ra.create_model("harmonized:vit_b16")
    with pytest.raises(UnknownNameError, match="vgg16"):
        ra.create_model("harmonized:resnet50v2")
    with h5py.File(tmp_path / "vgg16_harmonized.h5", "w") as f:
        f.create_dataset("model_weights/fc1/fc1/kernel:0", data=np.zeros((3, 3), np.float32))
    with pytest.raises(DataFormatError, match="block1_conv1/kernel:0"):
        ra.create_model("harmonized:vgg16")
    with pytest.raises(ConfigError, match=r"needs a torchvision VGG.*Linear\.features is NoneType"):
        harmonized_source.convert_keras_vgg(tmp_path / "vgg16_harmonized.h5", nn.Linear(2, 2))
    assert ra.list_models("harmonized:*") == ["harmonized:vgg16", "harmonized:vit_b16"]


@pytest.mark.parametrize(("arch", "cls", "n_params"), [
    ("vgg16", "VGG", 138_357_544),                   # torchvision's vgg16
    ("vit_b16", "VisionTransformer", 86_567_656),    # timm's vit_base_patch16_224
])
def test_builders_are_the_matching_architectures(arch, cls, n_params):
    with torch.device("meta"):  # shapes only: no memory, no initialisation time
        net = harmonized_source.ARCHITECTURES[arch][0]()
    assert type(net).__name__ == cls and sum(p.numel() for p in net.parameters()) == n_params
