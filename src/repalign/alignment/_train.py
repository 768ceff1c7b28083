"""The optimisation loop behind :class:`~repalign.alignment.GLocal`: minibatches of triplets
zipped with minibatches of auxiliary stimuli, Adam or SGD, early stopping on held-out triplets."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from repalign._progress import progress
from repalign.alignment.losses import glocal_loss, teacher_distribution, triplet_logits
from repalign.errors import ConfigError

__all__ = ["TrainConfig", "evaluate_triplets", "train_glocal"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one gLocal fit (see :class:`~repalign.alignment.GLocal`)."""

    alpha: float
    lam: float
    tau: float
    lr: float
    optimizer: str
    max_epochs: int
    patience: int
    min_epochs: int
    batch_size: int
    local_batch_size: int
    init_scale: float
    fit_bias: bool
    grad_clip: float | None
    min_delta: float = 1e-4
    quiet: bool = True


@torch.no_grad()
def evaluate_triplets(
    z: torch.Tensor, triplets: torch.Tensor, chunk: int = 262_144
) -> tuple[float, float]:
    """Mean triplet cross-entropy and odd-one-out accuracy of embedded objects ``z``.

    A triplet counts as correct when the chosen pair (columns 0-1) has a strictly larger dot
    product than both other pairs; ties count as wrong.
    """
    total_loss, correct = 0.0, 0
    for start in range(0, len(triplets), chunk):
        logits = triplet_logits(z, triplets[start : start + chunk])
        total_loss += float(
            torch.nn.functional.cross_entropy(
                logits, torch.zeros(len(logits), dtype=torch.long, device=z.device), reduction="sum"
            )
        )
        correct += int(((logits[:, 0] > logits[:, 1]) & (logits[:, 0] > logits[:, 2])).sum())
    return total_loss / len(triplets), correct / len(triplets)


def _optimizer(name: str, params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    key = name.lower()
    if key == "adam":
        return torch.optim.Adam(params, lr=lr)
    if key == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    raise ConfigError(f"optimizer must be 'adam' or 'sgd' (momentum 0.9), received {name!r}.")


def train_glocal(
    x: torch.Tensor,
    triplets: torch.Tensor,
    x_local: torch.Tensor | None,
    val_triplets: torch.Tensor | None,
    cfg: TrainConfig,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor | None, list[dict[str, Any]], int]:
    """Fit ``W`` (and ``b``) by minibatch descent on the gLocal loss.

    Args:
        x: (N, D) standardised object features (float, on the training device).
        triplets: (T, 3) int64 training triplets on the same device.
        x_local: (M, D) standardised auxiliary features for the local term, or None.
        val_triplets: (V, 3) held-out triplets for early stopping, or None (run all epochs).
        cfg: hyper-parameters.
        generator: CPU generator for the shuffles (reproducibility).

    Returns:
        ``(W, b, history, best_epoch)``: the weights of the best validation epoch (the last
        epoch without validation), one history row per epoch, and the 0-based best epoch.
    """
    d = x.shape[1]
    weights = (cfg.init_scale * torch.eye(d, dtype=x.dtype, device=x.device)).requires_grad_()
    bias = torch.zeros(d, dtype=x.dtype, device=x.device, requires_grad=True) if cfg.fit_bias else None
    params = [weights] + ([bias] if bias is not None else [])
    opt = _optimizer(cfg.optimizer, params, cfg.lr)
    use_local = x_local is not None and cfg.alpha > 0
    fixed_teacher = None
    if use_local and x_local is not None and len(x_local) <= cfg.local_batch_size:
        fixed_teacher = teacher_distribution(x_local, cfg.tau)  # same batch every step
    n_steps = math.ceil(len(triplets) / cfg.batch_size)
    best = (math.inf, weights.detach().clone(), None if bias is None else bias.detach().clone())
    best_epoch, wait = 0, 0
    history: list[dict[str, Any]] = []
    local_order = torch.empty(0, dtype=torch.long)
    local_pos = 0
    for epoch in progress(range(cfg.max_epochs), quiet=cfg.quiet, desc="gLocal", unit="epoch"):
        t0 = time.perf_counter()
        order = torch.randperm(len(triplets), generator=generator).to(x.device)
        sums = {"loss": 0.0, "global": 0.0, "local": 0.0, "pull": 0.0}
        for step in range(n_steps):
            batch = triplets[order[step * cfg.batch_size : (step + 1) * cfg.batch_size]]
            xl, teacher = None, None
            if use_local and x_local is not None:
                if fixed_teacher is not None:
                    xl, teacher = x_local, fixed_teacher
                else:
                    if local_pos + cfg.local_batch_size > len(local_order):
                        local_order = torch.randperm(len(x_local), generator=generator)
                        local_pos = 0
                    rows = local_order[local_pos : local_pos + cfg.local_batch_size]
                    local_pos += cfg.local_batch_size
                    xl = x_local[rows.to(x.device)]
            terms = glocal_loss(
                x, batch, weights, bias, xl,
                alpha=cfg.alpha, lam=cfg.lam, tau=cfg.tau, teacher_probs=teacher,
            )  # fmt: skip
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            for k in sums:
                sums[k] += float(terms[k].detach())
        row: dict[str, Any] = {"epoch": epoch, **{f"train_{k}": v / n_steps for k, v in sums.items()}}
        if not math.isfinite(row["train_loss"]):
            raise ConfigError(
                f"gLocal diverged at epoch {epoch} (training loss {row['train_loss']}); lower lr "
                f"(now {cfg.lr}) or raise lam (now {cfg.lam})."
            )
        if val_triplets is not None:
            with torch.no_grad():
                z = x @ weights + (bias if bias is not None else 0.0)
                row["val_loss"], row["val_accuracy"] = evaluate_triplets(z, val_triplets)
            if row["val_loss"] < best[0] - cfg.min_delta:
                best = (row["val_loss"], weights.detach().clone(), None if bias is None else bias.detach().clone())
                best_epoch, wait = epoch, 0
            else:
                wait += 1
        else:
            row["val_loss"], row["val_accuracy"] = math.nan, math.nan
            best_epoch = epoch
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        log.debug("gLocal epoch %d: %s", epoch, row)
        if val_triplets is not None and wait >= cfg.patience and epoch + 1 >= cfg.min_epochs:
            log.info("gLocal: early stop at epoch %d (best %d)", epoch, best_epoch)
            break
    if val_triplets is None:
        return weights.detach(), None if bias is None else bias.detach(), history, best_epoch
    return best[1], best[2], history, best_epoch
