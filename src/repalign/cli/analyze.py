"""``repalign analyze MODEL_TABLE ALIGNMENT``: seed 000's Tables 1-4 and Figure 6;
``repalign analyze --glocal PATH``: seed 001's before/after-gLocal table, outcomes and arrow figure."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _glocal(args: argparse.Namespace) -> int:
    """Before/after table from a CSV (columns of repalign.analysis.before_after) or a run directory."""
    from pathlib import Path

    import pandas as pd

    from repalign.analysis import before_after_figure, classify_change
    from repalign.analysis.before_after import COLUMNS
    from repalign.errors import DataFormatError

    path = Path(args.glocal)
    if path.is_dir():
        from repalign.study.stages.glocal import before_after_table
        from repalign.study.store import Store

        with Store(path, readonly=True) as store:
            table = before_after_table(store.results())
        if table.empty:
            raise DataFormatError(f"{path}: the run has no before/after rows; its study needs a [glocal] section.")
        table = table[table["layer"] == table.groupby("model", sort=False)["layer"].transform("first")]
    else:
        table = pd.read_csv(path)
        missing = [c for c in COLUMNS if c not in table.columns]
        if missing:
            raise DataFormatError(f"{path}: a before/after table needs the columns {list(COLUMNS)}; missing {missing}.")
    measures = list(dict.fromkeys(table["measure"]))
    downstream = [m for m in measures if m.startswith(("few_shot_", "ood_auroc"))]
    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_rows", 500):
        print(table[[c for c in COLUMNS if c != "test"]].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if "odd_one_out" in measures and downstream:
            outcomes = pd.concat([classify_change(table, "odd_one_out", d).assign(downstream=d)
                                  for d in downstream], ignore_index=True)
            print(f"\nOutcomes (changes with p < 0.05)\n{outcomes.to_string(index=False, float_format=lambda v: f'{v:.4g}')}")
            if args.out:
                out = Path(args.out)
                out.mkdir(parents=True, exist_ok=True)
                outcomes.to_csv(out / "outcomes.csv", index=False)
                for p in before_after_figure(table, "odd_one_out", downstream[:3], out / "before_after"):
                    print(f"wrote {p}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    import pandas as pd

    from repalign.analysis import analyze_alignment
    from repalign.errors import ConfigError

    if args.glocal:
        return _glocal(args)
    if args.model_table is None or args.alignment is None:
        raise ConfigError("repalign analyze needs MODEL_TABLE and ALIGNMENT (or --glocal PATH).")

    res = analyze_alignment(
        args.model_table, args.alignment, covar=args.covar or None,
        downstream=args.downstream or None, k=args.k, figure_y=args.figure_y, out=args.out,
        model_column=args.model_column, missing=args.missing,
    )  # fmt: skip
    titles = {
        "table1_2": f"Tables 1-2: mean of the high / mid / low {args.k} models by alignment",
        "table3": "Table 3: correlation with alignment"
        + (f" given {', '.join(res.covar)}" if res.covar else ""),
        "table4": "Table 4: correlation with z²(alignment)",
        "u_shape": "U-shape: quadratic term, its p-value, vertex, correlation with z²",
    }
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        for name, title in titles.items():
            print(f"\n{title}\n{res.tables[name].to_string(float_format=lambda v: f'{v:.4g}')}")
    print(f"\n{len(res.data)} models, alignment metrics {res.alignment_metrics}")
    for path in res.files:
        print(f"wrote {path}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``analyze``."""
    p = subparsers.add_parser(
        "analyze",
        help="relate alignment to downstream metrics across models (tables, U-shape, figure)",
        description=(
            "MODEL_TABLE: CSV with a model column, covariates and downstream metrics. ALIGNMENT: "
            "CSV with a model column and one column per alignment metric (or model, metric, "
            "value). With --glocal PATH: seed 001's before/after-gLocal table from a CSV (as "
            "written by repalign.analysis.zoo_glocal) or a study run directory with a [glocal] "
            "section, who gains on both sides and who trades, and the arrow figure (--out)."
        ),
    )
    p.add_argument("model_table", nargs="?", help="CSV: model, covariates, downstream metrics")
    p.add_argument("alignment", nargs="?", help="CSV: model and alignment score column(s), wide or long")
    p.add_argument("--glocal", default=None, metavar="PATH",
                   help="before/after-gLocal table: a CSV or a study run directory")
    p.add_argument("--covar", nargs="*", default=None, help="covariate column(s) for Table 3")
    p.add_argument("--downstream", nargs="*", default=None,
                   help="downstream columns (default: every numeric non-covariate column)")
    p.add_argument("-k", type=int, default=5, help="models in each high/mid/low group")
    p.add_argument("--figure-y", default=None, help="downstream column of the scatter figure")
    p.add_argument("--out", default=None, help="folder for the tables (CSV) and figure (PNG, SVG)")
    p.add_argument("--model-column", default="model")
    p.add_argument("--missing", default="error", choices=("error", "drop"),
                   help="models present in only one of the two files: error or drop them")
    p.set_defaults(func=_analyze)
