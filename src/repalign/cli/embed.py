"""``repalign embed TRIPLETS --n-objects N --index-base B --method vice --out DIR``."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def _embed(args: argparse.Namespace) -> int:
    from pathlib import Path

    from repalign.data.triplets import load_triplets
    from repalign.embedding import fit_embedding
    from repalign.embedding.figures import plot_training_curve

    triplets = load_triplets(args.triplets, index_base=args.index_base, n_objects=args.n_objects,
                             layout=args.layout)
    from repalign.errors import ConfigError

    try:
        options = json.loads(args.options) if args.options else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--options must be a JSON object, received {args.options!r} ({exc}).") from exc
    if not isinstance(options, dict):
        raise ConfigError(f"--options must be a JSON object, received {args.options!r}.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = fit_embedding(
        triplets, method=args.method, dims=args.dims, seed=args.seed, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, val_fraction=args.val_fraction,
        device=args.device, checkpoint=out / "checkpoint.pt",
        checkpoint_seconds=args.checkpoint_seconds, quiet=args.quiet, **options,
    )  # fmt: skip
    res.save(out)
    plot_training_curve(res, out / "training_curve")
    acc = "n/a" if res.val_accuracy is None else f"{res.val_accuracy:.4f}"
    print(f"{res.method}: {triplets.n_objects} objects, {res.n_train} training / {res.n_val} "
          f"held-out triplets, {len(res.history)} epochs{' (converged)' if res.converged else ''}")
    print(f"dimensions kept\t{res.n_dims} of {res.dims}")
    print(f"held-out accuracy\t{acc}\ttrain accuracy\t{res.train_accuracy:.4f}")
    print(f"written to {out}: embedding.npy, summary.json, training_curve.png")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``embed``."""
    p = subparsers.add_parser(
        "embed",
        help="learn an embedding from odd-one-out triplets (SPoSE, VICE, SOE, t-STE, CKL)",
        description=(
            "Fit an embedding to odd-one-out triplets and write embedding.npy, summary.json "
            "and training_curve.png to --out. A share of the triplets (--val-fraction) is held "
            "out to report accuracy. The fit checkpoints to OUT/checkpoint.pt: run the same "
            "command again after an interruption to resume."
        ),
    )
    p.add_argument("triplets", help="triplet file (.npy/.txt/.csv; pair-pair-odd or trial layout)")
    p.add_argument("--n-objects", type=int, required=True, help="number of objects (1854 for THINGS)")
    p.add_argument("--index-base", type=int, required=True, choices=(0, 1),
                   help="how the triplet file numbers objects (never guessed)")
    p.add_argument("--method", default="vice",
                   help="spose, vice (default), or soe, tste, ckl (cblearn, the embedding extra)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--dims", type=int, default=100, help="initial (SPoSE, VICE) or fitted dimensions")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs (SPoSE 500, VICE 2000)")
    p.add_argument("--batch-size", type=int, default=None, help="SPoSE 100, VICE 128")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (0.001)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of triplets held out")
    p.add_argument("--layout", default="auto", choices=("auto", "pair_pair_odd", "trials"))
    p.add_argument("--options", default=None,
                   help='method options as JSON, e.g. \'{"burnin": 100, "window": 50}\' (VICE), '
                        '\'{"lam": 0.008}\' (SPoSE), \'{"max_iter": 500}\' (cblearn)')
    p.add_argument("--checkpoint-seconds", type=float, default=60.0,
                   help="checkpoint at most this often (seconds)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_embed)
