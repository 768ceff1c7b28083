"""extract_features against a bare ``torch.no_grad()`` loop, and what early exit saves.

1. Overhead: ``extract_features`` at the network's last layer (so early exit cannot help) vs a
   bare loop over the same model and batches that runs the forward and copies the output to
   numpy. Target: ratio <= 1.10.
2. Early exit: ``model.features`` at an early layer (``layer1`` of a ResNet-18) vs the same call
   with ``early_exit=False`` (the full forward runs and the layer is captured by its hook).

Models: torchvision ResNet-18 (random init) at 64x64, and a zoo CNN (1x32x32) when the zoo is
installed. Ratios are measured in the same run; absolute times are for context only.
Usage: ``python benchmarks/extract.py [--n 256] [--batch-size 64] [--repeats 3] [--threads T]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, report

import repalign as ra
from repalign.features import extract_features
from repalign.models import Model


def bare_loop(model: Model, images: torch.Tensor, batch_size: int) -> Callable[[], np.ndarray]:
    """The baseline: forward every batch under no_grad and copy the output to numpy."""

    def run() -> np.ndarray:
        outs = []
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                xb = images[start : start + batch_size].to(model.device)
                outs.append(model.network(model.preprocess(xb)).reshape(len(xb), -1).cpu().numpy())
        return np.concatenate(outs)

    return run


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Best time of each function, running them in turn (so load drift hits all alike)."""
    for fn in fns.values():
        fn()  # warm-up
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for key, fn in fns.items():
            best[key] = min(best[key], best_time(fn, repeats=1, warmup=0))
    return best


def measure(name: str, model: Model, images: torch.Tensor, last: str, early: str,
            batch_size: int, repeats: int) -> dict[str, Any]:
    bare = bare_loop(model, images, batch_size)
    got = extract_features(model, images, [last], batch_size=batch_size, quiet=True)[last]
    np.testing.assert_allclose(got, bare(), rtol=1e-4, atol=1e-5)  # the same computation
    xb = images[:batch_size].to(model.device)

    def feats(early_exit: bool) -> Callable[[], Any]:
        def run() -> Any:
            with torch.no_grad():
                return model.features(xb, [early], early_exit=early_exit, detach=True)

        return run

    t = interleaved(
        {
            "bare": bare,
            "extract": lambda: extract_features(model, images, [last], batch_size=batch_size, quiet=True),
            "extract_early": lambda: extract_features(
                model, images, [early], batch_size=batch_size, quiet=True
            ),
        },
        repeats,
    )
    f = interleaved({"early": feats(True), "full": feats(False)}, repeats * 4)
    return {
        "model": name,
        "input": list(images.shape[1:]),
        "n_images": len(images),
        "batch_size": batch_size,
        "last_layer": last,
        "early_layer": early,
        "bare_loop_s": round(t["bare"], 4),
        "extract_last_layer_s": round(t["extract"], 4),
        "overhead_ratio": round(t["extract"] / t["bare"], 3),
        "overhead_target_met": t["extract"] / t["bare"] <= 1.10,
        "features_early_exit_s": round(f["early"], 5),
        "features_full_forward_s": round(f["full"], 5),
        "early_exit_time_ratio": round(f["early"] / f["full"], 3),
        "extract_early_layer_s": round(t["extract_early"], 4),
        "extract_early_vs_bare_ratio": round(t["extract_early"] / t["bare"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    runs = []

    resnet = ra.create_model("torchvision:resnet18", pretrained=False, device=args.device, image_size=64)
    images = torch.rand(args.n, 3, 64, 64, generator=g)
    runs.append(measure("torchvision:resnet18", resnet, images, "fc", "layer1", args.batch_size, args.repeats))

    zoo_names = [n for n in ra.list_models("zoo:cnn_standard_*")]
    if zoo_names:
        zoo = ra.create_model(zoo_names[0], device=args.device)
        digits = torch.rand(args.n * 4, *zoo.input_size, generator=g)
        order = zoo.execution_order(digits[:1])
        runs.append(measure(zoo_names[0], zoo, digits, order[-1], order[1], args.batch_size, args.repeats))

    report("extract", {"device": str(resnet.device), "torch_threads": torch.get_num_threads(),
                       "runs": runs,
                       "note": "ratios are measured side by side in this run; absolute times "
                               "depend on the machine and its load"})


if __name__ == "__main__":
    main()
