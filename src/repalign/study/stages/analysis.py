"""Stage ``analysis``: seed 000's question on the study's models. Does alignment with the
reference predict few-shot transfer, linearly or as a U?

One ``few_shot`` unit per model trains :func:`repalign.analysis.few_shot` probes on its features
of the few-shot stimuli (default: the study's); rows ``few_shot_accuracy`` by ``head`` and
``shots`` (``sd`` over repeats as a label). One ``statistics`` unit joins every model's few-shot
accuracies (downstream columns ``<head>_<shots>shot``) with its alignment scores and runs
:func:`repalign.analysis.analyze_alignment`: partial correlations given ``analysis.covariate`` (a
key of the models' ``meta``, e.g. the zoo's ``clean_acc``), correlations with z²(alignment), the
U-shape tests, the high/mid/low tables and the Figure 6 scatter (artifacts ``*.csv``,
``figure6.png``, ``figure6.svg``); rows ``partial_*``, ``z2_*`` and ``u_shape_*``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from repalign.errors import ConfigError
from repalign.study.context import StudyContext
from repalign.study.plan import Planner
from repalign.study.stages.features import features_unit, read_features
from repalign.study.units import Unit, UnitInput, UnitOutput, rows_from_frame

__all__ = ["MIN_MODELS", "expand", "run"]

MIN_MODELS = 5  # the U-shape test fits three coefficients


def _column(head: str, shots: int) -> str:
    return f"{head}_{shots}shot"


def expand(p: Planner) -> None:
    cfg = p.config.analysis
    if cfg is None or p.config.similarity is None:
        return
    fs = cfg.few_shot
    if cfg.alignment_metric not in p.config.similarity.metrics:
        raise ConfigError(
            f"analysis.alignment_metric: {cfg.alignment_metric!r} is not among similarity.metrics "
            f"{p.config.similarity.metrics}; add it there or pick one of them."
        )
    stim = "few_shot" if "few_shot" in p.ctx.stimuli else "main"
    if p.ctx.stimuli[stim].labels is None:
        raise ConfigError("analysis.few_shot.stimuli: few-shot transfer needs labelled stimuli.")
    specs = p.expand_specs(p.config.models.specs, "models.specs")
    if len(specs) < MIN_MODELS:
        raise ConfigError(
            f"analysis: relating alignment to few-shot transfer (U-shape test) needs at least "
            f"{MIN_MODELS} models; models.specs gives {len(specs)}."
        )
    few, align, covariate = [], [], {}
    for spec in specs:
        info = p.model(spec)
        if cfg.covariate is not None:
            value = info.meta.get(cfg.covariate)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(
                    f"analysis.covariate: model {spec} has no numeric meta[{cfg.covariate!r}] "
                    f"(received {value!r}); its numeric meta keys are "
                    f"{sorted(k for k, v in info.meta.items() if isinstance(v, (int, float)) and not isinstance(v, bool))}."
                )
            covariate[spec] = float(value)
        fu = features_unit(p, spec, p.config.models.layers, stim)
        params = {"model": spec, "features": fu.key, "layer": fu.params["layers"][0], "stimuli": stim,
                  "shots": fs.shots, "heads": fs.heads, "repeats": fs.repeats, "seed": p.seed("few_shot"),
                  "standardize": fs.standardize}
        few.append(p.add("analysis", f"few-shot {spec}", params, [fu], gpu=True))
        align.append(p.find(("similarity", "reference", spec)))
    params = {
        "models": specs, "few_shot": [u.key for u in few], "alignment": [u.key for u in align],
        "alignment_metric": cfg.alignment_metric, "covariate": cfg.covariate, "covariates": covariate,
        "downstream": [_column(h, s) for h in fs.heads for s in fs.shots],
    }
    p.add("analysis", "alignment vs few-shot statistics", params, [*few, *align])


def _few_shot(prm: Mapping[str, Any], ctx: StudyContext, inputs: Mapping[str, UnitInput]) -> UnitOutput:
    from repalign._device import resolve_device
    from repalign.analysis import few_shot

    x = read_features(inputs[prm["features"]])[prm["layer"]]
    labels = ctx.stimuli[prm["stimuli"]].labels
    df = few_shot(x, labels, shots=list(prm["shots"]), heads=list(prm["heads"]), repeats=prm["repeats"],
                  seed=prm["seed"], standardize=bool(prm.get("standardize", False)),
                  device=str(resolve_device(ctx.device)), quiet=True)
    df = df.rename(columns={"mean": "value"}).assign(model=prm["model"], layer=prm["layer"])
    return UnitOutput(rows=rows_from_frame(df, ["value"], prefix="few_shot_"))


def _statistics(prm: Mapping[str, Any], inputs: Mapping[str, UnitInput]) -> UnitOutput:
    from repalign.analysis import analyze_alignment

    table: dict[str, dict[str, float]] = {m: {} for m in prm["models"]}
    for key in prm["few_shot"]:
        for r in inputs[key].rows:
            if r["metric"] == "few_shot_accuracy":
                table[r["model"]][_column(r["labels"]["head"], int(r["labels"]["shots"]))] = r["value"]
    align: dict[str, dict[str, float]] = {m: {} for m in prm["models"]}
    for key in prm["alignment"]:
        rows = inputs[key].rows
        first_layer = rows[0]["layer"] if rows else None
        for r in rows:
            if r["layer"] == first_layer and r["value"] is not None:
                align[r["model"]][r["metric"]] = r["value"]
    models = pd.DataFrame([{"model": m, **table[m]} for m in prm["models"]])
    covar = prm["covariate"]
    if covar is not None:
        models[covar] = [prm["covariates"][m] for m in prm["models"]]
    metrics = [prm["alignment_metric"], *sorted({k for v in align.values() for k in v} - {prm["alignment_metric"]})]
    alignment = pd.DataFrame([{"model": m, **{k: align[m].get(k) for k in metrics}} for m in prm["models"]])
    k = max(1, min(5, len(models) // 3))
    with tempfile.TemporaryDirectory() as tmp:
        res = analyze_alignment(models, alignment, covar=covar, downstream=prm["downstream"], k=k,
                                figure_y=prm["downstream"][0], out=tmp)
        files = {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
    files["model_table.csv"] = models.merge(alignment, on="model").to_csv(index=False).encode()
    rows = []
    for frame, prefix in ((res.partial, "partial_"), (res.z2_corr, "z2_"), (res.u_shapes, "u_shape_")):
        df = frame.rename(columns={"x": "alignment", "y": "downstream"})
        keep = [c for c in ("alignment", "downstream", "covar", "n", "is_u", "vertex_inside") if c in df.columns]
        rows += rows_from_frame(df[keep + _STATISTICS[prefix]], _STATISTICS[prefix], prefix=prefix)
    return UnitOutput(rows=rows, files=files)


# the numbers kept as rows (the rest of each table stays as labels or in the CSV artifacts)
_STATISTICS = {
    "partial_": ["r", "p", "ci_low", "ci_high"],
    "z2_": ["r", "p"],
    "u_shape_": ["quadratic", "quadratic_p", "vertex", "r_z2", "p_z2", "r_linear", "p_linear"],
}


def run(unit: Unit, ctx: StudyContext, inputs: Mapping[str, UnitInput]) -> UnitOutput:
    if "few_shot" in unit.params:
        return _statistics(unit.params, inputs)
    return _few_shot(unit.params, ctx, inputs)
