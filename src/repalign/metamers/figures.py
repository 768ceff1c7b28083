"""Figure of metamers: one row per target, columns target | seed | metamer per recipe.

A recipe column is one combination of layer, regularizer, generator and init present in the
result (e.g. one column per layer, or per regularizer). When the starting images differ between
recipes (different inits) each metamer gets its own seed column. Titles mark whether the 8-bit
metamer passed the criterion and its final distance.

Example (writes ``out/metamers.png`` and ``out/metamers.svg``):
    >>> fig = plot_metamers(res, path="out/metamers")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from repalign._io import atomic_path
from repalign.errors import ShapeError
from repalign.metamers.result import MetamerResult

__all__ = ["plot_metamers", "recipe_columns"]

_KEYS = ("layers", "regularizers", "generators", "inits")


def recipe_columns(
    result: MetamerResult, keys: Sequence[str] = _KEYS
) -> list[tuple[str, ...]]:
    """Distinct recipes (values of ``keys``) in order of first appearance."""
    seen: dict[tuple[str, ...], None] = {}
    for i in range(len(result)):
        seen[tuple(getattr(result, k)[i] for k in keys)] = None
    return list(seen)


def _label(recipe: tuple[str, ...], keys: Sequence[str], varying: set[str]) -> str:
    parts = [v for k, v in zip(keys, recipe, strict=True) if k in varying]
    return "\n".join(parts) if parts else recipe[0]


def _show(ax: Any, img: np.ndarray, title: str) -> None:
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(np.clip(img.transpose(1, 2, 0), 0, 1), interpolation="nearest")
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_metamers(
    result: MetamerResult,
    *,
    targets: Sequence[str] | None = None,
    max_targets: int = 6,
    repeat: int = 0,
    keys: Sequence[str] = _KEYS,
    path: str | Path | None = None,
    formats: Sequence[str] = ("png", "svg"),
    cell: float = 1.3,
) -> Any:
    """Grid of target | seed | metamer for each recipe (layer, regularizer, generator, init).

    Args:
        result: the metamers.
        targets: target ids to show (default: the first ``max_targets``).
        max_targets: rows when ``targets`` is None.
        repeat: which random repeat to show.
        keys: the result columns that define a recipe column.
        path: when given, write ``path.png`` and ``path.svg`` (``formats``) atomically.
        cell: inches per image.

    Returns:
        The matplotlib ``Figure``.
    """
    from matplotlib.figure import Figure

    if len(result) == 0:
        raise ShapeError("The MetamerResult is empty: nothing to plot.")
    ids = list(dict.fromkeys(result.target_ids)) if targets is None else list(targets)
    ids = ids[:max_targets] if targets is None else ids
    missing = [t for t in ids if t not in set(result.target_ids)]
    if missing:
        raise ShapeError(f"Target ids {missing[:5]} are not in the result; it holds e.g. "
                         f"{list(dict.fromkeys(result.target_ids))[:5]}.")
    recipes = recipe_columns(result, keys)
    varying = {k for j, k in enumerate(keys) if len({r[j] for r in recipes}) > 1}
    index: dict[tuple[str, tuple[str, ...]], int] = {}
    for i in range(len(result)):
        if int(result.repeats[i]) == repeat:
            index.setdefault((result.target_ids[i], tuple(getattr(result, k)[i] for k in keys)), i)
    rows = [{rc: index.get((t, rc)) for rc in recipes} for t in ids]
    same_seed = all(
        len({result.seeds[i].numpy().tobytes() for i in row.values() if i is not None}) <= 1
        for row in rows
    )
    ncols = 1 + (1 + len(recipes) if same_seed else 2 * len(recipes))
    fig = Figure(figsize=(cell * ncols, cell * len(ids) + 0.6), constrained_layout=True)
    axes = np.asarray(fig.subplots(len(ids), ncols, squeeze=False))
    for r, (tid, row) in enumerate(zip(ids, rows, strict=True)):
        first = next((i for i in row.values() if i is not None), None)
        for ax in axes[r]:
            ax.axis("off")
        if first is None:
            continue
        _show(axes[r, 0], result.targets[first].numpy(), tid)
        axes[r, 0].axis("on")
        col = 1
        if same_seed:
            _show(axes[r, 1], result.seeds[first].numpy(), "seed")
            axes[r, 1].axis("on")
            col = 2
        for rc in recipes:
            k = row[rc]
            label = _label(rc, keys, varying)
            if not same_seed:
                if k is not None:
                    _show(axes[r, col], result.seeds[k].numpy(), f"seed\n{label}")
                    axes[r, col].axis("on")
                col += 1
            if k is not None:
                mark = "pass" if result.success[k] else "fail"
                _show(axes[r, col], result.images[k].numpy(),
                      f"{label}\n{mark} d={result.final_distance[k]:.3f}")
                axes[r, col].axis("on")
            col += 1
    if path is not None:
        base = Path(path)
        for fmt in formats:
            with atomic_path(base.with_suffix(f".{fmt}")) as tmp:
                fig.savefig(tmp, format=fmt, dpi=150)
    return fig
