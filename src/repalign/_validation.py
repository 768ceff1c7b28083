"""Input checks shared by every public function: shapes, finiteness, matching lengths, counts.

Data checks raise :class:`~repalign.errors.ShapeError`, option checks
:class:`~repalign.errors.ConfigError`, with a message naming the argument, what was expected and
what was received.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from repalign.errors import ConfigError, ShapeError

__all__ = [
    "as_array",
    "check_count",
    "check_finite",
    "check_images",
    "check_same_length",
    "describe",
    "to_numpy",
]


def describe(x: Any) -> str:
    """Short description of an array-like for error messages: type, shape and dtype."""
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return f"{type(x).__name__} of shape {tuple(x.shape)} and dtype {x.dtype}"
    return type(x).__name__


def to_numpy(x: Any) -> np.ndarray:
    """Convert a tensor (any device, with or without grad) or array-like to a numpy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def check_finite(x: np.ndarray | torch.Tensor, name: str) -> None:
    """Raise ShapeError if ``x`` contains NaN or Inf, saying how many and where the first is."""
    bad = ~torch.isfinite(x) if isinstance(x, torch.Tensor) else ~np.isfinite(x)
    n_bad = int(bad.sum())
    if n_bad:
        first = tuple(int(i) for i in np.argwhere(to_numpy(bad))[0])
        raise ShapeError(
            f"{name} contains {n_bad} NaN or Inf value(s) (first at index {first}); "
            "remove or impute them before calling."
        )


def as_array(
    x: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] = 2,
    dtype: Any = np.float64,
    finite: bool = True,
    min_rows: int = 1,
) -> np.ndarray:
    """Validate and convert ``x`` to a numpy array of the given rank(s) and dtype.

    Args:
        x: array-like or tensor.
        name: argument name used in messages.
        ndim: accepted rank(s).
        dtype: target dtype (``None`` keeps the input dtype).
        finite: reject NaN/Inf.
        min_rows: minimal length of the first axis.
    """
    if x is None:
        raise ShapeError(f"{name} is required, received None.")
    arr = to_numpy(x)
    if arr.dtype == object:
        raise ShapeError(f"{name} must be numeric, received an object array ({describe(arr)}).")
    ranks = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if arr.ndim not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeError(f"{name} must have rank {want}, received {describe(arr)}.")
    if arr.shape[0] < min_rows:
        raise ShapeError(f"{name} needs at least {min_rows} rows, received {describe(arr)}.")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    if finite and np.issubdtype(arr.dtype, np.number):
        check_finite(arr, name)
    return arr


def check_count(value: Any, name: str, minimum: int = 1) -> int:
    """Check that an option is a whole number (not a bool) of at least ``minimum``; return it.

    Example:
        >>> check_count(100, "n_perm")
        100
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(
            f"{name} must be an integer of at least {minimum}, received {value!r}."
        )
    return int(value)


def check_same_length(**arrays: Any) -> int:
    """Check that all arrays share the first dimension; return it.

    Example:
        >>> check_same_length(x=np.zeros((3, 2)), y=np.zeros((3, 5)))
        3
    """
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        parts = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ShapeError(
            f"Inputs must describe the same stimuli in the same order, but {parts} rows."
        )
    return next(iter(lengths.values()))


def check_images(x: Any, name: str = "images", *, channels: int | None = None) -> torch.Tensor:
    """Validate a batch of images: float tensor (N, C, H, W) with values in [0, 1].

    Returns the input as a float tensor (converted from numpy if needed), without copying when
    it is already a float tensor.
    """
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{name} must be a tensor or array (N, C, H, W), received {describe(x)}.")
    if x.ndim != 4:
        raise ShapeError(f"{name} must have shape (N, C, H, W), received {describe(x)}.")
    if not torch.is_floating_point(x):
        raise ShapeError(
            f"{name} must be floating point in [0, 1], received {describe(x)}; divide uint8 "
            "images by 255."
        )
    if channels is not None and x.shape[1] != channels:
        raise ShapeError(
            f"{name} must have {channels} channel(s), received {x.shape[1]} ({describe(x)}); "
            f"load the stimuli with channels={channels}."
        )
    if x.numel() == 0:
        return x
    # one pass: min and max are NaN or infinite exactly when some value is
    lo_t, hi_t = torch.aminmax(x)
    lo, hi = float(lo_t), float(hi_t)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        check_finite(x, name)
    if lo < 0.0 or hi > 1.0:
        raise ShapeError(
            f"{name} must lie in [0, 1], received values in [{lo:.4g}, {hi:.4g}]; "
            "rescale the images (e.g. x / 255) before calling."
        )
    return x
