"""The state a metamer batch carries from one step to the next, and its snapshots.

:class:`BatchState` is the loop's own state (per image: first-success step, last loss, best loss
and image, frozen or not; per batch: the next step, the loss history, the loss terms' state).
:func:`snapshot` adds the state of the pieces (parametrization tensors, optimizer, schedule,
stopping rule, the transforms' random generator) as CPU tensors and plain values;
:func:`restore` loads one into freshly built pieces, after which the loop continues exactly as
the uninterrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["BatchState", "fresh_state", "restore", "snapshot"]


@dataclass
class BatchState:
    """The loop's own state of one batch of ``n`` images.

    Attributes:
        step: the next step to run (the number of updates made so far).
        succeeded: (n,) int64 step of the first check where the criterion held, -1 if none yet.
        frozen: (n,) bool, samples the stopping rule ended (their image no longer changes).
        loss: (n,) last loss of each sample (device).
        best_loss, best_img: (n,), (n, C, H, W) lowest loss so far and its image (``keep="best"``).
        history: (S, n) sampled losses; ``h`` the next row to fill.
        terms: state of the loss terms (e.g. the adversarial scale fixed at the first step).
    """

    step: int
    succeeded: np.ndarray
    frozen: np.ndarray
    loss: torch.Tensor
    best_loss: torch.Tensor | None
    best_img: torch.Tensor | None
    history: torch.Tensor
    h: int = 0
    terms: dict[str, Any] = field(default_factory=dict)



def fresh_state(seeds_img: torch.Tensor, n_history: int, keep_best: bool) -> BatchState:
    """The state before the first step: ``seeds_img`` (n, C, H, W) the starting images."""
    n, dev = seeds_img.shape[0], seeds_img.device
    return BatchState(
        step=0,
        succeeded=np.full(n, -1, dtype=np.int64),
        frozen=np.zeros(n, dtype=bool),
        loss=torch.zeros(n, device=dev),
        best_loss=torch.full((n,), torch.inf, device=dev) if keep_best else None,
        best_img=seeds_img.clone() if keep_best else None,
        history=torch.zeros(n_history, n, device=dev),
    )


def snapshot(st: BatchState, param: Any, opt: Any, sched: Any, stop: Any,
             gen: torch.Generator) -> dict[str, Any]:
    """Everything a resumed run needs, as CPU tensors and plain values."""
    def cpu(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v.detach().cpu().clone()
        if isinstance(v, np.ndarray):
            return v.copy()
        if isinstance(v, dict):
            return {k: cpu(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(cpu(x) for x in v)
        return v

    parts = {
        "state": {k: getattr(st, k) for k in BatchState.__dataclass_fields__},
        "params": list(param.params),
        "optimizer": opt.state_dict(),
        "schedule": sched.state_dict(),
        "stop": stop.state_dict() if hasattr(stop, "state_dict") else {},
        "rng": gen.get_state(),
    }
    return {k: cpu(v) for k, v in parts.items()}


def restore(snap: dict[str, Any], param: Any, opt: Any, sched: Any, stop: Any,
            gen: torch.Generator, dev: torch.device) -> BatchState:
    """Load a :func:`snapshot` into freshly built pieces (on ``dev``); the loop's state back."""
    def to(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v.to(dev)
        if isinstance(v, dict):
            return {k: to(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(to(x) for x in v)
        return v

    with torch.no_grad():
        for p, saved in zip(param.params, snap["params"], strict=True):
            p.copy_(saved)
    opt.load_state_dict(snap["optimizer"])
    sched.load_state_dict(snap["schedule"])
    if hasattr(stop, "load_state_dict"):
        stop.load_state_dict(to(snap["stop"]))
    gen.set_state(snap["rng"])
    return BatchState(**to(snap["state"]))
