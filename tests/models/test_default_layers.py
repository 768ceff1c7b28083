"""default_layers: meta wins; otherwise a mid-level block and the penultimate pooled layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import repalign as ra
from repalign.models import Model, Preprocess, default_layers


@pytest.mark.parametrize(
    ("spec", "kwargs", "expected"),
    [
        ("torchvision:resnet18", {"image_size": 64}, ["layer3", "avgpool"]),
        ("torchvision:mobilenet_v3_small", {"image_size": 64}, ["features.6", "avgpool"]),
        ("timm:vit_tiny_patch16_224", {"img_size": 32}, ["blocks.5", "norm"]),
        ("timm:resnet18", {"image_size": 64}, ["layer3", "global_pool"]),
        ("timm:convnext_atto", {"image_size": 64}, ["stages.1", "head.global_pool"]),
        ("hf:dinov2", {"config": {"hidden_size": 32, "num_hidden_layers": 12, "num_attention_heads": 2,
                                   "image_size": 32, "patch_size": 8}},
         ["model.encoder.layer.5", "model.layernorm"]),
    ],
)
def test_heuristic_on_known_architectures(spec, kwargs, expected):
    if spec.startswith("hf:"):
        pytest.importorskip("transformers")
    m = ra.create_model(spec, pretrained=False, device="cpu", **kwargs)
    assert default_layers(m) == expected


def test_meta_preset_wins(tiny_cnn):
    tiny_cnn.meta["default_layers"] = ["4", "6"]
    assert default_layers(tiny_cnn) == ["4", "6"]


def test_small_cnn_and_mlp():
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 3))
    m = Model(net, Preprocess([0.5] * 3, [0.5] * 3), spec="t:mlp", input_size=(3, 2, 2))
    assert default_layers(m)[-1] == "2"  # the ReLU before the head, skipping the dropout


def test_tiny_cnn_fixture(tiny_cnn):
    layers = default_layers(tiny_cnn)
    assert layers[-1] == "5"  # AdaptiveAvgPool2d, then only the head
    out = tiny_cnn.features(torch.rand(2, 3, 16, 16), layers)
    assert out["5"].shape == (2, 16, 2, 2)
