"""Adaptive triplet selection in simulation: how many answered triplets each strategy needs to
reach 90 % and 95 % of the noise ceiling.

The observer is the simulated one (``repalign.alignment.simulate_observer``) with the THINGS
human embedding restricted to 200 objects (the same subset as the tests) as its hidden
embedding. Each strategy starts from the same ``--start`` random triplets; then, in rounds, the
``TripletSelector`` proposes ``--round`` triples, the observer answers them, and the embedding is
refitted (SPoSE by default, warm-started, the selector's defaults). After every round the fit's expected
agreement with the observer on 20,000 fresh random trials is divided by the ceiling. Strategies:
random, balanced random, uncertainty (entropy of the predicted choice) and infogain (BALD with
VICE's posterior). Seeds change the observer's answers, the proposals and the fits.

With ``--learner vice`` the refits are VICE without pruning (``prune=False``: with a few
thousand triplets its significance test keeps almost no dimension), fitted afresh each round,
so that ``infogain`` can use the posterior; compare strategies only within one learner.

Usage: ``python benchmarks/embedding_adaptive.py [--seeds 3] [--max 60000] [--round 3000]
[--learner spose|vice] [--name embedding_adaptive]``. Writes ``benchmarks/results/NAME.json``
and ``docs/figures/NAME.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report

from repalign.alignment.simulate import simulate_observer
from repalign.embedding.likelihood import choice_probabilities
from repalign.embedding.selector import TripletSelector

ROOT = Path(__file__).resolve().parents[1]
THINGS = ROOT.parent / "shared" / "data" / "things" / "final_embedding.npy"
STRATEGIES = ("random", "balanced", "uncertainty", "infogain")
_PAIR = np.array([[0, 1, 2], [0, 2, 1], [1, 2, 0]])


def answer(truth: np.ndarray, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The simulated observer's choices for given triples, as (pair, pair, odd) triplets."""
    p = choice_probabilities(torch.as_tensor(truth), torch.as_tensor(items)).numpy()
    choice = (rng.random((len(items), 1)) > np.cumsum(p, 1)).sum(1).clip(max=2)
    return np.take_along_axis(items, _PAIR[choice], axis=1)


def run(strategy: str, seed: int, truth: np.ndarray, args: argparse.Namespace) -> list[dict[str, float]]:
    test = simulate_observer(truth, 20_000, seed=1000 + seed)
    rng = np.random.default_rng(seed)
    fit = {"method": "vice", "prune": False} if args.learner == "vice" else None
    sel = TripletSelector(len(truth), strategy=strategy, min_answers=1, seed=seed, fit_options=fit)
    sel.observe(answer(truth, simulate_observer(truth, args.start, seed=seed).items, rng))
    curve = []
    while True:
        t0 = time.perf_counter()
        res = sel.refit()
        assert res is not None
        pick = choice_probabilities(torch.as_tensor(res.weights), torch.as_tensor(test.items)).argmax(1).numpy()
        frac = test.expected_accuracy(pick) / test.ceiling
        curve.append({"n_triplets": sel.n_answers, "ceiling_fraction": frac, "dims": res.n_dims,
                      "fit_seconds": time.perf_counter() - t0})
        if sel.n_answers >= args.max:
            return curve
        sel.observe(answer(truth, sel.propose(args.round), rng))


def needed(curve: list[dict[str, float]], level: float) -> int | None:
    for row in curve:
        if row["ceiling_fraction"] >= level:
            return int(row["n_triplets"])
    return None


def figure(curves: dict[str, list[list[dict[str, float]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for strategy, runs in curves.items():
        n = np.array([r["n_triplets"] for r in runs[0]])
        f = np.array([[r["ceiling_fraction"] for r in run] for run in runs])
        ax.plot(n, f.mean(0), marker=".", label=strategy)
        ax.fill_between(n, f.min(0), f.max(0), alpha=0.2)
    for level in (0.9, 0.95):
        ax.axhline(level, color="grey", ls=":", lw=1)
    ax.set_xlabel("answered triplets")
    ax.set_ylabel("expected accuracy / noise ceiling (held out)")
    ax.set_title(f"Simulated observer, THINGS embedding, 200 objects, {len(runs)} seeds", fontsize=9)
    ax.set_ylim(0.6, 1.0)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--start", type=int, default=3000)
    ap.add_argument("--round", type=int, default=3000)
    ap.add_argument("--max", type=int, default=60000)
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--learner", default="spose", choices=("spose", "vice"))
    ap.add_argument("--name", default="embedding_adaptive")
    args = ap.parse_args()
    torch.set_num_threads(1)
    full = np.load(THINGS)
    truth = full[np.random.default_rng(0).choice(len(full), 200, replace=False)]
    load_before = os.getloadavg()
    curves = {s: [run(s, seed, truth, args) for seed in range(args.seeds)]
              for s in args.strategies.split(",")}
    summary = {}
    for s, runs in curves.items():
        summary[s] = {f"needed_{int(level * 100)}": [needed(c, level) for c in runs]
                      for level in (0.9, 0.95)}
        summary[s]["final_ceiling_fraction"] = [round(c[-1]["ceiling_fraction"], 4) for c in runs]
    base = summary.get("random")
    if base:
        for s in summary:
            for key in ("needed_90", "needed_95"):
                pairs = [(b, a) for b, a in zip(base[key], summary[s][key], strict=True)
                         if a is not None and b is not None]
                summary[s][f"{key}_ratio_vs_random"] = (
                    round(float(np.mean([b / a for b, a in pairs])), 3) if pairs else None)
    figure(curves, ROOT / "docs" / "figures" / f"{args.name}.png")
    report(args.name, {
        "objects": 200, "seeds": args.seeds, "start": args.start, "round": args.round,
        "max": args.max, "learner": (f"{args.learner}, TripletSelector defaults, "
                    + ("warm-started refits" if args.learner == "spose" else "prune=False, fresh refits")),
        "summary": summary, "curves": curves, "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "note": "ratio_vs_random > 1 means the strategy needed fewer triplets than random.",
    })


if __name__ == "__main__":
    main()
