"""Reducers: turn a layer's output (N, ...) into a feature matrix (N, D).

================  ==========================================  ===============================
name              input                                       output
================  ==========================================  ===============================
``flatten``       any (N, ...)                                (N, prod(...)), C-order
``avgpool``       (N, C, H, W): mean over H and W             (N, C)
                  (N, T, D) tokens: mean over T               (N, D)
                  (N, D): unchanged (already pooled)          (N, D)
``cls_token``     (N, T, D): the first token                  (N, D)
``mean_tokens``   (N, T, D): mean over all T tokens           (N, D)
================  ==========================================  ===============================

``avgpool`` assumes channels-first feature maps (PyTorch's convention). Layers that emit
channels-last maps, such as the stages of torchvision's and timm's Swin transformers
(N, H, W, C), must be flattened or reduced with a custom callable. ``mean_tokens`` includes the
class token; pass your own callable ``f(t) -> (N, D)`` for other choices (e.g. patch tokens only).
A reducer that does not fit a layer's rank raises :class:`~repalign.errors.ShapeError`.

Example:
    >>> import torch
    >>> REDUCERS.get("avgpool")(torch.ones(2, 3, 4, 4)).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch

from repalign._hashing import hash_params
from repalign._registry import Registry
from repalign.errors import ShapeError

__all__ = ["REDUCERS", "Reducer", "apply_reducer", "reducer_id"]

Reducer = Callable[[torch.Tensor], torch.Tensor]



@dataclass(frozen=True)
class ReducerInfo:
    """A reducer's metadata: the layer-output ranks it takes (``"any"``, or e.g. ``(3,)``)."""

    ranks: tuple[int, ...] | str


REDUCERS: Registry[Reducer, ReducerInfo] = Registry("reducer", ReducerInfo)


def _need_rank(name: str, x: torch.Tensor, ranks: tuple[int, ...], hint: str) -> None:
    if x.ndim not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeError(
            f"Reducer {name!r} takes rank-{want} layer outputs, received shape {tuple(x.shape)}; "
            f"{hint}"
        )


@REDUCERS.register("flatten", ranks="any")
def flatten(x: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (N, D): every value of the layer output, in C order."""
    return x.reshape(x.shape[0], -1)


@REDUCERS.register("avgpool", ranks=(2, 3, 4))
def avgpool(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C) spatial mean; (N, T, D) -> (N, D) token mean; (N, D) unchanged."""
    _need_rank("avgpool", x, (2, 3, 4), "use 'flatten' for other ranks.")
    if x.ndim == 4:
        return x.mean(dim=(2, 3))
    if x.ndim == 3:
        return x.mean(dim=1)
    return x


@REDUCERS.register("cls_token", ranks=(3,))
def cls_token(x: torch.Tensor) -> torch.Tensor:
    """(N, T, D) -> (N, D): the first (class) token of a transformer layer."""
    _need_rank("cls_token", x, (3,), "it applies to transformer token outputs (N, tokens, dim); "
               "use 'avgpool' for (N, C, H, W) maps.")
    return x[:, 0]


@REDUCERS.register("mean_tokens", ranks=(3,))
def mean_tokens(x: torch.Tensor) -> torch.Tensor:
    """(N, T, D) -> (N, D): mean over all tokens (class token included)."""
    _need_rank("mean_tokens", x, (3,), "it applies to transformer token outputs (N, tokens, dim); "
               "use 'avgpool' for (N, C, H, W) maps.")
    return x.mean(dim=1)


def apply_reducer(reducer: str | Reducer, layer: str, x: torch.Tensor) -> torch.Tensor:
    """Apply ``reducer`` to layer output ``x`` and check the result is (N, D) for the same N."""
    fn = REDUCERS.get(reducer)
    out = fn(x)
    name = reducer if isinstance(reducer, str) else getattr(reducer, "__name__", repr(reducer))
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != x.shape[0]:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ShapeError(
            f"Reducer {name!r} on layer {layer!r} (output {tuple(x.shape)}) gave {got}; a reducer "
            f"must return (N, D) with N = {x.shape[0]}."
        )
    return out


def reducer_id(reducer: str | Reducer) -> str:
    """A stable identity for cache keys: the registry name, or a custom callable's name and code."""
    if isinstance(reducer, str):
        REDUCERS.get(reducer)
        return reducer
    name = f"{getattr(reducer, '__module__', '?')}.{getattr(reducer, '__qualname__', repr(reducer))}"
    try:
        code = inspect.getsource(reducer)
    except (OSError, TypeError):
        code = ""
    return f"custom:{name}:{hash_params(code)[:16]}"
