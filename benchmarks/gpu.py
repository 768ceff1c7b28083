"""Metamer generation on one GPU: a random-init ResNet-50 at 224 px, batch 1 to 64.

For each batch size, side by side in one run:

- metamer steps/s of ``generate_metamers`` (recipe ``fast``: Adam, cosine rate, the criterion
  checked every 5 steps on 8-bit images in float32; bf16 autocast and channels_last; every run
  makes all its steps, ``stop="fixed"``), measured as
  the difference of two runs of different lengths so that the fixed costs (null distribution,
  target features, the final judgement) cancel;
- a bare loop of the same work: forward to the layer, normalised L2 loss, backward, Adam step,
  clamp (same autocast and memory format), no checks;
- the fraction metamer / bare throughput, and the peak GPU memory of the metamer run.

Then per-step times at 6 depths (batch 64) and what 400 images x 6 layers would take with the
``fast`` recipe's cap of 2,000 steps and with Feather's 24,000 steps. About 3 minutes on an H100.

    python benchmarks/gpu.py                  # needs CUDA; without it, says so and exits
    python benchmarks/gpu.py --cpu-smoke      # the same code paths on a CPU, tiny sizes, no file
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from _common import report

import repalign as ra

LAYER = "layer4"
DEPTHS = ["relu", "layer1", "layer2", "layer3", "layer4", "avgpool"]
BATCHES = [1, 2, 4, 8, 16, 32, 64]
SHORT, LONG = 10, 40  # steps of the two metamer runs whose difference is timed
IMAGES, LAYERS, FAST_STEPS, FEATHER_STEPS = 400, 6, 2000, 24000


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def metamer_step_time(model, targets, null, layer, dev, recipe, short: int = SHORT,
                      long: int = LONG) -> tuple[float, float]:
    """Seconds per step of generate_metamers (fixed costs cancelled) and peak memory (GiB)."""
    times = {}
    peak = 0.0
    for steps in (short, long, short, long):  # the second pair is timed (warm caches, kernels)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        _sync(dev)
        t0 = time.perf_counter()
        res = ra.generate_metamers(model, targets, layer, recipe, steps=steps, null_stimuli=null,
                                   batch_size=len(targets), device=dev, quiet=True)
        _sync(dev)
        times[steps] = time.perf_counter() - t0
        assert res.config["steps_run"] == [steps]
        if dev.type == "cuda":
            peak = max(peak, torch.cuda.max_memory_allocated() / 2**30)
    return (times[long] - times[short]) / (long - short), peak


def bare_step_time(model, targets, layer, dev, steps: int) -> float:
    """Seconds per step of forward-to-layer + loss + backward + Adam + clamp."""
    model.to(dev).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    cl = torch.channels_last
    model.to(memory_format=cl)
    dtype = torch.bfloat16
    try:
        with torch.no_grad():
            t = model.features(targets.to(dev), [layer])[layer].float().flatten(1)
        x = torch.rand_like(targets, device=dev).requires_grad_(True)
        opt = torch.optim.Adam([x], lr=0.1)

        def step() -> None:
            with torch.autocast(dev.type, dtype=dtype):
                f = model.features(x.contiguous(memory_format=cl), [layer])[layer]
            d = (f.float().flatten(1) - t).norm(dim=1) / t.norm(dim=1)
            opt.zero_grad(set_to_none=True)
            d.sum().backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)

        for _ in range(3):
            step()
        _sync(dev)
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(dev)
        return (time.perf_counter() - t0) / steps
    finally:
        model.to(memory_format=torch.contiguous_format)


def main() -> int:
    ap = argparse.ArgumentParser(description="metamer generation on one GPU (ResNet-50, 224 px)")
    ap.add_argument("--cpu-smoke", action="store_true",
                    help="run the same code paths on the CPU at tiny sizes (no results file)")
    args = ap.parse_args()
    if not torch.cuda.is_available() and not args.cpu_smoke:
        print("benchmarks/gpu.py: no CUDA device here, so nothing was measured (GPU figures: not "
              "measured). Run it on a machine with a GPU, or pass --cpu-smoke to exercise the same "
              "code paths on the CPU at tiny sizes.", file=sys.stderr)
        return 0
    smoke = args.cpu_smoke
    dev = torch.device("cpu" if smoke else "cuda")
    # the smoke run: the zoo's tiny ResNet on 32 px digits-sized images, same code paths
    spec = "zoo:resnet_standard_s0" if smoke else "torchvision:resnet50"
    layer = "layer3" if smoke else LAYER
    batches = [1, 2] if smoke else BATCHES
    depths = ["layer1", "layer3"] if smoke else DEPTHS
    short, long = (2, 4) if smoke else (SHORT, LONG)
    torch.manual_seed(0)
    model = ra.create_model(spec, device=str(dev)) if smoke else ra.create_model(
        spec, pretrained=False, device=str(dev))
    channels, size = model.input_size[0], model.input_size[1]
    # stop="fixed": every run makes all its steps (random targets could pass the criterion
    # early and end a timed run); the criterion is still checked every 5 steps
    recipe = ra.metamers.recipes.fast.replace(precision="bf16", channels_last=True, stop="fixed")
    gen = torch.Generator().manual_seed(0)
    null = torch.rand(16 if smoke else 64, channels, size, size, generator=gen)
    rows = []
    t_start = time.perf_counter()
    for b in batches:
        targets = torch.rand(b, channels, size, size, generator=gen)
        meta, peak = metamer_step_time(model, targets, null, layer, dev, recipe, short, long)
        bare = bare_step_time(model, targets, layer, dev, steps=long - short)
        rows.append({"batch": b, "metamer_steps_per_s": 1 / meta, "bare_steps_per_s": 1 / bare,
                     "images_steps_per_s": b / meta, "fraction_of_bare": bare / meta,
                     "peak_memory_gib": peak})
        print(f"batch {b:3d}: {1 / meta:8.1f} metamer steps/s, {bare / meta:5.2f} of bare, "
              f"peak {peak:.2f} GiB", file=sys.stderr)
    b = batches[-1]
    targets = torch.rand(b, channels, size, size, generator=gen)
    per_depth = {}
    for layer in depths:
        per_depth[layer], _ = metamer_step_time(model, targets, null, layer, dev, recipe, short,
                                                long)
    # every image x layer pair is a metamer; batches of b, each layer at its own step time
    batches_per_layer = -(-IMAGES // b)
    projected = {
        f"{name}_{steps}_steps_hours": batches_per_layer * steps
        * sum(per_depth[layer] for layer in depths) * (LAYERS / len(depths)) / 3600
        for name, steps in (("fast_cap", FAST_STEPS), ("feather", FEATHER_STEPS))
    }
    results = {
        "mode": "cpu-smoke" if smoke else "gpu",
        "device": str(dev) if smoke else torch.cuda.get_device_name(0),
        "model": spec if smoke else f"{spec} (random init)", "image_size": size, "layer": layer,
        "recipe": recipe.describe(), "rows": rows,
        "step_seconds_by_depth_at_batch": {"batch": b, **per_depth},
        "projection_400_images_x_6_layers": projected,
        "note": "the projection assumes every metamer runs its recipe's full step count "
                "(the fast recipe stops earlier per image once the criterion holds)",
        "seconds": time.perf_counter() - t_start,
        "loadavg": os.getloadavg(),
    }
    if smoke:
        import json

        print(json.dumps({"benchmark": "gpu", **results}, default=str))
    else:
        report("gpu", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
