"""The clustering test (Nanda et al. 2023): can the metamers be matched back to their targets?

Groups of three targets, ``per_target`` metamers of each (two in the paper, from different random
seeds): the 3 x ``per_target`` metamers are assigned one-to-one to the three targets (each target
receives exactly ``per_target`` metamers) so that the summed perceptual distance is smallest (the
Hungarian algorithm on the target columns repeated ``per_target`` times). The score of a group is
the share of metamers assigned to their own target; chance is 1/3.

Groups are random disjoint triples of targets (``hard=False``; targets left over when their number
is not a multiple of three sit out of that partition), or the hardest triples (``hard=True``): the
most similar ones by ``hard_by`` (the test's own distance between targets by default, another
distance spec, or human dissimilarities), chosen greedily among each target's ten nearest
neighbours. The table gives the mean accuracy over groups, its SD, bootstrap SEM and interval.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.optimize import linear_sum_assignment

from repalign._device import resolve_device
from repalign.data.similarity_matrix import SimilarityMatrix
from repalign.errors import ConfigError, ShapeError
from repalign.evaluation._common import (
    RECIPE,
    check_result,
    recipe_groups,
    summarize,
    unique_targets,
)
from repalign.metamers.result import MetamerResult
from repalign.perceptual import DistanceSpec, get_distance

__all__ = ["COLUMNS", "balanced_assignment", "clustering", "hard_triples", "random_triples"]

COLUMNS = [*RECIPE, "distance", "metric", "value", "sd", "sem", "ci_low", "ci_high", "n",
           "n_metamers", "chance"]


def balanced_assignment(cost: np.ndarray, per_target: int) -> np.ndarray:
    """Assign R = T x ``per_target`` items to T targets, ``per_target`` each, at least total cost.

    Args:
        cost: (R, T) cost of giving item r to target t.
        per_target: items each target receives.

    Returns:
        (R,) target index of each item.

    Example:
        >>> balanced_assignment(np.array([[0., 5.], [1., 0.], [0., 3.], [2., 0.]]), 2).tolist()
        [0, 1, 0, 1]
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2 or cost.shape[0] != cost.shape[1] * per_target:
        raise ShapeError(
            f"cost must be (T x per_target, T) = (R, T), received shape {cost.shape} with "
            f"per_target={per_target}."
        )
    rows, cols = linear_sum_assignment(np.repeat(cost, per_target, axis=1))
    out = np.empty(cost.shape[0], dtype=np.int64)
    out[rows] = cols // per_target
    return out


def random_triples(n: int, rng: np.random.Generator, n_groups: int | None = None) -> np.ndarray:
    """(G, 3) disjoint random triples of ``range(n)``; more groups than ``n // 3`` draw further
    partitions (a target then appears in several groups)."""
    if n < 3:
        raise ShapeError(f"The clustering test needs at least 3 targets, received {n}.")
    want = n // 3 if n_groups is None else n_groups
    out: list[np.ndarray] = []
    while len(out) < want:
        perm = rng.permutation(n)
        out.extend(perm[: 3 * (n // 3)].reshape(-1, 3))
    return np.asarray(out[:want], dtype=np.int64).reshape(-1, 3)


def hard_triples(dissimilarity: np.ndarray, n_groups: int | None = None,
                 neighbours: int = 10) -> np.ndarray:
    """(G, 3) disjoint triples of mutually similar items, greedily by summed dissimilarity.

    Candidates are each item with two of its ``neighbours`` nearest neighbours; the candidate
    with the smallest sum of its three pairwise dissimilarities is taken first, then the next
    one that shares no item with those taken, until ``n_groups`` or no candidate is left.
    """
    d = np.asarray(dissimilarity, dtype=np.float64)
    n = d.shape[0]
    if d.shape != (n, n) or n < 3:
        raise ShapeError(f"hard triples need an (n, n) dissimilarity matrix with n >= 3, "
                         f"received shape {d.shape}.")
    masked = d + np.diag(np.full(n, np.inf))
    near = np.argsort(masked, axis=1, kind="stable")[:, : min(neighbours, n - 1)]
    cands = {tuple(sorted((i, int(j), int(k))))
             for i in range(n) for j, k in itertools.combinations(near[i], 2)}
    ordered = sorted(cands, key=lambda t: (d[t[0], t[1]] + d[t[0], t[2]] + d[t[1], t[2]], t))
    used: set[int] = set()
    out = []
    for t in ordered:
        if used.isdisjoint(t):
            out.append(t)
            used.update(t)
            if n_groups is not None and len(out) == n_groups:
                break
    return np.asarray(out, dtype=np.int64).reshape(-1, 3)


def _target_dissimilarity(hard_by: Any, result: MetamerResult, ids: list[str], first: np.ndarray,
                          dist: Any, dev: torch.device, batch_size: int) -> np.ndarray:
    """(U, U) dissimilarities between the unique targets ``ids`` (rows ``first`` of result)."""
    if hard_by is None or isinstance(hard_by, (str, list, tuple)) or callable(hard_by):
        d = dist if hard_by is None else get_distance(hard_by)
        targets = result.targets[torch.as_tensor(first)].to(dev)
        with torch.no_grad():
            return d.pairwise(targets, targets, batch_size=batch_size).double().cpu().numpy()
    if isinstance(hard_by, SimilarityMatrix):
        m = hard_by.dissimilarity()
        if hard_by.names is not None:
            pos = {name: i for i, name in enumerate(hard_by.names)}
            missing = [t for t in ids if t not in pos]
            if missing:
                raise ShapeError(f"hard_by has no row for target id(s) {missing[:5]}; its names "
                                 f"are e.g. {list(hard_by.names)[:5]}.")
            sel = [pos[t] for t in ids]
            return m[np.ix_(sel, sel)]
        hard_by = m
    if isinstance(hard_by, pd.DataFrame):
        missing = [t for t in ids if t not in hard_by.index or t not in hard_by.columns]
        if missing:
            raise ShapeError(f"hard_by has no row/column for target id(s) {missing[:5]}.")
        matrix: np.ndarray = hard_by.loc[ids, ids].to_numpy(dtype=np.float64)
        return matrix
    m = np.asarray(hard_by, dtype=np.float64)
    if m.shape != (len(ids), len(ids)):
        raise ShapeError(
            f"hard_by as a matrix must be ({len(ids)}, {len(ids)}): dissimilarities between the "
            f"result's {len(ids)} distinct targets in order of first appearance; received shape "
            f"{m.shape}. Pass a DataFrame indexed by target id to avoid ordering mistakes."
        )
    return m


def clustering(
    result: MetamerResult,
    distance: DistanceSpec = "lpips",
    *,
    hard: bool = False,
    hard_by: Any = None,
    per_target: int = 2,
    n_groups: int | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    device: Any = None,
    batch_size: int = 64,
    **distance_options: Any,
) -> pd.DataFrame:
    """Accuracy of matching metamers to their targets in groups of three, per recipe.

    Args:
        result: metamers with ``per_target`` repeats (``generate_metamers(..., repeats=2)``).
        distance: perceptual distance spec used for the matching (a composite distance is
            used as the mean of its components).
        hard: draw the most similar triples instead of random ones.
        hard_by: what "similar" means for ``hard``: None (``distance`` between targets), a
            distance spec, a :class:`~repalign.data.SimilarityMatrix` (rows named by target id,
            or in the order below), a DataFrame indexed by target id, or an (U, U) array of
            dissimilarities between the U distinct targets in order of first appearance.
        per_target: metamers per target in a group (lowest repeats first); targets with fewer
            in a recipe are not used for that recipe.
        n_groups: groups per recipe (default: one partition, ``targets // 3``).
        n_boot, level, seed: bootstrap over groups; ``seed`` also draws the random triples.
        device, batch_size, **distance_options: as in :func:`~repalign.evaluation.two_afc`.

    Returns:
        Tidy DataFrame (:data:`COLUMNS`): ``metric`` is ``"clustering"`` or
        ``"clustering_hard"``, ``value`` the mean accuracy over ``n`` groups, ``chance`` 1/3.

    Raises:
        ShapeError: a recipe with fewer than three targets having ``per_target`` metamers.
    """
    result = check_result(result)
    if per_target < 1:
        raise ConfigError(f"per_target must be at least 1, received {per_target}.")
    if n_groups is not None and n_groups < 1:
        raise ConfigError(f"n_groups must be positive, received {n_groups}.")
    dev = resolve_device(device)
    dist = get_distance(distance, **distance_options)
    uniq, first, upos = unique_targets(result)
    target_d = None
    if hard:
        target_d = _target_dissimilarity(hard_by, result, uniq, first, dist, dev, batch_size)
    rows = []
    for g, (recipe, idx) in enumerate(recipe_groups(result)):
        by_target: dict[str, list[int]] = {}
        for i in sorted(idx, key=lambda i: (int(result.repeats[i]), i)):
            by_target.setdefault(result.target_ids[i], []).append(int(i))
        eligible = [t for t, v in by_target.items() if len(v) >= per_target]
        if len(eligible) < 3:
            most = max(len(v) for v in by_target.values())
            raise ShapeError(
                f"The clustering test needs 3 targets with {per_target} metamers each in recipe "
                f"{recipe}, but only {len(eligible)} have that many (at most {most} per target); "
                f"generate with repeats={per_target} or pass per_target={most}."
            )
        rng = np.random.default_rng(seed + g)
        if target_d is not None:
            sel = [upos[t] for t in eligible]
            triples = hard_triples(target_d[np.ix_(sel, sel)], n_groups)
        else:
            triples = random_triples(len(eligible), rng, n_groups)
        members = np.array([i for t in eligible for i in by_target[t][:per_target]])
        owner = np.repeat(np.arange(len(eligible)), per_target)
        tgt_rows = np.array([upos[t] for t in eligible])
        with torch.no_grad():
            cost_all = dist.pairwise(result.images[torch.as_tensor(members)].to(dev),
                                     result.targets[torch.as_tensor(first[tgt_rows])].to(dev),
                                     batch_size=batch_size).double().cpu().numpy()
        acc = []
        shuffle = np.random.default_rng([seed, g, 1])
        for tri in triples:
            # the solver breaks ties by column order: list the targets in random order so that
            # equal costs do not favour the right answer (hard triples come sorted)
            tri = shuffle.permutation(tri)
            items = np.flatnonzero(np.isin(owner, tri))
            cost = cost_all[np.ix_(items, tri)]
            truth = np.array([int(np.flatnonzero(tri == o)[0]) for o in owner[items]])
            acc.append(float(np.mean(balanced_assignment(cost, per_target) == truth)))
        rows.append({**recipe, "distance": dist.name,
                     "metric": "clustering_hard" if hard else "clustering",
                     **summarize(acc, n_boot=n_boot, level=level, seed=seed),
                     "n_metamers": len(members), "chance": 1.0 / 3.0})
    return pd.DataFrame(rows, columns=COLUMNS)
