"""Fixtures of the metamer tests: one CPU thread, toy models whose layers are known maps."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from repalign.models.model import Model


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Small models run fastest on one thread (and do not fight other processes for cores)."""
    yield


@pytest.fixture
def null(rng) -> torch.Tensor:
    """30 uniform-noise images (3x16x16) for the criterion's null."""
    return torch.from_numpy(rng.random((30, 3, 16, 16))).float()


class _Invertible(nn.Module):
    """A fixed invertible 1x1 colour mixing followed by a flatten: layer "mix" is invertible."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.mix = nn.Conv2d(channels, channels, 1, bias=True)
        with torch.no_grad():
            w = torch.eye(channels) + 0.3 * torch.randn(channels, channels, generator=g)
            self.mix.weight.copy_(w.view(channels, channels, 1, 1))
            self.mix.bias.fill_(0.1)
        self.flat = nn.Flatten()
        self.head = nn.Linear(channels * 64, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flat(self.mix(x)))


@pytest.fixture
def invertible_model() -> Model:
    """3x8x8 inputs; layer "mix" is an invertible affine map of the pixels, "flat" the same
    values flattened; identity preprocessing."""
    return Model(_Invertible(), None, spec="test:invertible", input_size=(3, 8, 8)).eval()


@pytest.fixture
def identity_model() -> Model:
    """Layers "0" (flatten) and "1" (identity): activations are the pixels themselves."""
    net = nn.Sequential(nn.Flatten(), nn.Identity())
    return Model(net, None, spec="test:identity", input_size=(1, 4, 4)).eval()


@pytest.fixture
def cnn_pair(tiny_cnn) -> tuple[Model, Model]:
    """Two tiny CNNs of the same architecture with different weights (specs ``..._s0``/``_s1``)."""
    import copy

    other = copy.deepcopy(tiny_cnn)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in other.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * p.std().clamp_min(0.05))
    other.spec = "test:tiny_cnn_s1"
    return tiny_cnn, other
