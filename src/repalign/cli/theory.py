"""``repalign theory simulate``: seed 000's teacher-student game as a simulation."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _simulate(args: argparse.Namespace) -> int:
    import pandas as pd

    from repalign.analysis.theory import DEFAULT_EPS, simulate_theory

    res = simulate_theory(
        args.out, eps=args.eps or DEFAULT_EPS, n=args.n, d=args.d, trials=args.trials,
        delta=args.delta, max_queries=args.max_queries, zoo=not args.no_zoo,
        teacher=args.teacher, students=args.students, seed=args.seed, device=args.device,
        quiet=args.quiet,
    )  # fmt: skip
    cols = ["eps", "student", "capacity", "queries_mean", "queries_se", "bound", "fano",
            "error_rate", "censored", "disagreement"]
    fmt = {"float_format": lambda v: f"{v:.4g}", "index": False}
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print("queries to locate a new object against eps (synthetic students; bound = "
              "d log2(n) / C(eps), C(eps) = 1 + eps log2 eps + (1 - eps) log2 (1 - eps))")
        print(res.queries[cols].to_string(**fmt))
        print("\nLemma 3.7 at eps = 0: queries against d log2 n")
        print(res.lemma.to_string(**fmt))
        print("\ndomain-shift sensitivity (robust teacher): simulated vs 2 eps (1 - eps)")
        print(res.shift[["eps", "sigma_mean", "predicted"]].to_string(**fmt))
        if res.zoo_pairs is not None:
            print(f"\nzoo students of {args.teacher}")
            print(res.zoo_pairs.to_string(**fmt))
        if res.zoo_shift is not None:
            print("\nzoo models on bundled:digits_shifted")
            print(res.zoo_shift[["model", "eps", "sigma", "predicted_sigma", "clean_acc",
                                 "shift_acc"]].to_string(**fmt))
    u = res.summary["u_shape"]
    print(f"\nU-shape: Spearman(queries, |eps - 0.5|) = {u['rho']:.3f} over {u['n']} eps")
    for path in res.files:
        print(f"wrote {path}")
    return 0


def _add_simulate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="queries a student needs against its triplet "
                                        "disagreement eps with the teacher, the flip trick, "
                                        "and domain shift (table and figure)")
    p.add_argument("--out", default=None,
                   help="folder for theory_*.csv, theory.json and theory.png/svg (a rerun "
                        "there with the same settings reuses finished parts)")
    p.add_argument("--eps", type=float, nargs="+", default=None,
                   help="flip rates of the synthetic students (default 0, 0.05, ..., 1)")
    p.add_argument("--n", type=int, default=16, help="shared objects of the synthetic game")
    p.add_argument("--d", type=int, default=2, help="dimensions of the synthetic game")
    p.add_argument("--trials", type=int, default=200, help="games per eps and per zoo student")
    p.add_argument("--delta", type=float, default=0.05,
                   help="a student stops when one candidate holds 1 - delta of its belief")
    p.add_argument("--max-queries", type=int, default=3000, help="query budget per game")
    p.add_argument("--no-zoo", action="store_true", help="synthetic students only")
    p.add_argument("--teacher", default="cnn_l2_s0", help="zoo teacher model")
    p.add_argument("--students", nargs="+", default=None,
                   help="zoo student models (default: every built-in zoo model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_simulate)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``theory`` command group."""
    parser = subparsers.add_parser("theory", help="seed 000's teacher-student theory, simulated")
    sub = parser.add_subparsers(dest="theory_command", metavar="SUBCOMMAND", required=True)
    _add_simulate(sub)
