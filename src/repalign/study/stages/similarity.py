"""Stage ``similarity``: each model against the reference agent, and every pair of models.

Reference units (one per model) compute every ``similarity.metrics`` entry with
:func:`repalign.compare` between the model's features at each analysis layer and the reference
(see :mod:`.reference`), plus ``odd_one_out`` accuracy when human triplets are given. Rows carry
``kind="reference"`` and ``other`` = the reference's label.

Pairwise units (one per ``similarity.pairwise`` metric) compare the first analysis layer of every
pair of models; a symmetric metric is computed once per unordered pair. Rows carry
``kind="pairwise"``, ``other`` and ``other_layer``.
"""

from __future__ import annotations

from collections.abc import Mapping

from repalign.errors import ConfigError, SpecError, UnknownNameError
from repalign.study.context import StudyContext
from repalign.study.plan import Planner
from repalign.study.stages.features import features_unit, read_features
from repalign.study.stages.reference import plan_reference, reference_input
from repalign.study.units import Unit, UnitInput, UnitOutput, result_row

__all__ = ["expand", "run"]


def _check_metrics(names: list[str], key: str, kind: str) -> None:
    from repalign.similarity import METRICS

    for i, name in enumerate(names):
        try:
            info = METRICS.info(METRICS.parse(name)[0])
        except (UnknownNameError, SpecError) as exc:
            raise ConfigError(f"{key}[{i}]: {exc}") from None
        if kind not in info.accepts:
            raise ConfigError(
                f"{key}[{i}]: metric {name!r} cannot compare features with a {kind} matrix (the "
                f"reference's form); it accepts {', '.join(info.accepts)}. Pick another metric "
                "or a model spec as the reference."
            )


def expand(p: Planner) -> None:
    cfg = p.config.similarity
    if cfg is None:
        return
    ref, ref_units = plan_reference(p)
    _check_metrics(cfg.metrics, "similarity.metrics", "features" if ref["kind"] == "model" else "similarity")
    _check_metrics(cfg.pairwise, "similarity.pairwise", "features")
    specs = p.expand_specs(p.config.models.specs, "models.specs")
    feats = {s: features_unit(p, s, p.config.models.layers) for s in specs}
    for spec, fu in feats.items():
        params = {"model": spec, "features": fu.key, "layers": fu.params["layers"], "reference": ref,
                  "metrics": cfg.metrics, "rdm_metric": cfg.rdm_metric}
        p.add("similarity", f"alignment {spec} vs {ref['label']}", params, [fu, *ref_units],
              tag=("similarity", "reference", spec))
    for metric in cfg.pairwise:
        params = {
            "metric": metric, "rdm_metric": cfg.rdm_metric, "models": specs,
            "features": [feats[s].key for s in specs], "layers": [feats[s].params["layers"][0] for s in specs],
        }
        p.add("similarity", f"model x model {metric}", params, list(feats.values()),
              tag=("similarity", "pairwise", metric))


def _reference(unit: Unit, ctx: StudyContext, inputs: Mapping[str, UnitInput]) -> UnitOutput:
    from repalign import compare
    from repalign.similarity import odd_one_out_accuracy

    prm = unit.params
    ref = prm["reference"]
    feats = read_features(inputs[prm["features"]])
    target, kind = reference_input(ref, ctx, inputs, exclude=prm["model"])
    labels = {"kind": "reference", "other": ref["label"]}
    rows = []
    for layer in prm["layers"]:
        x = feats[layer]
        if target is not None:
            for metric in prm["metrics"]:
                value = compare(x, target, metric, kind=("features", kind), rdm_metric=prm["rdm_metric"])
                rows.append(result_row(metric, value, model=prm["model"], layer=layer, **labels))
        triplets = ctx.human.get("triplets") if ref["kind"] == "human" else None
        if triplets is not None:
            acc = odd_one_out_accuracy(x, triplets)
            rows.append(result_row("odd_one_out", acc, model=prm["model"], layer=layer, **labels))
    return UnitOutput(rows=rows)


def _pairwise(unit: Unit, inputs: Mapping[str, UnitInput]) -> UnitOutput:
    from repalign import compare
    from repalign.similarity import METRICS

    prm = unit.params
    metric = prm["metric"]
    feats = [read_features(inputs[k])[layer] for k, layer in zip(prm["features"], prm["layers"], strict=True)]
    symmetric = bool(METRICS.info(METRICS.parse(metric)[0]).symmetric)
    rows = []
    models, layers = prm["models"], prm["layers"]
    for i in range(len(models)):
        for j in range(len(models)):
            if i == j or (symmetric and j < i):
                continue
            value = compare(feats[i], feats[j], metric, rdm_metric=prm["rdm_metric"])
            rows.append(result_row(metric, value, model=models[i], layer=layers[i], kind="pairwise",
                                   other=models[j], other_layer=layers[j]))
    return UnitOutput(rows=rows)


def run(unit: Unit, ctx: StudyContext, inputs: Mapping[str, UnitInput]) -> UnitOutput:
    if "reference" in unit.params:
        return _reference(unit, ctx, inputs)
    return _pairwise(unit, inputs)
