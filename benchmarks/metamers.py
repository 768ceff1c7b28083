"""Metamer generation on the zoo: published recipes vs repalign's default, starts, cost, joint.

(a) Feather's recipe vs repalign's default (``fast``): success rate and steps to the metamer
    criterion, on a zoo model at two layers for 20+ targets.
(b) Starting points: steps to the criterion and SSIM distance of the metamer (and of its start)
    to its target.
(c) Cost of one generation step vs a bare forward + backward + Adam loop on the same model,
    layer and batch (a ratio measured in the same run).
(d) Images per second at batch 1 vs batch 32.
(e) Joint generation for N = 1, 2, 4 models: cost per step, and distance / criterion at models
    held out from generation.

Run: ``python benchmarks/metamers.py [--quick]``; prints one JSON line and writes
``benchmarks/results/metamers.json`` and figures ``benchmarks/results/metamers_*.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, report

import repalign as ra
from repalign.metamers.figures import plot_metamers

GEN = "zoo:cnn_standard_s0"
LAYERS = ["block2", "flatten"]
DEVICE = "cpu"  # every part, the bare loop of (c) included (CPU process time is the clock)


def _steps_stats(res: Any, budget: int) -> dict[str, Any]:
    ok = res.success & (res.steps_to_success > 0)
    steps = res.steps_to_success[ok]
    # failures count as "not found within the budget": the median over all samples
    all_steps = np.where(ok, res.steps_to_success, np.inf)
    med_all = float(np.median(all_steps))
    return {
        "n": len(res),
        "success_rate": round(float(ok.mean()), 3),
        "median_steps_successes": float(np.median(steps)) if len(steps) else None,
        "median_steps_all": med_all if np.isfinite(med_all) else f">{budget}",
        "steps_budget": budget,
        "wall_s": round(res.wall_time, 2),
        "by_layer": {
            layer: {
                "success_rate": round(float(ok[np.asarray(res.layers) == layer].mean()), 3),
                "median_steps_successes": (
                    float(np.median(res.steps_to_success[ok & (np.asarray(res.layers) == layer)]))
                    if (ok & (np.asarray(res.layers) == layer)).any() else None
                ),
            }
            for layer in dict.fromkeys(res.layers)
        },
    }


def part_a(model: Any, targets: Any, null: Any, quick: bool, check_every: int) -> dict[str, Any]:
    feather_steps = 3000 if quick else 24000
    feather = ra.generate_metamers(
        model, targets, LAYERS, preset="feather", steps=feather_steps, stop="criterion",
        check_every=check_every, null_stimuli=null, quiet=True, device=DEVICE, batch_size=64,
    )
    fast = ra.generate_metamers(model, targets, LAYERS, null_stimuli=null, quiet=True,
                                device=DEVICE, batch_size=64, check_every=check_every)
    f, d = _steps_stats(feather, feather_steps), _steps_stats(fast, fast.config["steps"])
    out: dict[str, Any] = {"feather": f, "fast": d, "feather_published_steps": 24000}
    if d["median_steps_successes"]:
        if f["median_steps_successes"]:
            out["first_passage_ratio"] = round(f["median_steps_successes"] / d["median_steps_successes"], 2)
        out["published_cost_ratio"] = round(24000 / d["median_steps_successes"], 1)
        out["published_cost_ratio_mean_steps"] = round(
            24000 / float(np.where(fast.success, fast.steps_to_success, fast.config["steps"]).mean()), 1)
    both = ra.MetamerResult.concat([feather.subset(np.arange(4)), fast.subset(np.arange(4))])
    plot_metamers(both, keys=("layers", "inits", "optimizers"),
                  path=RESULTS / "metamers_feather_vs_fast")
    return out


def part_b(model: Any, targets: Any, null: Any, check_every: int) -> dict[str, Any]:
    ssim = ra.perceptual.get_distance("ssim")
    rows, shown = {}, []
    for init in ("noise", "gaussian", "uniform", "other", "blend:alpha=0.5", "lowpass:sigma=2"):
        res = ra.generate_metamers(model, targets, LAYERS, init=init, null_stimuli=null,
                                   quiet=True, device=DEVICE, batch_size=64,
                                   check_every=check_every)
        with torch.no_grad():
            d_met = ssim(res.images, res.targets).numpy()
            d_seed = ssim(res.seeds, res.targets).numpy()
        rows[init] = {
            **{k: v for k, v in _steps_stats(res, res.config["steps"]).items() if k != "by_layer"},
            "ssim_distance_metamer_target": round(float(np.median(d_met)), 4),
            "ssim_distance_seed_target": round(float(np.median(d_seed)), 4),
        }
        shown.append(res.subset(np.flatnonzero(np.asarray(res.layers) == "flatten")[:4]))
    plot_metamers(ra.MetamerResult.concat(shown), keys=("inits",), path=RESULTS / "metamers_starts")
    return rows


def part_c(model: Any, targets: Any, null: Any, repeats: int) -> dict[str, Any]:
    layer, batch = "flatten", 32
    x_t = targets.images[:batch]
    with torch.no_grad():
        t = model.features(x_t, [layer])[layer]

    def bare(steps: int) -> None:
        x = (0.5 + 0.05 * torch.randn_like(x_t)).clamp(0, 1).requires_grad_(True)
        opt = torch.optim.Adam([x], lr=0.1)
        for _ in range(steps):
            f = model.features(x, [layer])[layer]
            loss = (torch.linalg.vector_norm((f - t).flatten(1), dim=1)
                    / torch.linalg.vector_norm(t.flatten(1), dim=1)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)

    def ours(steps: int, check_every: int) -> None:
        ra.generate_metamers(model, targets.subset(range(batch)), layer, null_stimuli=null,
                             steps=steps, stop="fixed", check_every=check_every, quiet=True,
                             device=DEVICE, batch_size=batch)

    s1, s2 = 50, 350
    out: dict[str, Any] = {"layer": layer, "batch": batch, "repeats": repeats,
                           "clock": "process CPU time"}
    runs = {"bare": bare, "repalign_checks_every_5": lambda s: ours(s, 5),
            "repalign_no_checks": lambda s: ours(s, 10**6)}
    times: dict[tuple[str, int], list[float]] = {(name, s): [] for name in runs for s in (s1, s2)}
    for name in runs:  # warm-up
        runs[name](5)
    for _ in range(repeats):  # interleaved, so that load changes hit every variant alike
        for name, fn in runs.items():
            for s in (s1, s2):
                t0 = time.process_time()  # CPU time of this process: waiting for a shared
                fn(s)                     # core does not count (torch runs on one thread here)
                times[(name, s)].append(time.process_time() - t0)
    # per step: difference of the median times of a long and a short run (setup cancels out)
    per_step = {name: (np.median(times[(name, s2)]) - np.median(times[(name, s1)])) / (s2 - s1)
                for name in runs}
    out["ms_per_step"] = {k: round(v * 1e3, 3) for k, v in per_step.items()}
    out["ratio_vs_bare"] = {k: round(v / per_step["bare"], 3) for k, v in per_step.items()}
    return out


def part_d(model: Any, targets: Any, null: Any, steps: int) -> dict[str, Any]:
    subset = targets.subset(range(32))
    out = {}
    for batch in (1, 32):
        t0 = time.perf_counter()
        ra.generate_metamers(model, subset, "flatten", null_stimuli=null, steps=steps,
                             stop="fixed", quiet=True, device=DEVICE, batch_size=batch)
        out[f"batch_{batch}"] = round(32 / (time.perf_counter() - t0), 2)
    out["steps_per_image"] = steps
    out["speedup"] = round(out["batch_32"] / out["batch_1"], 1)
    return out


def part_e(targets: Any, null: Any, steps: int) -> dict[str, Any]:
    pool = ["zoo:cnn_standard_s0", "zoo:cnn_standard_s1", "zoo:cnn_l2_s0", "zoo:cnn_linf_s0"]
    held = ["zoo:cnn_l2_s1", "zoo:cnn_linf_s1", "zoo:resnet_standard_s0", "zoo:mlp_standard_s0"]
    models = {s: ra.create_model(s, device=DEVICE) for s in pool + held}
    layer = "flatten"
    null_t = null.images
    thresholds = {}
    for s in held:
        n = ra.metamers.null_distribution(models[s], layer, null_t)
        thresholds[s] = float(np.nanmax(n))
    out = {}
    for k in (1, 2, 4):
        group = [models[s] for s in pool[:k]]
        res = ra.generate_metamers([group], targets, layer, null_stimuli=null, steps=steps,
                                   stop="fixed", quiet=True, device=DEVICE, batch_size=64)
        dist, passed = [], []
        with torch.no_grad():
            for s in held:
                f = models[s].features(res.images, [layer])[layer].flatten(1)
                g = models[s].features(res.targets, [layer])[layer].flatten(1)
                dist.append((torch.linalg.vector_norm(f - g, dim=1)
                             / torch.linalg.vector_norm(g, dim=1)).numpy())
                rho = ra.metamers.rowwise_correlation(f, g).numpy()
                passed.append(rho > thresholds[s])
        out[f"N={k}"] = {
            "generators": res.generators[0],
            "ms_per_step_incl_setup": round(res.wall_time / steps * 1e3, 2),
            "generator_success_rate": round(float(res.success.mean()), 3),
            "generator_median_distance": round(float(np.median(res.final_distance)), 4),
            "heldout_median_distance": round(float(np.median(np.concatenate(dist))), 4),
            "heldout_criterion_rate": round(float(np.concatenate(passed).mean()), 3),
        }
    base = out["N=1"]["ms_per_step_incl_setup"]
    for v in out.values():
        v["cost_vs_N1"] = round(v["ms_per_step_incl_setup"] / base, 2)
    return {"layer": layer, "steps": steps, "heldout": held, **out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps for Feather's recipe")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--targets", type=int, default=20)
    ap.add_argument("--parts", default="abcde")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = ra.create_model(GEN, device=DEVICE)
    stim = ra.load_stimuli("bundled:digits")
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(stim), max(args.targets, 32), replace=False))
    targets = stim.subset(idx[: args.targets])
    big = stim.subset(idx[:32])
    null = stim.subset(np.setdiff1d(np.arange(len(stim)), idx))  # all other digits
    check_every = 5
    results: dict[str, Any] = {
        "generator": GEN, "layers": LAYERS, "targets": len(targets), "null_images": len(null),
        "quick": args.quick, "threads": args.threads, "check_every": check_every,
        "note": "shared machine: timings are disturbed by other processes; compare ratios",
    }
    if "a" in args.parts:
        results["a_feather_vs_fast"] = part_a(model, targets, null, args.quick, check_every)
    if "b" in args.parts:
        results["b_starts"] = part_b(model, targets, null, check_every)
    if "c" in args.parts:
        results["c_step_cost"] = part_c(model, big, null, repeats=5 if args.quick else 9)
    if "d" in args.parts:
        results["d_throughput"] = part_d(model, big, null, steps=50 if args.quick else 100)
    if "e" in args.parts:
        results["e_joint"] = part_e(targets, null, steps=150 if args.quick else 400)
    results["total_s"] = round(time.perf_counter() - t0, 1)
    report("metamers" if args.parts == "abcde" else f"metamers_{args.parts}", results)


if __name__ == "__main__":
    main()
