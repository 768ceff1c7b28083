"""Figure 6 of seed 000 (a downstream metric against alignment, one dot per model, with the
quadratic fit of the U-shape test) and seed 001's before/after arrows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repalign._io import atomic_path
from repalign.analysis.stats import u_shape

__all__ = ["before_after_figure", "draw_before_after", "scatter_figure"]


def _save(fig: Any, path: str | Path) -> list[Path]:
    import matplotlib.pyplot as plt

    written = []
    base = Path(path)
    for suffix in (".png", ".svg"):
        target = base.with_suffix(suffix)
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=150, format=suffix[1:])
        written.append(target)
    plt.close(fig)
    return written


def draw_before_after(table: pd.DataFrame, x: str, ys: Sequence[str], *,
                      title: str = "before -> after gLocal") -> Any:
    """The arrow figure of :func:`before_after_figure` as a matplotlib figure (not saved)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    wide = table.pivot_table(index="model", columns="measure", values=["before", "after"], sort=False)
    fig, axes = plt.subplots(1, len(ys), figsize=(4.6 * len(ys), 4.0), squeeze=False)
    colours = plt.get_cmap("tab20")
    for ax, y in zip(axes[0], ys, strict=True):
        for i, model in enumerate(wide.index):
            x0, x1 = wide.loc[model, ("before", x)], wide.loc[model, ("after", x)]
            y0, y1 = wide.loc[model, ("before", y)], wide.loc[model, ("after", y)]
            c = colours(i % 20)
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                        arrowprops={"arrowstyle": "->", "color": c, "lw": 1.2})
            ax.scatter([x0], [y0], s=10, color=c, label=str(model))
            ax.scatter([x1], [y1], s=4, color=c, alpha=0.0)  # keeps the arrow head inside the axes
        ax.set_xlabel(f"{x} (alignment)")
        ax.set_ylabel(y)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=5, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle(f"{title}: dot = before, arrow head = after ({len(wide)} models)", fontsize=10)
    fig.tight_layout()
    return fig


def before_after_figure(
    table: pd.DataFrame,
    x: str,
    ys: Sequence[str],
    path: str | Path,
    *,
    title: str = "before -> after gLocal",
) -> list[Path]:
    """Arrows from each model's (x, y) before the transform to its (x, y) after, one panel per y.

    Args:
        table: rows of :func:`~repalign.analysis.before_after` (``model``, ``measure``,
            ``before``, ``after``) for several models.
        x: the measure on the x axis (e.g. ``"odd_one_out"``, alignment with humans).
        ys: downstream measures, one panel each (e.g. ``["few_shot_5", "ood_auroc"]``).
        path: output path without suffix; ``.png`` and ``.svg`` are written.
        title: figure title.

    Returns:
        The two paths written.
    """
    return _save(draw_before_after(table, x, ys, title=title), path)


def scatter_figure(
    data: pd.DataFrame,
    alignment_metrics: Sequence[str],
    y: str,
    path: str | Path,
    *,
    model_column: str = "model",
    label_extremes: int = 3,
) -> list[Path]:
    """Draw ``y`` against each alignment metric (one panel each) and save PNG and SVG.

    Args:
        data: one row per model with the alignment and ``y`` columns.
        alignment_metrics: x-axis columns, one panel each.
        y: the downstream column (e.g. 1-shot accuracy).
        path: output path without suffix; ``.png`` and ``.svg`` are written.
        model_column: names used to label the most and least aligned models.
        label_extremes: how many models to name at each end of each panel.

    Returns:
        The two paths written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n = len(alignment_metrics)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), squeeze=False)
    for ax, metric in zip(axes[0], alignment_metrics, strict=True):
        xv, yv = data[metric].to_numpy(float), data[y].to_numpy(float)
        ax.scatter(xv, yv, s=14, alpha=0.75, color="tab:blue", edgecolors="none")
        u = u_shape(data, metric, y)
        grid = np.linspace(xv.min(), xv.max(), 200)
        xc = grid - u.x_mean
        ax.plot(grid, u.intercept + u.linear * xc + u.quadratic * xc**2, color="tab:red", lw=1.5)
        order = np.argsort(xv)
        names = data[model_column].astype(str).to_numpy() if model_column in data else None
        if names is not None and label_extremes > 0:
            for i in np.concatenate([order[:label_extremes], order[-label_extremes:]]):
                ax.annotate(names[i], (xv[i], yv[i]), fontsize=6, alpha=0.7,
                            xytext=(2, 2), textcoords="offset points")
        ax.set_xlabel(f"{metric} alignment")
        ax.set_ylabel(y)
        ax.set_title(
            f"b2={u.quadratic:.3g} (p={u.quadratic_p:.2g}); r(z²)={u.r_z2:.2f} (p={u.p_z2:.2g})",
            fontsize=8,
        )
    fig.suptitle(f"{y} vs alignment ({len(data)} models)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
