"""Starting points of the optimisation; never the target itself.

An init is ``(targets, generator, **options) -> seeds``: (N, C, H, W) in [0, 1] -> the same shape
in [0, 1], random numbers drawn from the CPU ``generator`` (so a seed does not depend on the
batch it lands in). :func:`make_seeds` refuses starting points equal to their target.

- ``noise``: Feather's ``clamp(0.5 + 0.05 N(0, 1), 0, 1)``.
- ``gaussian``: Nanda's ``N(0, 1)`` seed, clamped to [0, 1] at the start (Nanda's code clamps
  only after the first step, so its first gradient is taken at the unclamped seed).
- ``light_noise``: Nanda's ``0.01 N(0, 1)``, clamped to [0, 1].
- ``uniform``: ``U(0, 1)``; ``white``: ones; ``black``: zeros.
- ``image``: given seed image(s) (``image=`` (1 or N, C, H, W)), e.g. other stimuli.
- ``other``: for each target another natural image, drawn at random among the other targets (or
  from ``pool=`` stimuli); the metamer starts from a real image that is not its target.
- ``blend``: ``alpha * target + (1 - alpha) * noise`` with ``0 <= alpha < 1``.
- ``lowpass``: the target blurred with a Gaussian of ``sigma`` pixels.

Example:
    >>> import torch
    >>> t = torch.rand(2, 1, 8, 8)
    >>> make_seeds("blend:alpha=0.5", t, seed=0).shape
    torch.Size([2, 1, 8, 8])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from repalign._registry import Registry, Summary
from repalign._validation import check_images
from repalign.errors import ConfigError, ShapeError
from repalign.metamers._spec import check_options
from repalign.specs import split_spec

__all__ = ["INITS", "list_inits", "make_seeds"]

Init = Callable[..., torch.Tensor]
INITS: Registry[Init, Summary] = Registry("init", Summary)


def _normal(t: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(t.shape, generator=gen, dtype=t.dtype)


@INITS.register("noise", summary="clamp(0.5 + 0.05 N(0, 1)) (Feather)")
def noise(t: torch.Tensor, gen: torch.Generator, mean: float = 0.5, std: float = 0.05) -> torch.Tensor:
    return (mean + std * _normal(t, gen)).clamp(0, 1)


@INITS.register("gaussian", summary="clamp(N(0, 1)) (Nanda)")
def gaussian(t: torch.Tensor, gen: torch.Generator, std: float = 1.0) -> torch.Tensor:
    return (std * _normal(t, gen)).clamp(0, 1)


@INITS.register("light_noise", summary="clamp(0.01 N(0, 1)) (Nanda)")
def light_noise(t: torch.Tensor, gen: torch.Generator, std: float = 0.01) -> torch.Tensor:
    return (std * _normal(t, gen)).clamp(0, 1)


@INITS.register("uniform", summary="U(0, 1)")
def uniform(t: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(t.shape, generator=gen, dtype=t.dtype)


@INITS.register("white", summary="all ones")
def white(t: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.ones_like(t)


@INITS.register("black", summary="all zeros")
def black(t: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.zeros_like(t)


@INITS.register("image", summary="given seed image(s)")
def image(t: torch.Tensor, gen: torch.Generator, image: Any = None) -> torch.Tensor:
    if image is None:
        raise ConfigError(
            "init='image' needs the seed images: pass init=('image', {'image': tensor}) with a "
            "(1 or N, C, H, W) tensor in [0, 1] (e.g. other stimuli)."
        )
    img = getattr(image, "images", image)
    img = check_images(img, "init image", channels=t.shape[1]).to(t.dtype)
    if img.shape[-2:] != t.shape[-2:] or img.shape[0] not in (1, t.shape[0]):
        raise ShapeError(
            f"init image has shape {tuple(img.shape)}; expected (1 or {t.shape[0]}, {t.shape[1]}, "
            f"{t.shape[2]}, {t.shape[3]}) to match the targets."
        )
    return img.expand_as(t).clone()


@INITS.register("other", summary="another natural image (from the targets or a pool)")
def other(t: torch.Tensor, gen: torch.Generator, pool: Any = None) -> torch.Tensor:
    p = t if pool is None else check_images(getattr(pool, "images", pool), "init pool",
                                            channels=t.shape[1]).to(t.dtype)
    if p.shape[-2:] != t.shape[-2:]:
        raise ShapeError(f"init pool images are {tuple(p.shape[-2:])}, the targets "
                         f"{tuple(t.shape[-2:])}; use a pool of the targets' size.")
    gap = torch.cdist(t.flatten(1).double(), p.flatten(1).double(),
                      compute_mode="donot_use_mm_for_euclid_dist")
    allowed = (gap > 0).to(torch.float64)  # exact: identical images have distance 0
    if bool((allowed.sum(1) == 0).any()):
        raise ConfigError(
            "init='other' needs, for every target, another image that differs from it; pass "
            "several distinct targets or init=('other', {'pool': stimuli})."
        )
    pick = torch.multinomial(allowed, 1, generator=gen).flatten()
    return p[pick].clone()


@INITS.register("blend", summary="alpha * target + (1 - alpha) * noise")
def blend(
    t: torch.Tensor, gen: torch.Generator, alpha: float = 0.5, mean: float = 0.5, std: float = 0.05
) -> torch.Tensor:
    if not 0.0 <= float(alpha) < 1.0:
        raise ConfigError(
            f"init='blend' needs 0 <= alpha < 1, received alpha={alpha}; alpha=1 would start at "
            "the target itself (zero loss). Use e.g. alpha=0.5."
        )
    return (alpha * t + (1 - alpha) * noise(t, gen, mean, std)).clamp(0, 1)


@INITS.register("lowpass", summary="the target blurred by a Gaussian")
def lowpass(t: torch.Tensor, gen: torch.Generator, sigma: float = 2.0) -> torch.Tensor:
    if float(sigma) <= 0:
        raise ConfigError(f"init='lowpass' needs sigma > 0 pixels, received sigma={sigma}.")
    return gaussian_blur(t, float(sigma)).clamp(0, 1)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) images, kernel radius 3 sigma, reflected borders."""
    radius = max(1, min(int(3 * sigma + 0.5), min(x.shape[-2:]) - 1))
    k = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=x.dtype) / sigma) ** 2)
    k = (k / k.sum()).to(x.device)
    c = x.shape[1]
    y = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def list_inits(pattern: str = "*") -> list[str]:
    """Registered starting points."""
    return INITS.list(pattern)


def make_seeds(spec: Any, targets: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Starting images for ``targets`` (N, C, H, W) from an init spec; float32 on the CPU.

    Raises:
        ConfigError: a starting image equals its target, or the options are invalid.
    """
    name, kwargs = split_spec(spec, "init")
    fn = INITS.get(name)
    t = targets.detach().to("cpu", torch.float32)
    # a stream of its own, so that seed=0 does not reproduce torch.manual_seed(0) draws
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence([int(seed), 1]).generate_state(1)[0]))
    check_options(fn, "init", name, t, gen, **kwargs)
    out = fn(t, gen, **kwargs)
    same = (out == t).flatten(1).all(1)
    if bool(same.any()):
        rows = same.nonzero().flatten().tolist()[:10]
        raise ConfigError(
            f"The starting point equals the target for sample(s) {rows}: generation would start "
            "at zero loss. Choose another init (e.g. 'noise', 'blend:alpha=0.5', 'lowpass')."
        )
    return out.to(torch.float32)
