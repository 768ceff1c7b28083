"""On-disk feature cache keyed by content.

A key is the sha256 of: the model's :meth:`~repalign.models.Model.cache_key` (weights sha256,
preprocessing, spec), the layer, the reducer's identity, the stimuli's sha256 and the cache format
version. Any change of these gives another key, so a stale entry is never returned; a hit returns
the array exactly as it was stored. Entries are ``.npy`` files under
``<cache_dir>/features/<key[:2]>/<key>.npy``, written atomically. The folder is ``cache_dir``,
else ``$REPALIGN_CACHE``, else ``~/.cache/repalign``.

Example:
    >>> import numpy as np, tempfile
    >>> d = tempfile.mkdtemp()
    >>> key = feature_key("m" * 64, "fc", "flatten", "s" * 64)
    >>> path = store_cached(key, np.arange(6, dtype=np.float32).reshape(2, 3), d)
    >>> load_cached(key, d).tolist()
    [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from repalign._hashing import hash_params
from repalign._io import atomic_path, default_cache_dir

__all__ = ["default_cache_dir", "feature_key", "load_cached", "store_cached"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def feature_key(model_key: str, layer: str, reducer: str, stimuli_sha256: str) -> str:
    """Content key of one layer's features (a sha256 hex string)."""
    return hash_params(
        {
            "kind": "features",
            "version": FORMAT_VERSION,
            "model": model_key,
            "layer": layer,
            "reducer": reducer,
            "stimuli": stimuli_sha256,
            "dtype": "float32",
        }
    )


def _entry(key: str, cache_dir: str | Path | None) -> Path:
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "features" / key[:2] / f"{key}.npy"


def load_cached(key: str, cache_dir: str | Path | None = None) -> np.ndarray | None:
    """The stored array for ``key``, or None on a miss (an unreadable entry counts as a miss)."""
    path = _entry(key, cache_dir)
    if not path.is_file():
        return None
    try:
        arr: np.ndarray = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        warnings.warn(f"Ignoring unreadable feature cache entry {path} ({exc}); recomputing.", stacklevel=2)
        return None
    log.debug("feature cache hit %s", path)
    return arr


def store_cached(key: str, features: np.ndarray, cache_dir: str | Path | None = None) -> Path:
    """Store ``features`` under ``key`` (atomic write); returns the entry's path."""
    path = _entry(key, cache_dir)
    with atomic_path(path) as tmp:
        np.save(tmp, np.asarray(features), allow_pickle=False)
    log.debug("feature cache store %s", path)
    return path
