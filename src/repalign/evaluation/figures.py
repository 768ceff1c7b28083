"""Figures of the evaluation: score bars by model and regularizer, transfer heatmaps, metamer grids.

Metamer grids are :func:`repalign.metamers.figures.plot_metamers` (re-exported here as
``plot_metamer_grid``). Every function returns the matplotlib ``Figure`` and, given ``path``, writes
``path.png`` and ``path.svg`` atomically.

Example:
    >>> plot_scores(two_afc(res, "ssim"), "two_afc", path="out/two_afc")   # doctest: +SKIP
    >>> plot_transfer(transfer_matrix(res, zoo), "accuracy_metamers", path="out/transfer")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repalign._io import atomic_path
from repalign.errors import ConfigError
from repalign.metamers.figures import plot_metamers as plot_metamer_grid

__all__ = ["metric_rows", "plot_metamer_grid", "plot_scores", "plot_transfer", "save_figure"]


def save_figure(fig: Any, path: str | Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``fig`` as ``path.<fmt>`` for each format, atomically; returns the files."""
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        target = base.with_suffix(f".{fmt}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150)
        out.append(target)
    return out


def metric_rows(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The rows of an evaluation table (a ``metric`` column) that hold ``metric``.

    Raises:
        ConfigError: no ``metric`` column, or no row with that metric (the message lists the
            metrics the table holds).
    """
    if "metric" not in df.columns:
        raise ConfigError("Expected an evaluation table with a 'metric' column.")
    sub = df[df.metric == metric]
    if sub.empty:
        raise ConfigError(f"No rows with metric {metric!r}; the table holds {sorted(set(df.metric))}.")
    return sub


def _model_label(row: Any, layers: bool) -> str:
    return f"{row.generator}\n@{row.layer}" if layers else str(row.generator)


def plot_scores(df: pd.DataFrame, metric: str = "two_afc", *, hue: str = "regularizer",
                panel: str | None = None, path: str | Path | None = None,
                formats: Sequence[str] = ("png", "svg"), title: str | None = None) -> Any:
    """Bars of ``metric`` per generator (and layer), one colour per ``hue`` value, with the
    bootstrap interval as error bars and chance as a dashed line.

    Args:
        df: a table from ``two_afc``, ``clustering``, ``recognizability``, ``representation_test``
            or ``transfer_matrix``.
        metric: the metric to show (``"two_afc"``, ``"accuracy_metamers"``, ``"match_rate"``...).
        hue: the column that colours bars (``"regularizer"``, ``"init"``, ``"distance"``).
        panel: a column giving one panel per value (default ``"observer"`` when it varies, else
            ``"distance"`` when it varies).
        path: write ``path.png`` / ``path.svg``.
    """
    from matplotlib.figure import Figure

    sub = metric_rows(df, metric)
    if panel is None:
        panel = next((c for c in ("observer", "distance")
                      if c in sub.columns and sub[c].nunique(dropna=False) > 1), None)
    panels = list(dict.fromkeys(sub[panel])) if panel else [None]
    layers = sub.layer.nunique() > 1
    models = list(dict.fromkeys(_model_label(r, layers) for r in sub.itertuples()))
    hues = list(dict.fromkeys(sub[hue])) if hue in sub.columns else [None]
    fig = Figure(figsize=(max(4.0, 0.9 * len(models) * max(1, len(hues)) * 0.6 + 2), 3.2 * len(panels)),
                 constrained_layout=True)
    axes = np.atleast_1d(fig.subplots(len(panels), 1, squeeze=False)[:, 0])
    width = 0.8 / max(1, len(hues))
    for ax, pv in zip(axes, panels, strict=True):
        part = sub if pv is None else sub[sub[panel] == pv]
        for h, hv in enumerate(hues):
            rows = part if hv is None else part[part[hue] == hv]
            agg: dict[str, Any] = {}
            for r in rows.itertuples():
                agg.setdefault(_model_label(r, layers), r)
            xs, ys, lo, hi = [], [], [], []
            for m, label in enumerate(models):
                if label in agg:
                    r = agg[label]
                    xs.append(m + (h - (len(hues) - 1) / 2) * width)
                    ys.append(r.value)
                    lo.append(r.value - r.ci_low if np.isfinite(r.ci_low) else 0.0)
                    hi.append(r.ci_high - r.value if np.isfinite(r.ci_high) else 0.0)
            ax.bar(xs, ys, width=width, yerr=[lo, hi], capsize=2, label=str(hv) if hv else None)
        chance = part["chance"].dropna() if "chance" in part.columns else pd.Series(dtype=float)
        if len(chance) and chance.nunique() == 1:
            ax.axhline(float(chance.iloc[0]), color="grey", ls="--", lw=1, label="chance")
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, fontsize=7, rotation=30, ha="right")
        ax.set_ylabel(metric)
        ax.set_title(f"{title or metric}" + (f" — {panel} {pv}" if pv is not None else ""), fontsize=9)
        if len(hues) > 1 or len(chance):
            ax.legend(fontsize=7)
    if path is not None:
        save_figure(fig, path, formats)
    return fig


def plot_transfer(df: pd.DataFrame, metric: str = "accuracy_metamers", *,
                  split: str = "regularizer", path: str | Path | None = None,
                  formats: Sequence[str] = ("png", "svg"), cmap: str = "viridis") -> Any:
    """Heatmap of ``metric``: rows generator@layer, columns observers, one panel (stacked
    vertically) per ``split`` value (regularizer); values written in the cells."""
    from matplotlib.figure import Figure

    sub = metric_rows(df, metric)
    if "observer" not in sub.columns:
        raise ConfigError("plot_transfer needs a table with an 'observer' column (transfer_matrix).")
    splits = list(dict.fromkeys(sub[split])) if split in sub.columns else [None]
    rows = list(dict.fromkeys(f"{g}@{lay}" for g, lay in zip(sub.generator, sub.layer, strict=True)))
    cols = list(dict.fromkeys(sub.observer))
    fig = Figure(figsize=(2.5 + 0.55 * len(cols), len(splits) * (1.6 + 0.4 * len(rows))),
                 constrained_layout=True)
    axes = np.atleast_1d(fig.subplots(len(splits), 1, squeeze=False)[:, 0])
    vmin, vmax = float(np.nanmin(sub.value)), float(np.nanmax(sub.value))
    image = None
    for ax, sv in zip(axes, splits, strict=True):
        part = sub if sv is None else sub[sub[split] == sv]
        grid = np.full((len(rows), len(cols)), np.nan)
        for r in part.itertuples():
            i, j = rows.index(f"{r.generator}@{r.layer}"), cols.index(r.observer)
            if np.isnan(grid[i, j]):
                grid[i, j] = r.value
        image = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        for i in range(len(rows)):
            for j in range(len(cols)):
                if np.isfinite(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if grid[i, j] < (vmin + vmax) / 2 else "black")
        ax.set_xticks(range(len(cols)))
        ax.set_xticklabels(cols, rotation=60, ha="right", fontsize=6)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(rows, fontsize=6)
        ax.set_xlabel("observer")
        ax.set_title(f"{metric}" + (f" — {split} {sv}" if sv is not None else ""), fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8)
    if path is not None:
        save_figure(fig, path, formats)
    return fig
