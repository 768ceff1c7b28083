"""``repalign extract`` over a folder of 224 px JPEGs with a ResNet-50, side by side with a bare
loop and with thingsvision 2.7.3 (in its own virtual environment).

1. A folder of ``--n-images`` JPEGs (default 2,000) at 224 x 224 is generated from the bundled
   photos and digits with random crops, flips, rotations and colour changes; the first ``n`` of
   them (a folder of hard links) are timed, so that every configuration reads the same files.
2. One random-init torchvision ResNet-50 is saved to a file; every configuration loads it.
3. Configurations, each in a fresh process with one torch thread, in turn for ``--repeats``
   rounds; the time covers building the model, reading the weights, decoding every file, the
   forwards to ``fc`` and writing the ``.npy`` file (starting Python and the imports are not
   timed in any configuration; their CPU seconds are reported as ``startup_s``):

   - ``bare``: a plain loop: decode a batch with PIL, normalise, ``torch.no_grad()`` forward,
     copy to numpy; one process, nothing overlapped.
   - ``repalign``: ``repalign extract file:W?arch=resnet50 DIR --layers fc`` with its defaults
     (the folder streamed through a DataLoader, one decoding worker per spare core).
   - ``repalign_workers0``: the same, decoding in the main process.
   - ``repalign_channels_last`` / ``repalign_compile``: ``--channels-last``; ``--channels-last
     --compile`` (compilation included in the time).
   - ``thingsvision``: its documented pipeline (``get_extractor``, ``ImageDataset`` with
     ``get_transformations(resize_dim=224, crop_dim=224)``, its ``DataLoader``,
     ``extract_features(module_name="fc", flatten_acts=True)``, ``save_features(..., "npy")``)
     run by the Python of ``--tv-python`` (a virtual environment holding thingsvision 2.7.3 and
     the torch it pins).

   Every configuration's features are compared with the bare loop's (they must agree).
   Each configuration runs on two folder sizes (``--sizes``, default 32 and 96 images): the
   difference gives the cost per image with fixed costs (model build, hashing, compilation)
   cancelled, and a projection to 2,000 images. The defaults are a quick check; the recorded
   run (``benchmarks/results/extract_scale.md``) times the whole 2,000-image folder
   (``--sizes 64 2000``, five configurations: about 40 minutes on a shared 2-core CPU).
Usage: ``python benchmarks/extract_scale.py --tv-python TV_VENV/bin/python [--sizes 32 96]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, report

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (DataLoader workers included)."""
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF,
               resource.RUSAGE_CHILDREN) for f in ("ru_utime", "ru_stime"))

THINGSVISION = r'''
import json, resource, sys, time
import torch
from thingsvision import get_extractor
from thingsvision.utils.data import DataLoader, ImageDataset
from thingsvision.utils.storing import save_features
import thingsvision
torch.set_num_threads(1)
folder, weights, out, bs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def cpu():
    return sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF,
               resource.RUSAGE_CHILDREN) for f in ("ru_utime", "ru_stime"))
t0, c0 = time.perf_counter(), cpu()
ext = get_extractor(model_name="resnet50", source="torchvision", device="cpu", pretrained=False)
ext.model.load_state_dict(torch.load(weights, map_location="cpu"))
ds = ImageDataset(root=folder, out_path=out, backend=ext.get_backend(),
                  transforms=ext.get_transformations(resize_dim=224, crop_dim=224))
batches = DataLoader(dataset=ds, batch_size=bs, backend=ext.get_backend())
feats = ext.extract_features(batches=batches, module_name="fc", flatten_acts=True,
                             output_type="ndarray")
save_features(feats, out_path=out, file_format="npy")
print(json.dumps({"wall": time.perf_counter() - t0, "seconds": cpu() - c0, "n": int(feats.shape[0]),
                  "startup_s": c0, "version": thingsvision.__version__, "torch": torch.__version__}))
'''


# -- the folder ---------------------------------------------------------------------------------
def make_images(root: Path, n: int, seed: int = 0) -> None:
    """``n`` 224 x 224 JPEGs: bundled photos and digits, randomly cropped, flipped, rotated and
    recoloured."""
    from PIL import Image, ImageEnhance

    import repalign as ra

    rng = np.random.default_rng(seed)
    photos = ra.load_stimuli("bundled:photos").images
    digits = ra.load_stimuli("bundled:digits", channels=3).images
    pool = [photos[i] for i in range(len(photos))] + [digits[i] for i in range(0, len(digits), 7)]
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = pool[int(rng.integers(len(pool)))]
        img = Image.fromarray((src.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        w, h = img.size
        c = int(rng.integers(int(0.7 * w), w + 1))
        x0, y0 = int(rng.integers(0, w - c + 1)), int(rng.integers(0, h - c + 1))
        img = img.crop((x0, y0, x0 + c, y0 + c)).resize((224, 224), Image.BICUBIC)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        img = img.rotate(float(rng.uniform(-20, 20)), resample=Image.BILINEAR)
        img = ImageEnhance.Color(img).enhance(float(rng.uniform(0.5, 1.5)))
        img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.7, 1.3)))
        img.save(root / f"img_{i:05d}.jpg", quality=90)


# -- runners (each in a fresh process) ----------------------------------------------------------
def run_bare(folder: Path, weights: Path, out: Path, bs: int) -> dict[str, Any]:
    import torch
    import torchvision
    from PIL import Image

    t0, c0 = time.perf_counter(), cpu_seconds()
    net = torchvision.models.resnet50()
    net.load_state_dict(torch.load(weights, map_location="cpu"))
    net.eval()
    files = sorted(folder.iterdir())
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    outs = []
    with torch.no_grad():
        for s in range(0, len(files), bs):
            xb = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB"),
                                                          dtype=np.float32) / 255.0).permute(2, 0, 1)
                              for f in files[s : s + bs]])
            outs.append(net((xb - mean) / std).numpy())
    np.save(out / "fc.npy", np.concatenate(outs))
    return {"wall": time.perf_counter() - t0, "seconds": cpu_seconds() - c0, "n": len(files)}


def run_repalign(folder: Path, weights: Path, out: Path, bs: int, extra: list[str]) -> dict[str, Any]:
    # the imports the command makes, before the clock starts (as the bare loop and thingsvision
    # import torch, torchvision and PIL before theirs); their cost is reported as startup_s
    import torchvision  # noqa: F401
    from PIL import Image  # noqa: F401

    import repalign.data.loaders
    import repalign.features.extract
    import repalign.features.io
    import repalign.models.factory
    import repalign.models.sources.file_source
    import repalign.models.sources.torchvision_source  # noqa: F401
    from repalign.cli import main as cli

    t0, c0 = time.perf_counter(), cpu_seconds()
    rc = cli(["extract", f"file:{weights}?arch=resnet50", str(folder), "--layers", "fc",
              "--out", str(out / "fc.npy"), "--batch-size", str(bs), "--device", "cpu", "-q",
              *extra])
    if rc:
        raise SystemExit(rc)
    return {"wall": time.perf_counter() - t0, "seconds": cpu_seconds() - c0,
            "n": len(list(folder.iterdir()))}


CONFIGS: dict[str, list[str] | None] = {
    "bare": None,
    "repalign": [],
    "repalign_workers0": ["--workers", "0"],
    "repalign_channels_last": ["--channels-last"],
    "repalign_compile": ["--channels-last", "--compile"],
    "thingsvision": None,
}


def launch(config: str, folder: Path, weights: Path, out: Path, bs: int, tv_python: str | None,
           timeout: float) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if config == "thingsvision":
        if not tv_python:
            return {"error": "no --tv-python given"}
        script = out / "tv.py"
        script.write_text(THINGSVISION)
        cmd = [tv_python, str(script), str(folder), str(weights), str(out), str(bs)]
        env.pop("PYTHONPATH", None)
    else:
        cmd = [sys.executable, __file__, "--run", config, "--folder", str(folder), "--weights",
               str(weights), "--out", str(out), "--batch-size", str(bs)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode:
        return {"error": (proc.stderr or proc.stdout)[-600:]}
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    feats = sorted(out.rglob("*.npy"))
    row["features"] = str(feats[0]) if feats else None
    return row


def table(rec: dict[str, Any]) -> str:
    n1, n2 = rec["sizes"]
    lines = ["# Feature extraction at scale (CPU)", "",
             f"224 px JPEGs (the first {n1} and {n2} files of a generated folder of "
             f"{rec['n_images']}), random-init ResNet-50 read from one weights file, batch "
             f"{rec['batch_size']}, layer `fc`, one torch thread per process. Times are CPU "
             "seconds of the process and its DataLoader workers (on a machine shared with other "
             "jobs, wall time mostly measures the others; it is in the JSON) and cover model "
             "build, weights, decoding, forwards and writing the .npy (imports excluded). "
             "Per image = (t(n2) - t(n1)) / (n2 - n1): the cost that scales with the folder, "
             "fixed costs cancelled; projected 2,000 = fixed + 2,000 x per image. Starting the "
             "interpreter and importing the libraries (torch, torchvision, PIL; repalign's modules; "
             "thingsvision) is not timed in any configuration; its CPU seconds are the startup "
             "column. "
             f"Load average {rec['loadavg_start']} at start, {rec['loadavg_end']} at the end: a "
             "machine shared with other work; the ratios are side by side.", "",
             f"Command: `{rec['command']}`", "",
             f"| configuration | s ({n1} images) | s ({n2} images) | s per image | "
             f"vs bare ({n2}) | vs bare (per image) | vs bare (projected 2,000) | throughput vs "
             "thingsvision (per image) | (projected 2,000) | max abs diff to bare | startup s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]

    def f(row: dict[str, Any], key: str, fmt: str = "{:.3f}") -> str:
        return fmt.format(row[key]) if key in row else ""

    for name, r in rec["configs"].items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error'][:150]} | | | | | | | | | |")
            continue
        lines.append(" | ".join([
            f"| {name}", f(r, f"seconds_{n1}", "{:.1f}"), f(r, f"seconds_{n2}", "{:.1f}"),
            f(r, "s_per_image"), f(r, f"seconds_{n2}_over_bare"), f(r, "s_per_image_over_bare"),
            f(r, "projected_s_2000_over_bare"),
            f(r, "throughput_s_per_image_over_thingsvision", "{:.2f}x"),
            f(r, "throughput_projected_s_2000_over_thingsvision", "{:.2f}x"),
            f(r, "max_abs_diff", "{:.1e}"), f(r, f"startup_s_{n2}", "{:.1f}"),
        ]) + " |")
    lines += ["", rec["thingsvision_note"], ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-images", type=int, default=2000)
    p.add_argument("--sizes", type=int, nargs=2, default=[32, 96],
                   help="two numbers of images timed (the first N of the folder)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--tv-python", default=None, help="python of a venv with thingsvision 2.7.3")
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--name", default="extract_scale",
                   help="results file stem in benchmarks/results (e.g. a second round's)")
    p.add_argument("--run", help=argparse.SUPPRESS)
    p.add_argument("--folder", help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.run:
        import torch

        torch.set_num_threads(1)
        folder, weights, out = Path(args.folder), Path(args.weights), Path(args.out)
        row = (run_bare(folder, weights, out, args.batch_size) if args.run == "bare" else
               run_repalign(folder, weights, out, args.batch_size, CONFIGS[args.run] or []))
        row["startup_s"] = cpu_seconds() - row["seconds"]  # interpreter and imports, not timed
        print(json.dumps(row))
        return

    import torch
    import torchvision

    n1, n2 = sorted(args.sizes)
    rec: dict[str, Any] = {"loadavg_start": [round(v, 2) for v in os.getloadavg()],
                           "n_images": args.n_images, "sizes": [n1, n2],
                           "batch_size": args.batch_size, "repeats": args.repeats,
                           "command": "python benchmarks/extract_scale.py " + " ".join(
                               "TV_VENV/bin/python" if prev == "--tv-python" else a  # no machine path
                               for prev, a in zip(["", *sys.argv[1:-1]], sys.argv[1:], strict=True))}
    with tempfile.TemporaryDirectory(prefix="repalign_extract_scale_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        make_images(root / "all", args.n_images)
        rec["generate_seconds"] = time.perf_counter() - t0
        files = sorted((root / "all").iterdir())
        for n in (n1, n2):
            (root / f"timed_{n}").mkdir()
            for f in files[:n]:
                os.link(f, root / f"timed_{n}" / f.name)
        torch.manual_seed(0)
        weights = root / "resnet50_random.pt"
        torch.save(torchvision.models.resnet50().state_dict(), weights)
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for r in range(args.repeats):
            for n in (n1, n2):
                for c in args.configs:
                    row = launch(c, root / f"timed_{n}", weights, root / f"out_{c}_{n}_{r}",
                                 args.batch_size, args.tv_python, args.timeout)
                    runs.setdefault((c, n), []).append(row)
                    print(c, n, r, json.dumps(row)[:300], file=sys.stderr, flush=True)
        ref = np.load(runs[("bare", n2)][0]["features"]) if "bare" in args.configs else None
        configs: dict[str, Any] = {}
        for c in args.configs:
            row: dict[str, Any] = {}
            for n in (n1, n2):
                good = [x for x in runs[(c, n)] if "error" not in x]
                if not good:
                    row["error"] = runs[(c, n)][0]["error"]
                    break
                row[f"seconds_{n}"] = statistics.median(x["seconds"] for x in good)
                row[f"wall_{n}"] = statistics.median(x["wall"] for x in good)
                row[f"startup_s_{n}"] = statistics.median(x.get("startup_s", 0.0) for x in good)
                for k in ("version", "torch"):
                    if k in good[0]:
                        row[k] = good[0][k]
                if n == n2 and ref is not None and good[0].get("features"):
                    got = np.load(good[0]["features"])
                    row["max_abs_diff"] = float(np.abs(got.reshape(ref.shape) - ref).max())
            if "error" not in row:
                row["s_per_image"] = (row[f"seconds_{n2}"] - row[f"seconds_{n1}"]) / (n2 - n1)
                row["fixed_s"] = row[f"seconds_{n1}"] - n1 * row["s_per_image"]
                row["projected_s_2000"] = row["fixed_s"] + 2000 * row["s_per_image"]
            configs[c] = row
    bare = configs.get("bare", {})
    tv = configs.get("thingsvision", {})
    for row in configs.values():
        if "error" in row:
            continue
        for key in (f"seconds_{n1}", f"seconds_{n2}", "s_per_image", "projected_s_2000"):
            if key in bare:
                row[f"{key}_over_bare"] = row[key] / bare[key]
            if key in tv:
                row[f"throughput_{key}_over_thingsvision"] = tv[key] / row[key]
    rec["configs"] = configs
    rec["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    tvrow = configs.get("thingsvision", {})
    rec["thingsvision_note"] = (
        f"thingsvision {tvrow.get('version')} ran in its own virtual environment with the torch "
        f"it pins ({tvrow.get('torch')}; repalign and the bare loop use torch {torch.__version__})."
        if "version" in tvrow else f"thingsvision did not run: {tvrow.get('error', 'not asked')}")
    rec["note"] = "Shared 2-core machine (load averages recorded); ratios measured side by side."
    report(args.name, rec)
    (RESULTS / f"{args.name}.md").write_text(table(rec))


if __name__ == "__main__":
    main()
