"""``repalign triplets FEATURES TRIPLETS``: odd-one-out accuracy on human triplets."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _triplets(args: argparse.Namespace) -> int:
    from scipy.stats import binomtest

    from repalign.data.triplets import load_triplets
    from repalign.similarity import odd_one_out_correct
    from repalign.similarity.inputs import load_representation

    x = load_representation(args.features, kind=args.kind, layer=args.layer)
    sortind = None
    if args.sortind:
        import numpy as np

        from repalign.errors import DataFormatError

        try:
            sortind = np.load(args.sortind, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataFormatError(
                f"{args.sortind}: not a readable .npy permutation for --sortind ({exc})."
            ) from exc
    triplets = load_triplets(args.triplets, index_base=args.index_base, n_objects=len(x),
                             layout=args.layout, sortind=sortind)
    correct = odd_one_out_correct(x, triplets, args.similarity, kind=args.kind)
    hits = int(correct.sum())
    ci = binomtest(hits, len(correct)).proportion_ci(confidence_level=0.95, method="wilson")
    how = f"{args.similarity} similarity" if args.kind == "features" else f"{args.kind} matrix"
    print(f"odd-one-out accuracy\t{hits / len(correct):.6g}\t95% CI [{ci.low:.4g}, {ci.high:.4g}]"
          f"\t{len(correct)} triplets over {triplets.n_objects} objects ({how}; chance 1/3)")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``triplets``."""
    p = subparsers.add_parser(
        "triplets",
        help="odd-one-out accuracy of features on human triplets (THINGS style)",
        description=(
            "Share of human odd-one-out triplets on which the features' most similar pair is "
            "the pair humans chose (exact ties count as wrong). TRIPLETS: .npy/.txt/.csv in the "
            "(pair, pair, odd-one-out) layout or the raw trial layout (item a, b, c, chosen "
            "position, participant)."
        ),
    )
    p.add_argument("features", help="features (.npy, .npz, .h5) or a similarity matrix, rows = objects")
    p.add_argument("triplets", help="triplet file")
    p.add_argument("--index-base", type=int, choices=[0, 1], required=True,
                   help="0 or 1: how the triplet file numbers the objects (never guessed)")
    p.add_argument("--similarity", default="cosine", choices=["cosine", "dot", "euclidean"])
    p.add_argument("--kind", default="features", choices=["features", "similarity", "dissimilarity"])
    p.add_argument("--layer", default=None, help="layer / key to read from FEATURES")
    p.add_argument("--layout", default="auto", choices=["auto", "pair_pair_odd", "trials"])
    p.add_argument("--sortind", default=None, help=".npy permutation: file index k -> feature row")
    p.set_defaults(func=_triplets)
