"""Shared fixtures: small deterministic models and images; tests never download."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from repalign.models.model import Model, Preprocess

# one thread per process: tests are small, and pytest-xdist may run several processes
torch.set_num_threads(1)

# real human data lives beside the project at ../shared/data (override with REPALIGN_SHARED_DATA)
SHARED_DATA = Path(
    os.environ.get("REPALIGN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def shared_data() -> Path:
    """The folder of real human data used by tests; skips when it is absent (a user's machine)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


def make_tiny_cnn(channels: int = 3, size: int = 16, classes: int = 5, seed: int = 0) -> Model:
    """A random-initialised small CNN wrapped as a Model (for tests that need any network)."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(64, classes),
    )
    model = Model(
        net,
        Preprocess([0.5] * channels, [0.25] * channels),
        spec=f"test:tiny_cnn_s{seed}",
        input_size=(channels, size, size),
        meta={"source": "test", "seed": seed},
    )
    return model.eval()


@pytest.fixture
def tiny_cnn() -> Model:
    return make_tiny_cnn()


@pytest.fixture
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(6, 3, 16, 16, generator=g)


@pytest.fixture
def one_torch_thread():
    """Run a test on one intra-op thread (tiny tensor work is fastest so on a busy machine);
    folders whose tests all want it request it from an autouse fixture in their conftest."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
