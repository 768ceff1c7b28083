"""The high / middle / low groups of models by alignment (seed 000, Tables 1-2 and Figure 3).

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"model": list("abcdefg"), "alignment": [1, 2, 3, 4, 5, 6, 7],
    ...                    "acc": [9, 1, 2, 3, 4, 5, 8]})
    >>> g = extreme_groups(df, by="alignment", k=2, columns=["acc"])
    >>> g[["group", "mean", "models"]].values.tolist()
    [['high', 6.5, 'g,f'], ['mid', 2.5, 'd,c'], ['low', 5.0, 'a,b']]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from repalign.analysis.stats import numeric_columns
from repalign.errors import ShapeError

__all__ = ["GROUPS", "extreme_groups", "group_members"]

GROUPS = ("high", "mid", "low")


def group_members(values: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Row indices of the k highest, the k closest to the mean and the k lowest values.

    Ties are broken by row order. The middle group is chosen among the rows in neither extreme
    group, so the three groups are disjoint.
    """
    n = len(values)
    if k < 1 or 3 * k > n:
        raise ShapeError(
            f"extreme groups of k={k} models need k >= 1 and at least 3k = {3 * k} models, "
            f"received {n}; lower k."
        )
    order = np.argsort(values, kind="stable")
    low, high = order[:k], order[::-1][:k]
    rest = np.setdiff1d(np.arange(n), np.concatenate([low, high]))
    mid = rest[np.argsort(np.abs(values[rest] - values.mean()), kind="stable")[:k]]
    return {"high": high, "mid": mid, "low": low}


def extreme_groups(
    df: pd.DataFrame,
    by: str,
    k: int = 5,
    columns: Sequence[str] | None = None,
    model_column: str = "model",
) -> pd.DataFrame:
    """Mean of downstream metrics over the top, middle and bottom ``k`` models by ``by``.

    Args:
        df: one row per model.
        by: the alignment column that ranks the models.
        k: models per group (5 in seed 000).
        columns: downstream columns to average (default: every other numeric column).
        model_column: the column naming the models (the index is used when it is absent).

    Returns:
        Tidy DataFrame, one row per group and metric: ``by``, ``group`` (``high``, ``mid``,
        ``low``), ``metric``, ``mean``, ``sd``, ``k``, ``alignment_mean`` (mean of ``by`` in the
        group), ``models`` (comma-separated names, highest ``by`` first for ``high``).
    """
    if columns is None:
        columns = [
            c for c in df.select_dtypes("number").columns if c not in (by, model_column)
        ]
    if not columns:
        raise ShapeError(f"extreme_groups: no downstream column to average besides {by!r}.")
    sub = numeric_columns(df, [by, *columns], "extreme_groups")
    names = (df[model_column] if model_column in df.columns else df.index).astype(str).to_numpy()
    members = group_members(sub[by].to_numpy(), k)
    rows = []
    for group in GROUPS:
        idx = members[group]
        for col in columns:
            vals = sub[col].to_numpy()[idx]
            rows.append({
                "by": by, "group": group, "metric": col, "mean": float(vals.mean()),
                "sd": float(vals.std(ddof=1)) if k > 1 else 0.0, "k": k,
                "alignment_mean": float(sub[by].to_numpy()[idx].mean()),
                "models": ",".join(names[idx]),
            })  # fmt: skip
    out = pd.DataFrame(rows)
    order = {c: i for i, c in enumerate(columns)}
    return out.sort_values("metric", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)
