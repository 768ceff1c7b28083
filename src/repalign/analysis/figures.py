"""Figure 6 of seed 000: a downstream metric against alignment, one dot per model, with the
quadratic fit of the U-shape test."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from repalign._io import atomic_path
from repalign.analysis.stats import u_shape

__all__ = ["scatter_figure"]


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
    written = []
    base = Path(path)
    for suffix in (".png", ".svg"):
        target = base.with_suffix(suffix)
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=150, format=suffix[1:])
        written.append(target)
    plt.close(fig)
    return written
