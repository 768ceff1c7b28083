"""Planning: a study configuration becomes an ordered list of units with dependencies.

Each stage module contributes units through ``expand(planner)``; the planner gives it what unit
keys are made of: models' content hashes and resolved layers, stimulus sets' sha256, derived seeds,
and the units already planned (to depend on). Stages are planned in data-flow order, so the list
is topologically sorted.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from repalign._hashing import hash_params
from repalign.errors import ConfigError, RepalignError
from repalign.study.config import StudyConfig
from repalign.study.context import StudyContext, get_model, resolve_layers
from repalign.study.execute import STAGES, stage_module
from repalign.study.human import human_digest
from repalign.study.units import Unit, make_unit

__all__ = ["ModelInfo", "Planner", "plan_study"]


def _json_scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool)) or v is None


@dataclass
class ModelInfo:
    """A model as the plan sees it: spec, content hash and JSON-able facts (``meta``)."""

    spec: str
    key: str
    meta: dict[str, Any]
    _layers: dict[tuple[str, ...], list[str]] = field(default_factory=dict, repr=False)

    def layers(self, names: Sequence[str], device: str = "cpu", where: str = "layers") -> list[str]:
        """Resolve layer names and aliases for this model (errors name the config key)."""
        key = tuple(names)
        if key not in self._layers:
            try:
                self._layers[key] = resolve_layers(get_model(self.spec, device), names)
            except RepalignError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
        return self._layers[key]


class Planner:
    """Collects units; gives stages model facts, stimulus hashes, seeds and earlier units."""

    def __init__(self, config: StudyConfig, ctx: StudyContext) -> None:
        self.config = config
        self.ctx = ctx
        self.units: list[Unit] = []
        self._tagged: dict[Hashable, Unit] = {}
        self._models: dict[str, ModelInfo] = {}

    # -- models ---------------------------------------------------------------------------------
    def expand_specs(self, patterns: Iterable[str], where: str) -> list[str]:
        """Model specs from specs and glob patterns, in order, without repeats (see
        :func:`~repalign.models.factory.expand_model_specs`)."""
        from repalign.models.factory import expand_model_specs

        return expand_model_specs(patterns, where)

    def model(self, spec: str, where: str = "models.specs") -> ModelInfo:
        """Load ``spec`` once (in this process) and describe it."""
        if spec not in self._models:
            try:
                m = get_model(spec, self.ctx.device)
            except RepalignError as exc:
                raise ConfigError(f"{where}: model {spec!r}: {exc}") from exc
            meta = {k: v for k, v in m.meta.items() if _json_scalar(v)}
            self._models[spec] = ModelInfo(spec=spec, key=m.cache_key(), meta=meta)
        return self._models[spec]

    # -- stimuli and seeds ----------------------------------------------------------------------
    def stimuli_key(self, name: str = "main") -> str:
        return self.ctx.stimuli[name].sha256

    def human_key(self, kind: str) -> str | None:
        """Content hash of the loaded human data of ``kind`` (None when absent)."""
        data = self.ctx.human.get(kind)
        return None if data is None else human_digest(data)

    def seed(self, *parts: Any) -> int:
        """A seed derived from the study's seed and ``parts`` (stable across runs and machines)."""
        return int(hash_params([self.config.seed, *parts])[:8], 16)

    # -- units ----------------------------------------------------------------------------------
    def add(
        self,
        stage: str,
        name: str,
        params: dict[str, Any],
        deps: Iterable[Unit] = (),
        *,
        tag: Hashable | None = None,
        gpu: bool = False,
    ) -> Unit:
        """Plan a unit (once: an identical unit planned twice is returned, not duplicated)."""
        ex = self.config.executor
        json.dumps(params)  # parameters must be JSON-able: they are stored with the unit
        unit = make_unit(
            stage, name, params, [d.key for d in deps], cpus=ex.cpus_per_unit,
            gpus=ex.gpus_per_unit if gpu else 0.0,
        )
        for u in self.units:
            if u.key == unit.key:
                unit = u
                break
        else:
            self.units.append(unit)
        if tag is not None:
            self._tagged[tag] = unit
        return unit

    def find(self, tag: Hashable) -> Unit:
        """A unit planned earlier under ``tag``."""
        return self._tagged[tag]

    def has(self, tag: Hashable) -> bool:
        return tag in self._tagged


def plan_study(config: StudyConfig, ctx: StudyContext) -> list[Unit]:
    """Every unit of the study, in an order where dependencies come first."""
    planner = Planner(config, ctx)
    for stage in STAGES:
        if stage == "features" or getattr(config, stage) is not None:
            stage_module(stage).expand(planner)
    return planner.units
