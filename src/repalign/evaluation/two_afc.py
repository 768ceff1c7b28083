"""The 2AFC alignment score (Nanda et al. 2023): is a metamer closer to its target than to its seed?

For metamer ``x_r`` of target ``x_t`` started from seed ``x_0``, a perceptual distance ``d`` (standing
in for a human observer) chooses the target when ``d(x_r, x_t) < d(x_r, x_0)``. The score of a
recipe is the share of such choices: 1 (100 %) when the model's invariances look like ours to
``d``, 0 when its metamers still look like their seeds. Per target the decisions of its repeats
are averaged first; the table gives the mean over targets, their SD, the bootstrap SEM and a
percentile bootstrap interval (resampling targets).

A distance that averages several (``"lpips:nanda"``: LPIPS AlexNet and VGG, calibrated and not)
is scored as the published protocol does: one score per component and their mean (the mean of the
decisions, not the decision of the mean distance); each component also gets its own rows.

With human judgements (:class:`~repalign.data.two_afc.TwoAFCSet`): when the set holds these very
metamers (reference = metamer, p0 = target, p1 = seed, e.g. from :func:`metamer_judgements`), the
table adds the human 2AFC score (``distance="human"``: the mean of ``1 - h``) and each distance's
soft BAPPS agreement with the raters per recipe; any other set (e.g. BAPPS) gives each distance's
agreement with the raters on that set (recipe columns empty): how good a stand-in it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from repalign._device import resolve_device
from repalign.data.two_afc import TwoAFCSet, two_afc_agreement
from repalign.errors import ConfigError, ShapeError
from repalign.evaluation._common import RECIPE, check_result, recipe_groups, summarize, target_means
from repalign.metamers.result import MetamerResult
from repalign.perceptual import Distance, DistanceSpec, get_distance

__all__ = ["COLUMNS", "decisions", "metamer_judgements", "paired_distances", "two_afc"]

TIES = ("strict", "half", "inclusive")
SCALES = {"fraction": 1.0, "percent": 100.0}
COLUMNS = [*RECIPE, "distance", "metric", "value", "sd", "sem", "ci_low", "ci_high", "n",
           "n_metamers", "chance"]


def decisions(d_target: np.ndarray, d_seed: np.ndarray, ties: str = "strict") -> np.ndarray:
    """Per-metamer 2AFC choice of the target: 1, 0, or 0.5 for a tie with ``ties="half"``.

    ``"strict"``: ``d_target < d_seed`` (the published formula); ``"inclusive"``: ``<=`` (what
    the published notebook computes); ``"half"``: ties count 0.5 (the BAPPS convention).

    Example:
        >>> decisions(np.array([0.1, 0.3, 0.2]), np.array([0.2, 0.1, 0.2]), "half").tolist()
        [1.0, 0.0, 0.5]
    """
    if ties not in TIES:
        raise ConfigError(f"ties must be one of {TIES}, received {ties!r}.")
    less = (d_target < d_seed).astype(np.float64)
    equal = (d_target == d_seed).astype(np.float64)
    decided: np.ndarray = less + {"strict": 0.0, "half": 0.5, "inclusive": 1.0}[ties] * equal
    return decided


def paired_distances(d: Distance, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                     batch_size: int = 64) -> np.ndarray:
    """(N,) float64 ``d(x[i], y[i])`` computed on ``device`` in batches, without gradients."""
    out = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            out.append(d(x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)))
    return torch.cat(out).double().cpu().numpy()


def metamer_judgements(result: MetamerResult, h: Any) -> TwoAFCSet:
    """A :class:`TwoAFCSet` of human answers about ``result``'s metamers.

    Args:
        result: the metamers shown to the raters.
        h: (M,) fraction of raters who judged the *seed* (p1) closer to the metamer than the
            target (p0); 0 means everyone chose the target.

    Example:
        >>> judged = metamer_judgements(res, h=np.zeros(len(res)))   # doctest: +SKIP
        >>> two_afc(res, "ssim", human=judged)                        # doctest: +SKIP
    """
    check_result(result)
    return TwoAFCSet(result.images, result.targets, result.seeds, np.asarray(h, dtype=np.float64),
                     [str(i) for i in range(len(result))], source="metamer judgements")


def _is_about(human: TwoAFCSet, result: MetamerResult) -> bool:
    if len(human) != len(result) or human.reference.shape != result.images.shape:
        return False
    tol = 0.5 / 255 + 1e-6  # 8-bit round trips
    return all(torch.allclose(a, b, atol=tol, rtol=0) for a, b in (
        (human.reference, result.images), (human.p0, result.targets), (human.p1, result.seeds)))


def _row(recipe: dict[str, Any], distance: str, metric: str, per_target: np.ndarray,
         n_metamers: int, chance: float, n_boot: int, level: float, seed: int) -> dict[str, Any]:
    return {**recipe, "distance": distance, "metric": metric,
            **summarize(per_target, n_boot=n_boot, level=level, seed=seed),
            "n_metamers": n_metamers, "chance": chance}


def two_afc(
    result: MetamerResult,
    distance: DistanceSpec = "lpips",
    *,
    human: TwoAFCSet | None = None,
    ties: str = "strict",
    scale: str = "fraction",
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    device: Any = None,
    batch_size: int = 64,
    **distance_options: Any,
) -> pd.DataFrame:
    """2AFC alignment score of every recipe (generator, layer, regularizer, init, optimizer).

    Args:
        result: metamers with their targets and seeds.
        distance: perceptual distance spec (see :mod:`repalign.perceptual`), e.g. ``"lpips:nanda"``,
            ``"ssim"`` or ``"model:zoo:cnn_l2_s0@flatten"``.
        human: human 2AFC answers (see the module doc).
        ties: ``"strict"``, ``"half"`` or ``"inclusive"`` (see :func:`decisions`).
        scale: ``"fraction"`` (scores in [0, 1], chance 0.5) or ``"percent"`` (x 100, chance 50,
            as Nanda et al. report them: ``100 * mean_i 1[d(x_r, x_t) < d(x_r, x_0)]``); applies
            to the ``two_afc`` rows (and the human ones).
        n_boot: bootstrap resamples of targets; level: interval level; seed: bootstrap seed.
        device: where distances run (``"auto"``/None: CUDA when available).
        batch_size: image pairs per distance call.
        **distance_options: passed to :func:`~repalign.perceptual.get_distance`.

    Returns:
        Tidy DataFrame with :data:`COLUMNS`: per recipe and distance, ``metric="two_afc"`` (value in
        [0, 1], x 100 for the published percentages, ``chance`` 0.5 for a coin flip),
        ``"d_target"`` and ``"d_seed"`` (mean distances of the metamer to its target and to its
        seed); with ``human``, ``"human_agreement"`` rows (and ``distance="human"`` 2AFC rows).
        ``n`` counts targets.

    Example:
        >>> two_afc(res, "ssim")[["generator", "regularizer", "metric", "value"]]  # doctest: +SKIP
    """
    result = check_result(result)
    if ties not in TIES:
        raise ConfigError(f"ties must be one of {TIES}, received {ties!r}.")
    if scale not in SCALES:
        raise ConfigError(f"scale must be one of {tuple(SCALES)}, received {scale!r}.")
    unit = SCALES[scale]
    if human is not None and not isinstance(human, TwoAFCSet):
        raise ConfigError(f"human must be a TwoAFCSet, received {type(human).__name__}.")
    dev = resolve_device(device)
    dist = get_distance(distance, **distance_options)
    comps = dist.components()
    names = [c.name for c in comps]
    if len(set(names)) != len(names):
        raise ConfigError(f"The distances averaged must be distinct, received {names}.")
    d_t = {c.name: paired_distances(c, result.images, result.targets, dev, batch_size) for c in comps}
    d_s = {c.name: paired_distances(c, result.images, result.seeds, dev, batch_size) for c in comps}
    choice = {name: unit * decisions(d_t[name], d_s[name], ties) for name in d_t}
    per_metamer_humans = human is not None and _is_about(human, result)
    rows = []
    kw: dict[str, Any] = {"n_boot": n_boot, "level": level, "seed": seed}
    for recipe, idx in recipe_groups(result):
        tids = [result.target_ids[i] for i in idx]
        if len(comps) > 1:
            mean_choice = np.mean([choice[c.name][idx] for c in comps], axis=0)
            rows.append(_row(recipe, dist.name, "two_afc", target_means(mean_choice, tids),
                             len(idx), 0.5 * unit, **kw))
        for c in comps:
            rows.append(_row(recipe, c.name, "two_afc", target_means(choice[c.name][idx], tids),
                             len(idx), 0.5 * unit, **kw))
            for metric, vals in (("d_target", d_t[c.name]), ("d_seed", d_s[c.name])):
                rows.append(_row(recipe, c.name, metric, target_means(vals[idx], tids), len(idx),
                                 float("nan"), **kw))
        if per_metamer_humans and human is not None:
            rows.append(_row(recipe, "human", "two_afc",
                             target_means(unit * (1.0 - human.h[idx]), tids), len(idx), 0.5 * unit,
                             **kw))
            for c in comps:
                agree = two_afc_agreement(d_t[c.name][idx], d_s[c.name][idx], human.h[idx])
                rows.append(_row(recipe, c.name, "human_agreement", target_means(agree, tids),
                                 len(idx), 0.5, **kw))
    if human is not None and not per_metamer_humans:
        if len(human) == 0:
            raise ShapeError("The human 2AFC set holds no item.")
        for c in comps:
            d0 = paired_distances(c, human.reference, human.p0, dev, batch_size)
            d1 = paired_distances(c, human.reference, human.p1, dev, batch_size)
            agree = two_afc_agreement(d0, d1, human.h)
            rows.append(_row(dict.fromkeys(RECIPE), c.name, "human_agreement", agree, len(human),
                             0.5, **kw))
    return pd.DataFrame(rows, columns=COLUMNS)
