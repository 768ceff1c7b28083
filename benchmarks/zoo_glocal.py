"""Seed 001 on the zoo: out-of-distribution detection, and what gLocal buys and costs.

1. OOD table (:func:`repalign.analysis.zoo_ood`): for each of the 18 built-in zoo models, AUROC,
   FPR at 95 % TPR and AUPR (with 95 % bootstrap intervals) of the kNN (k-th nearest-neighbour
   cosine distance) and class-conditional Mahalanobis scores on the penultimate features:
   training digits 0-4 in distribution, held-out digits 0-4 the positives, unseen digits 5-9 and
   the held-out digits in ``bundled:digits_shifted``'s renditions out of distribution.
2. Before/after table (:func:`repalign.analysis.zoo_glocal`): per model, held-out odd-one-out
   accuracy on simulated triplets (observer: the robust-model ensemble, a stand-in for humans),
   Spearman RSA with that reference, 5- and 20-shot linear-probe accuracy on digits 5-9 and
   kNN OOD AUROC, each before and after gLocal, with intervals and paired tests; the arrow
   figure; which models gain on both sides and which trade one for the other.

Not a speed benchmark: the JSON line carries the findings, the machine and its load average (the
machine is shared, which changes only the wall time).

Usage: ``python benchmarks/zoo_glocal.py [--n-boot 1000] [--n-boot-glocal 300] [--reuse-ood]
[--models cnn_standard_s0 ...]``.
Writes ``benchmarks/results/zoo_glocal.json`` and CSVs and figures in
``benchmarks/results/zoo_glocal/``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd
import torch
from _common import RESULTS, report

import repalign as ra


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", default=None, help="zoo model names (default: all 18)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap draws of the OOD table")
    p.add_argument("--n-boot-glocal", type=int, default=300, help="bootstrap draws of the before/after table")
    p.add_argument("--reuse-ood", action="store_true", help="read OUT/ood.csv instead of recomputing it")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "zoo_glocal"))
    args = p.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    load = {"loadavg_start": os.getloadavg()}
    t0 = time.perf_counter()
    reused = args.reuse_ood and (out / "ood.csv").is_file()
    if reused:
        ood = pd.read_csv(out / "ood.csv")
    else:
        ood = ra.analysis.zoo_ood(args.models, k=args.k, n_boot=args.n_boot, seed=args.seed)
        out.mkdir(parents=True, exist_ok=True)
        ood.to_csv(out / "ood.csv", index=False)
    t1 = time.perf_counter()
    res = ra.analysis.zoo_glocal(args.models, k=args.k, n_boot=args.n_boot_glocal, seed=args.seed, out=out)
    t2 = time.perf_counter()
    auroc = ood[ood["metric"] == "auroc"].pivot_table(index="model", columns=["method", "ood_set"], values="value")
    counts = res.outcomes.groupby(["downstream", "outcome"]).size().unstack(fill_value=0)
    table = res.table
    report("zoo_glocal", {
        "reference": res.reference,
        "n_models": int(table["model"].nunique()),
        "n_boot_ood": args.n_boot,
        "n_boot_glocal": args.n_boot_glocal,
        "ood_auroc_mean": {f"{m}/{s}": round(float(v), 4) for (m, s), v in auroc.mean().items()},
        "ood_auroc_min_model": {f"{m}/{s}": str(auroc[(m, s)].idxmin()) for m, s in auroc.columns},
        "glocal_mean_delta": table.groupby("measure", sort=False)["delta"].mean().round(4).to_dict(),
        "glocal_significant_up": table[(table.p_value < 0.05) & (table.delta > 0)].groupby("measure").size().to_dict(),
        "glocal_significant_down": table[(table.p_value < 0.05) & (table.delta < 0)].groupby("measure").size().to_dict(),
        "outcomes": {d: row[row > 0].to_dict() for d, row in counts.iterrows()},
        "ood_reused": bool(reused),
        "seconds": {"ood": round(t1 - t0, 1), "glocal": round(t2 - t1, 1)},
        **load, "loadavg_end": os.getloadavg(),
        "note": "shared 2-core machine, other work running; times are context only",
    })


if __name__ == "__main__":
    main()
