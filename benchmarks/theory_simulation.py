"""Seed 000's teacher-student game, simulated: queries against eps, the flip trick, domain shift.

Runs :func:`repalign.analysis.theory.simulate_theory` with its defaults (synthetic students at
eps = 0, 0.05, ..., 1 with n = 16 shared objects in d = 2 dimensions, 200 games each; the 18
built-in zoo models as students of ``zoo:cnn_l2_s0``; the zoo on ``bundled:digits_shifted``),
writes the tables and figure to ``benchmarks/results/theory/`` and the figure to
``docs/figures/theory_simulation.png``.

Speed: the games are played in one batch (T games at once, one matrix product per query); the
baseline plays the same games one at a time (T = 1 per call), both measured here on a few eps.

Usage: ``python benchmarks/theory_simulation.py [--trials 200]``. Prints one JSON line and writes
``benchmarks/results/theory.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, report

from repalign.analysis.theory import game_instance, localise, simulate_theory

DOCS = Path(__file__).resolve().parents[1] / "docs" / "figures"


def _speed(trials: int) -> dict[str, float]:
    _, _, codes = game_instance(16, 2, seed=0)
    truth = np.random.default_rng(0).integers(len(codes), size=trials)
    out = {}
    for eps in (0.1, 0.3):
        t0 = time.perf_counter()
        batched = localise(codes, truth, eps=eps, rng=np.random.default_rng(1))
        t_batch = time.perf_counter() - t0
        t0 = time.perf_counter()
        single = [localise(codes, truth[i:i + 1], eps=eps, rng=np.random.default_rng(i)).queries
                  for i in range(trials)]
        t_single = time.perf_counter() - t0
        out[f"eps_{eps}"] = {"batched_s": round(t_batch, 3), "one_at_a_time_s": round(t_single, 3),
                             "speedup": round(t_single / t_batch, 2),
                             "mean_queries_batched": float(batched.queries.mean()),
                             "mean_queries_one_at_a_time": float(np.mean(single))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=200)
    args = ap.parse_args()
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    res = simulate_theory(RESULTS / "theory", trials=args.trials)
    wall = time.perf_counter() - t0
    DOCS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(RESULTS / "theory" / "theory.png", DOCS / "theory_simulation.png")
    flip = res.queries[res.queries["student"] == "flip"]
    naive = res.queries[res.queries["student"] == "naive"]
    report("theory", {
        "note": "shared 2-core machine, busy with other work: wall times are context only; the "
                "speed ratio compares batched and one-at-a-time games run side by side",
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "wall_s": round(wall, 1),
        "summary": res.summary,
        "queries_vs_eps": flip[["eps", "capacity", "queries_mean", "queries_se", "bound",
                                "fano", "error_rate", "censored", "disagreement"]]
        .round(4).to_dict(orient="records"),
        "naive_student": naive[["eps", "queries_mean", "error_rate"]].round(4)
        .to_dict(orient="records"),
        "lemma_eps0": res.lemma.round(4).to_dict(orient="records"),
        "zoo_pairs": None if res.zoo_pairs is None else res.zoo_pairs.round(4)
        .to_dict(orient="records"),
        "zoo_shift": None if res.zoo_shift is None else res.zoo_shift[
            ["model", "eps", "sigma", "predicted_sigma", "clean_acc", "shift_acc"]].round(4)
        .to_dict(orient="records"),
        "speed": _speed(min(args.trials, 100)),
    })


if __name__ == "__main__":
    main()
