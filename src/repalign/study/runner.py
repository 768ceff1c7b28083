"""``run_study``: plan a study, run the units that are not finished yet, write the report.

The driver (this process) plans every unit, skips the ones already finished in the run directory
(their artifacts checked against their sha256), hands the rest to the executor as their
dependencies finish, and commits each finished unit in one transaction. Kill it at any moment and
run it again on the same directory: it resumes where it stopped.

Example:
    >>> run = run_study("examples/quickstart.toml", out="runs/quick")   # doctest: +SKIP
    >>> run.results().query("metric == 'rsa_spearman'").head()         # doctest: +SKIP
    >>> run.report                                                       # doctest: +SKIP
    PosixPath('runs/quick/report.html')
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from repalign._device import resolve_device
from repalign._progress import progress
from repalign.errors import ConfigError, RepalignError
from repalign.study.config import StudyConfig, load_config
from repalign.study.context import build_context
from repalign.study.executors import Done, make_executor
from repalign.study.plan import plan_study
from repalign.study.store import Store, load_results
from repalign.study.units import Unit, UnitInput

__all__ = ["StudyError", "StudyRun", "run_study"]

log = logging.getLogger("repalign.study")
LOG_NAME = "study.log"
LOCK_NAME = ".lock"


class StudyError(RepalignError, RuntimeError):
    """A unit of the study failed; finished units are kept and a new run resumes after them."""


@dataclass(frozen=True)
class StudyRun:
    """A finished study run.

    Attributes:
        path: the run directory.
        report: the HTML report (None when not built).
        units: how many units the study has.
        ran: how many ran in this invocation (the others were finished before).
        seconds: wall time of this invocation.
    """

    path: Path
    report: Path | None
    units: int
    ran: int
    seconds: float

    def results(self, stage: str | None = None) -> pd.DataFrame:
        """The results table (tidy long format), optionally one stage's."""
        return load_results(self.path, stage=stage)


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """Only one driver may write a run directory at a time."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fh = open(run_dir / LOCK_NAME, "a+")
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"Another `repalign run` is writing to {run_dir}; wait for it to end or use another --out."
            ) from None
        yield
    finally:
        fh.close()


@contextlib.contextmanager
def _log_file(path: Path) -> Iterator[None]:
    """Copy repalign's log records (INFO and above) into the run's log file."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    logger = logging.getLogger("repalign")
    before = logger.level
    shown = logger.getEffectiveLevel()
    # the file wants INFO; the console keeps showing only what it showed before
    console = [h for h in logging.getLogger().handlers if h.level < shown]
    levels = [h.level for h in console]
    for h in console:
        h.setLevel(shown)
    if shown > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
        for h, level in zip(console, levels, strict=True):
            h.setLevel(level)
        handler.close()


def _fmt_seconds(s: float) -> str:
    s = max(0, round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class _Progress:
    """One bar per stage and an overall bar whose ETA weighs each stage's mean unit time."""

    def __init__(self, todo: Sequence[Unit], quiet: bool) -> None:
        self.stages = list(dict.fromkeys(u.stage for u in todo))
        self.left = {s: sum(u.stage == s for u in todo) for s in self.stages}
        self.spent: dict[str, list[float]] = {s: [] for s in self.stages}
        self.total = len(todo)
        self.overall = progress(total=self.total, desc="study", unit="unit", quiet=quiet, position=0)
        self.bars = {
            s: progress(total=self.left[s], desc=f"  {s}", unit="unit", quiet=quiet, position=i + 1)
            for i, s in enumerate(self.stages)
        }
        self.done = 0

    def eta(self) -> float | None:
        means = {s: sum(v) / len(v) for s, v in self.spent.items() if v}
        if not means:
            return None
        fallback = sum(means.values()) / len(means)
        return sum(n * means.get(s, fallback) for s, n in self.left.items())

    def step(self, unit: Unit, seconds: float) -> str:
        self.done += 1
        self.left[unit.stage] -= 1
        self.spent[unit.stage].append(seconds)
        self.bars[unit.stage].update(1)
        self.overall.update(1)
        eta = self.eta()
        text = "eta " + (_fmt_seconds(eta) if eta is not None else "?")
        self.overall.set_postfix_str(text)
        return text

    def close(self) -> None:
        for bar in [*self.bars.values(), self.overall]:
            bar.close()


def _inputs(store: Store, unit: Unit, by_key: Mapping[str, Unit]) -> dict[str, UnitInput]:
    return {
        k: UnitInput(unit=by_key[k], rows=store.unit_rows(k), files=store.read_files(k)) for k in unit.deps
    }


def _verified_done(store: Store, units: Sequence[Unit]) -> set[str]:
    """Finished units of the plan whose artifacts are intact; damaged ones are forgotten."""
    done = store.done_keys()
    ok = set()
    for u in units:
        if u.key not in done:
            continue
        problems = store.artifact_problems(u.key)
        if problems:
            log.warning("unit %s (%s) is damaged and runs again: %s", u.key[:12], u.name, "; ".join(problems))
            store.forget_unit(u.key)
        else:
            ok.add(u.key)
    return ok


def _run_units(store: Store, run_id: int, units: Sequence[Unit], executor: Any, quiet: bool) -> int:
    """Run every unit not yet finished; returns how many ran. Raises StudyError on a failure,
    after the units already running have ended (and been committed)."""
    by_key = {u.key: u for u in units}
    done = _verified_done(store, units)
    todo = [u for u in units if u.key not in done]
    log.info("%d unit(s) planned, %d finished before, %d to run", len(units), len(done), len(todo))
    if not todo:
        return 0
    bars = _Progress(todo, quiet)
    waiting = list(todo)
    running = 0
    failures: list[tuple[Unit, BaseException]] = []
    try:
        while waiting or running:
            if not failures:
                ready = [u for u in waiting if all(d in done for d in u.deps)]
                for u in ready[: max(0, executor.slots - running)]:
                    executor.submit(u, _inputs(store, u, by_key))
                    waiting.remove(u)
                    running += 1
            if not running:
                break
            finished: list[Done] = executor.collect()
            for d in finished:
                running -= 1
                if d.error is not None:
                    log.error("unit %s (%s) failed", d.unit.key[:12], d.unit.name, exc_info=d.error)
                    failures.append((d.unit, d.error))
                    continue
                assert d.output is not None
                store.commit_unit(run_id, d.unit, d.output, d.seconds)
                done.add(d.unit.key)
                eta = bars.step(d.unit, d.seconds)
                log.info(
                    "[%d/%d] %s done in %.1f s (%s)", bars.done, bars.total, d.unit.name, d.seconds, eta
                )
    finally:
        bars.close()
    if failures:
        unit, err = failures[0]
        raise StudyError(
            f"{len(failures)} unit(s) failed; the first, {unit.name!r}, raised "
            f"{type(err).__name__}: {err}. Finished units are kept: fix the cause and run again on "
            f"{store.root} to resume (details in {store.root / LOG_NAME})."
        ) from err
    return bars.done


def run_study(
    config: str | os.PathLike[str] | Mapping[str, Any] | StudyConfig,
    *,
    out: str | os.PathLike[str] | None = None,
    executor: str | None = None,
    report: bool = True,
    quiet: bool = False,
) -> StudyRun:
    """Run (or resume) a study and build its report.

    Args:
        config: a ``.toml``/``.yaml`` file, a mapping, or a :class:`StudyConfig`.
        out: the run directory; default the configuration's ``output``, else ``runs/<name>``.
        executor: ``"local"`` or ``"ray"`` to override the configuration's executor.
        report: build ``report.html`` at the end.
        quiet: no progress bars.

    Returns:
        A :class:`StudyRun` (run directory, report path, unit counts, seconds).

    Raises:
        ConfigError: the configuration is invalid (every problem listed with its key path).
        StudyError: a unit failed (finished units are kept; run again to resume).

    Example:
        >>> run = run_study("study.toml", out="runs/mine")           # doctest: +SKIP
        >>> run.results(stage="similarity")                          # doctest: +SKIP
    """
    t0 = time.perf_counter()
    cfg = load_config(config)
    if executor is not None:
        if executor not in ("local", "ray"):
            raise ConfigError(f"executor must be 'local' or 'ray', received {executor!r}.")
        cfg = cfg.model_copy(update={"executor": cfg.executor.model_copy(update={"kind": executor})})
    run_dir = Path(out if out is not None else (cfg.output or Path("runs") / cfg.name))
    with _locked(run_dir), _log_file(run_dir / LOG_NAME), Store(run_dir) as store:
        log.info("study %r in %s (executor %s)", cfg.name, run_dir, cfg.executor.kind)
        # the driver resolves the device once; ray workers resolve "auto" on their own machine
        device = cfg.device if cfg.executor.kind == "ray" else str(resolve_device(cfg.device))
        ctx = build_context(cfg, device, work_dir=str(run_dir / "work"))
        units = plan_study(cfg, ctx)
        run_id = store.begin_run(cfg.model_dump(mode="json"), cfg.digest(), units)
        ex = make_executor(cfg.executor, ctx)
        status = "failed"
        try:
            ran = _run_units(store, run_id, units, ex, quiet)
            status = "finished"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            ex.shutdown()
            store.end_run(run_id, status)
        log.info("study %r finished: %d unit(s) ran, %d in all", cfg.name, ran, len(units))
        report_path = None
        if report:
            from repalign.study.report import build_report

            report_path = build_report(run_dir)
            log.info("report written to %s", report_path)
    return StudyRun(run_dir, report_path, len(units), ran, time.perf_counter() - t0)
