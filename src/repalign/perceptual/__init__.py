"""Perceptual distances between images: LPIPS, DreamSim, SSIM, MS-SSIM, pixel L2, model feature
distances.

Every distance maps two batches of images (N, C, H, W) in [0, 1] to an (N,) tensor, is
differentiable, and accepts 1- or 3-channel images (LPIPS and DreamSim repeat grey to RGB; the others need no
conversion). See :mod:`repalign.perceptual.registry` for the spec syntax.

Example:
    >>> import torch
    >>> from repalign.perceptual import get_distance, pairwise_distances
    >>> x, y = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32)
    >>> get_distance("ms_ssim")(x, y).shape
    torch.Size([4])
    >>> pairwise_distances(x, y, "pixel_l2").shape
    torch.Size([4, 4])
"""

from repalign.perceptual.base import CallableDistance, Distance, MeanDistance
from repalign.perceptual.dreamsim_distance import DreamSim
from repalign.perceptual.features import FeatureDistance
from repalign.perceptual.lpips_distance import LPIPS, trunk_file
from repalign.perceptual.pixel import PixelL2
from repalign.perceptual.registry import (
    DISTANCES,
    DistanceSpec,
    distance,
    get_distance,
    list_distances,
    pairwise_distances,
)
from repalign.perceptual.structural import MSSSIM, SSIM

__all__ = [
    "DISTANCES",
    "LPIPS",
    "MSSSIM",
    "SSIM",
    "CallableDistance",
    "Distance",
    "DistanceSpec",
    "DreamSim",
    "FeatureDistance",
    "MeanDistance",
    "PixelL2",
    "distance",
    "get_distance",
    "list_distances",
    "pairwise_distances",
    "trunk_file",
]
