"""Random differentiable transforms for robustness, applied to the representation term only.

A transform is ``(x, generator) -> x'`` on (N, C, H, W) tensors, differentiable in ``x``; the
random parameters come from a CPU ``torch.Generator`` (no device synchronisation). The pipeline
built by :func:`build_transforms` resizes its output back to the input size, so activations keep
the target's shape. ``robust`` is lucid's list used by Nanda et al. (ImageNet): pad 12 (value
0.5), jitter 8, scale 0.90-1.10, rotate -10..10 degrees (0 weighted x6), jitter 4;
``robust_small`` is their CIFAR-10 list (the same without the padding).

Example:
    >>> import torch
    >>> t = build_transforms("robust")
    >>> t(torch.rand(2, 3, 32, 32), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 3, 32, 32])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from repalign._registry import Registry
from repalign.metamers._spec import check_options
from repalign.specs import split_spec

__all__ = ["TRANSFORMS", "build_transforms", "jitter", "pad", "rotate", "scale"]

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class TransformInfo:
    """A transform's metadata: ``"transform"`` (one step) or ``"preset"`` (a list of steps)."""

    kind: Literal["transform", "preset"]


TRANSFORMS: Registry[Callable[..., Any], TransformInfo] = Registry("transform", TransformInfo)

_SCALES = [1 + (i - 5) / 50.0 for i in range(11)]
_ANGLES = [float(a) for a in range(-10, 11)] + 5 * [0.0]


def _pick(values: Sequence[float], gen: torch.Generator, n: int | None = None) -> Any:
    idx = torch.randint(len(values), (n or 1,), generator=gen)
    picked = torch.tensor(values, dtype=torch.float64)[idx]
    return picked if n is not None else float(picked[0])


@TRANSFORMS.register("pad", kind="transform")
def pad(width: int = 12, value: float = 0.5) -> Transform:
    """Pad every side by ``width`` pixels of constant ``value``."""

    def fn(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return F.pad(x, (width, width, width, width), mode="constant", value=value)

    return fn


@TRANSFORMS.register("jitter", kind="transform")
def jitter(d: int = 8) -> Transform:
    """Random crop of size (H - d, W - d): a random shift of up to ``d`` pixels (whole batch)."""

    def fn(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        h, w = x.shape[-2:]
        if d <= 0 or d >= min(h, w):
            return x
        oy, ox = (int(v) for v in torch.randint(d + 1, (2,), generator=gen))
        return x[..., oy : oy + h - d, ox : ox + w - d]

    return fn


@TRANSFORMS.register("scale", kind="transform")
def scale(scales: Sequence[float] = tuple(_SCALES)) -> Transform:
    """Resize by a factor drawn from ``scales`` (bilinear; whole batch)."""

    def fn(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        s = _pick(scales, gen)
        h, w = x.shape[-2:]
        size = (max(1, round(h * s)), max(1, round(w * s)))
        if size == (h, w):
            return x
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    return fn


@TRANSFORMS.register("rotate", kind="transform")
def rotate(angles: Sequence[float] = tuple(_ANGLES)) -> Transform:
    """Rotate each image by its own angle (degrees) drawn from ``angles`` (bilinear, zero fill)."""

    def fn(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        theta = _pick(angles, gen, x.shape[0]) * (math.pi / 180.0)
        cos, sin = torch.cos(theta), torch.sin(theta)
        zero = torch.zeros_like(cos)
        mat = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        # non_blocking: a blocking host-to-device copy would wait for the GPU at every step
        mat = mat.to(x.device, x.dtype, non_blocking=True)
        grid = F.affine_grid(mat, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    return fn


def _preset(with_pad: bool) -> Callable[[], list[Transform]]:
    def make() -> list[Transform]:
        head = [pad(12, 0.5)] if with_pad else []
        return [*head, jitter(8), scale(_SCALES), rotate(_ANGLES), jitter(4)]

    return make


TRANSFORMS.register("robust", _preset(True), kind="preset")
TRANSFORMS.register("robust_small", _preset(False), kind="preset")


def build_transforms(spec: Any) -> Transform | None:
    """A pipeline from a spec: None/``"none"``, a name (``"jitter:d=4"``, a preset), a callable,
    or a list of those applied in order. The output is resized back to the input size."""
    if spec is None or spec == "none" or (isinstance(spec, (list, tuple)) and not spec):
        return None
    items = list(spec) if isinstance(spec, (list, tuple)) and not _is_pair(spec) else [spec]
    steps: list[Transform] = []
    for item in items:
        name, kwargs = split_spec(item, "transform")
        if callable(name):
            steps.append(name)
            continue
        factory = TRANSFORMS.get(name)
        check_options(factory, "transform", name, **kwargs)
        made = factory(**kwargs)
        steps.extend(made if isinstance(made, list) else [made])

    def pipeline(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        size = x.shape[-2:]
        for step in steps:
            x = step(x, gen)
        if x.shape[-2:] != size:
            x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)
        return x

    return pipeline


def _is_pair(spec: Any) -> bool:
    return isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], dict)
