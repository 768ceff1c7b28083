"""Shared pieces of the evaluation tests: recipe groups, summaries with bootstrap intervals,
observers and their label mapping, batched forwards.

Recipe columns: every table has one row per recipe, i.e. per distinct (generator, layer,
regularizer, init, optimizer) of the :class:`~repalign.metamers.result.MetamerResult`, in order of
first appearance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy.stats import bootstrap

from repalign._validation import describe
from repalign.errors import ConfigError, ShapeError
from repalign.metamers.result import MetamerResult
from repalign.models.model import Model

__all__ = [
    "RECIPE",
    "check_result",
    "label_classes",
    "logits",
    "map_predictions",
    "observer_features",
    "observer_layers",
    "recipe_groups",
    "resolve_observers",
    "summarize",
    "target_means",
    "unique_targets",
]

# table column -> MetamerResult attribute
RECIPE: dict[str, str] = {
    "generator": "generators",
    "layer": "layers",
    "regularizer": "regularizers",
    "init": "inits",
    "optimizer": "optimizers",
}


def check_result(result: Any, name: str = "result") -> MetamerResult:
    """Raise unless ``result`` is a non-empty MetamerResult."""
    if not isinstance(result, MetamerResult):
        raise ConfigError(
            f"{name} must be a MetamerResult (from generate_metamers or MetamerResult.load), "
            f"received {describe(result)}."
        )
    if len(result) == 0:
        raise ShapeError(f"{name} holds no metamer; nothing to evaluate.")
    return result


def recipe_groups(result: MetamerResult) -> list[tuple[dict[str, str], np.ndarray]]:
    """``[(recipe, indices)]``: the metamers of each distinct recipe, in order of first appearance."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(result)):
        key = tuple(getattr(result, attr)[i] for attr in RECIPE.values())
        groups.setdefault(key, []).append(i)
    return [(dict(zip(RECIPE, key, strict=True)), np.asarray(idx)) for key, idx in groups.items()]


def unique_targets(result: MetamerResult) -> tuple[list[str], np.ndarray, dict[str, int]]:
    """Distinct target ids (order of first appearance), the row of each one's first metamer, and
    ``{id: position}``."""
    first: dict[str, int] = {}
    for i, t in enumerate(result.target_ids):
        first.setdefault(t, i)
    ids = list(first)
    return ids, np.array(list(first.values()), dtype=np.int64), {t: k for k, t in enumerate(ids)}


def target_means(values: np.ndarray, target_ids: Sequence[str]) -> np.ndarray:
    """Mean of ``values`` per target (order of first appearance): repeats of a target count once."""
    order: dict[str, list[int]] = {}
    for i, t in enumerate(target_ids):
        order.setdefault(t, []).append(i)
    return np.array([float(np.mean(values[idx])) for idx in order.values()])


def summarize(values: Any, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Mean, SD (ddof=1), bootstrap SEM and percentile bootstrap interval of the mean.

    Args:
        values: (n,) per-unit values (per target, per group of three, per metamer).
        n_boot: bootstrap resamples (0 skips the bootstrap: NaN interval and SEM).
        level: confidence level.
        seed: bootstrap seed.

    Returns:
        ``{"value", "sd", "sem", "ci_low", "ci_high", "n"}``; with fewer than two values the SD,
        SEM and interval are NaN.
    """
    v = np.asarray(values, dtype=np.float64)
    n = int(v.size)
    out: dict[str, Any] = {"value": float(v.mean()) if n else float("nan"), "sd": float("nan"), "sem": float("nan"),
           "ci_low": float("nan"), "ci_high": float("nan"), "n": n}
    if n < 2:
        return out
    out["sd"] = float(v.std(ddof=1))
    if n_boot <= 0 or not np.all(np.isfinite(v)):
        return out
    if np.all(v == v[0]):  # every resample has the same mean
        out.update(sem=0.0, ci_low=float(v[0]), ci_high=float(v[0]))
        return out
    res = bootstrap((v,), np.mean, n_resamples=n_boot, confidence_level=level, method="percentile",
                    random_state=np.random.default_rng(seed), vectorized=True)
    out.update(sem=float(res.standard_error), ci_low=float(res.confidence_interval.low),
               ci_high=float(res.confidence_interval.high))
    return out


def resolve_observers(observers: Any, device: torch.device) -> list[Model]:
    """Models (or ``create_model`` specs) on ``device``, in eval mode; specs must be unique."""
    items = [observers] if isinstance(observers, (str, Model)) else list(observers or [])
    if not items:
        raise ConfigError("At least one observer is needed: pass Models or specs like 'zoo:cnn_l2_s0'.")
    models = []
    for item in items:
        if isinstance(item, str):
            from repalign.models.factory import create_model

            item = create_model(item, device=device)
        if not isinstance(item, Model):
            raise ConfigError(
                f"An observer must be a repalign Model or a model spec, received {describe(item)}."
            )
        models.append(item.to(device).eval())
    specs = [m.spec for m in models]
    dup = sorted({s for s in specs if specs.count(s) > 1})
    if dup:
        raise ConfigError(f"Observers must be distinct, but {dup} appear more than once.")
    return models


def logits(model: Model, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """(N, K) outputs of ``model`` for ``images`` (moved to the model's device), on the CPU."""
    out = []
    with torch.inference_mode():
        for i in range(0, images.shape[0], batch_size):
            y = model(images[i : i + batch_size].to(model.device))
            if not isinstance(y, torch.Tensor) or y.ndim != 2:
                raise ShapeError(
                    f"Observer {model.spec} must output (N, classes) logits, returned "
                    f"{describe(y)}; pass a classifier."
                )
            out.append(y.float().cpu())
    return torch.cat(out)


def label_classes(model: Model, n_outputs: int) -> list[int]:
    """The label value of each output index of ``model``.

    The contract: ``model.meta["classes"]`` lists, for output index k, the label value it stands
    for (the zoo's digit models: ``[0, 1, 2, 3, 4]``, class k = digit k). Without it, output k
    stands for label k.
    """
    classes = model.meta.get("classes")
    if classes is None:
        return list(range(n_outputs))
    classes = [int(c) for c in classes]
    if len(classes) != n_outputs:
        raise ConfigError(
            f"Observer {model.spec} declares {len(classes)} classes in meta['classes'] but outputs "
            f"{n_outputs} logits; fix the metadata."
        )
    return classes


def map_predictions(model: Model, out: torch.Tensor, labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Predicted label values for ``out`` and the number of classes, after checking that every
    target label can be predicted by the observer."""
    classes = label_classes(model, out.shape[1])
    bad = sorted({int(v) for v in labels if v < 0})
    if bad:
        raise ShapeError(
            "Recognizability needs the targets' class labels, but some are unknown (-1) or have no "
            "entry in label_map; generate metamers from labelled Stimuli."
        )
    unknown = sorted({int(v) for v in labels} - set(classes))
    if unknown:
        raise ConfigError(
            f"Observer {model.spec} cannot name target label(s) {unknown}: its classes are "
            f"{classes} (output k = label classes[k]). Keep only targets it was trained on, e.g. "
            f"result.subset(np.isin(result.target_labels, {classes})), or pass label_map="
            "{target label: observer label}."
        )
    pred = np.asarray(classes)[out.argmax(1).numpy()]
    return pred, len(classes)


def observer_layers(model: Model, layers: Any) -> list[str]:
    """Layers of ``model`` to test: ``layers`` (a name, a list, or ``{spec: names}``), or its
    default layers (``meta["default_layers"]`` or a mid-level and the penultimate layer)."""
    if isinstance(layers, Mapping):
        layers = layers.get(model.spec)
    if layers is None:
        from repalign.models.layers import default_layers

        chosen = default_layers(model)
        if not chosen:
            raise ConfigError(f"No default layer for {model.spec}; pass layers= explicitly.")
        return chosen
    return model.check_layers(layers)


def observer_features(model: Model, images: torch.Tensor, layers: Sequence[str],
                      batch_size: int = 256) -> dict[str, np.ndarray]:
    """``{layer: (N, D) float64}`` flattened activations (one early-exit forward per batch)."""
    from repalign.features.extract import extract_features

    feats = extract_features(model, images, list(layers), reduce="flatten",
                             batch_size=batch_size, quiet=True)
    return {k: np.asarray(v, dtype=np.float64) for k, v in feats.items()}
