"""The figure of the teacher-student simulation: queries against eps, the flip trick, domain shift."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from repalign._io import atomic_path
from repalign.analysis.theory.channel import query_bound, shift_sensitivity

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["theory_figure"]


def _queries_panel(ax: Axes, queries: pd.DataFrame, pairs: pd.DataFrame | None) -> None:
    flip = queries[queries["student"] == "flip"]
    finite = flip[np.isfinite(flip["bound"])]
    n, d = int(flip["n"].iloc[0]), int(flip["d"].iloc[0])
    ax.errorbar(flip["eps"], flip["queries_mean"], yerr=flip["queries_se"], fmt="o", ms=4,
                color="tab:blue", label="synthetic student (flip trick)")
    grid = np.linspace(0.0, 1.0, 401)
    grid = grid[np.abs(grid - 0.5) > 0.02]
    ax.plot(grid, query_bound(grid, n, d), color="tab:red", lw=1.3,
            label=f"bound d log2(n) / C(eps), n={n}, d={d}")
    ax.plot(finite["eps"], finite["fano"], ls="--", color="tab:gray", lw=1,
            label="Fano: ((1-Pe) log2 M - 1) / C(eps)")
    censored = flip[flip["censored"] > 0.5]
    if len(censored):
        ax.scatter(censored["eps"], censored["queries_mean"], marker="^", s=40,
                   color="tab:blue", label="budget exhausted (C = 0)")
    if pairs is not None and len(pairs):
        ax.scatter(pairs["eps"], pairs["queries_mean"], s=18, color="tab:green",
                   label="zoo students (real teacher answers)")
        ax.scatter(pairs["eps"], pairs["control_queries_mean"], s=18, marker="x",
                   color="tab:olive", label="zoo students, random flips at their eps")
    ax.set_yscale("log")
    ax.set_xlabel("eps = triplet disagreement with the teacher")
    ax.set_ylabel("queries to locate a new object")
    ax.set_title("Prop. 3.8 / Thm. 3.9: queries against eps (U-shape)", fontsize=9)
    ax.legend(fontsize=6, loc="upper left")


def _flip_panel(ax: Axes, queries: pd.DataFrame) -> None:
    for student, color, label in (("flip", "tab:blue", "flips when eps > 0.5 (Remark 3.10)"),
                                  ("naive", "tab:orange", "trusts the bits")):
        part = queries[queries["student"] == student]
        ax.plot(part["eps"], part["error_rate"], "o-", ms=3, color=color, label=label)
    ax.set_xlabel("eps")
    ax.set_ylabel("share of objects located wrongly")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("the flip trick", fontsize=9)
    ax.legend(fontsize=6, loc="upper left")


def _shift_panel(ax: Axes, shift: pd.DataFrame, zoo: pd.DataFrame | None) -> None:
    grid = np.linspace(0, 1, 201)
    ax.plot(grid, shift_sensitivity(grid), color="tab:red", lw=1.3,
            label="prediction 2 eps (1 - eps)")
    ax.errorbar(shift["eps"], shift["sigma_mean"], yerr=shift["sigma_se"], fmt="o", ms=3,
                color="tab:blue", label="synthetic students, robust teacher")
    if zoo is not None and len(zoo):
        ax.scatter(zoo["eps"], zoo["sigma"], s=18, color="tab:green",
                   label="zoo models on bundled:digits_shifted")
    ax.set_xlabel("eps")
    ax.set_ylabel("domain-shift sensitivity sigma")
    ax.set_title("Appendix A: sensitivity to domain shift", fontsize=9)
    ax.legend(fontsize=6, loc="lower center")


def _accuracy_panel(ax: Axes, zoo: pd.DataFrame) -> None:
    ax.scatter(zoo["eps"], zoo["shift_acc"], s=18, color="tab:green")
    for r in zoo.itertuples():
        ax.annotate(str(r.model), (r.eps, r.shift_acc), fontsize=5, alpha=0.7,
                    xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel("eps (zoo model vs teacher)")
    ax.set_ylabel("accuracy on shifted digits 0-4")
    ax.set_title("zoo: domain-shift accuracy", fontsize=9)


def theory_figure(queries: pd.DataFrame, shift: pd.DataFrame, path: str | Path, *,
                  zoo_pairs: pd.DataFrame | None = None, zoo_shift: pd.DataFrame | None = None,
                  formats: tuple[str, ...] = (".png", ".svg")) -> list[Path]:
    """Draw the simulation's panels and save them (PNG and SVG by default).

    Args:
        queries: :func:`~repalign.analysis.theory.simulate_queries` output.
        shift: :func:`~repalign.analysis.theory.simulate_shift` output.
        path: output path without suffix.
        zoo_pairs: :func:`~repalign.analysis.theory.simulate_zoo_pairs` output, or None.
        zoo_shift: :func:`~repalign.analysis.theory.zoo_shift` output, or None.
        formats: the file suffixes to write.

    Returns:
        The paths written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    panels = 4 if zoo_shift is not None and len(zoo_shift) else 3
    fig, axes = plt.subplots(1, panels, figsize=(4.3 * panels, 3.9))
    _queries_panel(axes[0], queries, zoo_pairs)
    _flip_panel(axes[1], queries)
    _shift_panel(axes[2], shift, zoo_shift)
    if panels == 4:
        _accuracy_panel(axes[3], zoo_shift)
    fig.tight_layout()
    written = []
    for suffix in formats:
        target = Path(path).with_suffix(suffix)
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=130, format=suffix[1:])
        written.append(target)
    plt.close(fig)
    return written
