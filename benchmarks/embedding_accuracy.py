"""Held-out accuracy against the number of training triplets (10k to 1M) for every embedding
method, on triplets simulated from the THINGS embedding (200 objects, the tests' subset) and
answered by the simulated observer, with its noise ceiling.

Accuracy is the expected agreement of the fit's predicted pair with the observer on 20,000
fresh random trials (the observer's choice probabilities are known, so no sampling noise), the
ceiling ``mean(max p)``. SPoSE and VICE: 100 initial dimensions, batch 512, lr 0.005 (SPoSE) and
0.02 (VICE, as in the tests), epochs for about 4,000 steps (2 to 40). cblearn's SOE, t-STE and
CKL: 10 dimensions, ``max_iter`` 200 (SOE with one initialisation), Euclidean predictions.

Usage: ``python benchmarks/embedding_accuracy.py [--sizes 10000,30000,100000,300000,1000000]
[--methods spose,vice,soe,tste,ckl]``. Writes ``benchmarks/results/embedding_accuracy.json``
and ``docs/figures/embedding_accuracy_vs_triplets.png``. Methods can run in separate processes
(``--part NAME`` writes ``embedding_accuracy_NAME.json`` only) and be combined afterwards
(``--combine NAME1,NAME2``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, report

from repalign.alignment.simulate import simulate_observer
from repalign.embedding import fit_embedding
from repalign.embedding.figures import plot_accuracy_vs_triplets
from repalign.embedding.likelihood import choice_probabilities

ROOT = Path(__file__).resolve().parents[1]
THINGS = ROOT.parent / "shared" / "data" / "things" / "final_embedding.npy"


def options(method: str, n: int) -> dict:
    if method in ("spose", "vice"):
        epochs = int(np.clip(np.ceil(4000 * 512 / n), 2, 40))
        return {"dims": 100, "batch_size": 512, "epochs": epochs,
                "lr": 0.005 if method == "spose" else 0.02}
    return {"dims": 10, "max_iter": 200, **({"n_init": 1} if method == "soe" else {})}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,30000,100000,300000,1000000")
    ap.add_argument("--methods", default="spose,vice,soe,tste,ckl")
    ap.add_argument("--part", default=None, help="write embedding_accuracy_PART.json only")
    ap.add_argument("--combine", default=None, help="parts to combine into the figure and results")
    args = ap.parse_args()
    torch.set_num_threads(1)
    full = np.load(THINGS)
    truth = full[np.random.default_rng(0).choice(len(full), 200, replace=False)]
    test = simulate_observer(truth, 20_000, seed=2)
    if args.combine:
        parts = [json.loads((RESULTS / f"embedding_accuracy_{p}.json").read_text())
                 for p in args.combine.split(",")]
        finish([r for part in parts for r in part["rows"]], test.ceiling,
               {"parts": [{k: v for k, v in p.items() if k != "rows"} for p in parts]})
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    train_all = simulate_observer(truth, max(sizes), seed=1)
    rows, load_before = [], os.getloadavg()
    for method in args.methods.split(","):
        for n in sizes:
            t0 = time.perf_counter()
            res = fit_embedding(train_all.triplets[:n], 200, method=method, val_fraction=0.0,
                                seed=0, quiet=True, **options(method, n))
            x = torch.as_tensor(res.weights, dtype=torch.float64)
            if res.similarity == "dot":
                pick = choice_probabilities(x, torch.as_tensor(test.items)).argmax(1).numpy()
            else:  # nearest pair in Euclidean distance
                it = test.items
                d = np.stack([np.linalg.norm(res.weights[it[:, i]] - res.weights[it[:, j]], axis=1)
                              for i, j in ((0, 1), (0, 2), (1, 2))], 1)
                pick = d.argmin(1)
            acc = test.expected_accuracy(pick)
            rows.append({"method": method, "n_triplets": n, "accuracy": acc,
                         "ceiling_fraction": acc / test.ceiling, "dims": res.n_dims,
                         "seconds": time.perf_counter() - t0})
            print(rows[-1], flush=True)
    extra = {"loadavg_before": load_before, "loadavg_after": os.getloadavg()}
    if args.part:
        report(f"embedding_accuracy_{args.part}", {"objects": 200, "ceiling": test.ceiling,
                                                   "rows": rows, **extra})
    else:
        finish(rows, test.ceiling, extra)


def finish(rows: list[dict], ceiling: float, extra: dict) -> None:
    plot_accuracy_vs_triplets(pd.DataFrame(rows), ceiling,
                              ROOT / "docs" / "figures" / "embedding_accuracy_vs_triplets",
                              title="Simulated observer (THINGS embedding, 200 objects), held out")
    report("embedding_accuracy", {
        "objects": 200, "ceiling": ceiling, "rows": rows, **extra,
        "note": "machine shared with other jobs: seconds are inflated; accuracies are unaffected.",
    })


if __name__ == "__main__":
    main()
