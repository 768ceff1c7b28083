"""The reference agent that models are aligned with: human data, a model, or a model ensemble.

``reference = "human"`` uses the human similarity matrix (and the human triplets when given);
a model spec uses that model's features at ``reference_layer``; ``"ensemble:PATTERN"`` uses the
mean cosine-similarity matrix of the matching models at ``reference_layer``: a clearly labelled
stand-in for human judgements when no human data exist. A model that belongs to the ensemble is
compared with the mean of the *other* members, so it is never compared with itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from repalign.errors import ConfigError
from repalign.study.context import StudyContext
from repalign.study.plan import Planner
from repalign.study.stages.features import features_unit, read_features
from repalign.study.units import Unit, UnitInput

__all__ = ["plan_reference", "reference_input"]

ENSEMBLE = "ensemble:"


def plan_reference(p: Planner) -> tuple[dict[str, Any], list[Unit]]:
    """The reference's JSON-able description (part of dependent units' parameters) and the
    feature units it reads."""
    cfg = p.config.similarity
    if cfg is None:
        raise ConfigError("a reference agent needs a [similarity] section.")
    ref = cfg.reference
    where = "similarity.reference_layer"
    if ref == "human":
        sim, trip = p.human_key("similarity"), p.human_key("triplets")
        return {"kind": "human", "label": "human", "similarity": sim, "triplets": trip}, []
    if ref.startswith(ENSEMBLE):
        members = p.expand_specs([ref[len(ENSEMBLE):]], "similarity.reference")
        if len(members) < 2:
            raise ConfigError(
                f"similarity.reference: {ref!r} matches {len(members)} model(s); an ensemble needs "
                "at least two (each model is compared with the others)."
            )
        units = [features_unit(p, m, [cfg.reference_layer], "main", where) for m in members]
        desc = {"kind": "ensemble", "label": ref, "members": members,
                "layers": [u.params["layers"][0] for u in units], "units": [u.key for u in units]}
        return desc, units
    (spec,) = p.expand_specs([ref], "similarity.reference")
    unit = features_unit(p, spec, [cfg.reference_layer], "main", where)
    return {"kind": "model", "label": spec, "layers": unit.params["layers"], "units": [unit.key]}, [unit]


def reference_input(
    ref: Mapping[str, Any], ctx: StudyContext, inputs: Mapping[str, UnitInput], exclude: str | None = None
) -> tuple[np.ndarray | None, str]:
    """The reference's representation and its kind (``features`` or ``similarity``).

    Returns ``(None, "similarity")`` for a human reference that has only triplets.
    """
    from repalign.similarity import rsm

    kind = ref["kind"]
    if kind == "human":
        human = ctx.human.get("similarity")
        return (None, "similarity") if human is None else (np.asarray(human.similarity()), "similarity")
    if kind == "model":
        feats = read_features(inputs[ref["units"][0]])
        return feats[ref["layers"][0]], "features"
    mats = [
        rsm(read_features(inputs[key])[layer], "cosine")
        for member, key, layer in zip(ref["members"], ref["units"], ref["layers"], strict=True)
        if member != exclude
    ]
    return np.mean(mats, axis=0), "similarity"
