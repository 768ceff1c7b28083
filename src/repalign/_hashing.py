"""Content hashes used as cache keys: arrays, tensors, state dicts, JSON-able parameters."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["hash_array", "hash_file", "hash_params", "hash_state_dict"]


def _update_with_array(h: Any, arr: np.ndarray) -> None:
    arr = np.ascontiguousarray(arr)
    h.update(str(arr.dtype).encode())
    h.update(str(arr.shape).encode())
    if arr.size:  # memoryview cannot cast an empty array; its dtype and shape say it all
        h.update(arr.data.cast("B"))


def hash_array(x: np.ndarray | torch.Tensor) -> str:
    """sha256 of an array's dtype, shape and bytes (tensors are moved to CPU first)."""
    h = hashlib.sha256()
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype == torch.bfloat16:
            x = x.float()
        x = x.numpy()
    _update_with_array(h, np.asarray(x))
    return h.hexdigest()


def hash_state_dict(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over a state dict's names, dtypes, shapes and values, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name]
        h.update(name.encode())
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu()
            if t.dtype == torch.bfloat16:
                t = t.float()
            _update_with_array(h, t.numpy())
        else:
            h.update(repr(t).encode())
    return h.hexdigest()


def hash_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_params(params: Any) -> str:
    """sha256 of JSON-serialisable parameters (keys sorted; numpy scalars and paths accepted)."""

    def _default(o: Any) -> Any:
        if isinstance(o, (np.integer, np.floating, np.bool_)):
            return o.item()
        if isinstance(o, np.ndarray):
            return hash_array(o)
        if isinstance(o, (Path, torch.device, torch.dtype)):
            return str(o)
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        raise TypeError(f"cannot hash parameter of type {type(o).__name__}")

    blob = json.dumps(params, sort_keys=True, default=_default, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
