"""The registry of perceptual distances and the spec language that builds them.

Specs:

- a registered name: ``"pixel_l2"``, ``"ssim"``, ``"ms_ssim"``, ``"lpips"`` (= ``"lpips:alex"``),
  ``"lpips:alex"``, ``"lpips:vgg"``, ``"lpips:squeeze"`` (calibrated), ``"lpips:alex_uncal"``,
  ``"lpips:vgg_uncal"``, ``"lpips:squeeze_uncal"`` (uncalibrated), ``"lpips:nanda"`` (the four
  AlexNet/VGG variants, calibrated and not), ``"dreamsim"`` (the DreamSim ensemble),
  ``"dreamsim:clip_vitb32"`` and the other DreamSim variants (``dreamsim`` extra);
- ``"model:SPEC@LAYER"`` (layers joined with ``+``): feature distance in ``create_model(SPEC)``;
- ``"mean(a, b, ...)"`` or a list ``["a", "b"]``: the mean of several distances;
- a :class:`~repalign.perceptual.base.Distance`, or any callable ``f(x, y) -> (N,)``.

String specs follow the one spec grammar (:mod:`repalign.specs`, docs/specs.md). Options
(``trunk_path``, ``pnet_rand``, ``min_size``, ``win_size``, ``levels``, ...) are passed as keyword
arguments or written in the spec (``"ms_ssim:levels=2"``, ``"mean(ssim, ms_ssim):win_size=7"``);
in a mean each component receives the options it understands.

Example:
    >>> import torch
    >>> d = get_distance("mean(ssim, pixel_l2)")
    >>> d(torch.rand(3, 1, 16, 16), torch.rand(3, 1, 16, 16)).shape
    torch.Size([3])
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from repalign._registry import Registry
from repalign.errors import ConfigError
from repalign.perceptual.base import CallableDistance, Distance, MeanDistance
from repalign.perceptual.dreamsim_distance import DreamSim
from repalign.perceptual.features import FeatureDistance, parse_model_spec
from repalign.perceptual.lpips_distance import LPIPS
from repalign.perceptual.pixel import PixelL2
from repalign.perceptual.structural import MSSSIM, SSIM
from repalign.specs import Spec, format_spec, parse_spec

__all__ = [
    "DISTANCES",
    "DistanceInfo",
    "DistanceSpec",
    "distance",
    "get_distance",
    "list_distances",
    "pairwise_distances",
]

DistanceSpec = str | Distance | Callable[..., Any] | Sequence[Any]



@dataclass(frozen=True)
class DistanceInfo:
    """A perceptual distance's metadata.

    Attributes:
        channels: the image channels it takes (3, ``"any"``, ``"the model's"``).
        weights: whether it needs pretrained weights on disk.
        summary: one line for listings and docs.
    """

    channels: int | str
    weights: bool
    summary: str = ""


DISTANCES: Registry[Callable[..., Distance], DistanceInfo] = Registry("perceptual distance",
                                                                      DistanceInfo)

MODEL_ENTRY = "model:SPEC@LAYER"
NANDA_VARIANTS = ("lpips:alex", "lpips:vgg", "lpips:alex_uncal", "lpips:vgg_uncal")

DISTANCES.register("pixel_l2", PixelL2, channels="any", weights=False,
                   summary="root-mean-square pixel difference")
DISTANCES.register("ssim", SSIM, channels="any", weights=False, summary="1 - SSIM (pytorch-msssim)")
DISTANCES.register("ms_ssim", MSSSIM, channels="any", weights=False,
                   summary="1 - MS-SSIM with as many scales as fit the image (pytorch-msssim)")


def _lpips_factory(net: str, calibrated: bool) -> Callable[..., Distance]:
    def build(
        *, trunk_path: Any = None, pnet_rand: bool = False, min_size: int | None = 64
    ) -> Distance:
        return LPIPS(net, calibrated=calibrated, trunk_path=trunk_path, pnet_rand=pnet_rand,
                     min_size=min_size)

    build.__name__ = f"lpips_{net}{'' if calibrated else '_uncal'}"
    return build


for _net in ("alex", "vgg", "squeeze"):
    for _cal in (True, False):
        DISTANCES.register(
            f"lpips:{_net}{'' if _cal else '_uncal'}", _lpips_factory(_net, _cal), channels=3,
            weights=True,
            summary=f"LPIPS, {_net} trunk, {'calibrated heads' if _cal else 'uncalibrated (equal weights)'}",
        )
DISTANCES.register("lpips", _lpips_factory("alex", True), channels=3, weights=True,
                   summary="LPIPS, AlexNet trunk, calibrated (the package default)")


def _dreamsim_factory(variant: str) -> Callable[..., Distance]:
    def build(*, cache_dir: Any = None) -> Distance:
        return DreamSim(variant, cache_dir=cache_dir)

    build.__name__ = f"dreamsim_{variant}"
    return build


DISTANCES.register("dreamsim", _dreamsim_factory("ensemble"), channels=3, weights=True,
                   summary="DreamSim, the package's ensemble (DINO + CLIP + OpenCLIP ViT-B/16 "
                           "fine-tuned on human similarity): 1 - cosine of the embeddings")
for _variant in ("dino_vitb16", "clip_vitb32", "open_clip_vitb32", "synclr_vitb16"):
    DISTANCES.register(f"dreamsim:{_variant}", _dreamsim_factory(_variant), channels=3, weights=True,
                       summary=f"DreamSim, {_variant} fine-tuned on human similarity")


def _nanda(**options: Any) -> Distance:
    return MeanDistance([get_distance(v, **options) for v in NANDA_VARIANTS], name="lpips:nanda")


DISTANCES.register("lpips:nanda", _nanda, channels=3, weights=True,
                   summary="mean of LPIPS alex/vgg, calibrated and uncalibrated (2AFC averages "
                           "the four decisions)")


def _model_factory(spec: str, **options: Any) -> Distance:
    model_spec, layers = parse_model_spec(spec)
    from repalign.models.factory import create_model

    model = create_model(model_spec, **options)
    for p in model.parameters():
        p.requires_grad_(False)
    return FeatureDistance(model, layers, name=f"model:{model_spec}@{'+'.join(layers)}")


DISTANCES.register(MODEL_ENTRY, _model_factory, channels="the model's", weights=True,
                   summary="RMS activation difference in any model (e.g. a robust zoo model)")


def _accepts(factory: Callable[..., Any]) -> set[str] | None:
    params = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None  # accepts anything
    return {p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL}


def _with_own(spec: Spec, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` plus those written in the spec itself (``"ms_ssim:levels=2"``)."""
    twice = sorted(set(spec.options) & set(options))
    if twice:
        raise ConfigError(f"Option(s) {twice} are given both in the spec {format_spec(spec)!r} "
                          "and as keyword arguments; give each once.")
    return {**options, **spec.options}


def _check_form(spec: Spec) -> None:
    if spec.parts and spec.name != "mean":
        raise ConfigError(f"Only 'mean' takes parts in parentheses; received {format_spec(spec)!r}. "
                          "Write e.g. 'mean(ssim, lpips)'.")
    if spec.name == "mean" and not spec.parts:
        raise ConfigError("'mean' needs its distances in parentheses, e.g. 'mean(ssim, lpips)'.")


def _used_options(spec: Spec, options: dict[str, Any]) -> set[str]:
    """The option names that ``spec`` (or its parts) understands."""
    _check_form(spec)
    options = _with_own(spec, options)
    if spec.name == "mean":
        return set().union(*(_used_options(p, options) for p in spec.parts))
    if spec.name == "lpips:nanda":
        return set().union(*(_used_options(Spec(v), options) for v in NANDA_VARIANTS))
    factory = DISTANCES.get(MODEL_ENTRY if spec.name.startswith("model:") else spec.name)
    accepted = _accepts(factory)
    return set(options) if accepted is None else set(options) & accepted


def _build(spec: Spec, options: dict[str, Any]) -> Distance:
    options = _with_own(spec, options)
    if spec.name == "mean":
        return MeanDistance([_build(p, options) for p in spec.parts], name=format_spec(spec))
    if spec.name.startswith("model:"):
        return _model_factory(spec.name, **options)
    factory = DISTANCES.get(spec.name)
    if spec.name == "lpips:nanda":
        return factory(**options)
    accepted = _accepts(factory)
    kwargs = options if accepted is None else {k: v for k, v in options.items() if k in accepted}
    return factory(**kwargs)


_CACHE: dict[tuple[Any, ...], Distance] = {}


def get_distance(spec: DistanceSpec, **options: Any) -> Distance:
    """Build the perceptual distance described by ``spec`` (see the module doc for the syntax).

    The result is a callable ``d(x, y) -> (N,)`` for image batches x, y (N, C, H, W) in [0, 1],
    differentiable, with ``d.pairwise(x, y) -> (N, M)`` and ``d.components()``. String specs are
    built once per (spec, options, torch hub folder) and reused.

    Args:
        spec: a name, ``"model:SPEC@LAYER"``, ``"mean(...)"``, a list of specs, a Distance or a
            callable.
        **options: options of the distance(s), e.g. ``trunk_path=``, ``pnet_rand=True`` (LPIPS),
            ``levels=2`` (MS-SSIM), ``checkpoint=`` (``create_model`` options for ``model:``).

    Raises:
        UnknownNameError: an unknown name (the message lists the valid ones).
        ConfigError: a malformed spec, or an option no component understands.
        WeightsUnavailableError: LPIPS trunk or DreamSim weights missing (the message says where
            to put them).

    Example:
        >>> d = get_distance("ssim")
        >>> float(d(torch.ones(1, 1, 8, 8), torch.ones(1, 1, 8, 8)))
        0.0
    """
    if isinstance(spec, Distance):
        if options:
            raise ConfigError(f"Options {sorted(options)} cannot be applied to an already built "
                              f"distance {spec.name!r}; pass a spec string instead.")
        return spec
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ConfigError("A list of distances to average must not be empty.")
        return MeanDistance([get_distance(s, **options) for s in spec])
    if callable(spec) and not isinstance(spec, str):
        return CallableDistance(spec)
    if not isinstance(spec, str):
        raise ConfigError(
            f"A distance spec must be a name, a list of names, a Distance or a callable, "
            f"received {type(spec).__name__}."
        )
    parsed = parse_spec(spec, "perceptual distance")
    unused = set(options) - _used_options(parsed, options)
    if unused:
        raise ConfigError(f"Option(s) {sorted(unused)} are not understood by the distance {spec!r}.")
    try:
        key: tuple[Any, ...] | None = (format_spec(parsed), tuple(sorted(options.items())),
                                       torch.hub.get_dir(), os.environ.get("REPALIGN_DREAMSIM_DIR"))
        hash(key)
    except TypeError:
        key = None
    if key is not None and key in _CACHE:
        return _CACHE[key]
    dist = _build(parsed, options)
    if key is not None:
        _CACHE[key] = dist
    return dist


def list_distances(pattern: str = "*") -> list[str]:
    """Registered distance names matching a glob ``pattern``.

    Example:
        >>> list_distances("lpips:*")[:3]
        ['lpips:alex', 'lpips:alex_uncal', 'lpips:nanda']
    """
    return DISTANCES.list(pattern)


def distance(x: torch.Tensor, y: torch.Tensor, spec: DistanceSpec = "pixel_l2", *,
             batch_size: int | None = None, **options: Any) -> torch.Tensor:
    """(N,) distances between paired images ``x[i]``, ``y[i]`` (N, C, H, W) in [0, 1].

    Differentiable. ``batch_size`` bounds memory by evaluating the pairs in chunks.

    Example:
        >>> distance(torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8), "pixel_l2")
        tensor([1., 1.])
    """
    d = get_distance(spec, **options)
    if batch_size is None or x.shape[0] <= batch_size:
        out: torch.Tensor = d(x, y)
        return out
    return torch.cat([d(x[i : i + batch_size], y[i : i + batch_size])
                      for i in range(0, x.shape[0], batch_size)])


def pairwise_distances(x: torch.Tensor, y: torch.Tensor | None = None,
                       spec: DistanceSpec = "pixel_l2", *, batch_size: int = 256,
                       **options: Any) -> torch.Tensor:
    """(N, M) distances between every ``x[i]`` and every ``y[j]`` (``y=None``: x with itself).

    Each image is embedded once (network features are not recomputed per pair); no gradients.

    Example:
        >>> pairwise_distances(torch.zeros(2, 1, 4, 4), torch.ones(3, 1, 4, 4)).shape
        torch.Size([2, 3])
    """
    d = get_distance(spec, **options)
    with torch.no_grad():
        return d.pairwise(x, x if y is None else y, batch_size=batch_size)

