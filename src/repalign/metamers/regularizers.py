"""Regularizers of metamer / IRI generation and the loss presets of Nanda et al.

Image regularizers are plain functions ``(N, C, H, W) -> (N,)`` on [0, 1] images; each is
registered with the weight it gets when named alone (``loss = dist + weight * R(x)``). Presets
build a whole loss :class:`~repalign.metamers.terms.Term`:

- ``none``: ``dist`` (regularizer-free, Feather and Nanda).
- ``human_leaning``: Nanda's ``freq``, ``10 dist + 5e-4 TV + 5e-4 blur + 5e-5 L1``; with
  ``perceptual=w > 0`` also ``+ w * P(x, x_t)`` (lean toward what a human-aligned distance such as
  DreamSim sees as the target; off by default).
- ``adversarial``: ``dist - s * P(x, x_t)``, ``s`` fixed per sample at the first step so that both
  terms start equal (``scale="auto"``), or a given number.
- ``seed_anchored``: ``dist + 10 * P(x, x_0)``.

``P`` is a differentiable perceptual distance from :mod:`repalign.perceptual` (``distance=``;
``"auto"`` is LPIPS when its trunk weights are on disk, else SSIM; ``"dreamsim"`` and the other
registered names work too).

Example:
    >>> import torch
    >>> loss = build_loss("total_variation:weight=0.1")
    >>> loss.name
    'dist + 0.1*total_variation'
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from repalign._registry import Registry
from repalign.errors import ConfigError
from repalign.metamers._spec import check_options, spec_name
from repalign.metamers.terms import DIST, LossContext, Term, image_term
from repalign.specs import split_spec

__all__ = [
    "REGULARIZERS",
    "blur",
    "build_loss",
    "l1_center",
    "list_regularizers",
    "lp_norm",
    "range_penalty",
    "resolve_perceptual",
    "total_variation",
]

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class RegularizerInfo:
    """A regularizer's metadata.

    Attributes:
        kind: ``"image"`` (a function of the image, added with a weight) or ``"preset"`` (builds
            the whole loss).
        weight: an image regularizer's default weight.
    """

    kind: Literal["image", "preset"]
    weight: float = 0.0


REGULARIZERS: Registry[Callable[..., Any], RegularizerInfo] = Registry("regularizer", RegularizerInfo)


@REGULARIZERS.register("total_variation", kind="image", weight=5e-5)
def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Squared total variation ``sum (dy)^2 + sum (dx)^2`` per image: (N, C, H, W) -> (N,)."""
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).pow(2).flatten(1).sum(1)
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).flatten(1).sum(1)
    return dy + dx


def _blur3x3(x: torch.Tensor) -> torch.Tensor:
    """Weighted mean of each pixel's 3x3 neighbourhood inside the image (centre 1, the eight
    neighbours 0.5): ``conv(x, k) / conv(1, k)`` with zero padding, as Nanda's code, so border
    pixels are averaged over the neighbours that exist (a constant image is its own blur)."""
    k = torch.full((3, 3), 0.5, dtype=x.dtype, device=x.device)
    k[1, 1] = 1.0
    weight = F.conv2d(torch.ones_like(x[:1, :1]), k.view(1, 1, 3, 3), padding=1)
    return F.conv2d(x, k.expand(x.shape[1], 1, 3, 3), padding=1, groups=x.shape[1]) / weight


@REGULARIZERS.register("blur", kind="image", weight=5e-5)
def blur(x: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
    """``0.5 ||x - stopgrad(blur3x3(x))||^2`` per image (kernel: centre 1, the eight neighbours
    0.5, normalised per pixel by the weights inside the image).

    The blurred copy is a constant of the gradient (Nanda's stop-gradient), so the gradient is
    ``x - blur3x3(x)``; ``reference`` fixes that copy explicitly (default: the blur of ``x``).
    """
    ref = _blur3x3(x.detach()) if reference is None else reference
    return 0.5 * (x - ref).pow(2).flatten(1).sum(1)


@REGULARIZERS.register("l1_center", kind="image", weight=5e-6)
def l1_center(x: torch.Tensor, center: float = 0.5) -> torch.Tensor:
    """``sum |x - center|`` per image: (N, C, H, W) -> (N,)."""
    return (x - center).abs().flatten(1).sum(1)


@REGULARIZERS.register("lp_norm", kind="image", weight=5e-3)
def lp_norm(x: torch.Tensor, p: float = 6.0, center: float = 0.0) -> torch.Tensor:
    """``||x - center||_p`` per image (Mahendran & Vedaldi use p = 6): (N, C, H, W) -> (N,)."""
    norm: torch.Tensor = torch.linalg.vector_norm((x - center).flatten(1), ord=p, dim=1)
    return norm


@REGULARIZERS.register("range", kind="image", weight=1.0)
def range_penalty(x: torch.Tensor, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    """``sum relu(x - hi)^2 + relu(lo - x)^2`` per image: values outside [lo, hi] (plenoptic)."""
    return (F.relu(x - hi).pow(2) + F.relu(lo - x).pow(2)).flatten(1).sum(1)


def resolve_perceptual(distance: Any) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A differentiable perceptual distance ``(x, y) -> (N,)`` from :mod:`repalign.perceptual`.

    ``"auto"`` picks LPIPS when its trunk weights are available and SSIM otherwise (with a
    warning); a callable is passed through.
    """
    if callable(distance):
        given: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = distance
        return given
    from repalign.errors import WeightsUnavailableError
    from repalign.perceptual import get_distance

    if distance == "auto":
        try:
            return get_distance("lpips")
        except WeightsUnavailableError as exc:
            warnings.warn(
                f"LPIPS trunk weights are not available ({exc}); the perceptual term uses "
                "'ssim' instead. Pass distance=... to choose another.",
                stacklevel=3,
            )
            return get_distance("ssim")
    return get_distance(distance)


def _distance_name(distance: Any) -> str:
    """The readable name of a built perceptual distance (its spec, e.g. ``model:zoo:x@layer``)."""
    return str(getattr(distance, "name", None) or getattr(distance, "__name__", "perceptual"))


@REGULARIZERS.register("none", kind="preset")
def _none() -> Term:
    return DIST


@REGULARIZERS.register("human_leaning", kind="preset")
def _human_leaning(
    dist_weight: float = 10.0, tv: float = 5e-4, blur_weight: float = 5e-4, l1: float = 5e-5,
    perceptual: float = 0.0, distance: Any = "auto",
) -> Term:
    loss = (
        dist_weight * DIST
        + tv * image_term(total_variation)
        + blur_weight * image_term(blur)
        + l1 * image_term(l1_center)
    )
    if perceptual < 0:
        raise ConfigError(f"human_leaning perceptual must be >= 0, received {perceptual!r}.")
    if perceptual == 0:
        return loss
    d = resolve_perceptual(distance)

    def fn(c: LossContext) -> torch.Tensor:
        if c.target is None:
            raise ConfigError("human_leaning with perceptual > 0 needs the target images.")
        return d(c.x, c.target)

    return loss + perceptual * Term(fn, f"{_distance_name(d)}(x, target)")


@REGULARIZERS.register("adversarial", kind="preset")
def _adversarial(scale: float | str = "auto", distance: Any = "auto") -> Term:
    perceptual = resolve_perceptual(distance)
    if not (scale == "auto" or (isinstance(scale, (int, float)) and scale >= 0)):
        raise ConfigError(f"adversarial scale must be 'auto' or a number >= 0, received {scale!r}.")

    def fn(c: LossContext) -> torch.Tensor:
        if c.target is None:
            raise ConfigError("The adversarial regularizer needs the target images.")
        p = perceptual(c.x, c.target)
        if scale != "auto":
            return c.dist - float(scale) * p
        full = c.state.setdefault(
            "adversarial_scale", c.dist.new_full((c.size or c.x.shape[0],), float("nan"))
        )
        first = (c.dist / p.clamp_min(1e-8)).detach()
        s = torch.where(torch.isnan(c.take(full)), first, c.take(full))
        if c.rows is None:
            full.copy_(s)
        else:
            full.index_copy_(0, c.rows, s)
        return c.dist - s * p

    return Term(fn, f"dist - s*{_distance_name(perceptual)}(x, target)")


@REGULARIZERS.register("seed_anchored", kind="preset")
def _seed_anchored(weight: float = 10.0, distance: Any = "auto") -> Term:
    perceptual = resolve_perceptual(distance)

    def fn(c: LossContext) -> torch.Tensor:
        if c.seed is None:
            raise ConfigError("The seed_anchored regularizer needs the seed images.")
        return c.dist + weight * perceptual(c.x, c.seed)

    return Term(fn, f"dist + {weight:g}*{_distance_name(perceptual)}(x, seed)")


def build_loss(spec: Any = "none") -> Term:
    """The full per-sample loss for a regularizer spec.

    Args:
        spec: a preset or image-regularizer name (with ``":key=value"`` options, e.g.
            ``"lp_norm:p=6,weight=1e-3"``), a mapping ``{regularizer: weight}`` (summed with
            ``dist``), a :class:`Term` (the whole loss), or a callable ``LossContext -> (n,)``.
    """
    if isinstance(spec, Term):
        return spec
    if isinstance(spec, Mapping) and "name" not in spec:
        loss = DIST
        for name, weight in spec.items():
            loss = loss + float(weight) * _image_regularizer(name, {})
        return loss
    name, kwargs = split_spec(spec, "regularizer")
    if callable(name):
        return Term(name, spec_name(name))
    entry = REGULARIZERS.get(name)
    if REGULARIZERS.info(name).kind == "preset":
        check_options(entry, "regularizer", name, **kwargs)
        preset: Term = entry(**kwargs)
        return preset
    weight = float(kwargs.pop("weight", REGULARIZERS.info(name).weight))
    try:
        return DIST + weight * _image_regularizer(name, kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{exc} Every image regularizer also takes weight=.") from None


def _image_regularizer(name: str, kwargs: dict[str, Any]) -> Term:
    fn = REGULARIZERS.get(name)
    if REGULARIZERS.info(name).kind != "image":
        raise ConfigError(
            f"{name!r} is a loss preset, not an image regularizer; weights can be given only to "
            f"{list_regularizers(kind='image')}."
        )
    check_options(fn, "regularizer", name, None, **kwargs)  # None stands for the images
    return image_term(lambda x: fn(x, **kwargs), name)


def list_regularizers(pattern: str = "*", kind: str | None = None) -> list[str]:
    """Registered regularizers (``kind="image"`` or ``"preset"`` to filter)."""
    return [
        n for n in REGULARIZERS.list(pattern) if kind is None or REGULARIZERS.info(n).kind == kind
    ]
