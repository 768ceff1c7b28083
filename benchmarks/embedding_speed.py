"""Embedding fits: time of one epoch over 1,000,000 triplets of 1,854 objects (THINGS scale) and
peak memory, repalign's SPoSE/VICE step against a plain reference loop of the published
algorithms, side by side on the same machine.

The reference loops follow the published code's math and data flow (LukasMut/VICE's trainer and
Hebart et al.'s SPoSE): each batch is a one-hot matrix (3B x N) multiplied with the embedding,
autograd through the full objective (for VICE: one sample of the whole embedding, the Gaussian
log densities of the posterior and of the spike-and-slab prior over all N x D entries every step;
for SPoSE: the L1 term and a positivity penalty over all entries), and a standard Adam step. Only
their per-triplet Python tie-breaking loop for the batch accuracy is left out (vectorised here),
which makes the reference faster, not slower. Both sides use the published batch sizes (VICE 128,
SPoSE 100), 100 initial dimensions, Adam lr 0.001, one thread.

Each variant runs in a fresh process (peak RSS = ``ru_maxrss`` of that process; a process that
only imports torch and builds the data is measured too, as the floor). Time per step is the
minimum over rounds of the mean over ``--steps`` steps, rounds interleaved (reference, repalign,
reference, ...) so that load from other processes hits both alike; the epoch time is steps per
epoch x time per step. repalign's epoch is also run end to end once through ``fit_embedding``.

Usage: ``python benchmarks/embedding_speed.py [--steps 200] [--rounds 2] [--no-epoch]``.
Writes ``benchmarks/results/embedding_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report

N_OBJECTS, DIMS, N_TRIPLETS = 1854, 100, 1_000_000
BATCH = {"vice": 128, "spose": 100}


def _triplets(n: int, t: int, seed: int = 0) -> torch.Tensor:
    """(t, 3) random triplets of distinct objects."""
    from repalign.embedding.selection import propose_triplets

    return torch.as_tensor(propose_triplets(n, t, strategy="random", rng=np.random.default_rng(seed)))


def _normal_pdf(x: torch.Tensor, loc: torch.Tensor | float, scale: torch.Tensor | float) -> torch.Tensor:
    return torch.exp(-((x - loc) ** 2) / (2 * scale**2)) / (scale * math.sqrt(2 * math.pi))


def reference_step(method: str):
    """One step of the published algorithm, as a closure over its state."""
    gen = torch.Generator().manual_seed(0)
    n, d = N_OBJECTS, DIMS
    if method == "vice":
        mu = torch.nn.Parameter(torch.randn(n, d, generator=gen) * math.sqrt(2 / d))
        logsigma = torch.nn.Parameter(torch.full((n, d), -1 / float(mu.detach().std())))
        params = [mu, logsigma]
    else:
        w = torch.nn.Parameter(0.1 + 0.01 * torch.randn(n, d, generator=gen))
        params = [w]
    opt = torch.optim.Adam(params, lr=1e-3)
    spike, slab, pi, lam = 0.25, 1.0, 0.6, 0.008

    def step(batch: torch.Tensor) -> float:
        onehot = torch.zeros(3 * len(batch), n)
        onehot[torch.arange(3 * len(batch)), batch.reshape(-1)] = 1.0
        opt.zero_grad()
        if method == "vice":
            sigma = logsigma.exp()
            x = mu + sigma * torch.randn(mu.shape, generator=gen)
            z = torch.relu(onehot @ x)
        else:
            z = onehot @ w
        za, zb, zc = z.reshape(len(batch), 3, d).unbind(1)
        sims = torch.stack([(za * zb).sum(1), (za * zc).sum(1), (zb * zc).sum(1)], 1)
        ce = torch.mean(-torch.log(torch.exp(sims[:, 0]) / torch.exp(sims).sum(1)))
        acc = (sims.argmax(1) == 0).float().mean()
        if method == "vice":
            log_q = _normal_pdf(x, mu, sigma).log()
            log_p = (pi * _normal_pdf(x, 0.0, spike) + (1 - pi) * _normal_pdf(x, 0.0, slab)).log()
            loss = ce + (log_q.sum() - log_p.sum()) / N_TRIPLETS
        else:
            loss = ce + 0.01 * torch.relu(-w).sum() + lam / n * w.abs().sum()
        loss.backward()
        opt.step()
        return float(acc)

    return step


def repalign_step(method: str):
    from repalign.embedding.models import VICE, SPoSE, SPoSEOptions, VICEOptions

    gen = torch.Generator().manual_seed(0)
    cls, opts = (VICE, VICEOptions()) if method == "vice" else (SPoSE, SPoSEOptions())
    model = cls(N_OBJECTS, DIMS, opts, generator=gen, device=torch.device("cpu"), dtype=torch.float32)  # type: ignore[arg-type]
    opt = torch.optim.Adam(model.params, lr=1e-3, fused=True)

    def step(batch: torch.Tensor) -> float:
        parts = model.backward(batch, N_TRIPLETS, gen)
        opt.step()
        model.project()
        return float(parts["hits"]) / len(batch)

    return step


def child(variant: str, method: str, steps: int) -> dict[str, float]:
    torch.set_num_threads(1)
    trip = _triplets(N_OBJECTS, steps * BATCH[method] + 10 * BATCH[method])
    out: dict[str, float] = {}
    if variant != "floor":
        step = (reference_step if variant == "reference" else repalign_step)(method)
        b = BATCH[method]
        for i in range(10):
            step(trip[i * b:(i + 1) * b])
        t0 = time.perf_counter()
        for i in range(10, 10 + steps):
            step(trip[i * b:(i + 1) * b])
        out["seconds_per_step"] = (time.perf_counter() - t0) / steps
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def child_epoch(method: str) -> dict[str, float]:
    torch.set_num_threads(1)
    from repalign.embedding import fit_embedding

    trip = _triplets(N_OBJECTS, N_TRIPLETS).numpy()
    t0 = time.perf_counter()
    res = fit_embedding(trip, N_OBJECTS, method=method, dims=DIMS, epochs=1,
                        val_fraction=0.0, device="cpu", quiet=True)
    return {"epoch_seconds": time.perf_counter() - t0, "history_seconds": res.history[0]["seconds"],
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run(args: list[str]) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-epoch", action="store_true", help="skip the end-to-end epoch")
    ap.add_argument("--child", nargs=3, metavar=("VARIANT", "METHOD", "STEPS"), help=argparse.SUPPRESS)
    ap.add_argument("--child-epoch", metavar="METHOD", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], int(args.child[2]))))
        return
    if args.child_epoch:
        print(json.dumps(child_epoch(args.child_epoch)))
        return
    load_before = os.getloadavg()
    floor = _run(["--child", "floor", "vice", "0"])
    results: dict[str, dict[str, float | list[float]]] = {}
    for method in ("vice", "spose"):
        runs: dict[str, list[dict[str, float]]] = {"reference": [], "repalign": []}
        for _ in range(args.rounds):
            for variant in ("reference", "repalign"):
                runs[variant].append(_run(["--child", variant, method, str(args.steps)]))
        steps_per_epoch = math.ceil(N_TRIPLETS / BATCH[method])
        row: dict[str, float | list[float]] = {"batch_size": BATCH[method], "steps_per_epoch": steps_per_epoch}
        for variant, rs in runs.items():
            per_step = min(r["seconds_per_step"] for r in rs)
            row[f"{variant}_ms_per_step"] = round(per_step * 1e3, 3)
            row[f"{variant}_ms_per_step_all_rounds"] = [round(r["seconds_per_step"] * 1e3, 3) for r in rs]
            row[f"{variant}_epoch_seconds"] = round(per_step * steps_per_epoch, 1)
            row[f"{variant}_peak_rss_mib"] = round(max(r["peak_rss_mib"] for r in rs), 1)
        row["speedup"] = round(float(row["reference_ms_per_step"]) / float(row["repalign_ms_per_step"]), 2)  # type: ignore[arg-type]
        if not args.no_epoch:
            epoch = _run(["--child-epoch", method])
            row["repalign_end_to_end_epoch_seconds"] = round(epoch["epoch_seconds"], 1)
            row["repalign_end_to_end_peak_rss_mib"] = round(epoch["peak_rss_mib"], 1)
        results[method] = row
    report("embedding_speed", {
        "n_objects": N_OBJECTS, "dims": DIMS, "n_triplets": N_TRIPLETS, "steps_timed": args.steps,
        "rounds": args.rounds, "floor_peak_rss_mib": round(floor["peak_rss_mib"], 1),
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "note": "2-core machine shared with other jobs: absolute times are inflated; the "
                "ratios compare the two loops measured side by side, rounds interleaved.",
        **results,
    })


if __name__ == "__main__":
    main()
