"""Metamer generation at real scale: ResNet-50 and ViT-B/16 (random init) at 224 px on this CPU.

Every figure is a ratio against a baseline measured in the same run, interleaved repeat by repeat
(so load drift hits both alike); absolute times are for context only.

1. Cost per step against a bare loop, at a layer at each of 4 depths of both networks. The bare
   loop is the minimum any metamer code runs: the network truncated by hand right after the layer
   (no hooks), the normalised L2 distance to the target's activations, backward, an Adam step.
   ``generate_metamers`` runs its ``fast`` recipe (stop at the metamer criterion, checked every 5
   steps) with ``lr`` scaled down so that no row stops inside the timed window. A step's time is the
   interval between consecutive optimizer steps, averaged over a window of ``check_every`` steps
   after the warm-up, so exactly one criterion check is inside every window. Target: <= 1.10x.
   Steps are timed in this process's CPU time (one torch thread): on a machine shared with other
   jobs, wall time mostly measures the others (``--wall`` uses it).
2. Early exit: a step at the shallowest layer against a bare step through the whole network.
3. Batch scaling 1 to 16 at ResNet-50 ``layer3``: time per image (3 steps after the warm-up, no
   check inside) and peak memory per image (each batch size in a fresh process, large buffers
   mmapped: its peak resident set size during the call minus the one just before it).
4. N models jointly (1, 2, 3 ResNet-50s, different random inits, at ``layer2``): time per step
   against N x the one-model step (linear cost = 1.0).
5. The criterion's null distribution is computed once per (model, layer): a second
   ``generate_metamers`` on the same model and layer runs no null forward (counted) and gets the
   very same cached array.

Usage: ``python benchmarks/metamers_scale.py [--repeats 3] [--batch 2] [--quick]``
(``--quick``: one repeat, fewer configurations; for a smoke test only). The three parts can run
as parallel processes: ``--section resnet50``, ``--section vit_b_16``, ``--section rest``, then
``--merge``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, report

import repalign as ra
from repalign.metamers import criterion as criterion_module

NETS: dict[str, dict[str, Any]] = {
    "resnet50": {"layers": ["layer1", "layer2", "layer3", "layer4"], "full": "fc"},
    "vit_b_16": {
        "layers": [f"encoder.layers.encoder_layer_{i}" for i in (2, 5, 8, 11)],
        "full": "heads",
    },
}
CHECK_EVERY = 5  # the fast recipe's
WARMUP = 2
LR = 1e-4  # small: no row reaches the criterion (and stops) inside the timed window
#: the clock of a step: this process's CPU time (one torch thread), which other jobs on a shared
#: machine do not inflate the way they inflate wall time; ``--wall`` switches to wall time
CLOCK = time.process_time
SCALING_WINDOW = 3  # batch scaling: 3 timed steps (no check inside; the checks are section 1's)


def make_model(arch: str, seed: int = 0) -> ra.models.Model:
    torch.manual_seed(seed)
    return ra.create_model(f"torchvision:{arch}", pretrained=False, device="cpu")


def stimuli(n: int) -> torch.Tensor:
    """``n`` distinct 224 px natural images: the bundled photos, flipped and rolled."""
    photos = ra.load_stimuli("bundled:photos", size=224).images
    out = [photos, photos.flip(3), photos.flip(2), photos.roll(56, 3)]
    return torch.cat(out)[:n].contiguous()


# -- the bare loop ------------------------------------------------------------------------------
def truncated(model: ra.models.Model, layer: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The network's forward written out by hand up to ``layer`` (no hooks, no checks)."""
    net = model.network
    mean = model.preprocess.mean
    std = model.preprocess.std
    arch = model.meta["architecture"]
    if arch == "resnet50":
        names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
                 "avgpool", "fc"]
        mods = [getattr(net, n) for n in names[: names.index(layer) + 1]]

        def resnet(x: torch.Tensor) -> torch.Tensor:
            h = (x - mean) / std
            for name, mod in zip(names, mods, strict=False):
                if name == "fc":
                    h = h.flatten(1)
                h = mod(h)
            return h

        return resnet
    if layer == "heads":
        return lambda x: net((x - mean) / std)
    k = int(layer.rsplit("_", 1)[1])
    blocks = list(net.encoder.layers)[: k + 1]

    def vit(x: torch.Tensor) -> torch.Tensor:
        h = net._process_input((x - mean) / std)
        h = torch.cat([net.class_token.expand(h.shape[0], -1, -1), h], dim=1)
        h = net.encoder.dropout(h + net.encoder.pos_embedding)
        for block in blocks:
            h = block(h)
        return h

    return vit


def bare_steps(model: ra.models.Model, layer: str, targets: torch.Tensor, starts: torch.Tensor,
               steps: int) -> list[float]:
    """Times of the optimizer steps of the bare loop (perf_counter after each step)."""
    fwd = truncated(model, layer)
    with torch.no_grad():
        tf = fwd(targets).flatten(1)
    tnorm = tf.norm(dim=1)
    x = starts.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=LR)
    stamps = []
    for _ in range(steps):
        f = fwd(x).flatten(1)
        loss = ((f - tf).norm(dim=1) / tnorm).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        stamps.append(CLOCK())
    return stamps


def repalign_steps(models: Any, layer: str, targets: torch.Tensor, null: torch.Tensor,
                   steps: int, batch_size: int) -> tuple[list[float], Any]:
    """Times of the optimizer steps inside ``generate_metamers`` (the fast recipe)."""
    stamps: list[float] = []

    def timed_adam(params: Any, lr: float, **kw: Any) -> torch.optim.Optimizer:
        opt = torch.optim.Adam(params, lr=lr, **kw)
        step = opt.step

        def stamped(*a: Any, **k: Any) -> Any:
            out = step(*a, **k)
            stamps.append(CLOCK())
            return out

        opt.step = stamped  # type: ignore[method-assign]
        return opt

    res = ra.generate_metamers(models, targets, layer, optimizer=timed_adam, lr=LR, steps=steps,
                               check_every=CHECK_EVERY, null_stimuli=null, batch_size=batch_size,
                               device="cpu", quiet=True)
    return stamps, res


def per_step(stamps: list[float], window: int = CHECK_EVERY) -> float:
    """Mean step time over the ``window`` steps after the warm-up (one check inside)."""
    sel = stamps[WARMUP - 1 : WARMUP + window]
    return (sel[-1] - sel[0]) / (len(sel) - 1)


# -- sections -----------------------------------------------------------------------------------
def overhead(arch: str, batch: int, repeats: int, layers: list[str]) -> list[dict[str, Any]]:
    model = make_model(arch)
    images = stimuli(32)
    targets, starts, null = images[:batch], images[8 : 8 + batch], images
    steps = WARMUP + CHECK_EVERY
    rows = []
    for layer in layers:
        bare_t, rep_t, ratios, ok = [], [], [], 0
        for _ in range(repeats):
            b = per_step(bare_steps(model, layer, targets, starts, steps))
            stamps, res = repalign_steps(model, layer, targets, null, steps, batch)
            r = per_step(stamps)
            ok += int(res.success.sum())
            bare_t.append(b)
            rep_t.append(r)
            ratios.append(r / b)
        rows.append({
            "net": arch, "layer": layer, "batch": batch,
            "bare_s_per_step": statistics.median(bare_t),
            "repalign_s_per_step": statistics.median(rep_t),
            "ratio": statistics.median(ratios), "ratios": ratios,
            "rows_stopped_in_window": ok,
        })
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def early_exit(arch: str, batch: int, repeats: int, shallow_step: float) -> dict[str, Any]:
    model = make_model(arch)
    images = stimuli(16)
    full = NETS[arch]["full"]
    times = [per_step(bare_steps(model, full, images[:batch], images[8 : 8 + batch],
                                 WARMUP + CHECK_EVERY)) for _ in range(repeats)]
    t_full = statistics.median(times)
    return {"net": arch, "shallow_layer": NETS[arch]["layers"][0], "full_layer": full,
            "repalign_shallow_s_per_step": shallow_step, "bare_full_s_per_step": t_full,
            "full_over_shallow": t_full / shallow_step}


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_probe(batch: int) -> dict[str, Any]:
    """Run in a fresh process (large buffers mmapped, so freed memory leaves the resident set):
    step time, and the peak resident set size during the call minus the one just before it."""
    model = make_model("resnet50")
    images = stimuli(32)
    targets = images[torch.arange(batch) % 32]
    ra.metamers.criterion.null_distribution(model, "layer3", images)  # cached before the call
    base, peak, running = _rss_mib(), [0.0], [True]

    def sample() -> None:
        while running[0]:
            peak[0] = max(peak[0], _rss_mib())
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
            stamps, _ = repalign_steps(model, "layer3", targets, images, WARMUP + SCALING_WINDOW, batch)
    finally:
        running[0] = False
        thread.join()
    return {"batch": batch, "s_per_step": per_step(stamps, SCALING_WINDOW),
            "peak_rss_growth_mib": peak[0] - base}


def batch_scaling(batches: list[int]) -> list[dict[str, Any]]:
    rows = []
    for b in batches:
        cmd = [sys.executable, __file__, "--probe", str(b), *(["--wall"] if CLOCK is time.perf_counter else [])]
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}  # fixed: no dynamic threshold
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["s_per_image_step"] = row["s_per_step"] / b
        row["peak_mib_per_image"] = row["peak_rss_growth_mib"] / b
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def joint(batch: int, repeats: int, counts: list[int]) -> list[dict[str, Any]]:
    models = [make_model("resnet50", seed=s) for s in range(max(counts))]
    images = stimuli(32)
    targets = images[:batch]
    times: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(repeats):
        for n in counts:
            group = models[0] if n == 1 else [models[:n]]
            stamps, _ = repalign_steps(group, "layer2", targets, images, WARMUP + CHECK_EVERY, batch)
            times[n].append(per_step(stamps))
    one = statistics.median(times[1])
    return [{"models": n, "s_per_step": statistics.median(times[n]),
             "over_n_times_one": statistics.median(times[n]) / (n * one)} for n in counts]


def null_cache() -> dict[str, Any]:
    model = make_model("resnet50", seed=7)
    images = stimuli(16)
    computed = {"n": 0}
    original = criterion_module._features

    def counting(*a: Any, **k: Any) -> torch.Tensor:
        computed["n"] += 1
        return original(*a, **k)

    criterion_module._features = counting
    try:
        out = []
        for call in (1, 2):
            before = computed["n"]
            t0 = time.perf_counter()
            ra.generate_metamers(model, images[:1], "layer2", steps=1, null_stimuli=images,
                                 device="cpu", quiet=True)
            out.append({"call": call, "null_forwards": computed["n"] - before,
                        "seconds": time.perf_counter() - t0})
        a = criterion_module.null_distribution(model, "layer2", images)
        b = criterion_module.null_distribution(model, "layer2", images)
    finally:
        criterion_module._features = original
    return {"calls": out, "same_array_returned": a is b, "pairs": int(a.size)}


def _section(title: str, columns: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown section: a heading and a table with ``columns`` and one line per row's cells."""
    return ["", f"## {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(cells) + " |" for cells in rows)]


def table(rec: dict[str, Any]) -> str:
    lines = ["# Metamers at real scale (CPU)", "",
             f"{rec['machine']['processor']}, {rec['machine']['cpu_count']} cores, torch threads "
             f"{rec['machine']['torch_threads']}; load average at start {rec['loadavg_start']}, at "
             f"end {rec['loadavg_end']} (a machine shared with other work: ratios measured side "
             "by side, repeat by repeat, are the figures; absolute times are context). Step "
             f"times are {rec['clock']} (one torch thread), which the other jobs do not inflate.",
             "",
             f"Command: `{rec['command']}`"]
    lines += _section(
        "Cost per step against the bare loop (criterion checks included)",
        ["net", "layer", "batch", "bare s/step", "repalign s/step", "ratio (median)", "ratios"],
        [[r["net"], r["layer"], str(r["batch"]), f"{r['bare_s_per_step']:.3f}",
          f"{r['repalign_s_per_step']:.3f}", f"**{r['ratio']:.3f}**",
          ", ".join(f"{x:.3f}" for x in r["ratios"])] for r in rec["overhead"]])
    lines += _section(
        "Early exit",
        ["net", "shallow layer", "repalign s/step there", "full network (bare) s/step",
         "full / shallow"],
        [[r["net"], r["shallow_layer"], f"{r['repalign_shallow_s_per_step']:.3f}",
          f"{r['bare_full_s_per_step']:.3f}", f"{r['full_over_shallow']:.2f}x"]
         for r in rec["early_exit"]])
    lines += _section(
        "Batch scaling (ResNet-50 layer3, one process per batch size)",
        ["batch", "s/step", "s per image-step", "peak RSS growth MiB", "MiB per image"],
        [[str(r["batch"]), f"{r['s_per_step']:.3f}", f"{r['s_per_image_step']:.3f}",
          f"{r['peak_rss_growth_mib']:.0f}", f"{r['peak_mib_per_image']:.0f}"]
         for r in rec["batch_scaling"]])
    lines += _section(
        "N models jointly (ResNet-50s at layer2)",
        ["models", "s/step", "s/step / (N x one model)"],
        [[str(r["models"]), f"{r['s_per_step']:.3f}", f"{r['over_n_times_one']:.3f}"]
         for r in rec["joint"]])
    nc = rec["null_cache"]
    lines += _section(
        "Null distribution cached per (model, layer)",
        ["generate_metamers call", "null forwards", "wall seconds of the call"],
        [[str(r["call"]), str(r["null_forwards"]), f"{r['seconds']:.2f}"] for r in nc["calls"]])
    lines += ["", f"Same array object returned on a repeated call: {nc['same_array_returned']} "
              f"({nc['pairs']} pairs).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--wall", action="store_true", help="time steps by wall clock, not CPU time")
    parser.add_argument("--section", choices=[*NETS, "rest"],
                        help="run one part only (parts can run as parallel processes; then --merge)")
    parser.add_argument("--merge", action="store_true", help="assemble the parts' results")
    parser.add_argument("--command", help="the command line to record (with --merge)")
    parser.add_argument("--probe", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global CLOCK
    if args.wall:
        CLOCK = time.perf_counter
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    if args.probe:
        print(json.dumps(memory_probe(args.probe)))
        return
    name = "metamers_scale_quick" if args.quick else "metamers_scale"
    if args.merge:
        merge(name, args)
        return
    repeats = 1 if args.quick else args.repeats
    rec: dict[str, Any] = {"loadavg_start": [round(v, 2) for v in os.getloadavg()]}
    sections = [args.section] if args.section else [*NETS, "rest"]
    for section in sections:
        if section in NETS:
            layers = NETS[section]["layers"][:1] if args.quick else NETS[section]["layers"]
            rows = overhead(section, args.batch, repeats, layers)
            part = {"overhead": rows,
                    "early_exit": [early_exit(section, args.batch, repeats,
                                              rows[0]["repalign_s_per_step"])]}
        else:
            part = {"batch_scaling": batch_scaling([1, 4] if args.quick else [1, 2, 4, 8, 16]),
                    "joint": joint(args.batch, repeats, [1, 2, 3]),
                    "null_cache": null_cache()}
        part["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
        part["loadavg_start"] = rec["loadavg_start"]
        (RESULTS / f"{name}.{section}.part.json").write_text(json.dumps(part, indent=2))
    if not args.section:
        merge(name, args)


def merge(name: str, args: argparse.Namespace) -> None:
    """Assemble the sections (run one after the other, or as parallel processes) into one record."""
    rec: dict[str, Any] = {"overhead": [], "early_exit": []}
    starts, ends = [], []
    for section in [*NETS, "rest"]:
        path = RESULTS / f"{name}.{section}.part.json"
        part = json.loads(path.read_text())
        starts.append(part.pop("loadavg_start"))
        ends.append(part.pop("loadavg_end"))
        for key, value in part.items():
            if key in ("overhead", "early_exit"):
                rec[key] += value
            else:
                rec[key] = value
        path.unlink()
    rec["loadavg_start"], rec["loadavg_end"] = starts[0], ends[-1]
    rec["command"] = args.command or "python benchmarks/metamers_scale.py " + " ".join(sys.argv[1:])
    rec["clock"] = "wall" if args.wall else "process CPU time"
    rec["note"] = ("CPU machine shared with other jobs (see load averages); step times are this "
                   f"process's {rec['clock']} with one torch thread, ratios measured side by side "
                   "in the same process, interleaved per repeat.")
    rec["max_overhead_ratio"] = max(r["ratio"] for r in rec["overhead"])
    (RESULTS / f"{name}.md").write_text(table(report(name, rec)))


if __name__ == "__main__":
    main()
