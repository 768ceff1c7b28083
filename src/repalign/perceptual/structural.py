"""``ssim`` and ``ms_ssim``: one minus the (multi-scale) structural similarity of pytorch-msssim.

SSIM is computed per channel with pytorch-msssim's Gaussian-windowed statistics (window 11,
sigma 1.5, K = (0.01, 0.03), data range 1) and averaged over channels, so 1- and 3-channel images
need no conversion.

Small images: the window shrinks to the largest odd size that fits the image (``min(11, side)``).
MS-SSIM uses as many of the five standard scales as fit: scale k has side ``ceil(side / 2^k)`` and is
used while that side is at least the window size. With fewer than five scales the first L of
Wang et al.'s weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) are renormalised to sum to one (a
product of powers is a weighted geometric mean only when the exponents sum to one). With all five
the weights are used as published (they sum to 1.0001, as in pytorch-msssim and the reference
MATLAB code), so the value equals ``pytorch_msssim.ms_ssim`` to float rounding; renormalising them
too would change it by about 1e-5 relative. For 32x32 images that is two scales (32 and 16 pixels),
for 28x28 two, for 16x16 one (plain SSIM), and from 161 pixels on all five.

pytorch-msssim's public ``ms_ssim`` refuses images under 161 pixels, so the scales are computed with
its two private helpers (``_fspecial_gauss_1d``, ``_ssim``); the dependency is bounded to
``pytorch-msssim<1.1`` and a test checks their signatures and results.

Gradients: where a scale's contrast-structure term is <= 0, MS-SSIM clips it to zero (as
pytorch-msssim does); the gradient there is zero instead of NaN.
"""

from __future__ import annotations

import math

import torch
from pytorch_msssim import ssim as _ssim_public
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

from repalign.errors import ConfigError, ShapeError
from repalign.perceptual.base import Distance

__all__ = ["MSSSIM", "SSIM", "ms_ssim_levels", "window_size"]

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def window_size(side: int, win_size: int = 11) -> int:
    """The Gaussian window used for images whose smaller side is ``side``: min(win_size, side), odd."""
    if side < 1:
        raise ShapeError(f"SSIM needs images of at least 1x1 pixel, received a side of {side}.")
    win = min(win_size, side)
    return win if win % 2 == 1 else win - 1


def ms_ssim_levels(side: int, win_size: int = 11, max_levels: int = 5) -> int:
    """How many MS-SSIM scales fit an image whose smaller side is ``side`` (at least 1)."""
    levels, s = 0, side
    while levels < max_levels and s >= win_size:
        levels += 1
        s = math.ceil(s / 2)
    return max(levels, 1)


class SSIM(Distance):
    """``1 - SSIM(x, y)``, in [0, 2] (0 for identical images).

    Args:
        win_size: Gaussian window size (odd), shrunk for images smaller than it.
        win_sigma: Gaussian window standard deviation.

    Example:
        >>> x = torch.rand(2, 1, 32, 32)
        >>> SSIM()(x, x)
        tensor([0., 0.])
    """

    name = "ssim"

    def __init__(self, win_size: int = 11, win_sigma: float = 1.5) -> None:
        super().__init__()
        if win_size < 1 or win_size % 2 == 0:
            raise ConfigError(f"win_size must be a positive odd integer, received {win_size}.")
        self.win_size = win_size
        self.win_sigma = float(win_sigma)

    def between(self, ex: torch.Tensor, ey: torch.Tensor) -> torch.Tensor:
        win = window_size(min(ex.shape[-2:]), self.win_size)
        val: torch.Tensor = _ssim_public(ex, ey, data_range=1.0, size_average=False, win_size=win,
                           win_sigma=self.win_sigma)
        return 1.0 - val


class MSSSIM(SSIM):
    """``1 - MS-SSIM(x, y)``, in [0, 1], with as many scales as the image size allows.

    Args:
        win_size: Gaussian window size (odd).
        win_sigma: Gaussian window standard deviation.
        levels: number of scales; ``None`` picks the most that fit (see the module doc). A number
            larger than fits raises ``ShapeError``.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> MSSSIM()(x, x)
        tensor([0., 0.])
    """

    name = "ms_ssim"

    def __init__(self, win_size: int = 11, win_sigma: float = 1.5, levels: int | None = None) -> None:
        super().__init__(win_size, win_sigma)
        if levels is not None and not 1 <= levels <= len(MS_SSIM_WEIGHTS):
            raise ConfigError(f"levels must be between 1 and 5, received {levels}.")
        self.levels = levels

    def between(self, ex: torch.Tensor, ey: torch.Tensor) -> torch.Tensor:
        side = min(ex.shape[-2:])
        win_size = window_size(side, self.win_size)
        fits = ms_ssim_levels(side, win_size)
        levels = self.levels or fits
        if levels > fits:
            raise ShapeError(
                f"ms_ssim with {levels} scales needs images of at least "
                f"{win_size * 2 ** (levels - 1)} pixels per side for a window of {win_size}, "
                f"received {tuple(ex.shape[-2:])}; use levels={fits} or larger images."
            )
        weights = torch.tensor(MS_SSIM_WEIGHTS[:levels], dtype=ex.dtype, device=ex.device)
        if levels < len(MS_SSIM_WEIGHTS):  # all five: the published weights, as pytorch-msssim
            weights = weights / weights.sum()
        win = _fspecial_gauss_1d(win_size, self.win_sigma).repeat(ex.shape[1], 1, 1, 1)
        terms = []
        x, y = ex, ey
        for level in range(levels):
            ssim_c, cs_c = _ssim(x, y, data_range=1.0, win=win, size_average=False)
            if level < levels - 1:
                terms.append(cs_c)
                pad = [s % 2 for s in x.shape[2:]]
                x = torch.nn.functional.avg_pool2d(x, kernel_size=2, padding=pad)
                y = torch.nn.functional.avg_pool2d(y, kernel_size=2, padding=pad)
        terms.append(ssim_c)
        stacked = torch.stack(terms)  # (levels, N, C)
        positive = stacked > 0
        safe = torch.where(positive, stacked, torch.ones_like(stacked))
        powered = torch.where(positive, safe ** weights.view(-1, 1, 1), torch.zeros_like(stacked))
        return 1.0 - powered.prod(0).mean(1)
