"""Checkpoints of a metamer run: finished batches and the state of the batch in progress.

A checkpoint folder holds ``run.json`` (the run's fingerprint: recipe, seed, batching, models'
content hashes, layers and the targets' sha256), ``batch-NNNNN.done.pt`` for every finished
batch, and ``batch-NNNNN.state.pt`` for the batch being optimised: its snapshot every
``checkpoint_every`` steps (parameters, optimizer, schedule and stopping-rule state, the random
generator of the transforms, and the loop's per-image state). Every file is written to a
temporary file and moved into place with ``os.replace``, so a run killed at any moment leaves the
last complete snapshot. Files are read with ``torch.load(weights_only=True)``: tensors and plain
values only.

Example:
    >>> import tempfile, torch
    >>> ck = RunCheckpoint(tempfile.mkdtemp(), {"seed": 0})
    >>> ck.save_state(0, {"step": 5, "x": torch.ones(2)})
    >>> ck.state(0)["step"]
    5
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repalign._hashing import hash_params
from repalign._io import atomic_path, atomic_write_text
from repalign.errors import ConfigError, DataFormatError
from repalign.metamers.loop import BatchOutcome

__all__ = ["RunCheckpoint"]

log = logging.getLogger(__name__)


def _pack(value: Any) -> Any:
    """numpy arrays become tensors tagged for :func:`_unpack` (weights_only loading)."""
    if isinstance(value, np.ndarray):
        return {"__numpy__": torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, dict):
        return {k: _pack(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_pack(v) for v in value)
    return value


def _unpack(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__numpy__"}:
            return value["__numpy__"].numpy()
        return {k: _unpack(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_unpack(v) for v in value)
    return value


class RunCheckpoint:
    """The checkpoint folder of one run.

    Args:
        folder: where the files live (created when missing).
        fingerprint: JSON-able description of the run; a folder written by a different run is
            refused, so a resumed run never mixes batches of two runs.
    """

    def __init__(self, folder: str | Path, fingerprint: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        key = hash_params(fingerprint)
        meta = self.folder / "run.json"
        if meta.exists():
            try:
                have = json.loads(meta.read_text())["key"]
            except (ValueError, KeyError) as exc:
                raise DataFormatError(f"{meta} is not a metamer checkpoint ({exc}); use an empty "
                                      "folder as checkpoint.") from None
            if have != key:
                raise ConfigError(
                    f"The checkpoint folder {self.folder} holds another metamer run (different "
                    "recipe, seed, batching, models, layers or targets); resume with the same "
                    "arguments, or give a new folder."
                )
        else:
            atomic_write_text(meta, json.dumps({"key": key, "run": fingerprint}, indent=1,
                                               default=str))

    def _path(self, batch: int, kind: str) -> Path:
        return self.folder / f"batch-{batch:05d}.{kind}.pt"

    def _write(self, path: Path, obj: dict[str, Any]) -> None:
        with atomic_path(path) as tmp:
            torch.save(_pack(obj), tmp)

    def _read(self, path: Path) -> dict[str, Any] | None:
        if not path.exists():
            return None
        try:
            saved = _unpack(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as exc:
            raise DataFormatError(f"Cannot read the metamer checkpoint {path}: {exc}. Delete it "
                                  "to recompute that batch.") from None
        if not isinstance(saved, dict):
            raise DataFormatError(f"The metamer checkpoint {path} holds a {type(saved).__name__}, "
                                  "not a batch's record. Delete it to recompute that batch.")
        return saved

    def state(self, batch: int) -> dict[str, Any] | None:
        """The last snapshot of an unfinished batch, or None."""
        return self._read(self._path(batch, "state"))

    def save_state(self, batch: int, snapshot: dict[str, Any]) -> None:
        """Replace the batch's snapshot (atomic)."""
        self._write(self._path(batch, "state"), snapshot)
        log.debug("checkpoint of batch %d at step %s", batch, snapshot.get("state", {}).get("step"))

    def finished(self, batch: int) -> BatchOutcome | None:
        """The outcome of a finished batch, or None."""
        saved = self._read(self._path(batch, "done"))
        return None if saved is None else BatchOutcome(**saved)

    def save_finished(self, batch: int, outcome: BatchOutcome) -> None:
        """Store a finished batch and drop its snapshot."""
        self._write(self._path(batch, "done"),
                    {f.name: getattr(outcome, f.name) for f in fields(outcome)})
        with contextlib.suppress(FileNotFoundError):
            self._path(batch, "state").unlink()
