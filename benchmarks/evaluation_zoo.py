"""Zoo findings: how do regularizer-free, human-leaning and adversarial metamers of standard and
robust zoo models fare on 2AFC, recognizability, the representation test and transfer?

Generators: the s0 instance of each zoo architecture (MLP, CNN, ResNet) trained normally and with
L2 PGD, at their penultimate layer. Targets: held-out digits 0-4 of ``bundled:digits`` (the zoo's
test split), ``--per-class`` per class, two random starts each; the criterion's null uses the
whole test split. Metamers: repalign's default (``fast``) recipe capped at ``--steps`` steps, with
the regularizers ``none``, ``human_leaning``, ``adversarial`` (its perceptual term is SSIM:
LPIPS trunk weights are not shipped, and nothing is downloaded) and ``adversarial_model`` (the
perceptual term is the feature distance of ``zoo:mlp_l2_s1``, a robust model that is neither a
generator nor a judge), started from Nanda's N(0, 1)
seeds (``--init gaussian``, clamped to [0, 1]). Every metamer is evaluated (success rates are
reported), and 2AFC is repeated on the metamers that passed the criterion.

Judges: SSIM (``ssim``), a robust model's feature distance (``model:zoo:resnet_l2_s1@flatten``, an
instance not used as a generator) and pixel L2 as a reference. Observers: all 18 zoo models
(recognizability, representation test, transfer). Questions answered in the JSON (and in
``docs/evaluation.md``):

1. Do robust generators' regularizer-free metamers score higher on 2AFC and on recognizability
   (by the *other* zoo models) than standard ones'?
2. Does the adversarial regularizer drive 2AFC down for every generator, and the human-leaning
   one raise it?
3. Do metamers transfer better from robust generators, and between instances of one architecture
   than across architectures?

Usage: ``python benchmarks/evaluation_zoo.py [--per-class 4] [--steps 300] [--threads 1] [--quick]``.
Writes ``benchmarks/results/evaluation_zoo.json`` and tables/figures in
``benchmarks/results/evaluation_zoo/``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, report

import repalign as ra
from repalign.data.bundled import digits_split
from repalign.evaluation import (
    clustering,
    plot_metamer_grid,
    plot_scores,
    plot_transfer,
    transfer_matrix,
    transfer_summary,
    two_afc,
)

ARCHS = ("mlp", "cnn", "resnet")
STYLES = ("standard", "l2")
ADVERSARY = "model:zoo:mlp_l2_s1@relu3"  # a robust model, neither a generator nor a judge


def _regularizers() -> dict[str, Any]:
    from repalign.perceptual import get_distance

    # the model distance goes in as an object: a "model:..." string inside a regularizer spec
    # string would be split at its colons
    return {"none": "none", "human_leaning": "human_leaning",
            "adversarial": "adversarial:distance=ssim",
            "adversarial_model": ("adversarial", {"distance": get_distance(ADVERSARY)})}
JUDGE = "zoo:resnet_l2_s1"


def _targets(per_class: int) -> tuple[Any, Any]:
    test = digits_split().test
    assert test.labels is not None
    idx = np.concatenate([np.flatnonzero(test.labels == c)[:per_class] for c in range(5)])
    return test.subset(idx), test


def _generate(models: list[Any], targets: Any, null: Any, steps: int, init: str, quiet: bool) -> Any:
    layers = {m.spec: m.meta["penultimate"] for m in models}
    parts = []
    for name, spec in _regularizers().items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = ra.generate_metamers(models, targets, layers, regularizer=spec, init=init,
                                       repeats=2, null_stimuli=null, steps=steps, device="cpu",
                                       quiet=quiet)
        res.regularizers = [name] * len(res)
        parts.append(res)
        print(f"generated {len(res)} {name} metamers in {time.perf_counter() - t0:.0f} s "
              f"(success {res.success.mean():.2f})", flush=True)
    return ra.MetamerResult.concat(parts)


def _table(df: pd.DataFrame, metric: str, distance: str | None = None) -> dict[str, dict[str, float]]:
    sub = df[df.metric == metric]
    if distance is not None:
        sub = sub[sub.distance == distance]
    return {reg: {g: round(float(v), 4) for g, v in zip(part.generator, part.value, strict=True)}
            for reg, part in sub.groupby("regularizer", sort=False)}


def _style_means(per_gen: dict[str, float]) -> dict[str, float]:
    out = {}
    for style in ("standard", "l2"):
        vals = [v for g, v in per_gen.items() if f"_{style}_" in g]
        out[style] = round(float(np.mean(vals)), 4)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--per-class", type=int, default=4, help="targets per digit class (0-4)")
    p.add_argument("--steps", type=int, default=300, help="step cap of the fast recipe")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy "
                                                          "2-core machine)")
    p.add_argument("--init", default="gaussian",
                   help="starting images: gaussian (N(0, 1) clamped, the 2AFC protocol's seeds) "
                        "or noise (0.5 + 0.05 N(0, 1))")
    p.add_argument("--n-perm", type=int, default=200)
    p.add_argument("--quick", action="store_true", help="2 targets per class, 100 steps")
    p.add_argument("--out", default=str(RESULTS / "evaluation_zoo"))
    args = p.parse_args()
    if args.quick:
        args.per_class, args.steps = 2, 100
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    targets, null = _targets(args.per_class)
    generators = [ra.create_model(f"zoo:{a}_{s}_s0", device="cpu") for a in ARCHS for s in STYLES]
    observers = [ra.create_model(n, device="cpu") for n in ra.list_models("zoo:*")]
    res = _generate(generators, targets, null, args.steps, args.init, quiet=True)
    res.save(out / "metamers", png=False)
    t_gen = time.perf_counter() - t_start

    judge_layer = ra.create_model(JUDGE, device="cpu").meta["penultimate"]
    judges = ["ssim", f"model:{JUDGE}@{judge_layer}", "pixel_l2"]
    afc = pd.concat([two_afc(res, d, device="cpu", n_boot=500) for d in judges], ignore_index=True)
    clus = clustering(res, "ssim", n_groups=60, device="cpu", n_boot=500)
    ok = res.subset(res.success)
    afc_ok = pd.concat([two_afc(ok, d, device="cpu", n_boot=200) for d in judges[:2]],
                       ignore_index=True)
    tm = transfer_matrix(res, observers, n_perm=args.n_perm, n_boot=200, device="cpu")
    for name, df in (("two_afc", afc), ("clustering", clus), ("transfer", tm)):
        df.to_csv(out / f"{name}.csv", index=False)
    # pixel correlation of each metamer with its target: negative = contrast-inverted structure
    flat_m = res.images.flatten(1).double()
    flat_t = res.targets.flatten(1).double()
    flat_m = flat_m - flat_m.mean(1, keepdim=True)
    flat_t = flat_t - flat_t.mean(1, keepdim=True)
    corr = (flat_m * flat_t).sum(1) / (flat_m.norm(dim=1) * flat_t.norm(dim=1)).clamp_min(1e-12)
    pixel_corr = (pd.DataFrame({"regularizer": res.regularizers, "corr": corr.numpy()})
                  .groupby("regularizer", sort=False)["corr"].mean().round(3).to_dict())
    success = (res.table().groupby(["regularizers", "generators"], sort=False).success.mean()
               .round(3).unstack().to_dict(orient="index"))

    # figures
    plot_metamer_grid(res.subset(np.flatnonzero(np.isin(res.generators, [
        "zoo:cnn_standard_s0", "zoo:cnn_l2_s0"]))), max_targets=5, path=out / "metamers_cnn")
    plot_scores(afc[afc.distance == "ssim"], "two_afc", path=out / "two_afc_ssim")
    plot_scores(afc[afc.distance == judges[1]], "two_afc", path=out / "two_afc_robust_judge")
    off = tm[(tm.relation != "self") & (tm.test == "recognizability")]
    rec_mean = (off[off.metric == "accuracy_metamers"]
                .groupby(["generator", "layer", "regularizer", "init", "optimizer"], sort=False)
                .value.mean().reset_index().assign(metric="accuracy_metamers_others",
                                                   ci_low=np.nan, ci_high=np.nan, chance=0.2))
    plot_scores(rec_mean, "accuracy_metamers_others", path=out / "recognizability_by_others")
    for metric in ("accuracy_metamers", "match_rate", "two_afc"):
        plot_transfer(tm, metric, path=out / f"transfer_{metric}")

    # answers
    rec_others = {reg: {g: round(float(v), 4) for g, v in zip(part.generator, part.value,
                                                                 strict=True)}
                  for reg, part in rec_mean.groupby("regularizer", sort=False)}
    afc_ssim = _table(afc, "two_afc", "ssim")
    afc_judge = _table(afc, "two_afc", judges[1])
    summaries = {}
    for metric in ("accuracy_metamers", "match_rate", "rdm_r", "two_afc"):
        s = transfer_summary(tm, metric)
        summaries[metric] = {
            f"{r.regularizer} | {r.summary} | {r.group}": {"mean": round(float(r.value), 4),
                                                           "sd": round(float(r.sd), 4),
                                                           "cells": int(r.n)}
            for r in s.itertuples()}
        s.to_csv(out / f"transfer_summary_{metric}.csv", index=False)
    results = {
        "targets": len(targets), "metamers": len(res), "steps_cap": args.steps, "init": args.init,
        "generators": [m.spec for m in generators], "observers": [m.spec for m in observers],
        "judges": judges, "success_rate": success,
        "q1_two_afc_ssim": afc_ssim, "q1_two_afc_robust_judge": afc_judge,
        "q1_two_afc_pixel_l2": _table(afc, "two_afc", "pixel_l2"),
        "q1_two_afc_ssim_successful_only": _table(afc_ok, "two_afc", "ssim"),
        "q1_two_afc_robust_judge_successful_only": _table(afc_ok, "two_afc", judges[1]),
        "successful_metamers_per_recipe": {
            reg: {g: int(n) for g, n in zip(part.generator, part.n_metamers, strict=True)}
            for reg, part in afc_ok[afc_ok.metric == "two_afc"].drop_duplicates(
                ["generator", "regularizer"]).groupby("regularizer", sort=False)},
        "q1_style_means_two_afc_ssim_none": _style_means(afc_ssim["none"]),
        "q1_style_means_two_afc_robust_judge_none": _style_means(afc_judge["none"]),
        "q1_recognizability_by_other_models": rec_others,
        "q1_style_means_recognizability_none": _style_means(rec_others["none"]),
        "clustering_ssim": _table(clus, "clustering"),
        "q2_mean_pixel_correlation_with_target": pixel_corr,
        "q3_transfer_summaries": summaries,
        "seconds_generation": round(t_gen, 1),
        "seconds_total": round(time.perf_counter() - t_start, 1),
        "note": "shared 2-core machine; timings are disturbed by other work",
    }
    report("evaluation_zoo", results)


if __name__ == "__main__":
    main()
