"""Image conversions shared by the stimulus loaders: centre-crop + resize, channel conversion.

Both work on float (N, C, H, W) tensors in [0, 1] and keep values in [0, 1].

Example:
    >>> x = torch.rand(2, 3, 40, 60)
    >>> crop_resize(x, (32, 32)).shape, convert_channels(x, 1).shape
    (torch.Size([2, 3, 32, 32]), torch.Size([2, 1, 40, 60]))
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from repalign.errors import ConfigError

__all__ = ["LUMA_WEIGHTS", "as_size", "convert_channels", "crop_resize"]

#: ITU-R 601-2 luma weights, as in PIL's ``convert("L")``
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def as_size(size: int | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    """Normalise a ``size`` argument: None, an int (square) or (height, width)."""
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        hw = (int(size), int(size))
    elif (isinstance(size, (tuple, list)) and len(size) == 2
          and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size)):
        hw = (int(size[0]), int(size[1]))
    else:
        raise ConfigError(f"size must be an int or (height, width), received {size!r}.")
    if min(hw) < 1:
        raise ConfigError(f"size must be positive, received {size!r}.")
    return hw


def crop_resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Centre-crop (N, C, H, W) images to the aspect ratio of ``size``, then resize to it.

    Downsampling is antialiased bilinear, upsampling plain bilinear; both are convex
    combinations of pixels, so values stay in [0, 1].
    """
    h, w = images.shape[-2:]
    th, tw = size
    if (h, w) == (th, tw):
        return images
    if w * th > h * tw:  # too wide: crop the width
        new_w = max(1, round(h * tw / th))
        left = (w - new_w) // 2
        images = images[..., :, left:left + new_w]
    elif w * th < h * tw:  # too tall: crop the height
        new_h = max(1, round(w * th / tw))
        top = (h - new_h) // 2
        images = images[..., top:top + new_h, :]
    down = images.shape[-2] > th or images.shape[-1] > tw
    out = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=down)
    return out.clamp_(0.0, 1.0)


def convert_channels(images: torch.Tensor, channels: int | None) -> torch.Tensor:
    """Convert (N, C, H, W) images to 1 channel (luma) or 3 (grey replicated); None keeps C."""
    if channels is None or images.shape[1] == channels:
        return images
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1, 3 or None, received {channels!r}.")
    if images.shape[1] == 1:
        return images.expand(-1, 3, -1, -1).contiguous()
    if images.shape[1] == 3:
        w = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype, device=images.device)
        return (images * w.view(1, 3, 1, 1)).sum(1, keepdim=True).clamp_(0.0, 1.0)
    raise ConfigError(f"cannot convert {images.shape[1]}-channel images to {channels} channels.")
