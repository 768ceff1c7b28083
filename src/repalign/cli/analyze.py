"""``repalign analyze MODEL_TABLE ALIGNMENT``: seed 000's Tables 1-4 and Figure 6."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _analyze(args: argparse.Namespace) -> int:
    import pandas as pd

    from repalign.analysis import analyze_alignment

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


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``analyze``."""
    p = subparsers.add_parser(
        "analyze",
        help="relate alignment to downstream metrics across models (tables, U-shape, figure)",
        description=(
            "MODEL_TABLE: CSV with a model column, covariates and downstream metrics. ALIGNMENT: "
            "CSV with a model column and one column per alignment metric (or model, metric, "
            "value)."
        ),
    )
    p.add_argument("model_table", help="CSV: model, covariates, downstream metrics")
    p.add_argument("alignment", help="CSV: model and alignment score column(s), wide or long")
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
