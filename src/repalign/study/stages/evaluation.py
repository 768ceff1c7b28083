"""Stage ``evaluation``: every test of :mod:`repalign.evaluation` on the metamer grid.

Per metamers unit: ``two_afc`` and ``clustering`` under each perceptual distance (the stand-ins
for human judges), ``recognizability`` and ``representation_test`` by the observer models. One
``transfer`` unit judges every generator's metamers by every observer (the generators included, so
the diagonal exists) with :func:`repalign.evaluation.transfer_matrix`. With human 2AFC judgements
(``[human] two_afc``), a ``distances`` unit scores how well each distance agrees with the humans.

Rows keep the evaluation tables' columns: ``model`` is the generator, ``metric`` and ``value``
as given; ``regularizer``, ``init``, ``optimizer``, ``distance``, ``observer``,
``observer_layer``, ``test``, ``relation``, ``sd``, ``sem``, ``ci_low``, ``ci_high``, ``n``,
``p_value`` and ``chance`` become labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from repalign.errors import ConfigError, RepalignError
from repalign.study.context import StudyContext
from repalign.study.plan import Planner
from repalign.study.stages.metamers import load_result
from repalign.study.units import Unit, UnitInput, UnitOutput, rows_from_frame

__all__ = ["expand", "run"]

_PER_UNIT = ("two_afc", "clustering", "recognizability", "representation_test")


def _distance_keys(p: Planner, specs: Sequence[str]) -> dict[str, str | None]:
    """Check every distance spec (building it) and hash the models that ``model:`` specs use."""
    from repalign.perceptual import get_distance

    out: dict[str, str | None] = {}
    for i, spec in enumerate(specs):
        try:
            get_distance(spec)
        except RepalignError as exc:
            raise ConfigError(f"evaluation.distances[{i}]: {exc}") from None
        model = spec[len("model:"):].rsplit("@", 1)[0] if spec.startswith("model:") else None
        out[spec] = None if model is None else p.model(model, f"evaluation.distances[{i}]").key
    return out


def expand(p: Planner) -> None:
    cfg = p.config.evaluation
    if cfg is None or p.config.metamers is None:
        return
    met_units = [u for u in p.units if u.stage == "metamers"]
    distances = _distance_keys(p, cfg.distances) if {"two_afc", "clustering"} & set(cfg.tests) else {}
    observers = p.expand_specs(cfg.observers, "evaluation.observers") if cfg.observers else []
    obs = {s: p.model(s, "evaluation.observers").key for s in observers}
    common = {"n_boot": cfg.n_boot, "n_perm": cfg.n_perm, "seed": p.seed("evaluation")}
    if not observers and {"recognizability", "representation_test", "transfer"} & set(cfg.tests):
        raise ConfigError("evaluation.observers: the recognizability, representation and transfer "
                          "tests need observer models (specs or patterns such as 'zoo:*_s1').")
    for mu in met_units:
        what = mu.params
        for test in (t for t in cfg.tests if t in _PER_UNIT):
            params: dict[str, Any] = {"test": test, "metamers": mu.key, **common}
            if test in ("two_afc", "clustering"):
                params.update(distances=distances, hard=cfg.hard_clustering)
            else:
                params.update(observers=obs, observer_layers=cfg.observer_layers)
            p.add("evaluation", f"{test} {what['model']} {what['regularizer']}/{what['init']}/{what['optimizer']}",
                  params, [mu], gpu=True)
    if "transfer" in cfg.tests:
        generators = {mu.params["model"]: mu.params["model_key"] for mu in met_units}
        params = {"test": "transfer", "metamers": [mu.key for mu in met_units],
                  "observers": {**generators, **obs}, **common}
        p.add("evaluation", "transfer matrix", params, met_units, gpu=True)
    human = p.human_key("two_afc")
    if human is not None and distances:
        p.add("evaluation", "distances vs human 2AFC",
              {"test": "human_2afc", "distances": distances, "two_afc": human})


def _rows(frame: pd.DataFrame, **fixed: Any) -> list[dict[str, Any]]:
    df = frame.rename(columns={"generator": "model"})
    return rows_from_frame(df, ["value"], **fixed)


def _human_agreement(prm: Mapping[str, Any], ctx: StudyContext) -> UnitOutput:
    from repalign._device import resolve_device
    from repalign.evaluation.two_afc import paired_distances
    from repalign.perceptual import get_distance

    data = ctx.human["two_afc"]
    dev = resolve_device(ctx.device)
    rows = []
    for spec in prm["distances"]:
        d = get_distance(spec)
        d0 = paired_distances(d, data.reference, data.p0, dev)
        d1 = paired_distances(d, data.reference, data.p1, dev)
        rows.append({"distance": spec, "metric": "human_agreement", "value": data.score(d0, d1),
                     "n": len(data)})
    return UnitOutput(rows=_rows(pd.DataFrame(rows), test="human_2afc"))


def run(unit: Unit, ctx: StudyContext, inputs: Mapping[str, UnitInput]) -> UnitOutput:
    from repalign import evaluation
    from repalign._device import resolve_device
    from repalign.study.stages.features import checked_model

    prm = unit.params
    test = prm["test"]
    if test == "human_2afc":
        return _human_agreement(prm, ctx)
    dev = resolve_device(ctx.device)
    boot = {"n_boot": prm["n_boot"], "seed": prm["seed"], "device": dev}
    if test == "transfer":
        results = [load_result(inputs[k]) for k in prm["metamers"]]
        observers = [checked_model(s, k, ctx) for s, k in prm["observers"].items()]
        df = evaluation.transfer_matrix(results, observers, n_perm=prm["n_perm"], **boot)
        return UnitOutput(rows=_rows(df))
    result = load_result(inputs[prm["metamers"]])
    frames = []
    if test in ("two_afc", "clustering"):
        fn = evaluation.two_afc if test == "two_afc" else evaluation.clustering
        extra = {"hard": prm["hard"]} if test == "clustering" else {}
        for spec in prm["distances"]:
            frames.append(fn(result, spec, **extra, **boot))
    else:
        observers = [checked_model(s, k, ctx) for s, k in prm["observers"].items()]
        if test == "recognizability":
            frames.append(evaluation.recognizability(result, observers, **boot))
        else:
            layers = {m.spec: _observer_layers(m, prm["observer_layers"]) for m in observers}
            frames.append(evaluation.representation_test(result, observers, layers, n_perm=prm["n_perm"], **boot))
            # seed 003's picture: targets and metamers per observer stage (drawn by the report)
            coords = evaluation.representation_projection(result, observers, layers, seed=prm["seed"],
                                                          device=dev)
            files = {"projection.csv": coords.to_csv(index=False).encode()}
            return UnitOutput(rows=_rows(frames[0], test=test), files=files)
    return UnitOutput(rows=_rows(pd.concat(frames, ignore_index=True), test=test))


def _observer_layers(model: Any, names: Sequence[str]) -> list[str]:
    from repalign.study.context import resolve_layers

    return resolve_layers(model, names)
