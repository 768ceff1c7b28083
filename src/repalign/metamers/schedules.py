"""Learning-rate schedules as plain functions of the step (no device access).

A schedule is built with the run's total number of steps and maps a step (0-based) to a factor
of the base learning rate. ``plateau`` also observes the mean loss at the periodic checks (the
only moments the loop reads values back from the device).

- ``constant``: 1.
- ``halving``: ``0.5 ** (step // every)`` over ``blocks`` blocks (``every = steps / blocks``);
  Feather's 24,000 steps are 8 blocks of 3,000 at 1, 1/2, ..., 1/128.
- ``cosine``: from 1 down to ``min_factor`` over the run.
- ``step``: ``gamma ** (step // every)``.
- ``plateau``: multiplied by ``factor`` when the checked loss has not improved by a relative
  ``threshold`` over ``patience`` checks.

Example:
    >>> s = get_schedule("halving")(24000)
    >>> s(0), s(2999), s(3000), s(23999)
    (1.0, 1.0, 0.5, 0.0078125)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from repalign._registry import Registry, Summary
from repalign.errors import ConfigError

__all__ = ["SCHEDULES", "Schedule", "get_schedule", "list_schedules"]


class Schedule:
    """A learning-rate factor per step; ``observe`` receives the checked loss (plateau only)."""

    needs_loss = False

    def __init__(self, fn: Callable[[int], float], name: str, config: dict[str, Any]) -> None:
        self.fn = fn
        self.name = name
        self.config = config

    def __call__(self, step: int) -> float:
        return float(self.fn(step))

    def observe(self, step: int, loss: float) -> None:
        """Record the mean loss at a check (ignored by step-only schedules)."""

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs besides the step (nothing for step-only schedules)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s values."""
        for key, value in state.items():
            setattr(self, key, value)


SCHEDULES: Registry[Callable[..., Schedule], Summary] = Registry("schedule", Summary)


@SCHEDULES.register("constant")
def constant(steps: int) -> Schedule:
    return Schedule(lambda s: 1.0, "constant", {})


@SCHEDULES.register("halving")
def halving(steps: int, blocks: int = 8, every: int | None = None) -> Schedule:
    if every is None:
        if blocks < 1:
            raise ConfigError(f"halving needs blocks >= 1, received {blocks}.")
        every = max(1, math.ceil(steps / blocks))
    if every < 1:
        raise ConfigError(f"halving needs every >= 1 step, received {every}.")
    last = max(0, math.ceil(steps / every) - 1)
    return Schedule(
        lambda s: 0.5 ** min(s // every, last), "halving", {"every": every, "blocks": last + 1}
    )


@SCHEDULES.register("cosine")
def cosine(steps: int, min_factor: float = 0.0) -> Schedule:
    def fn(s: int) -> float:
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))

    return Schedule(fn, "cosine", {"min_factor": min_factor})


@SCHEDULES.register("step")
def step(steps: int, every: int | None = None, gamma: float = 0.1) -> Schedule:
    every = every or max(1, steps // 3)
    return Schedule(lambda s: gamma ** (s // every), "step", {"every": every, "gamma": gamma})


class _Plateau(Schedule):
    needs_loss = True

    def __init__(self, factor: float, patience: int, threshold: float, min_factor: float) -> None:
        super().__init__(lambda s: self.value, "plateau", {
            "factor": factor, "patience": patience, "threshold": threshold,
            "min_factor": min_factor,
        })
        self.value, self.best, self.bad = 1.0, math.inf, 0
        self.factor, self.patience, self.threshold, self.min_factor = (
            factor, patience, threshold, min_factor,
        )

    def observe(self, step: int, loss: float) -> None:
        if loss < self.best * (1 - self.threshold):
            self.best, self.bad = loss, 0
            return
        self.bad += 1
        if self.bad >= self.patience:
            self.value = max(self.min_factor, self.value * self.factor)
            self.bad = 0

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value, "best": self.best, "bad": self.bad}


@SCHEDULES.register("plateau")
def plateau(
    steps: int,
    factor: float = 0.5,
    patience: int = 3,
    threshold: float = 1e-3,
    min_factor: float = 1e-3,
) -> Schedule:
    if not 0 < factor < 1:
        raise ConfigError(f"plateau factor must be in (0, 1), received {factor}.")
    return _Plateau(factor, patience, threshold, min_factor)


def get_schedule(spec: Any) -> Callable[..., Schedule]:
    """The schedule factory ``(steps, **options) -> Schedule`` called ``spec``."""
    return SCHEDULES.get(spec)


def list_schedules(pattern: str = "*") -> list[str]:
    """Registered schedules."""
    return SCHEDULES.list(pattern)
