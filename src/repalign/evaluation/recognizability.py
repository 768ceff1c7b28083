"""Recognizability (Feather et al. 2023's network-network test): do other models classify the
metamers as their targets' class?

Each observer classifies every metamer and every natural target; the table gives, per recipe and
observer, the accuracy on the metamers and on the natural targets (the ceiling), with the
bootstrap SEM over images (Feather's error bars) and a percentile interval, and chance
(1 / the observer's number of classes).

Label mapping: output k of an observer stands for label ``model.meta["classes"][k]`` (the zoo's
digit models are trained on digits 0-4, ``classes = [0, 1, 2, 3, 4]``: class k = digit k), or for
label k when the model declares no classes. The targets' labels must all be among them, otherwise
the observer is refused with an error naming the labels it cannot name (subset the result or
pass ``label_map={target label: observer label}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from repalign._device import resolve_device
from repalign.evaluation._common import (
    RECIPE,
    check_result,
    logits,
    map_predictions,
    recipe_groups,
    resolve_observers,
    summarize,
    unique_targets,
)
from repalign.metamers.result import MetamerResult

__all__ = ["COLUMNS", "recognizability"]

COLUMNS = [*RECIPE, "observer", "metric", "value", "sd", "sem", "ci_low", "ci_high", "n", "chance"]


def recognizability(
    result: MetamerResult,
    observers: Any,
    *,
    label_map: Mapping[int, int] | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    device: Any = None,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Each observer's accuracy on the metamers and on their natural targets, per recipe.

    Args:
        result: metamers of labelled targets.
        observers: classifiers: ``Model`` s or ``create_model`` specs (e.g. every zoo model).
        label_map: maps the targets' labels to the observers' labels when they differ.
        n_boot, level, seed: bootstrap over images.
        device: where the observers run (``"auto"``/None: CUDA when available).
        batch_size: images per forward.

    Returns:
        Tidy DataFrame (:data:`COLUMNS`) with ``metric`` ``"accuracy_metamers"`` and
        ``"accuracy_targets"``; ``n`` counts images (metamers, or distinct targets).

    Raises:
        ConfigError: an observer whose classes cannot name some target label.
        ShapeError: targets without labels (-1).

    Example:
        >>> recognizability(res, ["zoo:cnn_l2_s1", "zoo:mlp_standard_s0"])  # doctest: +SKIP
    """
    result = check_result(result)
    dev = resolve_device(device)
    models = resolve_observers(observers, dev)
    labels = np.asarray(result.target_labels)
    if label_map is not None:
        labels = np.array([label_map.get(int(v), -1) for v in labels])
    _, first, upos = unique_targets(result)
    rows = []
    kw: dict[str, Any] = {"n_boot": n_boot, "level": level, "seed": seed}
    for model in models:
        out_m = logits(model, result.images, batch_size)
        out_t = logits(model, result.targets[first], batch_size)
        pred_m, k = map_predictions(model, out_m, labels)
        pred_t, _ = map_predictions(model, out_t, labels[first])
        correct_m = (pred_m == labels).astype(np.float64)
        correct_t = (pred_t == labels[first]).astype(np.float64)
        for recipe, idx in recipe_groups(result):
            tsel = sorted({upos[result.target_ids[i]] for i in idx})
            for metric, vals in (("accuracy_metamers", correct_m[idx]),
                                 ("accuracy_targets", correct_t[tsel])):
                rows.append({**recipe, "observer": model.spec, "metric": metric,
                             **summarize(vals, **kw), "chance": 1.0 / k})
    return pd.DataFrame(rows, columns=COLUMNS)
