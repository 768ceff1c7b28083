"""Save and load features as ``.npy``, ``.npz`` or HDF5, in thingsvision's layout.

thingsvision stores one folder per module, holding ``features.npy`` (or ``features.hdf5`` with a
dataset named ``features``), next to a ``file_names.txt`` listing the images one per line. repalign
reads and writes that layout, and three single-file forms:

=======================  =================================================================
path                     layout
=======================  =================================================================
``out.npy``              one layer's (N, D) array (key on loading: the file stem)
``out.npz``              one array per layer, keyed by layer name; ids under ``file_names``
``out.h5`` / ``.hdf5``   group per layer holding dataset ``features`` (N, D) float32, as in
                         thingsvision's ``features.hdf5``; ids in dataset ``file_names``
a folder                 thingsvision: ``<folder>/<layer>/features.npy`` (or ``.hdf5`` with
                         ``file_format="hdf5"``) and ``<folder>/file_names.txt``
=======================  =================================================================

Loading a folder also stitches thingsvision's streamed chunks ``features_<a>-<b>.npy`` in order.
All writes are atomic (temporary file, then rename).

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> save_features({"fc": np.ones((2, 3), np.float32)}, d / "f.h5", ids=["a", "b"])
    >>> load_features(d / "f.h5")["fc"].shape, load_feature_ids(d / "f.h5")
    ((2, 3), ['a', 'b'])
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from repalign._io import atomic_path, atomic_write_text
from repalign._validation import describe
from repalign.errors import ConfigError, DataFormatError, ShapeError

__all__ = [
    "HDF5_SUFFIXES",
    "HDF5FeatureWriter",
    "load_feature_ids",
    "load_features",
    "open_hdf5_features",
    "save_features",
]

HDF5_SUFFIXES = (".h5", ".hdf5")
IDS_NAME = "file_names"
DATASET = "features"
_CHUNK = re.compile(r"^features(?P<suffix>.*)_(?P<start>\d+)-(?P<end>\d+)\.npy$")


def _check_features(features: Mapping[str, Any], ids: Sequence[str] | None) -> dict[str, np.ndarray]:
    if not isinstance(features, Mapping) or not features:
        raise ShapeError(f"features must be a non-empty dict {{layer: (N, D) array}}, received {describe(features)}.")
    out = {}
    lengths = set()
    for layer, arr in features.items():
        a = np.asarray(arr)
        if a.ndim < 1:
            raise ShapeError(f"features[{layer!r}] must have a stimulus axis, received {describe(a)}.")
        if "/" in layer or layer == IDS_NAME:
            raise ConfigError(f"Layer name {layer!r} cannot be stored (no '/' and not {IDS_NAME!r}).")
        out[layer] = a
        lengths.add(a.shape[0])
    if len(lengths) > 1:
        raise ShapeError(f"All layers must have the same number of rows, received {sorted(lengths)}.")
    if ids is not None and len(ids) != next(iter(lengths)):
        raise ShapeError(f"{len(ids)} ids for {next(iter(lengths))} feature rows.")
    return out


def save_features(
    features: Mapping[str, np.ndarray],
    path: str | Path,
    *,
    ids: Sequence[str] | None = None,
    file_format: str = "npy",
) -> None:
    """Write ``{layer: (N, D)}`` to ``path``; the layout follows the suffix (see module doc).

    Args:
        features: arrays with the same number of rows.
        path: ``.npy`` (one layer), ``.npz``, ``.h5``/``.hdf5``, or a folder (thingsvision).
        ids: stimulus ids (N strings) stored alongside (not in a ``.npy`` file).
        file_format: for a folder: ``"npy"`` or ``"hdf5"`` files per layer.
    """
    feats = _check_features(features, ids)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if len(feats) != 1:
            raise ConfigError(
                f"{path} can hold one layer but {len(feats)} were given ({list(feats)}); use .npz, "
                ".h5 or a folder."
            )
        with atomic_path(path) as tmp:
            np.save(tmp, next(iter(feats.values())))
    elif suffix == ".npz":
        payload: dict[str, Any] = dict(feats)
        if ids is not None:
            payload[IDS_NAME] = np.asarray([str(i) for i in ids])
        with atomic_path(path) as tmp:
            np.savez(tmp, **payload)
    elif suffix in HDF5_SUFFIXES:
        with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=True) as h5:
            for layer, arr in feats.items():
                h5.create_group(layer).create_dataset(DATASET, data=arr)
            if ids is not None:
                h5.create_dataset(IDS_NAME, data=[str(i) for i in ids], dtype=h5py.string_dtype())
    elif suffix == "":
        if file_format not in ("npy", "hdf5"):
            raise ConfigError(f"file_format must be 'npy' or 'hdf5', received {file_format!r}.")
        for layer, arr in feats.items():
            target = path / layer / f"features.{file_format}"
            if file_format == "npy":
                with atomic_path(target) as tmp:
                    np.save(tmp, arr)
            else:
                with atomic_path(target) as tmp, h5py.File(tmp, "w", track_order=True) as h5:
                    h5.create_dataset(DATASET, data=arr)
        if ids is not None:
            atomic_write_text(path / f"{IDS_NAME}.txt", "".join(f"{i}\n" for i in ids))
    else:
        raise ConfigError(
            f"Cannot tell the format of {path}: use .npy, .npz, .h5/.hdf5, or a folder (no suffix)."
        )


def _load_folder_layer(folder: Path) -> np.ndarray | None:
    if (folder / "features.npy").is_file():
        arr: np.ndarray = np.load(folder / "features.npy")
        return arr
    for name in ("features.hdf5", "features.h5"):
        if (folder / name).is_file():
            with h5py.File(folder / name, "r") as h5:
                if DATASET in h5:
                    return np.asarray(h5[DATASET])
                return np.concatenate([np.asarray(h5[k]) for k in sorted(h5)], axis=0)
    chunks = sorted(
        (int(m["start"]), p) for p in folder.glob("features*_*-*.npy") if (m := _CHUNK.match(p.name))
    )
    if chunks:
        return np.concatenate([np.load(p) for _, p in chunks], axis=0)
    return None


def load_features(path: str | Path, layers: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Read features written by :func:`save_features`, ``extract_features(out=...)`` or thingsvision.

    Args:
        path: a ``.npy``, ``.npz``, ``.h5``/``.hdf5`` file or a thingsvision folder.
        layers: the layers to read (default: all, in stored order).

    Returns:
        ``{layer: array}``; a lone ``.npy`` is keyed by its file stem (``features`` for
        thingsvision's file).
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"No features at {path}: the file or folder does not exist.")
    suffix = path.suffix.lower()
    out: dict[str, np.ndarray] = {}
    try:
        if path.is_dir():
            for sub in sorted(p for p in path.iterdir() if p.is_dir()):
                arr = _load_folder_layer(sub)
                if arr is not None:
                    out[sub.name] = arr
            if not out:
                arr = _load_folder_layer(path)
                if arr is not None:
                    out[path.name] = arr
        elif suffix == ".npy":
            out[path.stem] = np.load(path)
        elif suffix == ".npz":
            with np.load(path) as z:
                out = {k: z[k] for k in z.files if k != IDS_NAME}
        elif suffix in HDF5_SUFFIXES:
            with h5py.File(path, "r") as h5:
                for key, item in h5.items():
                    if isinstance(item, h5py.Group) and DATASET in item:
                        out[key] = np.asarray(item[DATASET])
                    elif isinstance(item, h5py.Dataset) and key != IDS_NAME:
                        out[key] = np.asarray(item)
        else:
            raise DataFormatError(f"{path}: unknown feature format; expected .npy, .npz, .h5/.hdf5 or a folder.")
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataFormatError):
            raise
        raise DataFormatError(f"{path} could not be read as features: {exc}") from exc
    if not out:
        raise DataFormatError(
            f"{path} holds no features: expected <layer>/features.npy folders, arrays, or HDF5 "
            f"groups with a '{DATASET}' dataset."
        )
    if layers is not None:
        missing = [layer for layer in layers if layer not in out]
        if missing:
            raise DataFormatError(f"{path} has no layer(s) {missing}; it holds {list(out)}.")
        out = {layer: out[layer] for layer in layers}
    return out


def load_feature_ids(path: str | Path) -> list[str] | None:
    """The stimulus ids stored with features (``file_names``), or None when there are none."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        f = path / f"{IDS_NAME}.txt"
        return f.read_text().splitlines() if f.is_file() else None
    if suffix == ".npz":
        with np.load(path) as z:
            return [str(s) for s in z[IDS_NAME]] if IDS_NAME in z.files else None
    if suffix in HDF5_SUFFIXES:
        with h5py.File(path, "r") as h5:
            if IDS_NAME not in h5:
                return None
            return [s.decode() if isinstance(s, bytes) else str(s) for s in h5[IDS_NAME][()]]
    return None


class HDF5FeatureWriter:
    """Stream features into one HDF5 file, batch by batch, in the layout of :func:`save_features`.

    The file is written under a temporary name and renamed on :meth:`close` (nothing half-written
    is ever seen at ``path``). Datasets are contiguous float32 so that they can be memory-mapped.

    Args:
        path: ``.h5``/``.hdf5`` file to create (replaced if it exists).
        n: number of stimuli (rows of every dataset).
        ids: stimulus ids stored as ``file_names``.
    """

    def __init__(self, path: str | Path, n: int, ids: Sequence[str] | None = None) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in HDF5_SUFFIXES:
            raise ConfigError(f"Streaming writes HDF5: out must end in .h5 or .hdf5, received {self.path}.")
        self.n = int(n)
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        self._h5 = h5py.File(self._tmp, "w", track_order=True)
        if ids is not None:
            self._h5.create_dataset(IDS_NAME, data=[str(i) for i in ids], dtype=h5py.string_dtype())

    def write(self, layer: str, start: int, block: np.ndarray) -> None:
        """Write rows ``start:start+len(block)`` of ``layer`` (the dataset is created on first use)."""
        if layer not in self._h5:
            self._h5.create_group(layer).create_dataset(
                DATASET, shape=(self.n, *block.shape[1:]), dtype=np.float32
            )
        ds = self._h5[layer][DATASET]
        if tuple(ds.shape[1:]) != tuple(block.shape[1:]):
            raise ShapeError(f"Layer {layer!r}: rows of shape {block.shape[1:]} after {ds.shape[1:]}.")
        ds[start : start + len(block)] = block

    def close(self, ok: bool = True) -> None:
        """Finish the file (``ok``) or discard it."""
        self._h5.close()
        if ok:
            self._atomic.__exit__(None, None, None)
        else:
            err = RuntimeError("discarded")
            try:
                self._atomic.__exit__(RuntimeError, err, None)
            except RuntimeError:
                pass

    def __enter__(self) -> HDF5FeatureWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(ok=exc_type is None)


def open_hdf5_features(path: str | Path, layers: Sequence[str]) -> dict[str, np.ndarray]:
    """Read-only memory maps (``np.memmap``) of the ``features`` datasets of ``layers``.

    Only the pages that are touched are read, so arrays larger than memory can be used.
    """
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as h5:
        for layer in layers:
            ds = h5[layer][DATASET]
            offset = ds.id.get_offset()
            if offset is None or ds.chunks is not None or ds.compression is not None:
                raise DataFormatError(
                    f"{path}:{layer}/{DATASET} is not a contiguous uncompressed dataset; read it "
                    "with load_features instead."
                )
            out[layer] = np.memmap(path, dtype=ds.dtype, mode="r", offset=offset, shape=ds.shape)
    return out
