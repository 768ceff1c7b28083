"""What every unit of a study may read: the configuration, the stimulus sets, the human data.

The driver builds one :class:`StudyContext` and hands it to the executor (a Ray executor ships it
once to the object store). Models are not part of it: each process loads them through
:func:`get_model`, which keeps a few in memory.

Example:
    >>> from repalign.study.config import load_config
    >>> cfg = load_config({"stimuli": {"per_class": 2}, "models": {"specs": ["zoo:*"]}})
    >>> ctx = build_context(cfg, device="cpu")                      # doctest: +SKIP
    >>> len(ctx.stimuli["main"])                                     # doctest: +SKIP
    20
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from repalign._registry import unknown_name_message
from repalign.data.stimuli import Stimuli
from repalign.errors import ConfigError, ShapeError, UnknownNameError
from repalign.models.model import Model
from repalign.study.config import StimuliConfig, StudyConfig

__all__ = [
    "LAYER_ALIASES",
    "StudyContext",
    "balanced_subset",
    "build_context",
    "clear_model_cache",
    "get_model",
    "resolve_layers",
    "select_stimuli",
]

log = logging.getLogger(__name__)

LAYER_ALIASES = ("penultimate", "middle", "last")
_MODEL_CACHE: OrderedDict[tuple[str, str], Model] = OrderedDict()
_MODEL_CACHE_SIZE = 8


@dataclass
class StudyContext:
    """Inputs shared by all units.

    Attributes:
        config: the validated study configuration.
        stimuli: named stimulus sets: ``main`` always; ``few_shot`` when the analysis has its own;
            ``ood_in`` and ``ood_out`` for ``[glocal] ood``.
        human: loaded human data by kind (``triplets``, ``similarity``, ``two_afc``).
        device: device string for the units (``"auto"`` resolves in each worker).
        work_dir: folder for the state of unfinished units (metamer checkpoints), kept across a
            killed run so that its units resume where they were; None: no such state.
    """

    config: StudyConfig
    stimuli: dict[str, Stimuli]
    human: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    work_dir: str | None = None


def select_stimuli(spec: StimuliConfig) -> Stimuli:
    """Load a stimulus set and apply its ``classes``, ``per_class`` and ``limit`` selection."""
    from repalign import load_stimuli

    stim = load_stimuli(spec.source, size=spec.size, channels=spec.channels)
    if spec.classes is not None or spec.per_class is not None:
        labels = stim.labels
        if labels is None:
            raise ConfigError(
                f"stimuli {spec.source!r} have no labels, so 'classes' and 'per_class' cannot "
                "select from them; use 'limit' instead."
            )
        have = sorted(set(labels.tolist()))
        if spec.classes is not None:
            missing = sorted(set(spec.classes) - set(have))
            if missing:
                raise ConfigError(
                    f"stimuli.classes asks for label(s) {missing} that {spec.source!r} does not "
                    f"have; it has {have}."
                )
            keep = np.flatnonzero(np.isin(labels, spec.classes))
        else:
            keep = np.arange(len(labels))
        if spec.per_class is not None:
            keep = np.concatenate([keep[labels[keep] == c][: spec.per_class] for c in have])
        stim = stim.subset(np.sort(keep))
    if spec.limit is not None:
        stim = stim.subset(slice(0, spec.limit))
    if len(stim) < 3:
        raise ConfigError(f"stimuli {spec.source!r}: the selection keeps {len(stim)} image(s); a study needs at least 3.")
    return stim


def balanced_subset(stim: Stimuli, n: int) -> np.ndarray:
    """Indices of ``n`` stimuli taken round-robin over labels (in order), or the first ``n``."""
    if n > len(stim):
        raise ConfigError(f"asked for {n} targets but the stimuli hold only {len(stim)} images.")
    if stim.labels is None:
        return np.arange(n)
    queues = [list(np.flatnonzero(stim.labels == c)) for c in np.unique(stim.labels)]
    out: list[int] = []
    while len(out) < n:
        for q in queues:
            if q and len(out) < n:
                out.append(int(q.pop(0)))
    return np.sort(np.asarray(out, dtype=np.int64))


def build_context(config: StudyConfig, device: str, work_dir: str | None = None) -> StudyContext:
    """Load every stimulus set and the human data named in ``config``."""
    stimuli = {"main": select_stimuli(config.stimuli)}
    if config.analysis is not None and config.analysis.few_shot.stimuli is not None:
        stimuli["few_shot"] = select_stimuli(config.analysis.few_shot.stimuli)
    if config.glocal is not None and config.glocal.ood is not None:
        stimuli["ood_in"] = select_stimuli(config.glocal.ood.in_distribution)
        stimuli["ood_out"] = select_stimuli(config.glocal.ood.out)
    from repalign.study.human import load_human

    human = load_human(config, stimuli["main"])
    return StudyContext(config=config, stimuli=stimuli, human=human, device=device,
                        work_dir=work_dir)


def get_model(spec: str, device: str | torch.device = "cpu") -> Model:
    """A model by spec, in eval mode on ``device``; the last few are kept in memory."""
    from repalign import create_model

    key = (spec, str(device))
    if key in _MODEL_CACHE:
        _MODEL_CACHE.move_to_end(key)
        return _MODEL_CACHE[key]
    model = create_model(spec, device=str(device))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    _MODEL_CACHE[key] = model
    while len(_MODEL_CACHE) > _MODEL_CACHE_SIZE:
        _MODEL_CACHE.popitem(last=False)
    return model


def clear_model_cache() -> None:
    """Forget the models kept in memory."""
    _MODEL_CACHE.clear()


def _leaf_order(model: Model) -> list[str]:
    probe = torch.zeros(1, *model.input_size, device=model.device)
    modules = dict(model.network.named_modules())
    return [n for n in model.execution_order(probe) if n and not list(modules[n].children())]


def resolve_layers(model: Model, names: Sequence[str]) -> list[str]:
    """Layer names for ``model``: aliases replaced, every name checked, duplicates removed.

    Aliases follow :func:`repalign.models.default_layers` (mid-level layers, then the pooled
    penultimate layer): ``penultimate`` is its last entry, ``middle`` the middle one of the
    others, ``last`` the last module that runs (the output layer).
    """
    from repalign.models import default_layers

    out: list[str] = []
    defaults: list[str] | None = None
    valid = set(model.layers())
    for name in names:
        if name in ("penultimate", "middle"):
            defaults = defaults if defaults is not None else list(default_layers(model))
            if not defaults or (name == "middle" and len(defaults) < 2):
                raise ShapeError(
                    f"{model.spec} has no default {name} layer (its defaults are {defaults}); name "
                    f"the layer explicitly, one of {model.layers()[:30]}."
                )
            layer = defaults[-1] if name == "penultimate" else defaults[(len(defaults) - 1) // 2]
        elif name == "last":
            leaves = _leaf_order(model)
            if not leaves:
                raise ShapeError(f"{model.spec} runs no layer; name the layer explicitly.")
            layer = leaves[-1]
        elif name in valid:
            layer = name
        else:
            raise UnknownNameError(
                unknown_name_message(f"layer of {model.spec}", name, [*LAYER_ALIASES, *model.layers()])
            )
        if layer not in out:
            out.append(layer)
    return out
