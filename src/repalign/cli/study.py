"""``repalign run``, ``repalign demo``, ``repalign report`` and ``repalign results``."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from repalign.study.runner import StudyRun

__all__ = ["register"]

DEMO_CONFIG = "quickstart.toml"
DEMO_OUT = "repalign_demo"


def _print_run(run: StudyRun) -> None:
    print(
        f"{run.units} unit(s), {run.ran} run now, {run.units - run.ran} reused; "
        f"{run.seconds:.1f} s. Results: {run.path / 'results.sqlite'}"
    )
    if run.report is not None:
        print(f"Report: {run.report.resolve()}")


def _run(args: argparse.Namespace) -> int:
    from repalign.study.runner import run_study

    run = run_study(args.study, out=args.out, executor=args.executor, report=not args.no_report, quiet=args.quiet)
    _print_run(run)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from repalign.study.runner import run_study

    config = resources.files("repalign.examples").joinpath(DEMO_CONFIG)
    with resources.as_file(config) as path:
        run = run_study(path, out=args.out, quiet=args.quiet)
    _print_run(run)
    return 0


def _report(args: argparse.Namespace) -> int:
    from repalign.study.report import build_report

    print(f"Report: {build_report(args.run).resolve()}")
    return 0


def _results(args: argparse.Namespace) -> int:
    from repalign.study.store import load_results

    df = load_results(args.run, stage=args.stage)
    out = args.out
    if args.format == "parquet" and out is None:
        out = Path(args.run) / "results.parquet"
    if out is None:
        if args.format == "csv":
            df.to_csv(sys.stdout, index=False)
        else:
            sys.stdout.write(df.to_json(orient="records", indent=1) + "\n")
        return 0
    out = Path(out)
    if args.format == "csv":
        df.to_csv(out, index=False)
    elif args.format == "json":
        df.to_json(out, orient="records", indent=1)
    else:
        from repalign._deps import require

        require("pyarrow", "parquet", purpose="--format parquet")
        df.to_parquet(out, index=False)
    print(f"{len(df)} row(s) written to {out}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run or resume a study from a .toml/.yaml configuration")
    p.add_argument("study", help="study configuration (.toml, .yaml)")
    p.add_argument("--out", help="run directory (default: the configuration's output, else runs/NAME)")
    p.add_argument("--executor", choices=("local", "ray"), help="override the configuration's executor")
    p.add_argument("--no-report", action="store_true", help="do not build report.html")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)

    p = sub.add_parser("demo", help="run the built-in quickstart study on the zoo (offline)")
    p.add_argument("--out", default=DEMO_OUT, help=f"run directory (default: {DEMO_OUT})")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_demo)

    p = sub.add_parser("report", help="(re)build report.html of a study run")
    p.add_argument("run", help="run directory")
    p.set_defaults(func=_report)

    p = sub.add_parser("results", help="export a study run's results table")
    p.add_argument("run", help="run directory")
    p.add_argument("--format", choices=("csv", "json", "parquet"), default="csv")
    p.add_argument("--out", help="output file (default: stdout; parquet: RUN/results.parquet)")
    p.add_argument("--stage", help="only this stage's rows (features, similarity, glocal, ...)")
    p.set_defaults(func=_results)
