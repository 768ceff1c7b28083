"""``repalign zoo train`` and ``repalign zoo list``.

Each subcommand is added by one ``_add_<name>(sub)`` function listed in ``_SUBCOMMANDS``; a new
subcommand is a new function appended there.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["register"]

_TABLE_COLUMNS = ["name", "status", "location", "style", "epsilon", "clean_acc", "robust_acc_l2",
                  "robust_acc_linf", "shift_acc", "train_time_s", "shipped_clean_acc", "identical_to_shipped",
                  "max_abs_diff_to_shipped"]


def _print_table(table: object) -> None:
    import pandas as pd

    assert isinstance(table, pd.DataFrame)
    cols = [c for c in _TABLE_COLUMNS if c in table.columns]
    with pd.option_context("display.width", 200, "display.max_rows", 1000):
        print(table[cols].to_string(
            index=False, float_format=lambda v: f"{v:.3f}", na_rep="-",
            formatters={"max_abs_diff_to_shipped": lambda v: "-" if v is None else f"{v:.1e}"}))


def _train(args: argparse.Namespace) -> int:
    from repalign.models.zoo import train_zoo, user_dir

    table = train_zoo(out=args.out, only=args.only, force=args.force, jobs=args.jobs,
                      quiet=args.quiet)
    _print_table(table)
    print(f"({(table['status'] == 'trained').sum()} trained, "
          f"{(table['status'] == 'skipped').sum()} already there; folder "
          f"{args.out or user_dir()})")
    return 0


def _list(args: argparse.Namespace) -> int:
    from repalign.models.zoo import EPSILON, zoo_table

    table = zoo_table(args.pattern, shift=args.shift)
    if table.empty:
        print(f"no zoo model matches {args.pattern!r}")
        return 0
    _print_table(table)
    shift = ("; shift_acc: mean accuracy on them in the renditions of bundled:digits_shifted"
             if args.shift else "")
    print(f"(robust accuracy: PGD-20 at L2 eps {EPSILON['l2']}, Linf eps {EPSILON['linf']} on "
          f"the held-out digits 0-4{shift}; load with create_model('zoo:NAME'))")
    return 0


def _add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("train", help="train the built-in zoo models (resumable)")
    p.add_argument("--out", default=None,
                   help="folder for the checkpoints (default: $REPALIGN_ZOO_DIR or "
                        "~/.cache/repalign/zoo)")
    p.add_argument("--only", default="*", metavar="PATTERN",
                   help="glob over model names, e.g. 'cnn_*' or 'resnet_l2_s0'")
    p.add_argument("--force", action="store_true", help="retrain models that are already there")
    p.add_argument("--jobs", type=int, default=1,
                   help="models trained in parallel (one CPU core each; results do not change)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)


def _add_list(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("list", help="zoo models with their accuracies")
    p.add_argument("pattern", nargs="?", default="*", help="glob over names, e.g. '*_linf_*'")
    p.add_argument("--shift", action="store_true",
                   help="also measure each model's accuracy on the shifted digits (domain shift)")
    p.set_defaults(func=_list)


def _sweep(args: argparse.Namespace) -> int:
    from repalign.analysis import zoo_study
    from repalign.models.zoo import train_sweep, user_dir

    reference = None
    if args.reference_matrix is not None:
        from repalign.data import load_similarity_matrix

        reference = load_similarity_matrix(args.reference_matrix, kind=args.reference_kind,
                                           key=args.reference_key)
    folder = args.out or user_dir()
    table = train_sweep(args.n, folder, seed=args.seed, jobs=args.jobs, quiet=args.quiet)
    print(f"{(table['status'] == 'trained').sum()} trained, {(table['status'] == 'skipped').sum()} "
          f"already there, in {folder}")
    study = zoo_study(folder, list(table["name"]), reference=reference, shots=args.shots,
                      repeats=args.repeats, seed=args.seed, k=args.k, device=args.device,
                      out=args.analysis_out, min_clean_acc=args.min_clean_acc, quiet=args.quiet)
    res = study.analysis
    stand_in = "" if reference is not None else " (a stand-in for human judgements)"
    print(f"alignment reference{stand_in}: {study.reference}")
    for name, title in (("table3", "correlation with alignment given clean accuracy (0-4)"),
                        ("table4", "correlation with z²(alignment)"),
                        ("u_shape", "U-shape tests")):
        print(f"\n{title}\n{res.tables[name].to_string(float_format=lambda v: f'{v:.4g}')}")
    n_u = int(res.u_shapes["is_u"].sum())
    print(f"\n{n_u} of {len(res.u_shapes)} (downstream, alignment) pairs show a significant U-shape")
    if args.analysis_out:
        print(f"tables, model table and figures (figure6: few-shot, figure_shift: shifted digits) "
              f"written to {args.analysis_out}")
    return 0


def _add_sweep(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sweep", help="train N varied models, then relate their alignment to "
                                     "few-shot transfer and robustness (seed 000)")
    p.add_argument("--n", type=int, required=True, help="number of models (40 or more for the statistics)")
    p.add_argument("--out", default=None, help="checkpoint folder (default: the user zoo folder)")
    p.add_argument("--analysis-out", default=None, help="folder for tables, model table and figure")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="models trained in parallel")
    p.add_argument("--shots", type=int, nargs="+", default=[1, 5, 10, 20, 40, 80])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("-k", type=int, default=5, help="models in each high/mid/low group")
    p.add_argument("--device", default="cpu")
    p.add_argument("--reference-matrix", default=None, metavar="PATH",
                   help="human similarity matrix over all transfer images in order (.npy, .csv, "
                        ".tsv, .txt, .mat) as the alignment reference (default: the robust-model "
                        "ensemble, a stand-in)")
    p.add_argument("--reference-kind", choices=["similarity", "dissimilarity"],
                   default="similarity", help="what --reference-matrix holds")
    p.add_argument("--reference-key", default=None, metavar="KEY",
                   help="the variable holding the matrix in a .mat file")
    p.add_argument("--min-clean-acc", type=float, default=None,
                   help="leave models below this clean accuracy (collapsed training) out of the "
                        "statistics")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_sweep)


_SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [_add_train, _add_list,
                                                                    _add_sweep]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``zoo`` command group."""
    parser = subparsers.add_parser("zoo", help="the built-in model zoo: train, list, sweep")
    sub = parser.add_subparsers(dest="zoo_command", metavar="SUBCOMMAND", required=True)
    for add in _SUBCOMMANDS:
        add(sub)
