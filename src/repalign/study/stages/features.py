"""Stage ``features``: each model's features at its analysis layers, for each stimulus set.

One unit per (model, layers, stimulus set), keyed by the model's content hash, the layers, the
reducer and the stimuli's sha256. The artifact ``features.npz`` holds one (N, D) array per layer;
other stages read it through :func:`read_features`. Rows: ``n_features`` per layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from repalign.errors import ConfigError
from repalign.models.model import Model
from repalign.study.context import StudyContext, get_model
from repalign.study.plan import Planner
from repalign.study.stages._io import npz_bytes, read_npz
from repalign.study.units import Unit, UnitInput, UnitOutput, result_row

__all__ = ["checked_model", "expand", "features_unit", "read_features", "run"]

FILE = "features.npz"


def features_unit(p: Planner, spec: str, layer_names: Sequence[str], stimuli: str = "main",
                  where: str = "models.layers") -> Unit:
    """Plan (once) the features of ``spec`` at ``layer_names`` (aliases allowed) on a set."""
    info = p.model(spec)
    layers = info.layers(layer_names, where=where)
    cfg = p.config.features
    params = {
        "model": spec,
        "model_key": info.key,
        "layers": layers,
        "stimuli": stimuli,
        "stimuli_sha256": p.stimuli_key(stimuli),
        "reduce": cfg.reduce,
        "batch_size": cfg.batch_size,
    }
    return p.add("features", f"features {spec} {'+'.join(layers)} [{stimuli}]", params,
                 tag=("features", spec, tuple(layers), stimuli), gpu=True)


def expand(p: Planner) -> None:
    sets = ["main", *(["few_shot"] if "few_shot" in p.ctx.stimuli else [])]
    for spec in p.expand_specs(p.config.models.specs, "models.specs"):
        for s in sets:
            features_unit(p, spec, p.config.models.layers, s)


def checked_model(spec: str, key: str, ctx: StudyContext) -> Model:
    """The model ``spec`` on the study's device, checked to be the one the plan hashed."""
    from repalign._device import resolve_device

    model = get_model(spec, resolve_device(ctx.device))
    if model.cache_key() != key:
        raise ConfigError(
            f"model {spec!r} changed since the study was planned (its weights or preprocessing "
            "differ); run the study again so that it is planned with the current model."
        )
    return model


def run(unit: Unit, ctx: StudyContext, inputs: Mapping[str, UnitInput]) -> UnitOutput:
    from repalign import extract_features

    prm = unit.params
    model = checked_model(prm["model"], prm["model_key"], ctx)
    feats = extract_features(
        model, ctx.stimuli[prm["stimuli"]], layers=list(prm["layers"]), reduce=prm["reduce"],
        batch_size=prm["batch_size"], device=model.device, cache=False,
    )
    arrays = {layer: np.asarray(feats[layer], dtype=np.float32) for layer in prm["layers"]}
    rows = [
        result_row("n_features", a.shape[1], model=prm["model"], layer=layer, stimuli=prm["stimuli"])
        for layer, a in arrays.items()
    ]
    return UnitOutput(rows=rows, files={FILE: npz_bytes(arrays)})


def read_features(inp: UnitInput) -> dict[str, np.ndarray]:
    """The (N, D) feature arrays of a finished features unit, by layer."""
    return read_npz(inp.files[FILE])
