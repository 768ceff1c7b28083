"""``repalign metamers SPEC STIMULI --layers ... --preset ... --out DIR``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def _handler(args: argparse.Namespace) -> int:
    import repalign as ra
    from repalign.metamers.figures import plot_metamers

    specs = [s for s in args.spec.split(",") if s]
    models: list[Any] = []
    for spec in specs:
        group = [ra.create_model(p, device=args.device) for p in spec.split("+")]
        models.append(group[0] if len(group) == 1 else group)
    stim = ra.load_stimuli(args.stimuli)
    targets = stim.subset(range(min(args.n, len(stim)))) if args.n else stim
    null = ra.load_stimuli(args.null) if args.null else stim
    options = {k: v for k, v in {
        "init": args.init, "regularizer": args.regularizer, "parametrization": args.parametrization,
        "transforms": args.transforms, "optimizer": args.optimizer, "lr": args.lr,
        "schedule": args.schedule, "steps": args.steps, "stop": args.stop, "keep": args.keep,
        "check_every": args.check_every, "precision": args.precision,
    }.items() if v is not None}
    layers = args.layers if args.layers else None
    res = ra.generate_metamers(
        models, targets, layers, args.preset, repeats=args.repeats, null_stimuli=null,
        same_label=args.same_label, batch_size=args.batch_size, seed=args.seed,
        device=args.device, amp=args.amp, checkpoint=args.checkpoint,
        checkpoint_every=args.checkpoint_every, channels_last=args.channels_last or None,
        quiet=args.quiet, **options,
    )
    out = res.save(args.out, png=not args.no_png)
    if not args.no_figure:
        plot_metamers(res, path=out / "metamers")
    summary = res.summary()
    print(summary.to_string(index=False))
    print(f"{len(res)} metamer(s) in {res.wall_time:.1f} s written to {out}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``metamers`` command."""
    p = subparsers.add_parser(
        "metamers",
        help="generate model metamers / identically represented inputs",
        description=(
            "Generate images that SPEC represents like the STIMULI at the given layers. SPEC is a "
            "model spec ('zoo:cnn_standard_s0'); join specs with '+' to match models jointly and "
            "separate generators with ','. STIMULI is anything load_stimuli reads "
            "('bundled:digits', a folder). Options not given come from the preset."
        ),
    )
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("stimuli", metavar="STIMULI")
    p.add_argument("--layers", nargs="+", metavar="LAYER",
                   help="layer names ('a+b' for several at once); default: the model's defaults")
    p.add_argument("--preset", "--recipe", dest="preset", default="fast",
                   help="named recipe: fast (default), feather or nanda")
    p.add_argument("--out", required=True, help="output folder (result.npz/json, PNGs, figure)")
    p.add_argument("--n", type=int, default=8, help="number of targets (first N stimuli; 0 = all; default 8)")
    p.add_argument("--null", help="stimuli for the criterion's null (default: STIMULI)")
    p.add_argument("--repeats", type=int, default=1, help="random starts per target and layer")
    for name in ("init", "regularizer", "parametrization", "optimizer", "schedule", "stop"):
        p.add_argument(f"--{name}", help=f"{name} spec, e.g. 'name:key=value'")
    p.add_argument("--transforms", nargs="+", help="transform specs or a preset ('robust')")
    p.add_argument("--lr", type=float)
    p.add_argument("--steps", type=int)
    p.add_argument("--keep", choices=["last", "best"])
    p.add_argument("--check-every", dest="check_every", type=int)
    p.add_argument("--same-label", dest="same_label", nargs="?", const="predicted", default=False,
                   choices=["predicted", "true"],
                   help="also require the same label: 'predicted' (default when given without a "
                   "value: the generator's label of the target) or 'true' (the target's label)")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda or auto (default)")
    p.add_argument("--amp", action="store_true", help="old spelling of --precision bf16 (CUDA)")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"],
                   help="autocast of the optimisation's forwards (the criterion stays fp32)")
    p.add_argument("--channels-last", dest="channels_last", action="store_true",
                   help="channels_last memory format (faster convolutions on GPUs)")
    p.add_argument("--checkpoint", metavar="DIR",
                   help="checkpoint folder: a killed run started again with the same arguments "
                   "resumes from its last snapshot")
    p.add_argument("--checkpoint-every", dest="checkpoint_every", type=int, default=100,
                   help="steps between snapshots (default 100)")
    p.add_argument("--no-png", action="store_true", help="do not write per-image PNGs")
    p.add_argument("--no-figure", action="store_true", help="do not draw the overview figure")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_handler)
