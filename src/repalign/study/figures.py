"""The study's own figures (matplotlib): grouped bars and model x model heatmaps.

Figures that belong to other parts (metamer grids, evaluation bars and heatmaps, the few-shot
scatter) come from their modules; these cover what only a study has: every model against the
reference agent, every model pair, gLocal before and after.

Example:
    >>> df = pd.DataFrame({"model": ["a", "b"], "metric": ["r", "r"], "value": [0.3, 0.5]})
    >>> fig = grouped_bars(df, "model", "metric", "value", title="alignment")
    >>> fig.axes[0].get_title()
    'alignment'
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["grouped_bars", "matrix_heatmap"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def grouped_bars(
    frame: pd.DataFrame,
    category: str,
    group: str,
    value: str,
    *,
    title: str,
    ylabel: str = "",
    error: str | None = None,
    hline: float | None = None,
    hline_label: str = "",
) -> Any:
    """Bars of ``value`` for each ``category`` (x axis), one colour per ``group``.

    Args:
        frame: tidy rows with columns ``category``, ``group``, ``value`` (and ``error``).
        hline: a reference level drawn across (e.g. chance).
    """
    plt = _plt()
    cats = list(dict.fromkeys(frame[category].astype(str)))
    groups = list(dict.fromkeys(frame[group].astype(str)))
    width = 0.8 / max(1, len(groups))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(cats) * max(1, len(groups)) ** 0.5 + 2), 3.6))
    x = np.arange(len(cats))
    for i, g in enumerate(groups):
        sub = frame[frame[group].astype(str) == g]
        keys = sub[category].astype(str)
        found = dict(zip(keys, sub[value].astype(float), strict=True))
        vals = [found.get(c, np.nan) for c in cats]
        errs = None
        if error is not None:
            err = dict(zip(keys, sub[error].astype(float).fillna(0.0), strict=True))
            errs = [err.get(c, 0.0) for c in cats]
        ax.bar(x + (i - (len(groups) - 1) / 2) * width, vals, width, yerr=errs, label=g, capsize=2)
    if hline is not None:
        ax.axhline(hline, color="0.3", linestyle="--", linewidth=1, label=hline_label or None)
    ax.set_xticks(x, cats, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(groups) > 1 or hline_label:
        ax.legend(fontsize=8, frameon=False, loc="best")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def matrix_heatmap(
    matrix: pd.DataFrame,
    *,
    title: str,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    annotate: bool | None = None,
    label: str = "",
) -> Any:
    """A heatmap of a (rows x columns) DataFrame, labelled by its index and columns."""
    plt = _plt()
    n_r, n_c = matrix.shape
    size = max(4.0, 0.32 * max(n_r, n_c) + 2.5)
    fig, ax = plt.subplots(figsize=(size, size * max(0.5, n_r / max(1, n_c)) * 0.9))
    values = matrix.to_numpy(dtype=float)
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(n_c), [str(c) for c in matrix.columns], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n_r), [str(r) for r in matrix.index], fontsize=7)
    if annotate if annotate is not None else max(n_r, n_c) <= 8:
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)
    ax.set_title(title)
    fig.tight_layout()
    return fig
