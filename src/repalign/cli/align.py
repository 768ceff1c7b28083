"""``repalign align fit FEATURES TRIPLETS --out transform.npz`` and ``repalign align apply``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _one_layer(path: str, layer: str | None) -> tuple[str, Any]:
    from repalign.errors import ConfigError
    from repalign.features.io import load_features

    feats = load_features(path, [layer] if layer else None)
    if len(feats) > 1:
        raise ConfigError(f"{path} holds several layers {list(feats)}; choose one with --layer.")
    return next(iter(feats.items()))


def _fit(args: argparse.Namespace) -> int:
    from repalign.alignment import GLocal, search_glocal
    from repalign.data.triplets import load_triplets

    layer, x = _one_layer(args.features, args.layer)
    triplets = load_triplets(args.triplets, index_base=args.index_base, n_objects=len(x))
    x_local = _one_layer(args.local, args.layer)[1] if args.local else None
    est = GLocal(
        alpha=args.alpha, lam=args.lam, tau=args.tau, lr=args.lr, optimizer=args.optimizer,
        max_epochs=args.epochs, patience=args.patience, batch_size=args.batch_size,
        local_batch_size=args.local_batch_size, device=args.device, random_state=args.seed,
        quiet=args.quiet,
    )  # fmt: skip
    if args.search:
        res = search_glocal(x, triplets, x_local=x_local, grid=args.search, folds=args.folds,
                            estimator=est, seed=args.seed, quiet=args.quiet)
        print(res.summary.sort_values("rank").to_string(index=False, float_format="%.4f"))
        print(f"best {res.best_params}: object-disjoint held-out accuracy {res.best_score:.4f}")
        assert res.best_estimator is not None
        est = res.best_estimator
    else:
        est.fit(x, triplets, x_local=x_local, validation=args.validation)
    out = est.save(args.out)
    if args.history:
        from repalign._io import atomic_write_text

        atomic_write_text(args.history, est.history_.to_csv(index=False))
    h = est.history_
    print(f"layer {layer}: {x.shape[0]} objects x {x.shape[1]} features, {len(triplets)} triplets")
    if len(h) and "val_accuracy" in h:
        best = h.iloc[est.best_epoch_]
        print(f"{len(h)} epochs, best epoch {est.best_epoch_}: held-out accuracy "
              f"{best['val_accuracy']:.4f}, loss {best['val_loss']:.4f}")
    print(f"transform written to {out}")
    return 0


def _apply(args: argparse.Namespace) -> int:
    from repalign.alignment import load_transform
    from repalign.features.io import load_feature_ids, save_features

    est = load_transform(args.transform)
    layer, x = _one_layer(args.features, args.layer)
    aligned = est.transform(x)
    save_features({layer: aligned}, Path(args.out), ids=load_feature_ids(args.features))
    print(f"{layer}: {aligned.shape[0]} x {aligned.shape[1]} aligned features written to {args.out}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``align fit`` and ``align apply``."""
    parser = subparsers.add_parser(
        "align", help="gLocal: fit an affine alignment of features to human triplets, or apply one"
    )
    sub = parser.add_subparsers(dest="align_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser(
        "fit",
        help="fit a gLocal transform and write it as transform.npz",
        description=(
            "Fit ((X - mean) / std) @ W + b to odd-one-out triplets (THINGS layouts) and write "
            "thingsvision's transform.npz."
        ),
    )
    p.add_argument("features", help="features of the triplets' objects (.npy/.npz/.h5/folder)")
    p.add_argument("triplets", help="triplet file (.npy/.txt/.csv; pair-pair-odd or trial layout)")
    p.add_argument("--index-base", type=int, required=True, choices=(0, 1),
                   help="how the triplet file numbers objects (never guessed)")
    p.add_argument("--out", required=True, help="output transform.npz")
    p.add_argument("--layer", default=None, help="layer to use when the file holds several")
    p.add_argument("--local", default=None, help="features of auxiliary stimuli for the local term")
    p.add_argument("--alpha", type=float, default=0.25)
    p.add_argument("--lam", type=float, default=1.0)
    p.add_argument("--tau", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", default="adam", choices=("adam", "sgd"))
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--patience", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--local-batch-size", type=int, default=1024)
    p.add_argument("--validation", type=float, default=0.1,
                   help="share of the triplets held out for early stopping")
    p.add_argument("--search", default=None, choices=("default", "published"),
                   help="grid-search alpha/lam/tau/lr with object-disjoint cross-validation first")
    p.add_argument("--folds", type=int, default=3, help="object folds of --search")
    p.add_argument("--history", default=None, help="write the per-epoch history as CSV")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_fit)
    a = sub.add_parser("apply", help="apply a transform.npz (repalign's or thingsvision's) to features")
    a.add_argument("transform", help="transform.npz")
    a.add_argument("features", help="features (.npy/.npz/.h5/folder)")
    a.add_argument("--out", required=True, help="output features file")
    a.add_argument("--layer", default=None, help="layer to use when the file holds several")
    a.set_defaults(func=_apply)
