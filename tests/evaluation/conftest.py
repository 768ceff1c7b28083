"""Hand-made MetamerResults and observers whose answers are known."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch
from torch import nn

from repalign.metamers.result import MetamerResult
from repalign.models.model import Model, Preprocess


def make_result(images, seeds, targets, target_ids: Sequence[str], labels=None, *,
                generators=None, layers=None, regularizers=None, inits=None, repeats=None):
    m = images.shape[0]

    def col(v, default):
        return list(v) if v is not None else [default] * m

    return MetamerResult(
        images=images, seeds=seeds, targets=targets, target_ids=list(target_ids),
        target_labels=np.asarray(labels if labels is not None else [-1] * m),
        generators=col(generators, "gen:a"), layers=col(layers, "L"),
        inits=col(inits, "noise"), regularizers=col(regularizers, "none"),
        optimizers=["adam"] * m, repeats=np.asarray(repeats if repeats is not None else [0] * m),
        final_distance=np.zeros(m), success=np.ones(m, bool), steps_to_success=np.zeros(m, int),
    )


def level_images(levels, channels=1, size=16, noise=0.0, seed=0) -> torch.Tensor:
    """Images of constant grey ``levels`` (plus optional Gaussian noise), clipped to [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    lv = torch.as_tensor(levels, dtype=torch.float32).view(-1, 1, 1, 1)
    x = lv.expand(-1, channels, size, size).clone()
    if noise:
        x = x + noise * torch.randn(x.shape, generator=g)
    return x.clamp(0, 1)


class BrightnessNet(nn.Module):
    """Classifies an image by its mean grey level: class k is nearest to ``centres[k]``."""

    def __init__(self, centres):
        super().__init__()
        self.register_buffer("centres", torch.as_tensor(centres, dtype=torch.float32))
        self.scale = nn.Parameter(torch.ones(1))  # a parameter, so the model has a device
        self.pool = nn.AdaptiveAvgPool2d(4)  # a layer: local brightness on a 4x4 grid

    def forward(self, x):
        m = self.pool(x).mean(dim=(1, 2, 3)).unsqueeze(1)
        return -self.scale * (m - self.centres) ** 2


class RandomNet(nn.Module):
    """Random logits that ignore the input: an observer that can only guess."""

    def __init__(self, classes, seed=0):
        super().__init__()
        self.classes = classes
        self.gen = torch.Generator().manual_seed(seed)
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.randn(x.shape[0], self.classes, generator=self.gen)


@pytest.fixture
def brightness_observer() -> Model:
    centres = [0.1, 0.3, 0.5, 0.7, 0.9]
    return Model(BrightnessNet(centres), None, spec="test:brightness", input_size=(1, 16, 16),
                 meta={"classes": [0, 1, 2, 3, 4], "architecture": "bright", "style": "standard",
                       "seed": 0, "penultimate": "pool"}).eval()


@pytest.fixture
def random_observer() -> Model:
    return Model(RandomNet(5), None, spec="test:random", input_size=(1, 16, 16),
                 meta={"classes": [0, 1, 2, 3, 4]}).eval()


@pytest.fixture
def make():
    return make_result


@pytest.fixture
def levels():
    return level_images


def cnn_observer(spec: str, *, seed: int, architecture: str = "cnn", style: str = "standard") -> Model:
    """A random small grey-image CNN with zoo-like metadata (5 classes = labels 0-4)."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(32, 5),
    )
    meta = {"architecture": architecture, "style": style, "seed": seed, "classes": [0, 1, 2, 3, 4],
            "penultimate": "6", "default_layers": ["3", "6"]}
    return Model(net, Preprocess([0.5], [0.25]), spec=spec, input_size=(1, 16, 16), meta=meta).eval()


@pytest.fixture
def cnn():
    return cnn_observer
