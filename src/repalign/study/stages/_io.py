"""Packing arrays and tables into artifact bytes and back (npz and CSV, no pickling)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from repalign.errors import DataFormatError

__all__ = ["frame_from_bytes", "frame_to_bytes", "npz_bytes", "read_npz"]


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Arrays (any string keys) as compressed ``.npz`` bytes; keys are kept in a JSON index."""
    names = list(arrays)
    buf = io.BytesIO()
    payload: dict[str, Any] = {f"a{i}": np.asarray(arrays[k]) for i, k in enumerate(names)}
    payload["__names__"] = np.frombuffer(json.dumps(names).encode(), dtype=np.uint8)
    np.savez_compressed(buf, **payload)
    return buf.getvalue()


def read_npz(data: bytes) -> dict[str, np.ndarray]:
    """Inverse of :func:`npz_bytes` (object arrays are refused: nothing is unpickled)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            names = json.loads(z["__names__"].tobytes().decode())
            return {k: z[f"a{i}"] for i, k in enumerate(names)}
    except (ValueError, KeyError, OSError) as exc:
        raise DataFormatError(f"artifact is not an array archive written by repalign: {exc}") from exc


def frame_to_bytes(frame: pd.DataFrame) -> bytes:
    """A DataFrame as UTF-8 CSV bytes."""
    text: str = frame.to_csv(index=False)
    return text.encode("utf-8")


def frame_from_bytes(data: bytes) -> pd.DataFrame:
    """Inverse of :func:`frame_to_bytes`."""
    return pd.read_csv(io.BytesIO(data))
