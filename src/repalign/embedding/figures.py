"""Figures of embedding fits: the training curve of one fit, and held-out accuracy against the
number of training triplets for several methods with the noise ceiling.

Each function returns the matplotlib ``Figure``; given ``path`` it also writes a PNG atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repalign._io import atomic_path
from repalign.embedding.result import EmbeddingResult

__all__ = ["plot_accuracy_vs_triplets", "plot_training_curve"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _write(fig: Any, path: str | Path | None) -> None:
    if path is not None:
        target = Path(path).with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight")


def plot_training_curve(result: EmbeddingResult, path: str | Path | None = None,
                        reference: float | None = None) -> Any:
    """Training NLL, train/held-out accuracy and kept dimensions per epoch.

    Args:
        result: a fit.
        path: write ``path.png`` when given.
        reference: an accuracy to draw as a horizontal line (e.g. a published embedding's).
    """
    plt = _pyplot()
    h = pd.DataFrame(result.history)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    if "train_nll" in h:
        axes[0].plot(h["epoch"], h["train_nll"], label="train")
        if "val_nll" in h:
            axes[0].plot(h["epoch"], h["val_nll"], label="held out")
        axes[0].set_ylabel("triplet NLL")
        axes[0].legend()
    else:
        axes[0].text(0.5, 0.5, f"{result.method}: one cblearn fit\n(no per-epoch curve)",
                     ha="center", va="center", transform=axes[0].transAxes)
    axes[1].plot(h["epoch"], h["train_accuracy"], marker=".", label="train")
    if "val_accuracy" in h:
        axes[1].plot(h["epoch"], h["val_accuracy"], marker=".", label="held out")
    if reference is not None:
        axes[1].axhline(reference, color="k", ls="--", lw=1, label="reference")
    axes[1].set_ylabel("odd-one-out accuracy")
    axes[1].legend()
    axes[2].plot(h["epoch"], h["dims"], marker=".")
    axes[2].set_ylabel("dimensions kept")
    for ax in axes:
        ax.set_xlabel("epoch")
    fig.suptitle(f"{result.method}: {result.n_train} training triplets, {result.n_dims} dimensions")
    fig.tight_layout()
    _write(fig, path)
    return fig


def plot_accuracy_vs_triplets(df: pd.DataFrame, ceiling: float | None = None,
                              path: str | Path | None = None, *, title: str = "") -> Any:
    """Held-out accuracy against training triplets, one line per method (mean and range over
    seeds when several).

    Args:
        df: tidy rows with columns ``method``, ``n_triplets``, ``accuracy`` (and ``seed``).
        ceiling: the noise ceiling, drawn as a dashed line.
        path: write ``path.png`` when given.
        title: figure title.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for method, grp in df.groupby("method", sort=False):
        stats = grp.groupby("n_triplets")["accuracy"].agg(["mean", "min", "max"]).sort_index()
        ax.plot(stats.index, stats["mean"], marker="o", label=str(method))
        if (stats["max"] > stats["min"]).any():
            ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.2)
    if ceiling is not None:
        ax.axhline(ceiling, color="k", ls="--", lw=1, label=f"noise ceiling {ceiling:.3f}")
    ax.axhline(1 / 3, color="grey", ls=":", lw=1, label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("training triplets")
    ax.set_ylabel("held-out odd-one-out accuracy")
    ax.set_ylim(0.3, max(0.75, float(np.nanmax(df["accuracy"])) + 0.02))
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _write(fig, path)
    return fig
