"""The representation test (seed 003): do metamers keep their target's representation in *other*
models, beyond what a classifier's label shows?

Per observer and observer layer, two numbers:

(a) ``match_rate``: the share of metamers whose activations correlate (Spearman by default) with
    their own target's more than with every other target of the recipe (the null: the same
    statistic against the other targets; ``quantile < 1`` compares with that quantile of the null
    instead of its maximum). Chance is 1 / (number of targets). Repeats of a target are averaged
    first; ``rho_target`` rows give the mean correlation with the own target.
(b) ``rdm_r``: the Pearson correlation between the observer's dissimilarity matrix over the
    metamers and over their targets (1 - Pearson r between activation vectors by default; one
    metamer per target, the lowest repeat), with a Mantel permutation p-value (targets relabelled).

What they mean: (a) asks whether each metamer can be *identified* among the targets from the
observer's activations (a fine-grained, per-image version of recognizability that does not need
labels or a classifier head); (b) asks whether the *geometry* of the targets survives, even when
individual metamers are not identified. They disagree with recognizability when, for instance,
metamers keep coarse class information (recognised, but low match_rate: the observer sees the
class, not the image), or keep image-specific structure in an intermediate layer that the
observer's head does not read (high match_rate at that layer, recognizability near chance).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch

from repalign._device import resolve_device
from repalign._validation import check_count
from repalign.errors import ConfigError, ShapeError
from repalign.evaluation._common import (
    RECIPE,
    check_result,
    observer_features,
    observer_layers,
    recipe_groups,
    resolve_observers,
    summarize,
    target_means,
    unique_targets,
)
from repalign.metamers.criterion import STATISTICS, standardize_rows
from repalign.metamers.result import MetamerResult

__all__ = ["COLUMNS", "match_scores", "representation_test"]

COLUMNS = [*RECIPE, "observer", "observer_layer", "metric", "value", "sd", "sem", "ci_low",
           "ci_high", "n", "p_value", "chance"]


def match_scores(metamer_feats: np.ndarray, target_feats: np.ndarray, own: np.ndarray, *,
                 statistic: str = "spearman", quantile: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per metamer: did it correlate with its own target above the null of the other targets?

    Args:
        metamer_feats: (M, D) activations of the metamers.
        target_feats: (T, D) activations of the candidate targets (T >= 2).
        own: (M,) index into ``target_feats`` of each metamer's target.
        statistic: ``"spearman"`` or ``"pearson"``.
        quantile: 1 compares with the maximum over the other targets, else with that quantile.

    Returns:
        ``(passed (M,) float 0/1, rho_own (M,))``; a constant activation vector never passes.
    """
    if target_feats.shape[0] < 2:
        raise ShapeError("The representation test needs at least 2 targets in a recipe, "
                         f"received {target_feats.shape[0]}.")
    if not 0.0 < quantile <= 1.0:
        raise ConfigError(f"quantile must be in (0, 1], received {quantile}.")
    sm = standardize_rows(torch.from_numpy(np.ascontiguousarray(metamer_feats)), statistic)
    st = standardize_rows(torch.from_numpy(np.ascontiguousarray(target_feats)), statistic)
    corr = (sm @ st.T).numpy()  # (M, T)
    rows = np.arange(len(own))
    rho_own = corr[rows, own]
    others = corr.copy()
    others[rows, own] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows of constant activations
        null = np.nanmax(others, 1) if quantile == 1.0 else np.nanquantile(others, quantile, 1)
    passed = np.where(np.isfinite(rho_own) & np.isfinite(null), rho_own > null, False)
    return passed.astype(np.float64), rho_own


def _rdm_row(fm: np.ndarray, ft: np.ndarray, n_perm: int, rdm_metric: str,
             seed: int) -> tuple[float, float]:
    from repalign.similarity.mantel import mantel

    if fm.shape[0] < 3:
        warnings.warn(f"rdm_r needs at least 3 distinct targets, a recipe has {fm.shape[0]}; "
                      "its rdm_r is NaN.", stacklevel=3)
        return float("nan"), float("nan")
    try:
        res = mantel(fm, ft, "rsa_pearson", n_perm=n_perm, kind="features", rdm_metric=rdm_metric,
                     alternative="greater", seed=seed, quiet=True)
    except ShapeError as exc:
        warnings.warn(f"rdm_r is undefined for a recipe ({exc}); it is NaN.", stacklevel=3)
        return float("nan"), float("nan")
    return float(res.value), float(res.p_value)


def representation_test(
    result: MetamerResult,
    observers: Any,
    layers: Any = None,
    *,
    statistic: str = "spearman",
    quantile: float = 1.0,
    n_perm: int = 1000,
    rdm_metric: str = "correlation",
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    device: Any = None,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Match rate and RDM correlation of the metamers in each observer layer, per recipe.

    Args:
        result: the metamers.
        observers: ``Model`` s or ``create_model`` specs.
        layers: observer layers: a name or list (every observer), ``{spec: names}``, or None
            for each observer's default layers (a mid-level and the penultimate layer).
        statistic: correlation for (a), ``"spearman"`` or ``"pearson"``.
        quantile: null threshold for (a), 1 = maximum.
        n_perm: Mantel permutations for (b).
        rdm_metric: dissimilarity between activation vectors for (b) (``"correlation"``,
            ``"euclidean"``, ``"cosine"``, ...).
        n_boot, level, seed: bootstrap over targets for (a); ``seed`` also seeds the permutations.
        device, batch_size: where and how many images per forward.

    Returns:
        Tidy DataFrame (:data:`COLUMNS`): per recipe, observer and ``observer_layer``, metrics
        ``"match_rate"`` (chance 1/T), ``"rho_target"`` and ``"rdm_r"`` (with ``p_value``).

    Example:
        >>> representation_test(res, ["zoo:cnn_l2_s1"], layers="flatten")  # doctest: +SKIP
    """
    result = check_result(result)
    if statistic not in STATISTICS:
        raise ConfigError(f"statistic must be one of {STATISTICS}, received {statistic!r}.")
    check_count(n_perm, "n_perm")
    dev = resolve_device(device)
    models = resolve_observers(observers, dev)
    _, first, upos = unique_targets(result)
    kw: dict[str, Any] = {"n_boot": n_boot, "level": level, "seed": seed}
    rows = []
    for model in models:
        names = observer_layers(model, layers)
        fm_all = observer_features(model, result.images, names, batch_size)
        ft_all = observer_features(model, result.targets[torch.as_tensor(first)], names, batch_size)
        for recipe, idx in recipe_groups(result):
            tpos = np.array([upos[result.target_ids[i]] for i in idx])
            group = np.array(sorted(set(tpos.tolist())))
            own = np.searchsorted(group, tpos)
            tids = [result.target_ids[i] for i in idx]
            # (b) uses one metamer per target: the lowest repeat
            pick: dict[int, int] = {}
            for j, _ in sorted(enumerate(idx), key=lambda p: (int(result.repeats[p[1]]), p[1])):
                pick.setdefault(int(tpos[j]), j)
            sel = np.array([pick[t] for t in group])
            for layer in names:
                fm, ft = fm_all[layer][idx], ft_all[layer][group]
                passed, rho = match_scores(fm, ft, own, statistic=statistic, quantile=quantile)
                base = {**recipe, "observer": model.spec, "observer_layer": layer}
                rows.append({**base, "metric": "match_rate", **summarize(target_means(passed, tids), **kw),
                             "p_value": float("nan"), "chance": 1.0 / len(group)})
                rows.append({**base, "metric": "rho_target", **summarize(target_means(rho, tids), **kw),
                             "p_value": float("nan"), "chance": float("nan")})
                r, p = _rdm_row(fm[sel], ft, n_perm, rdm_metric, seed)
                rows.append({**base, "metric": "rdm_r", **summarize([r], n_boot=0), "n": len(group),
                             "p_value": p, "chance": 0.0})
    return pd.DataFrame(rows, columns=COLUMNS)
