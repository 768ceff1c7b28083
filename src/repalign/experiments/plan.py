"""Planned trials of an experiment: which images each distinct trial shows, and its right answer
where there is one.

A planned trial is a JSON-able dict: ``items`` (image names in canonical order), ``choices``
(matching: the targets; recognition: class indices), ``answer`` (what a correct response picks,
when defined) and ``group`` (metamer recipe, matching draw). Canonical orders:

- odd_one_out: three stimuli;
- two_afc: the metamer (the reference), its target, its seed (Nanda et al.'s 2AFC: is the
  metamer closer to its target or to its seed?); the export writes them as ref, p0, p1;
- matching: ``3 x per_target`` metamers of three targets of one recipe, ``choices`` the targets;
- recognition: one image (a metamer, a natural target, or a stimulus), ``answer`` its class;
- rating: two stimuli (every pair of the set is a candidate).

:func:`plan_trials` is the one place trials are planned; adaptive selection will replace it for
odd-one-out when ``design.adaptive`` is switched on.

Example:
    >>> from repalign.experiments.config import load_experiment
    >>> from repalign.experiments.pool import build_pool
    >>> cfg = load_experiment({"paradigm": "odd_one_out", "design": {"trials_per_participant": 4},
    ...                        "stimuli": {"source": "bundled:digits", "limit": 6}})
    >>> [len(t["items"]) for t in plan_trials(cfg, build_pool(cfg))]
    [3, 3, 3, 3]
"""

from __future__ import annotations

import io
import itertools
from typing import Any

import numpy as np
from PIL import Image

from repalign.errors import ConfigError
from repalign.experiments.config import ExperimentConfig
from repalign.experiments.pool import Pool, PoolItem

__all__ = ["plan_trials"]

Trial = dict[str, Any]


def _pixels(item: PoolItem) -> np.ndarray:
    with Image.open(io.BytesIO(item.png)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float64).reshape(-1) / 255.0


def _odd_one_out(pool: Pool, n: int, rng: np.random.Generator) -> list[Trial]:
    names = [it.name for it in pool.by_kind("stimulus")]
    total = len(names) * (len(names) - 1) * (len(names) - 2) // 6
    seen: set[tuple[int, ...]] = set()
    out: list[Trial] = []
    while len(out) < n:
        tri = rng.choice(len(names), size=3, replace=False)
        key = tuple(sorted(int(v) for v in tri))
        if key in seen and len(seen) < total:  # distinct triplets while there are any left
            continue
        seen.add(key)
        out.append({"items": [names[int(v)] for v in tri]})
    return out


def _two_afc(pool: Pool) -> list[Trial]:
    seeds = {it.index: it for it in pool.by_kind("seed")}
    return [{"items": [m.name, m.target, seeds[m.index].name], "group": m.recipe}
            for m in pool.by_kind("metamer")]


def _recognition(pool: Pool, cfg: ExperimentConfig) -> list[Trial]:
    kinds = ("stimulus", "metamer") + (("target",) if cfg.recognition.include_targets else ())
    return [{"items": [it.name], "answer": it.label, "group": it.recipe}
            for it in pool.items if it.kind in kinds]


def _rating(pool: Pool) -> list[Trial]:
    names = [it.name for it in pool.by_kind("stimulus")]
    return [{"items": [a, b]} for a, b in itertools.combinations(names, 2)]


def _matching(pool: Pool, cfg: ExperimentConfig, rng: np.random.Generator) -> list[Trial]:
    from repalign.evaluation.clustering import hard_triples, random_triples

    per = cfg.matching.per_target
    targets = {it.name: it for it in pool.by_kind("target")}
    by_name = {it.name: it for it in pool.items}
    recipes: dict[str, dict[str, list[str]]] = {}
    for m in pool.by_kind("metamer"):
        key = "|".join(f"{k}={v}" for k, v in m.recipe.items() if k != "repeat")
        recipes.setdefault(key, {}).setdefault(m.target, []).append(m.name)
    out = []
    for by_target in recipes.values():
        eligible = [t for t, ms in by_target.items() if len(ms) >= per]
        if len(eligible) < 3:
            continue
        if cfg.matching.draw == "hard":
            px = np.stack([_pixels(targets[t]) for t in eligible])
            d = np.sqrt(((px[:, None, :] - px[None, :, :]) ** 2).mean(-1))
            triples = hard_triples(d)
        else:
            triples = random_triples(len(eligible), rng)
        for tri in triples:
            chosen = [eligible[int(k)] for k in tri]
            items = [m for t in chosen for m in by_target[t][:per]]
            first = by_name[items[0]]
            out.append({"items": items, "choices": chosen,
                        "answer": {m: t for t in chosen for m in by_target[t][:per]},
                        "group": {**{k: v for k, v in first.recipe.items() if k != "repeat"},
                                  "draw": cfg.matching.draw}})
    if not out:
        raise ConfigError(
            f"matching: no recipe of the metamer result has 3 targets with "
            f"{per} metamer(s) each; generate more targets or repeats, or lower matching.per_target."
        )
    return out


def plan_trials(cfg: ExperimentConfig, pool: Pool) -> list[Trial]:
    """The distinct trials of the experiment, ``design.planned_trials`` of them.

    Args:
        cfg: the experiment.
        pool: its images (:func:`~repalign.experiments.pool.build_pool`).

    Returns:
        Planned trials (see the module docstring), drawn with ``cfg.seed``.

    Raises:
        ConfigError: more planned trials asked for than the stimuli allow.
    """
    rng = np.random.default_rng([cfg.seed, 12])
    want = cfg.design.planned_trials or cfg.design.trials_per_participant
    if cfg.paradigm == "odd_one_out":
        return _odd_one_out(pool, want, rng)
    if cfg.paradigm == "two_afc":
        candidates = _two_afc(pool)
    elif cfg.paradigm == "recognition":
        candidates = _recognition(pool, cfg)
    elif cfg.paradigm == "rating":
        candidates = _rating(pool)
    else:
        candidates = _matching(pool, cfg, rng)
    if want > len(candidates):
        raise ConfigError(
            f"design: {want} planned trials (planned_trials, or trials_per_participant) but the "
            f"stimuli allow only {len(candidates)} distinct {cfg.paradigm} trials; lower it."
        )
    order = rng.permutation(len(candidates))[:want]
    return [candidates[int(i)] for i in sorted(order)]
