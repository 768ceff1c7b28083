"""Read checkpoint files safely and load them onto an architecture.

``torch.load(weights_only=True)`` is used by default: it only rebuilds tensors and plain
containers. A file that needs full unpickling (it stores Python objects: a whole module, an
``argparse.Namespace``, ...) is refused unless ``trust_checkpoint=True``, because unpickling can run
arbitrary code.

Key layouts understood (see :func:`clean_state_dict`): a bare state dict; a dict holding it under
``state_dict``/``model``/``model_state_dict``/``net``; ``DataParallel``'s ``module.`` prefix; and the
robustness library's adversarially trained models, whose keys are ``module.model.*`` (the network),
``module.attacker.model.*`` (a duplicate used by the attacker) and ``module.normalizer.new_mean`` /
``new_std`` (the input normalisation, which becomes the model's preprocessing).
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from repalign._hashing import file_sha256
from repalign.errors import DataFormatError, WeightsUnavailableError
from repalign.models.model import Model, Preprocess

__all__ = [
    "apply_checkpoint", "clean_state_dict", "load_state_strict", "read_checkpoint", "state_dict_of",
]

log = logging.getLogger(__name__)

_CONTAINER_KEYS = ("state_dict", "model", "model_state_dict", "net", "network")
_PREFIXES = ("module.", "model.", "_orig_mod.")


def read_checkpoint(path: str | Path, *, trust_checkpoint: bool = False) -> Any:
    """Load a checkpoint file on the CPU (``.safetensors`` or anything ``torch.save`` wrote).

    Raises:
        WeightsUnavailableError: the file does not exist.
        DataFormatError: the file is not a checkpoint, or needs full unpickling while
            ``trust_checkpoint`` is False.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(
            f"Checkpoint file {str(path)!r} does not exist; check the path (relative paths start "
            f"from the current folder {Path.cwd()})."
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:
            raise DataFormatError(f"{path} is not a readable safetensors file: {exc}") from exc
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust_checkpoint:
            found = [ln.strip() for ln in str(exc).splitlines() if "Unsupported global" in ln]
            reason = found[0] if found else "it is not a plain state dict"
            raise DataFormatError(
                f"Refusing to load {path}: it stores Python objects besides tensors, so reading it "
                f"needs full unpickling, which can run arbitrary code ({reason}). If you trust where "
                "the file comes from, pass trust_checkpoint=True (CLI: --trust-checkpoint); "
                "better, re-save it as a plain state dict: torch.save(model.state_dict(), path)."
            ) from exc
        log.warning("Fully unpickling %s (trust_checkpoint=True)", path)
        return torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise DataFormatError(
            f"{path} is not a PyTorch checkpoint that torch.load can read ({exc}); pass a file "
            "written by torch.save or a .safetensors file."
        ) from exc


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(v, torch.Tensor) for v in obj.values()
    )


def state_dict_of(obj: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state dict inside a loaded checkpoint (bare, nested under a known key, or a module)."""
    if isinstance(obj, nn.Module):
        return dict(obj.state_dict())
    if _is_tensor_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for key in _CONTAINER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, nn.Module):
                return dict(inner.state_dict())
            if isinstance(inner, Mapping) and _is_tensor_dict(inner):
                return dict(inner)
        keys = list(obj)[:10]
        raise DataFormatError(
            f"{source} holds a dict without a state dict: its keys are {keys}; expected tensors, "
            f"or a state dict under one of {list(_CONTAINER_KEYS)}."
        )
    raise DataFormatError(
        f"{source} holds a {type(obj).__name__}, not a state dict; save one with "
        "torch.save(model.state_dict(), path)."
    )


def clean_state_dict(
    state: Mapping[str, torch.Tensor], target_keys: set[str] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Normalise a state dict's keys to the bare network's, and pull out the normalisation.

    Drops the robustness library's attacker duplicates (``attacker.*``) and normaliser buffers
    (``normalizer.new_mean``/``new_std``, returned in ``info`` as ``mean``/``std``), then strips
    ``module.``, ``model.`` and ``_orig_mod.`` prefixes shared by every key, unless the target
    network's own keys carry that prefix.

    Returns:
        ``(state_dict, info)``; ``info`` holds ``format`` ("robustness" or "plain"), and ``mean`` /
        ``std`` tuples when the checkpoint carried its normaliser.

    Example:
        >>> sd = {"module.model.fc.weight": torch.ones(2, 2), "module.attacker.model.fc.weight":
        ...       torch.ones(2, 2), "module.normalizer.new_mean": torch.zeros(3, 1, 1)}
        >>> clean, info = clean_state_dict(sd)
        >>> list(clean), info["format"]
        (['fc.weight'], 'robustness')
    """
    target_keys = target_keys or set()
    sd = dict(state)
    info: dict[str, Any] = {"format": "plain"}
    # DataParallel first, so that the robustness names are at the front
    while sd and all(k.startswith("module.") for k in sd) and not any(
        t.startswith("module.") for t in target_keys
    ):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    robust = ("attacker.", "normalizer.")
    if any(k.startswith(robust) for k in sd) and not any(t.startswith(robust) for t in target_keys):
        info["format"] = "robustness"
        for stat in ("mean", "std"):
            t = sd.get(f"normalizer.new_{stat}")
            if t is not None:
                info[stat] = tuple(float(v) for v in t.flatten())
        sd = {k: v for k, v in sd.items() if not k.startswith(robust)}
    changed = True
    while changed and sd:
        changed = False
        for prefix in _PREFIXES:
            if all(k.startswith(prefix) for k in sd) and not any(
                t.startswith(prefix) for t in target_keys
            ):
                sd = {k[len(prefix):]: v for k, v in sd.items()}
                changed = True
    return sd, info


def load_state_strict(network: nn.Module, sd: Mapping[str, torch.Tensor], source: str) -> None:
    """``network.load_state_dict(sd, strict=True)`` with an error that lists what does not fit."""
    own = network.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    mismatched = [
        f"{k}: checkpoint {tuple(sd[k].shape)} vs network {tuple(own[k].shape)}"
        for k in own
        if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:4]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:4]})")
        if mismatched:
            parts.append(f"{len(mismatched)} with another shape (e.g. {mismatched[:3]})")
        raise DataFormatError(
            f"{source} does not fit the architecture: keys " + "; ".join(parts) + ". Check the "
            "architecture (arch=...) and its options (e.g. num_classes=...)."
        )
    network.load_state_dict(sd, strict=True)


def apply_checkpoint(model: Model, path: str | Path, *, trust_checkpoint: bool = False) -> Model:
    """Load the checkpoint at ``path`` onto ``model.network`` (in place) and record it in ``meta``.

    A robustness-library normaliser replaces the model's preprocessing mean and std.

    Raises:
        DataFormatError: unreadable file, refused unpickling, or keys/shapes that do not fit.
    """
    path = Path(path).expanduser()
    obj = read_checkpoint(path, trust_checkpoint=trust_checkpoint)
    sd = state_dict_of(obj, source=str(path))
    sd, info = clean_state_dict(sd, set(model.network.state_dict()))
    load_state_strict(model.network, sd, str(path))
    if "mean" in info and "std" in info and isinstance(model.preprocess, Preprocess):
        size = model.preprocess.size
        model.preprocess = Preprocess(info["mean"], info["std"], size=(size[0], size[1]) if size else None)
    model.meta.update(
        pretrained=True,
        checkpoint=str(path),
        checkpoint_sha256=file_sha256(path),
        checkpoint_format=info["format"],
    )
    if isinstance(obj, Mapping) and isinstance(obj.get("epoch"), int):
        model.meta["checkpoint_epoch"] = obj["epoch"]
    model.meta["training"] = f"from checkpoint {path.name} ({info['format']} layout)"
    return model
