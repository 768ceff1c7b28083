"""``pixel_l2``: the root-mean-square difference of pixel values."""

from __future__ import annotations

import math

import torch

from repalign.perceptual.base import Distance

__all__ = ["PixelL2"]


class PixelL2(Distance):
    """Root-mean-square pixel difference, ``||x - y||_2 / sqrt(C * H * W)``, in [0, 1].

    Any channel count; no conversion. Not a perceptual metric: it is the baseline every perceptual
    distance should beat. The gradient at ``x == y`` is zero (not NaN).

    Example:
        >>> PixelL2()(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5))
        tensor([0.5000])
    """

    name = "pixel_l2"

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    def between(self, ex: torch.Tensor, ey: torch.Tensor) -> torch.Tensor:
        norm: torch.Tensor = torch.linalg.vector_norm(ex - ey, dim=1) / math.sqrt(ex.shape[1])
        return norm
