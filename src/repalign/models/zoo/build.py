"""Train many zoo models into a folder: resumable, atomic, optionally in parallel processes.

:func:`train_many` is the engine of ``repalign zoo train`` (the 18 built-in models) and of the
sweep: a model whose checkpoint already exists with the same config is skipped, every checkpoint
is written atomically (a killed run leaves no half-written file), and each model trains on one
CPU thread so ``jobs`` processes use ``jobs`` cores without changing any result.

Example:
    >>> table = train_zoo(out="zoo_out", only="mlp_standard_s0")   # doctest: +SKIP
    >>> table.loc[0, "status"], table.loc[0, "clean_acc"] > 0.97    # doctest: +SKIP
    ('trained', True)
"""

from __future__ import annotations

import fnmatch
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from repalign._progress import progress
from repalign.errors import ConfigError, DataFormatError
from repalign.models.zoo.checkpoints import read_checkpoint, read_meta, save_checkpoint
from repalign.models.zoo.config import TrainConfig, as_config, builtin_configs
from repalign.models.zoo.store import builtin_dir, check_name, user_dir

__all__ = ["train_many", "train_zoo"]

logger = logging.getLogger(__name__)

_ROW_KEYS = ("clean_acc", "robust_acc_l2", "robust_acc_linf", "train_time_s", "weights_sha256")


def _row(name: str, status: str, path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    cfg = meta.get("config", {})
    row = {"name": name, "status": status, "arch": cfg.get("arch"), "style": cfg.get("style"),
           "epsilon": cfg.get("epsilon"), "seed": cfg.get("seed")}
    row.update({k: meta.get(k) for k in _ROW_KEYS})
    row["path"] = str(path)
    return row


def _train_one(name: str, config: dict[str, Any], path: str) -> dict[str, Any]:
    """Train and save one model (runs in a worker process or inline)."""
    from repalign.models.zoo.training import train_model

    model = train_model(config, name, quiet=True)
    save_checkpoint(model, path)
    return _row(name, "trained", Path(path), model.meta)


def _finished(path: Path, cfg: TrainConfig) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        meta = read_meta(path)
    except DataFormatError:
        logger.warning("%s is not a readable zoo checkpoint: training it again", path)
        return None
    return meta if meta.get("config") == cfg.to_dict() else None


def train_many(
    configs: dict[str, TrainConfig | dict[str, Any]],
    out: str | Path,
    *,
    force: bool = False,
    jobs: int = 1,
    quiet: bool = False,
) -> pd.DataFrame:
    """Train every ``name -> config`` into ``out/<name>.pt``, skipping finished models.

    Args:
        configs: model names and their :class:`TrainConfig` (or dicts of fields).
        out: the folder (created when missing).
        force: retrain even when a checkpoint with the same config exists.
        jobs: worker processes (each trains on one CPU thread; results do not depend on it).
        quiet: hide the progress bar.

    Returns:
        One row per model, in the order of ``configs``: name, status (``"trained"`` or
        ``"skipped"``), arch, style, epsilon, seed, clean_acc, robust_acc_l2, robust_acc_linf,
        train_time_s, weights_sha256, path.
    """
    if jobs < 1:
        raise ConfigError(f"jobs must be >= 1, received {jobs}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    todo: dict[str, TrainConfig] = {}
    rows: dict[str, dict[str, Any]] = {}
    for name, config in configs.items():
        cfg = as_config(config)
        path = out / f"{check_name(name)}.pt"
        meta = None if force else _finished(path, cfg)
        if meta is not None:
            rows[name] = _row(name, "skipped", path, meta)
        else:
            todo[name] = cfg
    bar = progress(total=len(todo), quiet=quiet, desc="zoo", unit="model")
    if jobs == 1 or len(todo) <= 1:
        for name, cfg in todo.items():
            bar.set_postfix_str(name)
            rows[name] = _train_one(name, cfg.to_dict(), str(out / f"{name}.pt"))
            bar.update()
    else:
        # fork where available: no re-import of the caller's script (which spawn needs guarded)
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = {pool.submit(_train_one, name, cfg.to_dict(), str(out / f"{name}.pt")): name
                       for name, cfg in todo.items()}
            for fut in as_completed(futures):
                rows[futures[fut]] = fut.result()
                bar.set_postfix_str(futures[fut])
                bar.update()
    bar.close()
    return pd.DataFrame([rows[name] for name in configs])


def train_zoo(
    out: str | Path | None = None,
    only: str = "*",
    *,
    force: bool = False,
    jobs: int = 1,
    quiet: bool = False,
) -> pd.DataFrame:
    """Train the built-in zoo models (all 18, or those matching the glob ``only``) into ``out``.

    ``out`` defaults to the user zoo folder (``$REPALIGN_ZOO_DIR``). When a shipped checkpoint
    exists, each row also says whether the retrained weights are bit-identical to it
    (``identical_to_shipped``; expected on the CPU they were trained on, since training is
    deterministic), the largest absolute difference between the two sets of weights
    (``max_abs_diff_to_shipped``; on another CPU, floating-point kernels round differently and
    training amplifies it: from one float16 step for the standard MLPs to tenths after
    adversarial training, see docs/zoo.md) and the shipped clean accuracy.
    """
    selected = {n: c for n, c in builtin_configs().items() if fnmatch.fnmatchcase(n, only)}
    if not selected:
        raise ConfigError(
            f"--only {only!r} matches no built-in zoo model; names look like "
            f"{sorted(builtin_configs())[:4]}."
        )
    folder = Path(out) if out is not None else user_dir()
    table = train_many(dict(selected), folder, force=force, jobs=jobs, quiet=quiet)
    shipped_acc, identical, max_diff = [], [], []
    for name, path, sha in zip(table["name"], table["path"], table["weights_sha256"],
                               strict=True):
        shipped = builtin_dir() / f"{name}.pt"
        same_file = shipped.resolve() == Path(path).resolve()
        blob = read_checkpoint(shipped) if shipped.is_file() and not same_file else None
        meta = blob["meta"] if blob else None
        shipped_acc.append(meta.get("clean_acc") if meta else None)
        identical.append(meta.get("weights_sha256") == sha if meta else None)
        max_diff.append(_max_abs_diff(blob["state_dict"], read_checkpoint(path)["state_dict"])
                        if blob else None)
    return table.assign(shipped_clean_acc=shipped_acc, identical_to_shipped=identical,
                        max_abs_diff_to_shipped=max_diff)


def _max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Largest absolute difference between two state dicts with the same keys and shapes."""
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        return float("inf")
    return max((float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].numel()),
               default=0.0)
