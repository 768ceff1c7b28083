"""Seed 003's pictures of metamer representations: how similar metamers and their targets stay
in every observer model at every stage.

- :func:`heatmap_table` / :func:`plot_representation_heatmap`: observer x depth grid of a
  :func:`~repalign.evaluation.representation_test` statistic, with its null band. For
  ``match_rate`` the band is the central ``level`` range of the match rate when every metamer is
  matched to its own target only by chance (each of ``n`` targets with probability ``chance``:
  ``Binomial(n, chance) / n``); for ``rdm_r`` it is the one-sided Mantel test (a cell is above the
  band when ``p < 1 - level``); ``rho_target`` has no null in the table (no band).
- :func:`representation_projection` / :func:`plot_representation_projection`: for every observer
  and stage, a 2-D projection (PCA by default, or metric MDS) of the targets' and the metamers'
  activations, each metamer joined to its target.

Example:
    >>> df = representation_test(res, ["zoo:cnn_l2_s1"])                       # doctest: +SKIP
    >>> plot_representation_heatmap(df, path="out/representation_heatmap")      # doctest: +SKIP
    >>> xy = representation_projection(res, ["zoo:cnn_l2_s1"])                 # doctest: +SKIP
    >>> plot_representation_projection(xy, path="out/representation_pca")      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from repalign._device import resolve_device
from repalign.errors import ConfigError
from repalign.evaluation._common import (
    check_result,
    observer_features,
    observer_layers,
    resolve_observers,
    unique_targets,
)
from repalign.evaluation.figures import metric_rows, save_figure
from repalign.metamers.result import MetamerResult

__all__ = [
    "heatmap_table",
    "plot_representation_heatmap",
    "plot_representation_projection",
    "representation_projection",
]

_LIMITS = {"match_rate": (0.0, 1.0), "rho_target": (-1.0, 1.0), "rdm_r": (-1.0, 1.0)}


def _recipe_label(row: Any) -> str:
    return f"{row['generator']} @ {row['layer']}" + (
        f" ({row['regularizer']})" if str(row.get("regularizer", "none")) != "none" else "")


def heatmap_table(df: pd.DataFrame, metric: str = "match_rate", *,
                  level: float = 0.95) -> pd.DataFrame:
    """The cells of :func:`plot_representation_heatmap`: one row per recipe, observer and stage.

    Args:
        df: a :func:`~repalign.evaluation.representation_test` table.
        metric: ``"match_rate"`` (default), ``"rdm_r"`` or ``"rho_target"``.
        level: the null band's coverage.

    Returns:
        Columns ``recipe``, ``observer``, ``depth`` (0-based stage index in the observer's
        tested layers, in the table's order), ``observer_layer``, ``value``, ``null_low``,
        ``null_high`` (NaN where the statistic has no null) and ``above`` (value beyond the band).
    """
    from scipy.stats import binom

    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1), received {level}.")
    sub = metric_rows(df, metric)
    missing = [c for c in ("observer", "observer_layer", "value", "n") if c not in sub.columns]
    if missing:
        raise ConfigError(f"heatmap_table needs a representation_test table; it lacks {missing}.")
    rows = []
    for _, r in sub.iterrows():
        layers = list(dict.fromkeys(sub.loc[sub["observer"] == r["observer"], "observer_layer"]))
        lo = hi = float("nan")
        above = False
        if metric == "match_rate" and np.isfinite(r["chance"]) and r["n"] > 0:
            n = int(r["n"])
            lo, hi = (float(v) / n for v in binom.ppf([(1 - level) / 2, (1 + level) / 2], n,
                                                        r["chance"]))
            above = bool(r["value"] > hi)
        elif metric == "rdm_r" and np.isfinite(r.get("p_value", np.nan)):
            above = bool(r["p_value"] < 1 - level)
        rows.append({"recipe": _recipe_label(r), "observer": r["observer"],
                     "depth": layers.index(r["observer_layer"]),
                     "observer_layer": r["observer_layer"], "value": float(r["value"]),
                     "null_low": lo, "null_high": hi, "above": above})
    return pd.DataFrame(rows, columns=["recipe", "observer", "depth", "observer_layer", "value",
                                       "null_low", "null_high", "above"])


def plot_representation_heatmap(df: pd.DataFrame, metric: str = "match_rate", *,
                                level: float = 0.95, path: str | Path | None = None,
                                formats: Sequence[str] = ("png", "svg"),
                                cmap: str = "viridis") -> Any:
    """Observer x depth heatmap of ``metric``, one panel per recipe (generator @ layer).

    Each cell shows the value, the observer layer and, for ``match_rate``, the null band
    ``[low, high]``; a star marks values beyond the band (see :func:`heatmap_table`).

    Returns:
        The matplotlib ``Figure`` (written as ``path.png``/``path.svg`` when ``path`` is given).
    """
    from matplotlib.figure import Figure

    cells = heatmap_table(df, metric, level=level)
    recipes = list(dict.fromkeys(cells["recipe"]))
    observers = list(dict.fromkeys(cells["observer"]))
    depth = int(cells["depth"].max()) + 1
    vmin, vmax = _LIMITS.get(metric, (float(cells.value.min()), float(cells.value.max())))
    fig = Figure(figsize=(2.2 + 1.5 * depth, len(recipes) * (1.0 + 0.75 * len(observers))),
                 constrained_layout=True)
    axes = np.atleast_1d(fig.subplots(len(recipes), 1, squeeze=False)[:, 0])
    image = None
    for ax, recipe in zip(axes, recipes, strict=True):
        part = cells[cells["recipe"] == recipe]
        grid = np.full((len(observers), depth), np.nan)
        for c in part.itertuples():
            grid[observers.index(c.observer), c.depth] = c.value
        image = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        for c in part.itertuples():
            i = observers.index(c.observer)
            band = (f"\nnull [{c.null_low:.2f}, {c.null_high:.2f}]" if np.isfinite(c.null_low)
                    else "")
            ax.text(c.depth, i, f"{c.value:.2f}{'*' if c.above else ''}\n{c.observer_layer}{band}",
                    ha="center", va="center", fontsize=6,
                    color="white" if c.value < (vmin + vmax) / 2 else "black")
        ax.set_xticks(range(depth))
        ax.set_xticklabels([f"stage {d + 1}" for d in range(depth)], fontsize=7)
        ax.set_yticks(range(len(observers)))
        ax.set_yticklabels(observers, fontsize=7)
        ax.set_title(f"{metric}: metamers of {recipe}", fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, label=metric)
    fig.suptitle(f"* beyond the {level:.0%} null band", fontsize=7)
    if path is not None:
        save_figure(fig, path, formats)
    return fig


def _project(x: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, float]:
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed)
        return pca.fit_transform(x), float(pca.explained_variance_ratio_.sum())
    from sklearn.manifold import MDS

    mds = MDS(n_components=2, random_state=seed, n_init=1, init="classical_mds")
    return mds.fit_transform(x), float("nan")


def representation_projection(
    result: MetamerResult, observers: Any, layers: Any = None, *, method: str = "pca",
    seed: int = 0, device: Any = None, batch_size: int = 256,
) -> pd.DataFrame:
    """2-D coordinates of targets and metamers in every observer layer.

    Per observer and layer, the distinct targets' and all metamers' flattened activations are
    stacked and projected together (``"pca"``: the first two principal components; ``"mds"``:
    metric MDS of their Euclidean distances).

    Args:
        result: the metamers.
        observers: ``Model`` s or ``create_model`` specs.
        layers: as in :func:`~repalign.evaluation.representation_test` (None: default layers).
        method: ``"pca"`` or ``"mds"``.
        seed: seeds the projection.
        device, batch_size: where and how many images per forward.

    Returns:
        Tidy DataFrame: ``observer``, ``observer_layer``, ``kind`` (``"target"``/``"metamer"``),
        ``index`` (row of ``result`` for a metamer, position among the distinct targets for a
        target), ``target_id``, ``generator``, ``layer``, ``x``, ``y``, ``explained`` (the PCA's
        share of variance; NaN for MDS).
    """
    if method not in ("pca", "mds"):
        raise ConfigError(f"method must be 'pca' or 'mds', received {method!r}.")
    result = check_result(result)
    models = resolve_observers(observers, resolve_device(device))
    ids, first, _ = unique_targets(result)
    rows = []
    for model in models:
        names = observer_layers(model, layers)
        fm = observer_features(model, result.images, names, batch_size)
        ft = observer_features(model, result.targets[torch.as_tensor(first)], names, batch_size)
        for layer in names:
            xy, explained = _project(np.concatenate([ft[layer], fm[layer]]), method, seed)
            base = {"observer": model.spec, "observer_layer": layer, "explained": explained}
            for k, tid in enumerate(ids):
                rows.append({**base, "kind": "target", "index": k, "target_id": tid,
                             "generator": "", "layer": "", "x": xy[k, 0], "y": xy[k, 1]})
            for i in range(len(result)):
                p = len(ids) + i
                rows.append({**base, "kind": "metamer", "index": i,
                             "target_id": result.target_ids[i], "generator": result.generators[i],
                             "layer": result.layers[i], "x": xy[p, 0], "y": xy[p, 1]})
    return pd.DataFrame(rows, columns=["observer", "observer_layer", "kind", "index", "target_id",
                                       "generator", "layer", "x", "y", "explained"])


def plot_representation_projection(coords: pd.DataFrame, *, path: str | Path | None = None,
                                   formats: Sequence[str] = ("png", "svg")) -> Any:
    """Grid of projections (rows: observers, columns: stages): targets as large dots, metamers as
    crosses of their target's colour, each joined to its target by a thin line."""
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    need = {"observer", "observer_layer", "kind", "target_id", "x", "y"}
    if not need <= set(coords.columns):
        raise ConfigError(f"Expected representation_projection's table; it lacks "
                          f"{sorted(need - set(coords.columns))}.")
    observers = list(dict.fromkeys(coords["observer"]))
    depth = max(coords[coords.observer == o]["observer_layer"].nunique() for o in observers)
    fig = Figure(figsize=(2.6 * depth + 0.5, 2.6 * len(observers)), constrained_layout=True)
    axes = fig.subplots(len(observers), depth, squeeze=False)
    ids = list(dict.fromkeys(coords.loc[coords.kind == "target", "target_id"]))
    colours = {t: f"C{k % 10}" for k, t in enumerate(ids)}
    for i, obs in enumerate(observers):
        part = coords[coords.observer == obs]
        stages = list(dict.fromkeys(part["observer_layer"]))
        for j in range(depth):
            ax = axes[i, j]
            if j >= len(stages):
                ax.axis("off")
                continue
            panel = part[part.observer_layer == stages[j]]
            tg = panel[panel.kind == "target"].set_index("target_id")
            mm = panel[panel.kind == "metamer"]
            ends = tg.loc[mm.target_id, ["x", "y"]].to_numpy()
            ax.add_collection(LineCollection(
                list(np.stack([ends, mm[["x", "y"]].to_numpy()], axis=1)),
                colors=[colours[t] for t in mm.target_id], linewidths=0.5, alpha=0.6))
            ax.scatter(mm.x, mm.y, marker="x", s=14, c=[colours[t] for t in mm.target_id])
            ax.scatter(tg.x, tg.y, marker="o", s=30, c=[colours[t] for t in tg.index],
                       edgecolors="black", linewidths=0.5)
            share = panel["explained"].iloc[0]
            ax.set_title(f"{obs}\n{stages[j]}" + (f" ({share:.0%} var.)" if np.isfinite(share)
                                                   else ""), fontsize=7)
            ax.tick_params(labelsize=5)
    fig.suptitle("targets (o) and metamers (x) per observer stage", fontsize=8)
    if path is not None:
        save_figure(fig, path, formats)
    return fig

