"""Executors: where units run. ``local`` runs them one by one in this process; ``ray`` runs them as
Ray tasks (the ``ray`` extra) with the CPUs and GPUs each unit asks for, on a cluster given by
address or on a local Ray instance started for the run.

Both return the same thing for a unit (its output and seconds); only the driver writes the store.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from repalign._deps import require
from repalign.errors import ConfigError
from repalign.study.config import ExecutorConfig
from repalign.study.context import StudyContext
from repalign.study.execute import execute_unit
from repalign.study.units import Unit, UnitInput, UnitOutput

__all__ = ["Done", "Executor", "LocalExecutor", "RayExecutor", "make_executor"]

log = logging.getLogger(__name__)


@dataclass
class Done:
    """A unit that ended: its output and seconds, or the exception it raised."""

    unit: Unit
    output: UnitOutput | None
    seconds: float
    error: BaseException | None = None


class Executor(Protocol):
    """Submit units, then collect them as they end."""

    slots: int

    def submit(self, unit: Unit, inputs: Mapping[str, UnitInput]) -> None: ...

    def collect(self) -> list[Done]: ...

    def shutdown(self) -> None: ...


class LocalExecutor:
    """Runs each submitted unit in this process when collected (one at a time)."""

    slots = 1

    def __init__(self, ctx: StudyContext, threads: int | None = None) -> None:
        self._ctx = ctx
        self._threads = threads
        self._queue: list[tuple[Unit, Mapping[str, UnitInput]]] = []

    def submit(self, unit: Unit, inputs: Mapping[str, UnitInput]) -> None:
        self._queue.append((unit, inputs))

    def collect(self) -> list[Done]:
        if not self._queue:
            return []
        unit, inputs = self._queue.pop(0)
        try:
            out, sec = execute_unit(unit, self._ctx, inputs, self._threads)
        except Exception as exc:
            return [Done(unit, None, 0.0, exc)]
        return [Done(unit, out, sec)]

    def shutdown(self) -> None:
        self._queue.clear()


def _ray_execute(
    unit: Unit, ctx: StudyContext, inputs: Mapping[str, UnitInput], threads: int | None
) -> tuple[UnitOutput, float]:
    return execute_unit(unit, ctx, inputs, threads)


class RayExecutor:
    """Runs units as Ray tasks.

    Args:
        ctx: the study context, put once into Ray's object store.
        config: ``address`` (``None`` starts a new local Ray instance, stopped at shutdown;
            ``"auto"`` or ``"ray://host:10001"`` connects to a cluster), per-unit CPUs and GPUs,
            torch threads. A Ray instance already initialised in this process is used as it is
            and left running.
    """

    def __init__(self, ctx: StudyContext, config: ExecutorConfig) -> None:
        ray = require("ray", "ray", purpose="the ray executor")
        self._ray = ray
        self._owns = False
        if not ray.is_initialized():
            # without an address, start a new local instance ("local"): Ray's own default would
            # attach to whatever RAY_ADDRESS or the last `ray start` on this machine points to
            kwargs: dict[str, Any] = {
                "address": config.address or "local", "include_dashboard": False, "log_to_driver": False,
            }
            try:
                ray.init(**kwargs)
            except ConnectionError as exc:
                raise ConfigError(
                    f"executor.address={config.address!r}: could not connect to a Ray cluster ({exc}). "
                    "Start one with `ray start --head`, or leave the address out to start a local one."
                ) from exc
            self._owns = True
        resources = ray.cluster_resources()
        cpus = float(resources.get("CPU", 1.0))
        self.slots = max(1, int(cpus // max(config.cpus_per_unit, 1e-9)))
        self._threads = config.threads if config.threads is not None else max(1, int(config.cpus_per_unit))
        self._ctx_ref = ray.put(ctx)
        self._task = ray.remote(_ray_execute)
        self._pending: dict[Any, Unit] = {}
        log.info("ray executor: %s CPUs, %s GPUs, %d unit(s) at a time", cpus, resources.get("GPU", 0), self.slots)

    def submit(self, unit: Unit, inputs: Mapping[str, UnitInput]) -> None:
        ref = self._task.options(num_cpus=unit.cpus, num_gpus=unit.gpus, max_retries=0).remote(
            unit, self._ctx_ref, dict(inputs), self._threads
        )
        self._pending[ref] = unit

    def collect(self) -> list[Done]:
        if not self._pending:
            return []
        ready, _ = self._ray.wait(list(self._pending), num_returns=1)
        out = []
        for ref in ready:
            unit = self._pending.pop(ref)
            try:
                output, sec = self._ray.get(ref)
            except self._ray.exceptions.RayTaskError as exc:
                # the exception the unit raised on the worker (its traceback is in the worker's log)
                cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
                out.append(Done(unit, None, 0.0, cause))
                continue
            except Exception as exc:
                out.append(Done(unit, None, 0.0, exc))
                continue
            out.append(Done(unit, output, sec))
        return out

    def shutdown(self) -> None:
        for ref in list(self._pending):
            self._ray.cancel(ref, force=True)
        self._pending.clear()
        if self._owns:
            self._ray.shutdown()


def make_executor(config: ExecutorConfig, ctx: StudyContext) -> LocalExecutor | RayExecutor:
    """The executor a study's ``[executor]`` section asks for."""
    if config.kind == "ray":
        return RayExecutor(ctx, config)
    return LocalExecutor(ctx, config.threads)
