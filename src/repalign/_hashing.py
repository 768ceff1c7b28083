"""Content hashes used as cache keys: arrays, tensors, state dicts, JSON-able parameters, files.

A file's sha256 is remembered on disk by the file's identity (resolved path, size, modification
time in ns, inode), so that loading the same checkpoint again does not read it twice: see
:func:`file_sha256`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["file_identity", "file_sha256", "hash_array", "hash_file", "hash_params", "hash_state_dict"]

log = logging.getLogger(__name__)

_SETTLE_NS = 2_000_000_000  # a file modified less than this before hashing is not remembered
_HEX64 = re.compile(r"[0-9a-f]{64}")


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


def file_identity(path: str | Path) -> dict[str, Any]:
    """What identifies a file's bytes without reading them: resolved path, size, modification
    time (ns) and inode. Rewriting or replacing the file changes at least one of them."""
    path = Path(path).resolve()
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def file_sha256(path: str | Path, cache_dir: str | Path | None = None) -> str:
    """sha256 of a file's bytes (:func:`hash_file`), remembered by :func:`file_identity`.

    The digest is kept in ``<cache_dir>/digests/`` (default ``$REPALIGN_CACHE`` or
    ``~/.cache/repalign``) and reused while the file keeps its path, size, modification time and
    inode. A file modified in the 2 s before it was hashed is not remembered (a rewrite within the
    file system's timestamp resolution could otherwise keep its identity); an unwritable cache
    folder only means the file is hashed every time.
    """
    from repalign._io import atomic_write_text, default_cache_dir

    ident = file_identity(path)
    key = hash_params({"kind": "file_sha256", **ident})
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    entry = root / "digests" / key[:2] / key
    try:
        known = entry.read_text().strip()
        if _HEX64.fullmatch(known):
            return known
    except OSError:
        pass
    started = time.time_ns()
    digest = hash_file(ident["path"])
    if started - ident["mtime_ns"] > _SETTLE_NS and file_identity(path) == ident:
        try:
            atomic_write_text(entry, digest)
        except OSError as exc:
            log.debug("file digest not remembered in %s: %s", entry, exc)
    return digest


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
