"""Zoo checkpoints: one ``.pt`` file per model, loadable with ``torch.load(weights_only=True)``.

A checkpoint is a plain dict (no pickled classes, so loading it runs no code)::

    {"format": "repalign.zoo/1",
     "state_dict": {name: tensor},   # floating tensors stored as float16
     "meta": {...}}                  # JSON-able: config, style, epsilon, seed, accuracies, sha256

The weights were rounded to float16 before they were measured, so loading (float16 -> float32)
restores exactly the evaluated network; ``meta["weights_sha256"]`` is the sha256 of the loaded
float32 state dict and is checked on every load.

Example:
    >>> import tempfile, pathlib
    >>> from repalign.models.zoo.training import make_model
    >>> from repalign.models.zoo.config import TrainConfig
    >>> m = make_model(TrainConfig(arch="mlp", width=8, depth=1), "tiny")
    >>> path = save_checkpoint(m, pathlib.Path(tempfile.mkdtemp()) / "tiny.pt")
    >>> load_checkpoint(path).meta["name"]
    'tiny'
"""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from repalign._hashing import hash_state_dict
from repalign._io import atomic_path
from repalign.errors import DataFormatError
from repalign.models.model import Model

__all__ = ["FORMAT", "load_checkpoint", "read_checkpoint", "read_meta", "save_checkpoint"]

FORMAT = "repalign.zoo/1"


def save_checkpoint(model: Model, path: str | Path) -> Path:
    """Write ``model`` (float16 weights + ``model.meta``) to ``path`` atomically; return the path.

    ``model.meta`` must be JSON-able and hold ``config`` (the training config) for
    :func:`load_checkpoint` to rebuild the architecture. ``meta["weights_sha256"]`` is set to the
    hash of the stored (float16-rounded) weights; a model whose weights are not float16-exact
    gets a warning, since its measured accuracies may not hold exactly for the stored file.
    """
    path = Path(path)
    meta = {k: v for k, v in model.meta.items() if k != "checkpoint"}  # where it was loaded from
    try:
        meta = json.loads(json.dumps(meta))
    except TypeError as exc:
        raise DataFormatError(f"model.meta of {model.spec} must be JSON-able to be saved: {exc}."
                              ) from None
    state = {
        k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in model.network.state_dict().items()
    }
    stored_sha = hash_state_dict({k: v.float() if v.is_floating_point() else v
                                  for k, v in state.items()})
    if meta.get("weights_sha256") not in (None, stored_sha):
        warnings.warn(
            f"{model.spec}: the weights are not float16-exact, so the checkpoint (float16) differs "
            "slightly from the model its metadata describes; round them first "
            "(repalign.models.zoo.training.round_to_float16) and measure again.",
            stacklevel=2,
        )
    meta["weights_sha256"] = stored_sha
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "state_dict": state, "meta": meta}, tmp)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict with ``weights_only=True``; a foreign or broken file is refused."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"zoo checkpoint {str(path)!r} does not exist.")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, OSError) as exc:
        raise DataFormatError(
            f"zoo checkpoint {str(path)!r} cannot be read with torch.load(weights_only=True) "
            f"({type(exc).__name__}: {str(exc)[:200]}); delete it and run `repalign zoo train`."
        ) from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        got = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise DataFormatError(
            f"{str(path)!r} is not a repalign zoo checkpoint: expected format {FORMAT!r}, "
            f"received {got!r}."
        )
    if not isinstance(blob.get("meta"), dict) or "config" not in blob["meta"]:
        raise DataFormatError(f"zoo checkpoint {str(path)!r} has no meta['config'].")
    return blob


def read_meta(path: str | Path) -> dict[str, Any]:
    """The metadata of a checkpoint (no model is built)."""
    return dict(read_checkpoint(path)["meta"])


def load_checkpoint(path: str | Path, device: str | torch.device | None = None) -> Model:
    """Rebuild the :class:`Model` stored in a zoo checkpoint, in eval mode.

    Args:
        path: a ``.pt`` file written by :func:`save_checkpoint`.
        device: where to put the model (default CPU).

    Raises:
        DataFormatError: the file is not a zoo checkpoint, or its weights do not hash to the
            stored ``weights_sha256`` (corrupted or edited).
    """
    from repalign.models.zoo.config import as_config
    from repalign.models.zoo.training import make_model

    blob = read_checkpoint(path)
    meta = blob["meta"]
    cfg = as_config(meta["config"])
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in blob["state_dict"].items()}
    try:
        model = make_model(cfg, str(meta.get("name", Path(path).stem)), meta, state)
    except RuntimeError as exc:
        raise DataFormatError(
            f"zoo checkpoint {str(path)!r}: weights do not fit its config ({str(exc)[:300]})."
        ) from None
    expected = meta.get("weights_sha256")
    if expected is not None and model.weights_sha256() != expected:
        raise DataFormatError(
            f"zoo checkpoint {str(path)!r}: weights sha256 {model.weights_sha256()[:12]} does not "
            f"match the stored {str(expected)[:12]}; the file is corrupted, retrain it."
        )
    model.meta["checkpoint"] = str(path)
    if device is not None:
        model = model.to(device)
    return model.eval()
