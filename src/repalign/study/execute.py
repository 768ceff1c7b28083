"""Running one unit, wherever it runs (this process or a Ray worker).

:func:`execute_unit` is a pure function of the unit, the study context and the outputs of the
unit's dependencies: it seeds every random generator from the unit's parameters, limits torch's
threads when asked, calls the stage's runner and returns the output with the seconds it took. It
never touches the store.
"""

from __future__ import annotations

import contextlib
import importlib
import random
import time
from collections.abc import Iterator, Mapping
from types import ModuleType

import numpy as np
import torch

from repalign.study.context import StudyContext
from repalign.study.units import Unit, UnitInput, UnitOutput

__all__ = ["STAGES", "execute_unit", "stage_module"]

# stages in the order they are planned; each is a module repalign.study.stages.<name> with
# expand(planner) -> list[Unit] and run(unit, ctx, inputs) -> UnitOutput
STAGES: tuple[str, ...] = ("features", "similarity", "glocal", "metamers", "evaluation", "analysis",
                           "theory")


def stage_module(stage: str) -> ModuleType:
    """The module implementing ``stage``."""
    return importlib.import_module(f"repalign.study.stages.{stage}")


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - libraries may draw from the global generator
    torch.manual_seed(seed)


def execute_unit(
    unit: Unit, ctx: StudyContext, inputs: Mapping[str, UnitInput], threads: int | None = None
) -> tuple[UnitOutput, float]:
    """Run ``unit`` and return its output and the wall time in seconds."""
    t0 = time.perf_counter()
    with _threads(threads):
        _seed_everything(int(unit.params.get("seed", 0)))
        out = stage_module(unit.stage).run(unit, ctx, dict(inputs))
    if not isinstance(out, UnitOutput):
        raise TypeError(f"stage {unit.stage!r} returned {type(out).__name__}, not UnitOutput")
    return out, time.perf_counter() - t0
