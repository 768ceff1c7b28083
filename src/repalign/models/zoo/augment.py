"""Batched, seeded image augmentations used to train the zoo (all stay in [0, 1]).

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> augment(torch.rand(4, 1, 32, 32), "affine_noise", g).shape
    torch.Size([4, 1, 32, 32])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from repalign.errors import ConfigError

__all__ = ["AUGMENTATIONS", "augment", "contrastive_view", "random_affine"]

#: name -> (max translation as a fraction of the size, max rotation in degrees, max scale change,
#: Gaussian noise sd)
AUGMENTATIONS: dict[str, tuple[float, float, float, float]] = {
    "none": (0.0, 0.0, 0.0, 0.0),
    "affine": (0.08, 10.0, 0.08, 0.0),
    "affine_noise": (0.08, 10.0, 0.08, 0.05),
}
#: stronger augmentation for the two views of contrastive learning
CONTRASTIVE: tuple[float, float, float, float] = (0.15, 20.0, 0.2, 0.1)


def _uniform(n: int, bound: float, generator: torch.Generator) -> torch.Tensor:
    return (2.0 * torch.rand(n, generator=generator) - 1.0) * bound


def random_affine(x: torch.Tensor, generator: torch.Generator, *, translate: float,
                  rotate: float, scale: float) -> torch.Tensor:
    """Random per-image translation, rotation and zoom of (N, C, H, W) images (zero padding).

    Args:
        translate: maximal shift as a fraction of the image size.
        rotate: maximal rotation in degrees.
        scale: maximal relative zoom change (zoom drawn in [1 - scale, 1 + scale]).
    """
    n = x.shape[0]
    if translate == rotate == scale == 0.0:
        return x
    angle = _uniform(n, math.radians(rotate), generator)
    zoom = 1.0 + _uniform(n, scale, generator)
    shift = torch.stack([_uniform(n, 2 * translate, generator) for _ in range(2)], dim=1)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    ).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _apply(x: torch.Tensor, params: tuple[float, float, float, float],
           generator: torch.Generator) -> torch.Tensor:
    translate, rotate, scale, noise = params
    out = random_affine(x, generator, translate=translate, rotate=rotate, scale=scale)
    if noise > 0:
        eps = torch.randn(out.shape, generator=generator).to(device=out.device, dtype=out.dtype)
        out = out + noise * eps
    return out.clamp(0.0, 1.0)


def augment(x: torch.Tensor, name: str, generator: torch.Generator) -> torch.Tensor:
    """Apply the named augmentation (``"none"``, ``"affine"``, ``"affine_noise"``)."""
    if name not in AUGMENTATIONS:
        raise ConfigError(
            f"augmentation must be one of {sorted(AUGMENTATIONS)}, received {name!r}."
        )
    return _apply(x, AUGMENTATIONS[name], generator)


def contrastive_view(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One strongly augmented view for contrastive (SimCLR-style) learning."""
    return _apply(x, CONTRASTIVE, generator)
