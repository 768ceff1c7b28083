"""Read and write affine transforms in thingsvision's ``transform.npz`` format.

The file holds ``weights`` (D, D), an optional ``bias`` (D,), and scalar ``mean`` and ``std``;
features are aligned as ``((X - mean) / std) @ weights + bias``. The gLocal transforms published
with thingsvision use this format, so they can be loaded here and applied to one's own features.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "transform.npz"
    >>> _ = save_transform(path, np.eye(3), np.zeros(3), 0.5, 2.0)
    >>> load_transform(path).transform(np.ones((1, 3))).tolist()
    [[0.25, 0.25, 0.25]]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from repalign._io import atomic_path
from repalign.errors import DataFormatError, ShapeError

if TYPE_CHECKING:
    from repalign.alignment.estimator import GLocal

__all__ = ["load_transform", "save_transform"]


def save_transform(
    path: str | Path,
    weights: Any,
    bias: Any,
    mean: float,
    std: float,
    dtype: Any = np.float32,
) -> Path:
    """Write ``weights``, ``bias``, ``mean`` and ``std`` to ``path`` (npz, atomically).

    Args:
        path: output file, conventionally ``transform.npz``.
        weights: (D, D) matrix.
        bias: (D,) offset or None (then no ``bias`` entry is written).
        mean: scalar mean subtracted from the features.
        std: scalar std dividing the features (> 0).
        dtype: dtype of the stored arrays (float32 like thingsvision's files).

    Returns:
        The path written.
    """
    w = np.asarray(weights)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ShapeError(f"weights must be a square (D, D) matrix, received shape {w.shape}.")
    if not np.isfinite(w).all() or not np.isfinite([mean, std]).all() or std <= 0:
        raise ShapeError(f"weights, mean and std must be finite with std > 0 (std={std}).")
    arrays = {
        "weights": w.astype(dtype),
        "mean": np.asarray(mean, dtype=dtype),
        "std": np.asarray(std, dtype=dtype),
    }
    if bias is not None:
        b = np.asarray(bias)
        if b.shape != (w.shape[0],):
            raise ShapeError(f"bias must have shape ({w.shape[0]},), received {b.shape}.")
        arrays["bias"] = b.astype(dtype)
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]
    return path


def load_transform(path: str | Path) -> GLocal:
    """Read a ``transform.npz`` (repalign's or thingsvision's) as a fitted :class:`GLocal`.

    Args:
        path: the npz file.

    Returns:
        A fitted :class:`~repalign.alignment.GLocal` whose ``transform(X)`` computes
        ``((X - mean) / std) @ weights + bias``; ``history_`` is empty.

    Raises:
        DataFormatError: the file is missing, not an npz, lacks a key or has inconsistent shapes.

    Example:
        >>> aligner = load_transform("transform.npz")            # doctest: +SKIP
        >>> aligned = aligner.transform(features)                # doctest: +SKIP
    """

    from repalign.alignment.estimator import GLocal

    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"No transform file at {path}; expected a thingsvision transform.npz.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except Exception as exc:  # zipfile / pickle / format errors
        raise DataFormatError(f"{path} is not a readable .npz file ({exc}).") from exc
    missing = [k for k in ("weights", "mean", "std") if k not in data]
    if missing:
        raise DataFormatError(
            f"{path} lacks {missing}; a transform.npz holds 'weights', 'mean', 'std' and an "
            f"optional 'bias', found {sorted(data)}."
        )
    w = data["weights"].astype(np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise DataFormatError(f"{path}: 'weights' must be square (D, D), found shape {w.shape}.")
    d = w.shape[0]
    has_bias = "bias" in data
    b = data["bias"].astype(np.float64).reshape(-1) if has_bias else np.zeros(d)
    if b.shape != (d,):
        raise DataFormatError(f"{path}: 'bias' must have {d} entries, found shape {b.shape}.")
    if data["mean"].size != 1 or data["std"].size != 1:
        raise DataFormatError(
            f"{path}: 'mean' and 'std' must be scalars, found shapes {data['mean'].shape} and "
            f"{data['std'].shape}."
        )
    mean, std = float(data["mean"]), float(data["std"])
    if not np.isfinite([mean, std]).all() or std <= 0 or not np.isfinite(w).all():
        raise DataFormatError(f"{path}: weights, mean and std must be finite with std > 0.")
    return GLocal.from_parameters(w, b, mean, std, fit_bias=has_bias)
