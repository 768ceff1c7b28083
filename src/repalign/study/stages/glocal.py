"""Stage ``glocal``: post-hoc alignment of each model's features to odd-one-out triplets.

Triplets are the human ones when given; otherwise ``glocal.triplets`` trials are drawn over the
stimuli and answered by a simulated observer whose similarities are the reference agent's (a
softmax over the three pairwise similarities at ``glocal.temperature``), so the noise ceiling is
known. They are split at random (or object-disjoint) into training and held-out triplets; a
:class:`repalign.alignment.GLocal` is fitted per model and layer.

Rows (``features`` = original / aligned, ``split`` = train / test): ``odd_one_out``; ``ceiling``
for simulated triplets; ``knn_overlap`` (mutual 10-NN overlap of aligned with original features:
how much local structure is kept); and the first similarity metric against the reference before
and after. Artifact: ``transform.npz`` in thingsvision's format.

Seed 001's before/after table (:func:`repalign.analysis.before_after`): rows ``ba_before``,
``ba_after``, ``ba_delta``, their ``_low``/``_high`` interval ends and ``ba_p_value``, labelled by
``measure`` (``odd_one_out``, ``alignment_<metric>``, ``few_shot_<n>``, ``ood_auroc``), ``test``
and ``n``; :func:`before_after_table` turns them back into the table.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repalign.errors import ConfigError
from repalign.study.context import StudyContext
from repalign.study.plan import Planner
from repalign.study.stages.features import features_unit, read_features
from repalign.study.stages.reference import plan_reference, reference_input
from repalign.study.units import Unit, UnitInput, UnitOutput, result_row, rows_from_frame

__all__ = ["BA_COLUMNS", "before_after_table", "expand", "run"]

#: the value columns of the before/after table stored as ``ba_<column>`` rows
BA_COLUMNS = ("before", "before_low", "before_high", "after", "after_low", "after_high", "delta",
              "delta_low", "delta_high", "p_value")

logger = logging.getLogger(__name__)


def _check_options(options: Mapping[str, Any]) -> None:
    from repalign.alignment import GLocal

    valid = sorted(set(GLocal().get_params()) - {"random_state", "device", "quiet"})
    for key in options:
        if key not in valid:
            import difflib

            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"glocal.options.{key}: unknown GLocal parameter; {hint}Valid: {', '.join(valid)}.")


def _shots_that_fit(cfg: Any, labels: np.ndarray, few_set: str) -> list[int]:
    """The ``glocal.shots`` that the few-shot stimuli can serve (n-shot learning needs more than n
    examples in every class, one being left to evaluate). Shots asked for in the configuration
    that do not fit are a ConfigError before any work; the default's are left out with a warning
    (the before/after table then has no few-shot row at those shots)."""
    smallest = int(np.bincount(labels)[np.unique(labels)].min())
    too_many = [n for n in cfg.shots if n >= smallest]
    if too_many and "shots" in cfg.model_fields_set:
        raise ConfigError(
            f"glocal.shots: {too_many}-shot learning needs more than that many examples in every "
            f"class, but the {few_set} stimuli have {smallest} in their smallest class; lower "
            "glocal.shots or add stimuli."
        )
    if too_many:
        logger.warning("gLocal before/after: no %s-shot accuracy (the %s stimuli have %d examples "
                       "in their smallest class)", too_many, few_set, smallest)
    return [n for n in cfg.shots if n < smallest]


def expand(p: Planner) -> None:
    cfg = p.config.glocal
    if cfg is None:
        return
    _check_options(cfg.options)
    human = p.human_key("triplets")
    if human is not None:
        ref: dict[str, Any] = {"kind": "human", "label": "human", "triplets": human}
        ref_units: list[Unit] = []
    else:
        ref, ref_units = plan_reference(p)
    metric = p.config.similarity.metrics[0] if p.config.similarity is not None else None
    few_set = "few_shot" if "few_shot" in p.ctx.stimuli else "main"
    labels = p.ctx.stimuli[few_set].labels
    if labels is None or not cfg.shots:
        few_set = ""
    shots = _shots_that_fit(cfg, labels, few_set) if few_set and labels is not None else []
    if not shots:
        few_set = ""
    # every model's features first: the runner submits ready units in plan order and stops
    # submitting at the first failure, so a failing gLocal unit must not leave features unplanned
    # behind it (the finished features are what a resumed run reuses)
    feats = []
    for spec in p.expand_specs(p.config.models.specs, "models.specs"):
        fu = features_unit(p, spec, p.config.models.layers)
        extra = {s: features_unit(p, spec, p.config.models.layers, s)
                 for s in ([few_set] if few_set and few_set != "main" else []) +
                 (["ood_in", "ood_out"] if cfg.ood is not None else [])}
        feats.append((spec, fu, extra))
    for spec, fu, extra in feats:
        downstream = {
            "few_shot_stimuli": few_set, "shots": shots, "n_boot": cfg.n_boot,
            "few_shot_features": (extra[few_set].key if few_set in extra else fu.key) if few_set else None,
            "ood": None if cfg.ood is None else {"method": cfg.ood.method, "k": cfg.ood.k,
                                                 "in": extra["ood_in"].key, "out": extra["ood_out"].key},
        }
        params = {
            "model": spec, "features": fu.key, "layers": fu.params["layers"], "reference": ref,
            "triplets": cfg.triplets, "temperature": cfg.temperature, "split": cfg.split,
            "test_fraction": cfg.test_fraction, "options": dict(cfg.options), "metric": metric,
            "rdm_metric": p.config.similarity.rdm_metric if p.config.similarity else "cosine",
            "seed": p.seed("glocal"), **downstream,
        }
        p.add("glocal", f"gLocal {spec}", params, [fu, *extra.values(), *ref_units], tag=("glocal", spec), gpu=True)


def _triplets(prm: Mapping[str, Any], ctx: StudyContext, inputs: Mapping[str, UnitInput]
              ) -> tuple[np.ndarray, float | None, str]:
    ref = prm["reference"]
    human = ctx.human.get("triplets")
    if ref["kind"] == "human" and human is not None:
        return np.asarray(human.triplets), None, "human"
    from repalign.alignment import embedding_from_similarity, simulate_observer

    target, kind = reference_input(ref, ctx, inputs, exclude=prm["model"])
    if target is None:
        raise ConfigError("glocal: the reference has neither triplets nor a similarity matrix.")
    if kind == "features":
        norm = np.linalg.norm(target, axis=1, keepdims=True)
        emb = target / np.where(norm > 0, norm, 1.0)
    else:
        emb = embedding_from_similarity(np.asarray(target, dtype=np.float64))
    sim = simulate_observer(emb, prm["triplets"], temperature=prm["temperature"], seed=prm["seed"])
    return sim.triplets, float(sim.ceiling), f"simulated ({ref['label']})"


def run(unit: Unit, ctx: StudyContext, inputs: Mapping[str, UnitInput]) -> UnitOutput:
    from repalign import compare
    from repalign._device import resolve_device
    from repalign.alignment import GLocal, object_disjoint_split
    from repalign.similarity import odd_one_out_accuracy

    prm = unit.params
    feats = read_features(inputs[prm["features"]])
    triplets, ceiling, source = _triplets(prm, ctx, inputs)
    n = len(ctx.stimuli["main"])
    rng = np.random.default_rng(prm["seed"])
    if prm["split"] == "objects":
        train_idx, test_idx, _ = object_disjoint_split(triplets, n, prm["test_fraction"], seed=prm["seed"])
    else:
        perm = rng.permutation(len(triplets))
        n_test = max(1, round(prm["test_fraction"] * len(triplets)))
        test_idx, train_idx = perm[:n_test], perm[n_test:]
    splits = {"train": triplets[train_idx], "test": triplets[test_idx]}
    target, kind = (None, "") if prm["metric"] is None else reference_input(
        prm["reference"], ctx, inputs, exclude=prm["model"])
    rows: list[dict[str, Any]] = []
    files: dict[str, bytes] = {}
    for layer in prm["layers"]:
        x = feats[layer]
        aligner = GLocal(**prm["options"], random_state=prm["seed"], device=str(resolve_device(ctx.device)))
        aligner.fit(x, splits["train"], x_local=x)
        z = aligner.transform(x)
        base = {"model": prm["model"], "layer": layer, "triplets": source}
        for split, trip in splits.items():
            for name, rep in (("original", x), ("aligned", z)):
                acc = odd_one_out_accuracy(rep, trip)
                rows.append(result_row("odd_one_out", acc, features=name, split=split, **base))
            if ceiling is not None:
                rows.append(result_row("ceiling", ceiling, split=split, **base))
        rows.append(result_row("knn_overlap", compare(x, z, "mutual_knn", k=10), features="aligned", **base))
        if target is not None:
            for name, rep in (("original", x), ("aligned", z)):
                value = compare(rep, target, prm["metric"], kind=("features", kind), rdm_metric=prm["rdm_metric"])
                rows.append(result_row(prm["metric"], value, features=name, **base))
        rows.append(result_row("best_epoch", aligner.best_epoch_, **base))
        table = _before_after(prm, ctx, inputs, layer, aligner, x, splits["test"], target, kind)
        rows += rows_from_frame(table.assign(layer=layer), BA_COLUMNS, prefix="ba_", triplets=source)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "transform.npz"
            aligner.save(path)
            files[f"{layer}/transform.npz"] = path.read_bytes()
    return UnitOutput(rows=rows, files=files)


def _before_after(prm: Mapping[str, Any], ctx: StudyContext, inputs: Mapping[str, UnitInput], layer: str,
                  aligner: Any, x: np.ndarray, test: np.ndarray, target: Any, kind: str) -> pd.DataFrame:
    """Seed 001's before/after table of one model and layer."""
    from repalign.analysis import before_after

    few = None
    if prm.get("few_shot_features"):
        few = (read_features(inputs[prm["few_shot_features"]])[layer], ctx.stimuli[prm["few_shot_stimuli"]].labels)
    ood = None
    if prm.get("ood"):
        xin = read_features(inputs[prm["ood"]["in"]])[layer]
        perm = np.random.default_rng(prm["seed"]).permutation(len(xin))
        half = len(xin) // 2
        ood = (xin[perm[:half]], xin[perm[half:]], read_features(inputs[prm["ood"]["out"]])[layer])
    return before_after(
        aligner.transform, features=x, triplets=test, reference=target, reference_kind=kind or "similarity",
        metric=prm["metric"] or "rsa_spearman", rdm_metric=prm["rdm_metric"], few_shot=few,
        shots=prm["shots"], ood=ood, ood_method=prm["ood"]["method"] if ood else "knn",
        k=prm["ood"]["k"] if ood else 10, n_boot=prm["n_boot"], seed=prm["seed"], model=prm["model"],
    )  # fmt: skip


def before_after_table(results: pd.DataFrame) -> pd.DataFrame:
    """The before/after table (:data:`repalign.analysis.before_after.COLUMNS` plus ``layer``) from
    a run's results (``Store.results()``); empty when the glocal stage has none."""
    from repalign.analysis.before_after import COLUMNS

    df = results[(results["stage"] == "glocal") & results["metric"].astype(str).str.startswith("ba_")]
    if df.empty or "measure" not in df.columns:
        return pd.DataFrame(columns=["layer", *COLUMNS])
    keys = ["model", "layer", "measure", "test", "n"]
    wide = (df.assign(column=df["metric"].str[3:]).set_index([*keys, "column"])["value"]
            .unstack("column").reindex(columns=list(BA_COLUMNS)).reset_index().rename_axis(columns=None))
    order = {v: i for i, v in enumerate(dict.fromkeys([*df["model"], *df["measure"]]))}
    wide = wide.sort_values(["model", "measure"], key=lambda c: c.map(order), kind="stable")
    wide["n"] = wide["n"].astype(int)
    return wide[["layer", *COLUMNS]]
