"""The mini-batch loop shared by SPoSE and VICE: Adam, shuffles from a seeded generator, one
history row per epoch, held-out evaluation, a stopping rule, and checkpoints to resume from.

A checkpoint holds everything the next epoch depends on (parameters, Adam's state, both random
generators, the history), so a fit killed at any moment and started again with the same
arguments continues from its last checkpoint and ends with the same result as an uninterrupted
fit. The checkpoint carries a fingerprint of the data and settings; a mismatch is an error, never
a silent restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from repalign._io import atomic_path
from repalign._progress import progress
from repalign.embedding.likelihood import triplet_logits
from repalign.errors import ConfigError, DataFormatError

__all__ = ["TrainModel", "TrainSettings", "evaluate", "train"]

log = logging.getLogger(__name__)


class TrainModel(Protocol):
    params: list[torch.Tensor]

    def backward(self, batch: torch.Tensor, n_train: int, generator: torch.Generator
                 ) -> dict[str, torch.Tensor]: ...

    def complexity(self, n_train: int, generator: torch.Generator) -> float: ...

    def project(self) -> None: ...

    def embedding(self) -> torch.Tensor: ...

    def kept_dimensions(self) -> np.ndarray: ...

    def state(self) -> dict[str, Any]: ...

    def load_state(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class TrainSettings:
    """How to run the loop.

    Attributes:
        epochs: maximum number of passes over the training triplets.
        batch_size: triplets per step.
        lr: Adam's learning rate.
        stop: ``stop(kept_dimension_counts, epoch)`` -> True to stop after this epoch, or None.
        checkpoint: file to save to and resume from, or None.
        checkpoint_seconds: save at most this often (and always at the end).
        quiet: no progress bar.
    """

    epochs: int
    batch_size: int
    lr: float
    stop: Callable[[list[int], int], bool] | None = None
    checkpoint: Path | None = None
    checkpoint_seconds: float = 60.0
    quiet: bool = False


@torch.no_grad()
def evaluate(x: torch.Tensor, triplets: torch.Tensor, chunk: int = 262_144) -> tuple[float, float]:
    """Mean NLL and odd-one-out accuracy (ties count as wrong) of embedding ``x`` on triplets."""
    nll, hits = 0.0, 0
    for start in range(0, len(triplets), chunk):
        logits = triplet_logits(x, triplets[start:start + chunk])
        nll += float((torch.logsumexp(logits, -1) - logits[:, 0]).sum())
        hits += int(((logits[:, 0] > logits[:, 1]) & (logits[:, 0] > logits[:, 2])).sum())
    return nll / len(triplets), hits / len(triplets)


def _load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn or foreign file: say so rather than start over silently
        raise DataFormatError(
            f"{path}: not a readable embedding checkpoint ({exc}); delete it to start over."
        ) from exc
    if ckpt.get("fingerprint") != fingerprint:
        raise ConfigError(
            f"{path} belongs to a fit with other triplets or settings; resume with the same "
            "arguments, or use another checkpoint path (or delete this one) to start over."
        )
    return dict(ckpt)


def train(model: TrainModel, train_t: torch.Tensor, val_t: torch.Tensor | None,
          settings: TrainSettings, *, shuffle_gen: torch.Generator, sample_gen: torch.Generator,
          fingerprint: str) -> tuple[list[dict[str, float]], bool]:
    """Fit ``model`` on (T, 3) ``train_t``; return the per-epoch history and whether it stopped
    by its rule (True) or ran out of epochs (False)."""
    fused = all(p.device.type in ("cpu", "cuda") for p in model.params)
    opt = torch.optim.Adam(model.params, lr=settings.lr, fused=fused)
    history: list[dict[str, float]] = []
    start, stopped = 0, False
    if settings.checkpoint is not None:
        ckpt = _load_checkpoint(settings.checkpoint, fingerprint)
        if ckpt is not None:
            model.load_state(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            shuffle_gen.set_state(ckpt["shuffle_gen"])
            sample_gen.set_state(ckpt["sample_gen"])
            history, start, stopped = list(ckpt["history"]), int(ckpt["epoch"]), bool(ckpt["stopped"])
            log.info("resuming from %s at epoch %d", settings.checkpoint, start)

    def save(epoch: int) -> None:
        if settings.checkpoint is None:
            return
        state = {"fingerprint": fingerprint, "epoch": epoch, "stopped": stopped,
                 "model": model.state(), "optimizer": opt.state_dict(),
                 "shuffle_gen": shuffle_gen.get_state(), "sample_gen": sample_gen.get_state(),
                 "history": history}
        with atomic_path(settings.checkpoint) as tmp:
            torch.save(state, tmp)

    n, device = len(train_t), train_t.device
    last_save = time.monotonic()
    bar = progress(range(start, settings.epochs), quiet=settings.quiet, desc="embedding",
                   unit="epoch", initial=start, total=settings.epochs)
    for epoch in bar:
        if stopped:
            break
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=shuffle_gen).to(device)
        sums = torch.zeros(2, dtype=torch.float64, device=device)
        for lo in range(0, n, settings.batch_size):
            batch = train_t[order[lo:lo + settings.batch_size]]
            parts = model.backward(batch, n, sample_gen)
            opt.step()
            model.project()
            sums[0] += parts["nll"] * len(batch)
            sums[1] += parts["hits"]
        nll_sum, hits = sums.tolist()
        row = {"epoch": epoch + 1, "train_nll": nll_sum / n,
               "complexity": model.complexity(n, sample_gen), "train_accuracy": hits / n,
               "dims": len(model.kept_dimensions())}
        if val_t is not None and len(val_t):
            row["val_nll"], row["val_accuracy"] = evaluate(model.embedding(), val_t)
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        bar.set_postfix(nll=f"{row['train_nll']:.3f}", dims=row["dims"])
        dims = [int(h["dims"]) for h in history]
        stopped = settings.stop is not None and settings.stop(dims, epoch + 1)
        last_epoch = epoch + 1 == settings.epochs
        if stopped or last_epoch or time.monotonic() - last_save >= settings.checkpoint_seconds:
            save(epoch + 1)
            last_save = time.monotonic()
    bar.close()
    return history, stopped
