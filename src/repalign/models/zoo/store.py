"""Where zoo models live, how they are named and listed, and how they are loaded or trained.

Two folders hold checkpoints (``<name>.pt``):

- the built-in folder inside the package (``repalign/models/zoo/checkpoints/``): the 18 shipped
  models ``<mlp|cnn|resnet>_<standard|l2|linf>_s<0|1>``;
- the user zoo folder, ``$REPALIGN_ZOO_DIR`` or ``~/.cache/repalign/zoo``: built-in models
  trained on first use (when their shipped file is missing) and any model trained by the user
  (e.g. the sweep), listed by :func:`zoo_names` as well.

Example:
    >>> "cnn_l2_s0" in zoo_names()
    True
    >>> load_zoo_model("cnn_l2_s0").meta["style"]      # doctest: +SKIP
    'pgd_l2'
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from pathlib import Path

import pandas as pd
import torch

from repalign._registry import unknown_name_message
from repalign.errors import ConfigError, DataFormatError, UnknownNameError
from repalign.models.model import Model
from repalign.models.zoo.checkpoints import load_checkpoint, read_meta
from repalign.models.zoo.config import TrainConfig, builtin_configs

__all__ = [
    "ENV_VAR",
    "builtin_dir",
    "find_checkpoint",
    "load_zoo_model",
    "user_dir",
    "zoo_names",
    "zoo_table",
]

logger = logging.getLogger(__name__)

ENV_VAR = "REPALIGN_ZOO_DIR"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def builtin_dir() -> Path:
    """The package folder of the shipped checkpoints."""
    return Path(__file__).resolve().parent / "checkpoints"


def user_dir() -> Path:
    """The user zoo folder: ``$REPALIGN_ZOO_DIR`` or ``~/.cache/repalign/zoo`` (not created)."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "repalign" / "zoo"


def check_name(name: str) -> str:
    """A zoo model name: letters, digits, ``_ . -``; no path separators, no ``zoo:`` prefix."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"zoo model names use letters, digits, '_', '.', '-' (no folders, no 'zoo:' prefix), "
            f"received {name!r}."
        )
    return name


def _user_names() -> list[str]:
    folder = user_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.pt") if _NAME.match(p.stem))


def zoo_names(pattern: str = "*") -> list[str]:
    """Names of the zoo models (without ``zoo:``): built-in ones and those in the user folder.

    Built-in names are listed whether or not their checkpoint is on disk (they train on first
    use). ``pattern`` is a glob (``"cnn_*"``).
    """
    names = set(builtin_configs()) | set(_user_names())
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def _config_matches(path: Path, cfg: TrainConfig) -> bool:
    try:
        return read_meta(path).get("config") == cfg.to_dict()
    except DataFormatError:
        return False


def find_checkpoint(name: str) -> Path | None:
    """The checkpoint file of ``name``, or None when it must still be trained.

    A built-in name is looked up in the package folder, then the user folder; a file whose
    stored config differs from the built-in config (an older version) does not count.
    """
    check_name(name)
    builtins = builtin_configs()
    for folder in (builtin_dir(), user_dir()) if name in builtins else (user_dir(),):
        path = folder / f"{name}.pt"
        if path.is_file() and (name not in builtins or _config_matches(path, builtins[name])):
            return path
    return None


def load_zoo_model(name: str, device: str | torch.device | None = None, *,
                   train_if_missing: bool = True, quiet: bool = True) -> Model:
    """Load a zoo model by name; a built-in model without a checkpoint is trained first.

    Args:
        name: a name from :func:`zoo_names` (``"cnn_standard_s0"``; a ``zoo:`` prefix is
            accepted).
        device: where to put the model; ``None``/``"auto"`` picks CUDA when available.
        train_if_missing: train a missing built-in model (on CPU, a few seconds to a minute)
            and save it in the user folder; otherwise raise.
        quiet: hide the training progress bar.

    Returns:
        A :class:`Model` (1x32x32 inputs in [0, 1], 5 classes) in eval mode; ``meta`` holds the
        training config, style, epsilon, seed, clean and robust accuracies, training time,
        weights sha256, ``default_layers`` and ``penultimate``.

    Example:
        >>> m = load_zoo_model("resnet_linf_s1", device="cpu")   # doctest: +SKIP
        >>> m.meta["default_layers"], m.meta["penultimate"]      # doctest: +SKIP
        (['layer1', 'layer2', 'flatten'], 'flatten')
    """
    from repalign._device import resolve_device

    name = name.removeprefix("zoo:")
    check_name(name)
    dev = resolve_device(device)
    path = find_checkpoint(name)
    if path is not None:
        return load_checkpoint(path, device=dev)
    builtins = builtin_configs()
    if name not in builtins:
        raise UnknownNameError(unknown_name_message("zoo model", name, zoo_names()))
    if not train_if_missing:
        raise DataFormatError(
            f"zoo model {name!r} has no checkpoint in {str(builtin_dir())!r} or "
            f"{str(user_dir())!r}; run `repalign zoo train --only {name}` or pass "
            "train_if_missing=True."
        )
    from repalign.models.zoo.checkpoints import save_checkpoint
    from repalign.models.zoo.training import train_model

    logger.warning("zoo model %s has no checkpoint: training it now (CPU, seed %d)", name,
                   builtins[name].seed)
    model = train_model(builtins[name], name, quiet=quiet)
    path = save_checkpoint(model, user_dir() / f"{name}.pt")
    return load_checkpoint(path, device=dev)


def zoo_table(pattern: str = "*", *, shift: bool = False) -> pd.DataFrame:
    """One row per zoo model: name, arch, style, norm, epsilon, seed, clean_acc, robust_acc_l2,
    robust_acc_linf, train_time_s, location (``builtin``, ``user`` or ``untrained``).

    With ``shift=True`` each trained model is loaded and its accuracy on the held-out digits in
    the renditions of ``bundled:digits_shifted`` is added (``shift_acc``, the mean over
    renditions; see :func:`~repalign.models.zoo.shift_accuracies`); untrained models get NaN.
    """
    from repalign.models.zoo.shift import shift_accuracies

    rows = []
    for name in zoo_names(pattern):
        path = find_checkpoint(name)
        meta = read_meta(path) if path is not None else {}
        cfg = meta.get("config") or (builtin_configs()[name].to_dict()
                                     if name in builtin_configs() else {})
        rows.append({
            "name": name,
            "arch": cfg.get("arch"),
            "style": cfg.get("style"),
            "norm": cfg.get("norm"),
            "epsilon": cfg.get("epsilon"),
            "seed": cfg.get("seed"),
            "clean_acc": meta.get("clean_acc"),
            "robust_acc_l2": meta.get("robust_acc_l2"),
            "robust_acc_linf": meta.get("robust_acc_linf"),
            "train_time_s": meta.get("train_time_s"),
            "location": ("builtin" if path is not None and path.parent == builtin_dir()
                         else "user" if path is not None else "untrained"),
        })
        if shift:
            rows[-1]["shift_acc"] = (shift_accuracies(load_checkpoint(path))["shift_acc"]
                                     if path is not None else float("nan"))
    return pd.DataFrame(rows)
