"""Hyper-parameter search for :class:`GLocal` with object-disjoint cross-validation.

Object-disjoint: the objects (rows of the features) are split into folds; a fold's test
triplets are those whose three objects all lie in the fold, its training triplets those with no
object in it. Triplets that mix the two sets are used by neither side of that fold (they would
leak the test objects); the table reports how many.

Example:
    >>> res = search_glocal(x, triplets, grid="default", folds=3)   # doctest: +SKIP
    >>> res.best_params, res.best_score                            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, ParameterGrid

from repalign._progress import progress
from repalign._registry import unknown_name_message
from repalign.alignment.estimator import GLocal, fit_triplets
from repalign.errors import ConfigError, ShapeError, UnknownNameError

__all__ = [
    "DEFAULT_GRID",
    "PUBLISHED_GRID",
    "GLocalSearch",
    "object_disjoint_folds",
    "object_disjoint_split",
    "search_glocal",
]

log = logging.getLogger(__name__)

#: The grid of the gLocal paper: 3 x 3 x 3 x 2 = 54 settings.
PUBLISHED_GRID: dict[str, tuple[float, ...]] = {
    "lr": (1e-2, 1e-3, 1e-4),
    "lam": (10.0, 1.0, 0.1),
    "alpha": (0.5, 0.25, 0.1),
    "tau": (1.0, 0.5),
}
#: A smaller grid (4 settings) for quick searches.
DEFAULT_GRID: dict[str, tuple[float, ...]] = {
    "lr": (1e-3,),
    "lam": (1.0, 0.1),
    "alpha": (0.25, 0.1),
    "tau": (0.5,),
}
_GRIDS = {"published": PUBLISHED_GRID, "default": DEFAULT_GRID}


def _fold_masks(triplets: np.ndarray, in_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hits = in_test[triplets].sum(1)
    return np.flatnonzero(hits == 0), np.flatnonzero(hits == 3)


def object_disjoint_folds(
    triplets: Any, n_objects: int, n_folds: int = 3, seed: int | None = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Object-disjoint k-fold splits of triplets.

    Args:
        triplets: (T, 3) triplets or a TripletSet over ``n_objects`` objects.
        n_objects: number of objects.
        n_folds: number of folds of objects (>= 2).
        seed: shuffles the objects before folding.

    Returns:
        ``n_folds`` pairs ``(train_index, test_index)`` of triplet row indices; no object of a
        test triplet occurs in any training triplet of the same fold.

    Example:
        >>> t = np.array([[0, 1, 2], [3, 4, 5], [0, 3, 6]])
        >>> [len(te) for _, te in object_disjoint_folds(t, 9, 3, seed=0)]  # doctest: +SKIP
    """
    trip = fit_triplets(triplets, n_objects, "triplets")
    if not 2 <= n_folds <= n_objects:
        raise ConfigError(f"n_folds must be in [2, {n_objects}], received {n_folds}.")
    folds = []
    for _, test_objects in KFold(n_folds, shuffle=True, random_state=seed).split(np.arange(n_objects)):
        in_test = np.zeros(n_objects, dtype=bool)
        in_test[test_objects] = True
        folds.append(_fold_masks(trip, in_test))
    return folds


def object_disjoint_split(
    triplets: Any, n_objects: int, test_size: float = 0.25, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One object-disjoint train/test split.

    Args:
        triplets: (T, 3) triplets or a TripletSet.
        n_objects: number of objects.
        test_size: share of the objects held out (0 < test_size < 1).
        seed: random seed.

    Returns:
        ``(train_index, test_index, test_objects)``: triplet row indices and the held-out object
        indices (sorted).
    """
    trip = fit_triplets(triplets, n_objects, "triplets")
    if not 0.0 < test_size < 1.0:
        raise ConfigError(f"test_size must lie in (0, 1), received {test_size}.")
    rng = np.random.default_rng(seed)
    n_test = max(3, round(test_size * n_objects))
    test_objects = np.sort(rng.permutation(n_objects)[:n_test])
    in_test = np.zeros(n_objects, dtype=bool)
    in_test[test_objects] = True
    train, test = _fold_masks(trip, in_test)
    return train, test, test_objects


@dataclass(frozen=True)
class GLocalSearch:
    """Result of :func:`search_glocal`.

    Attributes:
        table: one row per setting and fold: the parameters, ``fold``, ``n_train``, ``n_test``,
            ``n_unused`` (triplets mixing train and test objects), ``score`` (held-out
            odd-one-out accuracy), ``epochs``, ``seconds``.
        summary: one row per setting: the parameters, ``mean_score``, ``sd_score``, ``rank``.
        best_params: the setting with the highest mean held-out accuracy.
        best_score: its mean held-out accuracy.
        best_estimator: GLocal refitted with ``best_params`` on all triplets (None without
            refit).
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    best_params: dict[str, Any]
    best_score: float
    best_estimator: GLocal | None


def _resolve_grid(grid: str | Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    if isinstance(grid, str):
        if grid not in _GRIDS:
            raise UnknownNameError(unknown_name_message("gLocal grid", grid, sorted(_GRIDS)))
        grid = _GRIDS[grid]
    valid = set(GLocal().get_params())
    bad = sorted(set(grid) - valid)
    if bad:
        raise ConfigError(f"grid names unknown GLocal parameter(s) {bad}; valid: {sorted(valid)}.")
    return {k: list(v) for k, v in grid.items()}


def search_glocal(
    x: Any,
    triplets: Any,
    *,
    x_local: Any = None,
    grid: str | Mapping[str, Sequence[Any]] = "default",
    folds: int = 3,
    estimator: GLocal | None = None,
    refit: bool = True,
    seed: int | None = 0,
    quiet: bool = True,
) -> GLocalSearch:
    """Grid search over GLocal's hyper-parameters with object-disjoint cross-validation.

    Each setting is fitted on every fold's training triplets (early stopping on a random 10 %
    of them) and scored by odd-one-out accuracy on the fold's held-out objects' triplets.

    Args:
        x: (N, D) object features.
        triplets: (T, 3) triplets (or a TripletSet) indexing the rows of ``x``.
        x_local: (M, D) auxiliary stimuli for the local term (None: ``x`` of the fold's
            training objects).
        grid: ``"default"`` (4 settings), ``"published"`` (gLocal's 54) or a dict of parameter
            name -> values.
        folds: number of object folds.
        estimator: the GLocal whose other parameters are kept (default ``GLocal()``).
        refit: refit the best setting on all triplets.
        seed: seed of the folds and of the fits.
        quiet: hide the progress bar.

    Returns:
        :class:`GLocalSearch`.
    """
    base = estimator if estimator is not None else GLocal()
    params = _resolve_grid(grid)
    x_arr = np.asarray(x)
    if x_arr.ndim != 2:
        raise ShapeError(f"x must be (N, D) features, received shape {x_arr.shape}.")
    n = x_arr.shape[0]
    trip = fit_triplets(triplets, n, "triplets")
    splits = object_disjoint_folds(trip, n, folds, seed)
    rows = []
    settings = list(ParameterGrid(params))
    for setting in progress(settings, quiet=quiet, desc="gLocal grid"):
        for k, (tr, te) in enumerate(splits):
            if len(te) == 0 or len(tr) < 10:
                raise ShapeError(
                    f"fold {k} has {len(tr)} training and {len(te)} test triplets; object-disjoint "
                    "folds need more triplets or fewer folds."
                )
            est = clone(base).set_params(**setting, random_state=seed)
            t0 = time.perf_counter()
            local = x_local
            if local is None and est.alpha > 0:
                local = x_arr[np.unique(trip[tr])]  # the fold's training objects only
            est.fit(x_arr, trip[tr], x_local=local)
            rows.append({
                **setting, "fold": k, "n_train": len(tr), "n_test": len(te),
                "n_unused": len(trip) - len(tr) - len(te), "score": est.score(x_arr, trip[te]),
                "epochs": len(est.history_), "seconds": time.perf_counter() - t0,
            })  # fmt: skip
    table = pd.DataFrame(rows)
    keys = list(params)
    summary = (
        table.groupby(keys, sort=False)["score"].agg(mean_score="mean", sd_score="std").reset_index()
    )
    summary["rank"] = summary["mean_score"].rank(ascending=False, method="min").astype(int)
    best_row = summary.sort_values(["rank"], kind="stable").iloc[0]
    best = {k: best_row[k].item() if hasattr(best_row[k], "item") else best_row[k] for k in keys}
    log.info("gLocal search: best %s with held-out accuracy %.4f", best, best_row["mean_score"])
    best_est = None
    if refit:
        best_est = clone(base).set_params(**best, random_state=seed).fit(x_arr, trip, x_local=x_local)
    return GLocalSearch(table, summary, best, float(best_row["mean_score"]), best_est)
