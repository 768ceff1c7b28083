"""Fixtures for the feature tests: a small CNN whose modules count their calls."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from repalign.models.model import Model, Preprocess


class Counting(nn.Module):
    """Wraps a module and counts forward calls."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.inner(x)


@pytest.fixture
def counting_cnn() -> Model:
    """conv(0) relu(1) conv(2) relu(3) pool(4) flatten(5) head(6, counted); 3x16x16 inputs."""
    torch.manual_seed(0)
    net = nn.Sequential(
        Counting(nn.Conv2d(3, 6, 3, padding=1)),
        nn.ReLU(),
        nn.Conv2d(6, 8, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        Counting(nn.Linear(32, 4)),
    )
    return Model(net, Preprocess([0.5] * 3, [0.25] * 3), spec="test:counting", input_size=(3, 16, 16)).eval()


@pytest.fixture
def stimuli():
    from repalign.data.stimuli import Stimuli

    g = torch.Generator().manual_seed(1)
    images = torch.rand(10, 3, 16, 16, generator=g)
    return Stimuli(images, ids=[f"img{i:02d}" for i in range(10)], name="test")
