"""Transfer of metamers: generators (model x layer) by observers, every test, and summaries.

Each observer judges every generator's metamers with every test:

- ``two_afc`` and ``clustering`` with the observer's own feature distance at its layer (is the
  metamer closer to its target than to its seed in the *observer's* representation?),
- ``recognizability`` (the observer's accuracy on the metamers and on the targets),
- ``representation`` (match rate, mean own-target correlation and RDM correlation at its layer).

The observer layer is ``observer_layer`` (a name, or ``{spec: name}``), else the observer's
penultimate layer (``meta["penultimate"]``, or its last default layer).

Every cell is labelled by the relation between generator and observer: ``"self"`` (the same
model: the diagonal), ``"same architecture, other seed"`` (same architecture and training style,
another instance), ``"same architecture, other training"``, ``"other architecture"``, or
``"joint"`` (metamers of several models at once). Architecture, training style and seed come from
the models' ``meta`` (``architecture``, ``style``, ``seed``; ``style != "standard"`` counts as
robust). :func:`transfer_summary` averages the off-diagonal cells by relation, by training style
and by architecture of generator and observer, and contrasts diagonal with off-diagonal.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from repalign._device import resolve_device
from repalign.errors import ConfigError, RepalignError
from repalign.evaluation._common import RECIPE, resolve_observers
from repalign.evaluation.clustering import clustering
from repalign.evaluation.recognizability import recognizability
from repalign.evaluation.representation import representation_test
from repalign.evaluation.two_afc import two_afc
from repalign.metamers.result import MetamerResult
from repalign.models.model import Model
from repalign.perceptual import FeatureDistance

__all__ = ["COLUMNS", "TESTS", "model_facts", "relation", "transfer_matrix", "transfer_summary"]

log = logging.getLogger(__name__)

TESTS = ("two_afc", "clustering", "recognizability", "representation")
COLUMNS = [*RECIPE, "observer", "observer_layer", "test", "metric", "value", "sd", "sem",
           "ci_low", "ci_high", "n", "p_value", "chance", "relation", "generator_architecture",
           "generator_style", "observer_architecture", "observer_style"]


def model_facts(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``{"architecture", "style", "seed", "robust"}`` from a model's meta (None when unknown)."""
    style = meta.get("style")
    return {"architecture": meta.get("architecture"), "style": style, "seed": meta.get("seed"),
            "robust": None if style is None else style != "standard"}


def relation(generator: str, observer: str, gen: Mapping[str, Any], obs: Mapping[str, Any]) -> str:
    """The relation of a generator to an observer (see the module doc)."""
    if "+" in generator:
        return "joint"
    if generator == observer:
        return "self"
    if gen.get("architecture") is None or obs.get("architecture") is None:
        return "unknown"
    if gen["architecture"] != obs["architecture"]:
        return "other architecture"
    if gen.get("style") == obs.get("style"):
        return "same architecture, other seed"
    return "same architecture, other training"


def _generator_facts(specs: Sequence[str], observers: list[Model],
                     given: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    known = {m.spec: model_facts(m.meta) for m in observers}
    out = {}
    for spec in specs:
        if given and spec in given:
            out[spec] = model_facts(given[spec])
        elif spec in known:
            out[spec] = known[spec]
        elif "+" in spec:
            out[spec] = {"architecture": "joint", "style": "joint", "seed": None, "robust": None}
        else:
            try:
                from repalign.models.factory import create_model

                out[spec] = model_facts(create_model(spec, device="cpu").meta)
            except (RepalignError, ValueError, KeyError) as exc:
                log.info("no metadata for generator %s (%s)", spec, exc)
                out[spec] = model_facts({})
    return out


def _penultimate(model: Model, observer_layer: Any) -> str:
    if isinstance(observer_layer, Mapping):
        observer_layer = observer_layer.get(model.spec)
    if observer_layer is not None:
        return model.check_layers(observer_layer)[0]
    pen = model.meta.get("penultimate")
    if pen:
        return str(pen)
    from repalign.models.layers import default_layers

    layers = default_layers(model)
    if not layers:
        raise ConfigError(f"No penultimate layer known for {model.spec}; pass observer_layer=.")
    return layers[-1]


def _per_target(result: MetamerResult) -> int:
    counts = pd.Series(list(zip(*(getattr(result, a) for a in RECIPE.values()),
                                result.target_ids, strict=True))).value_counts()
    return 2 if int(counts.min()) >= 2 else 1


def transfer_matrix(
    results: MetamerResult | Sequence[MetamerResult],
    observers: Any,
    *,
    tests: Sequence[str] = TESTS,
    observer_layer: Any = None,
    per_target: int | None = None,
    generator_meta: Mapping[str, Mapping[str, Any]] | None = None,
    n_perm: int = 1000,
    n_boot: int = 1000,
    seed: int = 0,
    device: Any = None,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Every test of every generator's metamers by every observer, as one tidy table.

    Args:
        results: one MetamerResult or several (concatenated).
        observers: ``Model`` s or specs (e.g. the whole zoo).
        tests: a subset of :data:`TESTS`.
        observer_layer: observer layer for the feature distance and the representation test.
        per_target: metamers per target in the clustering test (default 2 when every target has
            two repeats, else 1).
        generator_meta: ``{generator spec: meta}`` for generators that are not observers and
            cannot be built with ``create_model``.
        n_perm, n_boot, seed, device, batch_size: as in the individual tests.

    Returns:
        DataFrame with :data:`COLUMNS` (``test`` names the test; its rows keep their metrics).

    Example:
        >>> df = transfer_matrix(res, ra.list_models("zoo:*"))   # doctest: +SKIP
        >>> transfer_summary(df, "accuracy_metamers")            # doctest: +SKIP
    """
    unknown = [t for t in tests if t not in TESTS]
    if unknown or not tests:
        raise ConfigError(f"tests must be a non-empty subset of {TESTS}, received {list(tests)}.")
    items = [results] if isinstance(results, MetamerResult) else list(results)
    if not items or not all(isinstance(r, MetamerResult) for r in items):
        raise ConfigError("results must be a MetamerResult or a non-empty list of them.")
    result = items[0] if len(items) == 1 else MetamerResult.concat(items)
    dev = resolve_device(device)
    models = resolve_observers(observers, dev)
    facts = _generator_facts(list(dict.fromkeys(result.generators)), models, generator_meta)
    k = per_target or _per_target(result)
    frames = []
    for model in models:
        layer = _penultimate(model, observer_layer)
        dist = FeatureDistance(model, [layer])
        parts: list[pd.DataFrame] = []
        if "two_afc" in tests:
            df = two_afc(result, dist, n_boot=n_boot, seed=seed, device=dev, batch_size=batch_size)
            parts.append(df[df.metric == "two_afc"].assign(test="two_afc"))
        if "clustering" in tests:
            parts.append(clustering(result, dist, per_target=k, n_boot=n_boot, seed=seed, device=dev,
                                    batch_size=batch_size).assign(test="clustering"))
        if "recognizability" in tests:
            parts.append(recognizability(result, [model], n_boot=n_boot, seed=seed, device=dev,
                                         batch_size=batch_size).assign(test="recognizability"))
        if "representation" in tests:
            parts.append(representation_test(result, [model], [layer], n_perm=n_perm, n_boot=n_boot,
                                             seed=seed, device=dev, batch_size=batch_size)
                         .assign(test="representation"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # concat of all-NA columns
            block = pd.concat(parts, ignore_index=True)
        block["observer"] = model.spec
        block["observer_layer"] = layer
        frames.append(block)
    out = pd.concat(frames, ignore_index=True)
    obs_facts = {m.spec: model_facts(m.meta) for m in models}
    out["relation"] = [relation(g, o, facts[g], obs_facts[o])
                       for g, o in zip(out.generator, out.observer, strict=True)]
    out["generator_architecture"] = [facts[g]["architecture"] for g in out.generator]
    out["generator_style"] = [facts[g]["style"] for g in out.generator]
    out["observer_architecture"] = [obs_facts[o]["architecture"] for o in out.observer]
    out["observer_style"] = [obs_facts[o]["style"] for o in out.observer]
    return out.reindex(columns=COLUMNS)


def _robust(style: Any) -> str:
    if style is None or (isinstance(style, float) and np.isnan(style)):
        return "unknown"
    return "standard" if style == "standard" else ("joint" if style == "joint" else "robust")


def transfer_summary(df: pd.DataFrame, metric: str = "accuracy_metamers", *,
                     by: Sequence[str] = ("regularizer",)) -> pd.DataFrame:
    """Averages of one metric over the cells of a transfer matrix.

    Rows (``summary`` / ``group``): ``"diagonal"`` (self) vs ``"off-diagonal"``; ``"relation"``
    (self, same architecture other seed, same architecture other training, other architecture);
    ``"style"`` (``"standard -> robust"`` etc., off-diagonal cells only); ``"generator style"``
    (off-diagonal cells, by the generator's training style: do metamers transfer better from
    robust generators?); ``"architecture"`` (``"cnn -> mlp"`` etc., off-diagonal cells) and
    ``"generator architecture"`` (off-diagonal cells, by the generator's architecture).
    ``value`` is the mean over cells, ``sd`` their SD, ``n`` the cell count.

    Args:
        df: the output of :func:`transfer_matrix`.
        metric: which metric to summarise (e.g. ``"two_afc"``, ``"match_rate"``, ``"rdm_r"``).
        by: extra grouping columns kept in the output (recipe columns such as ``"regularizer"``).
    """
    sub = df[df.metric == metric].copy()
    if sub.empty:
        raise ConfigError(f"No rows with metric {metric!r}; the table holds {sorted(set(df.metric))}.")
    sub["g_style"] = sub.generator_style.map(_robust)
    sub["o_style"] = sub.observer_style.map(_robust)
    sub["g_arch"] = sub.generator_architecture.fillna("unknown").astype(str)
    sub["o_arch"] = sub.observer_architecture.fillna("unknown").astype(str)
    off = sub[sub.relation != "self"]
    views = [
        ("diagonal", sub.assign(group=np.where(sub.relation == "self", "diagonal", "off-diagonal"))),
        ("relation", sub.assign(group=sub.relation)),
        ("style", off.assign(group=off.g_style + " -> " + off.o_style)),
        ("generator style", off.assign(group=off.g_style)),
        ("architecture", off.assign(group=off.g_arch + " -> " + off.o_arch)),
        ("generator architecture", off.assign(group=off.g_arch)),
    ]
    rows = []
    for name, view in views:
        for key, grp in view.groupby([*by, "group"], sort=True, dropna=False):
            keys = key if isinstance(key, tuple) else (key,)
            vals = grp.value.to_numpy(dtype=np.float64)
            rows.append({**dict(zip([*by, "group"], keys, strict=True)), "summary": name,
                         "metric": metric, "value": float(np.nanmean(vals)) if vals.size else np.nan,
                         "sd": float(np.nanstd(vals, ddof=1)) if vals.size > 1 else np.nan,
                         "n": int(vals.size)})
    cols = [*by, "summary", "group", "metric", "value", "sd", "n"]
    return pd.DataFrame(rows, columns=cols)
