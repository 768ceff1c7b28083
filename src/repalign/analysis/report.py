"""Seed 000's analysis of a model table against alignment scores: Tables 1-4 and Figure 6.

Inputs are two tables keyed by model name:

- a *model table* (CSV or DataFrame): ``model``, covariates (e.g. ``imagenet_top1``) and
  downstream metrics (e.g. timm's published ImageNet-A/-R/-Sketch accuracies, few-shot
  accuracies);
- *alignment scores*: wide (``model`` plus one column per alignment metric, e.g. ``pearson``,
  ``spearman``, ``triplet``), long (``model``, ``metric``, ``value``), or a mapping
  model -> score.

Outputs (:class:`AlignmentAnalysis`): tidy tables of every statistic plus the paper's layouts:
Tables 1-2 (high/mid/low-k means), Table 3 (partial correlation given the covariates), Table 4
(correlation with z²(alignment)), the U-shape tests, and a Figure 6-style scatter (PNG and SVG).

Example:
    >>> res = analyze_alignment("models.csv", "alignment.csv", covar="imagenet_top1",
    ...                         out="analysis/")                      # doctest: +SKIP
    >>> print(res.tables["table3"])                                   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from repalign._io import atomic_write_text
from repalign.analysis.groups import GROUPS, extreme_groups
from repalign.analysis.stats import numeric_columns, partial_corr, u_shape, z2
from repalign.errors import DataFormatError, ShapeError

__all__ = ["AlignmentAnalysis", "analyze_alignment", "read_alignment", "read_model_table"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlignmentAnalysis:
    """Everything :func:`analyze_alignment` computed.

    Attributes:
        data: the merged table (one row per model; downstream, covariate, alignment columns).
        alignment_metrics: the alignment columns.
        downstream: the downstream columns.
        covar: the covariates of the partial correlations.
        groups: tidy high/mid/low means (see :func:`~repalign.analysis.extreme_groups`).
        partial: tidy partial correlations (downstream x alignment given ``covar``).
        z2_corr: tidy correlations of downstream metrics with z²(alignment).
        u_shapes: tidy U-shape tests (downstream x alignment).
        tables: the paper's layouts as DataFrames: ``table1_2``, ``table3``, ``table4``,
            ``u_shape``.
        files: paths written (CSV tables, figure PNG/SVG), empty without ``out``.
    """

    data: pd.DataFrame
    alignment_metrics: list[str]
    downstream: list[str]
    covar: list[str]
    groups: pd.DataFrame
    partial: pd.DataFrame
    z2_corr: pd.DataFrame
    u_shapes: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    files: list[Path] = field(default_factory=list)


def _read_csv(source: Any, what: str) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.is_file():
        raise DataFormatError(f"{what}: no file at {path}; pass a CSV path or a DataFrame.")
    try:
        return pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{what}: {path} is not a readable CSV ({exc}).") from exc


def read_model_table(source: Any, model_column: str = "model") -> pd.DataFrame:
    """Read a model table (CSV path or DataFrame) with unique model names."""
    df = _read_csv(source, "model table")
    if model_column not in df.columns:
        raise DataFormatError(
            f"model table: no {model_column!r} column; its columns are {list(df.columns)}."
        )
    df[model_column] = df[model_column].astype(str)
    dup = df[model_column][df[model_column].duplicated()].unique().tolist()
    if dup:
        raise DataFormatError(f"model table: model names repeat: {dup[:5]}; one row per model.")
    return df


def read_alignment(source: Any, model_column: str = "model") -> pd.DataFrame:
    """Alignment scores as a wide DataFrame: ``model`` plus one column per alignment metric.

    Accepts a wide or long (``model``, ``metric``, ``value``) CSV/DataFrame, or a mapping
    model -> score (one metric called ``alignment``).
    """
    if isinstance(source, (Mapping, pd.Series)):
        df = pd.DataFrame({model_column: list(source.keys()), "alignment": list(source.values())})
    else:
        df = _read_csv(source, "alignment scores")
    if model_column not in df.columns:
        raise DataFormatError(
            f"alignment scores: no {model_column!r} column; columns are {list(df.columns)}."
        )
    df[model_column] = df[model_column].astype(str)
    if {"metric", "value"} <= set(df.columns) and len(df.columns) == 3:
        dup = df.duplicated([model_column, "metric"])
        if dup.any():
            raise DataFormatError(
                f"alignment scores: {int(dup.sum())} repeated (model, metric) pairs, e.g. "
                f"{df.loc[dup, [model_column, 'metric']].iloc[0].tolist()}."
            )
        df = df.pivot(index=model_column, columns="metric", values="value").reset_index()
        df.columns.name = None
    dup_models = df[model_column][df[model_column].duplicated()].unique().tolist()
    if dup_models:
        raise DataFormatError(f"alignment scores: model names repeat: {dup_models[:5]}.")
    return df


def _merge(models: pd.DataFrame, align: pd.DataFrame, key: str, missing: str) -> pd.DataFrame:
    a, b = set(models[key]), set(align[key])
    only_models, only_align = sorted(a - b), sorted(b - a)
    if only_models or only_align:
        msg = (
            f"{len(only_models)} model(s) have no alignment score (e.g. {only_models[:5]}) and "
            f"{len(only_align)} alignment score(s) have no model row (e.g. {only_align[:5]})"
        )
        if missing == "error":
            raise DataFormatError(msg + "; fix the names or pass missing='drop'.")
        warnings.warn(msg + "; they are left out (missing='drop').", stacklevel=3)
    return models.merge(align, on=key, how="inner", validate="one_to_one")


def _cell(r: float, p: float) -> str:
    return f"{r:.3f} (p={p:.3f})"


def analyze_alignment(
    model_table: Any,
    alignment: Any,
    *,
    covar: str | Sequence[str] | None = None,
    downstream: Sequence[str] | None = None,
    k: int = 5,
    figure_y: str | None = None,
    out: str | Path | None = None,
    model_column: str = "model",
    missing: str = "error",
) -> AlignmentAnalysis:
    """Relate alignment to downstream metrics across models, as seed 000 does.

    Args:
        model_table: CSV path or DataFrame: ``model``, covariates, downstream metrics.
        alignment: CSV path, DataFrame (wide or long) or mapping model -> score.
        covar: covariate column(s) of the model table for Table 3's partial correlations
            (None: plain correlations).
        downstream: downstream columns (default: every numeric column of the model table that
            is not a covariate).
        k: models per high/mid/low group.
        figure_y: the downstream column of the scatter (default: the first downstream column).
        out: folder for ``table1_2.csv``, ``table3.csv``, ``table4.csv``, ``u_shape.csv``,
            ``tidy_*.csv``, ``figure6.png`` and ``figure6.svg`` (None: write nothing).
        model_column: the column naming models in both tables.
        missing: ``"error"`` (default) when a model lacks a score or vice versa, or ``"drop"``
            to keep the models present in both (with a warning naming the others).

    Returns:
        :class:`AlignmentAnalysis`.
    """
    if missing not in ("error", "drop"):
        raise DataFormatError(f"missing must be 'error' or 'drop', received {missing!r}.")
    models = read_model_table(model_table, model_column)
    align = read_alignment(alignment, model_column)
    metrics = [c for c in align.columns if c != model_column]
    covars = [] if covar is None else ([covar] if isinstance(covar, str) else list(covar))
    clash = sorted(set(metrics) & set(models.columns) - {model_column})
    if clash:
        raise DataFormatError(f"columns {clash} are in both the model table and the alignment scores.")
    if downstream is None:
        downstream = [c for c in models.select_dtypes("number").columns if c not in covars]
    downstream = list(downstream)
    if not downstream or not metrics:
        raise ShapeError(
            f"nothing to analyse: downstream columns {downstream}, alignment metrics {metrics}."
        )
    data = _merge(models, align, model_column, missing)
    numeric_columns(data, [*metrics, *downstream, *covars], "analyze_alignment")
    groups = pd.concat(
        [extreme_groups(data, m, k, downstream, model_column) for m in metrics], ignore_index=True
    )
    part, zc, us = [], [], []
    for m in metrics:
        zdata = data.assign(_z2=z2(data[m].to_numpy()))
        for d in downstream:
            part.append(partial_corr(data, m, d, covars or None).as_dict())
            zc.append({**partial_corr(zdata, "_z2", d).as_dict(), "x": m})
            us.append(u_shape(data, m, d).as_dict())
    partial_df, z2_df, u_df = pd.DataFrame(part), pd.DataFrame(zc), pd.DataFrame(us)
    tables = {
        "table1_2": groups.pivot_table(index=["metric", "group"], columns="by", values="mean",
                                       sort=False).reindex(
            pd.MultiIndex.from_product([downstream, list(GROUPS)], names=["metric", "group"])
        )[metrics],
        "table3": _wide(partial_df, downstream, metrics),
        "table4": _wide(z2_df, downstream, metrics),
        "u_shape": u_df.set_index(["y", "x"])[
            ["quadratic", "quadratic_p", "vertex", "vertex_inside", "u_test_p", "r_z2", "p_z2",
             "is_u"]
        ],
    }  # fmt: skip
    files: list[Path] = []
    if out is not None:
        from repalign.analysis.figures import scatter_figure

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            atomic_write_text(out / f"{name}.csv", table.to_csv())
            files.append(out / f"{name}.csv")
        for name, table in (("groups", groups), ("partial", partial_df), ("z2", z2_df),
                            ("u_shape", u_df)):
            atomic_write_text(out / f"tidy_{name}.csv", table.to_csv(index=False))
            files.append(out / f"tidy_{name}.csv")
        files += scatter_figure(data, metrics, figure_y or downstream[0], out / "figure6",
                                model_column=model_column)
    log.info("analysed %d models, %d alignment metric(s), %d downstream metric(s)",
             len(data), len(metrics), len(downstream))
    return AlignmentAnalysis(data, metrics, downstream, covars, groups, partial_df, z2_df, u_df,
                             tables, files)


def _wide(tidy: pd.DataFrame, rows: list[str], cols: list[str]) -> pd.DataFrame:
    cells = {(r.y, r.x): _cell(r.r, r.p) for r in tidy.itertuples()}
    return pd.DataFrame(
        [[cells[(d, m)] for m in cols] for d in rows], index=pd.Index(rows, name="metric"),
        columns=cols,
    )
