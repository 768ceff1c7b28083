"""Stopping rules, evaluated at the periodic checks; a sample that is done is frozen.

A rule is built per batch (``factory(size, **options)``) and called at each check with the step
and, for the active samples, their distance, loss and whether the metamer criterion holds. Rules
registered with ``uses_distance=True`` get the distance of the 8-bit images (one extra forward per
check); the others get the distance of the step's forward. It
returns an (n,) bool tensor on the device: the samples that stop now. A rule with state
(``plateau``) has ``state_dict()`` / ``load_state_dict()`` so that a run can be resumed.

- ``fixed``: never stops early (all steps run).
- ``threshold``: the representation distance is below ``tau``.
- ``plateau``: the loss changed by less than ``tol`` over the last ``window`` steps (plenoptic's
  rule: 1e-4 over 50 steps).
- ``criterion``: the metamer criterion holds (checked on the 8-bit image).

Example:
    >>> import torch
    >>> rule = get_stop("threshold")(3, tau=0.1)
    >>> rule(10, dist=torch.tensor([0.05, 0.2, 0.09]), loss=None, success=None, rows=None)
    tensor([ True, False,  True])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from repalign._registry import Registry
from repalign.errors import ConfigError

__all__ = ["STOPS", "get_stop", "list_stops"]

StopRule = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class StopInfo:
    """A stopping rule's metadata: whether it reads the distance (else it may skip computing it)."""

    uses_distance: bool


STOPS: Registry[Callable[..., StopRule], StopInfo] = Registry("stopping rule", StopInfo)


@STOPS.register("fixed", uses_distance=False)
def fixed(size: int) -> StopRule:
    def rule(step: int, dist: torch.Tensor, **_: Any) -> torch.Tensor:
        return torch.zeros_like(dist, dtype=torch.bool)

    return rule


@STOPS.register("threshold", uses_distance=True)
def threshold(size: int, tau: float = 0.01) -> StopRule:
    if tau <= 0:
        raise ConfigError(f"threshold stop needs tau > 0, received {tau}.")

    def rule(step: int, dist: torch.Tensor, **_: Any) -> torch.Tensor:
        return dist < tau

    return rule


class _PlateauRule:
    """plenoptic's rule; keeps the full-size loss seen at each check (its resumable state)."""

    def __init__(self, size: int, tol: float, window: int) -> None:
        self.size, self.tol, self.window = size, tol, window
        self.seen: list[tuple[int, torch.Tensor]] = []  # (step, full-size loss) at each check

    def __call__(
        self, step: int, dist: torch.Tensor, loss: torch.Tensor, rows: torch.Tensor | None,
        **_: Any,
    ) -> torch.Tensor:
        cur = loss.detach()
        if rows is None:
            full = cur.clone()
        else:
            prev = self.seen[-1][1] if self.seen else cur.new_full((self.size,), float("nan"))
            full = prev.index_copy(0, rows, cur)
        past = [f for s, f in self.seen if s <= step - self.window]
        self.seen.append((step, full))
        if not past:
            return torch.zeros_like(cur, dtype=torch.bool)
        ref = past[-1] if rows is None else past[-1].index_select(0, rows)
        return (ref - cur).abs() < self.tol

    def state_dict(self) -> dict[str, Any]:
        return {"seen": list(self.seen)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seen = list(state["seen"])


@STOPS.register("plateau", uses_distance=False)
def plateau(size: int, tol: float = 1e-4, window: int = 50) -> StopRule:
    if window < 1 or tol < 0:
        raise ConfigError(f"plateau stop needs window >= 1 and tol >= 0, received {window}, {tol}.")
    return _PlateauRule(size, tol, window)


@STOPS.register("criterion", uses_distance=False)
def criterion(size: int) -> StopRule:
    def rule(step: int, dist: torch.Tensor, success: torch.Tensor, **_: Any) -> torch.Tensor:
        return success

    return rule


def get_stop(spec: Any) -> Callable[..., StopRule]:
    """The stopping-rule factory ``(size, **options) -> rule`` called ``spec``."""
    return STOPS.get(spec)


def list_stops(pattern: str = "*") -> list[str]:
    """Registered stopping rules."""
    return STOPS.list(pattern)
