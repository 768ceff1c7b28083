"""``repalign zoo train`` and ``repalign zoo list``.

Each subcommand is added by one ``_add_<name>(sub)`` function listed in ``_SUBCOMMANDS``; a new
subcommand is a new function appended there.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["register"]

_TABLE_COLUMNS = ["name", "status", "location", "style", "epsilon", "clean_acc", "robust_acc_l2",
                  "robust_acc_linf", "train_time_s", "shipped_clean_acc", "identical_to_shipped"]


def _print_table(table: object) -> None:
    import pandas as pd

    assert isinstance(table, pd.DataFrame)
    cols = [c for c in _TABLE_COLUMNS if c in table.columns]
    with pd.option_context("display.width", 200, "display.max_rows", 1000):
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-"))


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

    table = zoo_table(args.pattern)
    if table.empty:
        print(f"no zoo model matches {args.pattern!r}")
        return 0
    _print_table(table)
    print(f"(robust accuracy: PGD-20 at L2 eps {EPSILON['l2']}, Linf eps {EPSILON['linf']} on "
          "the held-out digits 0-4; load with create_model('zoo:NAME'))")
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
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


def _add_list(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="zoo models with their accuracies")
    p.add_argument("pattern", nargs="?", default="*", help="glob over names, e.g. '*_linf_*'")
    p.set_defaults(func=_list)


_SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_train, _add_list]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``zoo`` command group."""
    parser = subparsers.add_parser("zoo", help="the built-in model zoo: train, list")
    sub = parser.add_subparsers(dest="zoo_command", metavar="SUBCOMMAND", required=True)
    for add in _SUBCOMMANDS:
        add(sub)
