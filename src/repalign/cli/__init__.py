"""The ``repalign`` command: parse arguments, then call the public API.

Each command group lives in its own module exposing ``register(subparsers)``; the module list
below is the whole command surface.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from repalign.errors import RepalignError

__all__ = ["build_parser", "main"]

# modules of repalign.cli, each with register(subparsers)
_COMMAND_MODULES: tuple[str, ...] = (
    "models",
    "extract",
    "compare",
    "triplets",
    "evaluate",
    "study",
    "zoo",
    "metamers",
    "align",
    "analyze",
    "experiment",
    "theory",
    "embed",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every command group registered)."""
    from repalign import __version__

    parser = argparse.ArgumentParser(
        prog="repalign",
        description=(
            "Measure and improve how well neural network representations and invariances align "
            "with human perception and with each other."
        ),
    )
    parser.add_argument("--version", action="version", version=f"repalign {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _COMMAND_MODULES:
        importlib.import_module(f"repalign.cli.{mod}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``repalign`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        result = args.func(args)
    except RepalignError as exc:
        print(f"repalign: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader of stdout left early (`repalign results RUN | head`): stop quietly, and
        # point stdout at /dev/null so that the flush at exit does not fail again
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141  # 128 + SIGPIPE, as a command killed by the signal
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
