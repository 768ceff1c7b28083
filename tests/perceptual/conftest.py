"""Fixtures for the perceptual-distance tests: small image pairs, random-trunk LPIPS quietly."""

from __future__ import annotations

import warnings

import pytest
import torch

from repalign.perceptual import get_distance


@pytest.fixture
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, 3, 32, 32, generator=g), torch.rand(3, 3, 32, 32, generator=g)


@pytest.fixture
def rand_lpips():
    """Build a random-trunk LPIPS distance without the (expected) warning."""
    pytest.importorskip("lpips", reason="the lpips extra is not installed")

    def build(spec: str = "lpips:alex", **options):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return get_distance(spec, pnet_rand=True, **options)

    return build
