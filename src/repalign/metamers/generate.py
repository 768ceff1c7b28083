""":func:`generate_metamers`: model metamers / identically represented inputs, batched.

A :class:`~repalign.metamers.recipe.MetamerRecipe` (or a preset's name) says how; keywords
override its fields. Runs can be checkpointed and resumed mid-optimisation (``checkpoint=``).
See ``docs/metamers.md`` for the recipes and measured speed-ups.
"""
from __future__ import annotations

import functools
import logging
import time
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from repalign._device import resolve_device
from repalign._hashing import hash_array
from repalign._validation import check_images
from repalign.errors import ConfigError, ShapeError
from repalign.metamers._spec import spec_name
from repalign.metamers.checkpoint import RunCheckpoint
from repalign.metamers.compiled import compiled
from repalign.metamers.criterion import null_distribution, threshold_from_null
from repalign.metamers.evaluate import ActiveSet, Criterion, describe_models
from repalign.metamers.inits import make_seeds
from repalign.metamers.loop import BatchOutcome, LoopConfig, run_batch
from repalign.metamers.plan import Plan, build_plan
from repalign.metamers.recipe import MetamerRecipe, as_recipe, criterion_options
from repalign.metamers.resolve import LEGACY, apply_overrides, loop_config
from repalign.metamers.result import MetamerResult
from repalign.specs import split_spec

__all__ = ["OPTION_NAMES", "generate_metamers"]

log = logging.getLogger(__name__)

_RUN_OPTIONS = (
    "null_stimuli", "repeats", "combine", "model_weights", "batch_size", "seed", "device",
    "cache_dir", "checkpoint", "checkpoint_every", "quiet",
)
#: every keyword generate_metamers takes besides models, targets and layers
OPTION_NAMES = tuple(sorted(
    {*_RUN_OPTIONS, *LEGACY, "recipe", "preset", *(set(MetamerRecipe.model_fields) - {"name"})}
))


def _targets(targets: Any) -> tuple[torch.Tensor, list[str], np.ndarray]:
    images = getattr(targets, "images", targets)
    images = check_images(images, "targets").to(torch.float32)
    n = images.shape[0]
    if n == 0:
        raise ShapeError("targets is empty: generate_metamers needs at least one target image, "
                         f"received a batch of shape {tuple(images.shape)}.")
    ids = list(getattr(targets, "ids", None) or [f"target/{i:04d}" for i in range(n)])
    labels = getattr(targets, "labels", None)
    labels = np.full(n, -1, np.int64) if labels is None else np.asarray(labels, np.int64)
    return images, ids, labels


@contextmanager
def _frozen_models(plan: Plan, device: torch.device, recipe: MetamerRecipe) -> Any:
    """The plan's models on ``device`` in eval mode with parameter gradients off, in
    channels_last memory format and compiled around the read layers when the recipe asks;
    modes, format and compilation undone after."""
    models = plan.models
    modes = [m.training for m in models]
    grads = [(p, p.requires_grad) for m in models for p in m.parameters()]
    try:
        for m in models:
            m.to(device).eval()
            if recipe.channels_last:
                m.to(memory_format=torch.channels_last)
        for p, _ in grads:
            p.requires_grad_(False)
        if recipe.compile:
            backend = recipe.compile if isinstance(recipe.compile, str) else "inductor"
            parts = [(m.network, [lay for v, lay in plan.taps if v == u])
                     for u, m in enumerate(models)]
            with compiled(parts, backend):
                yield
        else:
            yield
    finally:
        for p, flag in grads:
            p.requires_grad_(flag)
        for m, mode in zip(models, modes, strict=True):
            m.train(mode)
            if recipe.channels_last:
                m.to(memory_format=torch.contiguous_format)


def _same_label_mode(same_label: Any, labels: np.ndarray, plan: Plan, images: torch.Tensor) -> Any:
    if same_label in (False, None):
        return None
    mode = "predicted" if same_label is True else same_label
    if mode not in ("predicted", "true"):
        raise ConfigError(f"same_label must be False, True, 'predicted' or 'true', got {same_label!r}.")
    if mode == "true":
        with torch.no_grad():
            classes = min(int(m(images[:1].to(m.device)).shape[1]) for m in plan.models)
        if labels.min() < 0 or labels.max() >= classes:
            raise ConfigError(
                f"same_label='true' needs target labels in [0, {classes}) (the models' classes), "
                f"received labels in [{labels.min()}, {labels.max()}]; use same_label='predicted' "
                "(the generator's own label for the target) or targets of those classes."
            )
    return mode


def _criterion(
    plan: Plan, null_images: torch.Tensor, statistic: str, quantile: float,
    null_pairs: int | None, seed: int, cache_dir: Any, same_label: Any,
) -> tuple[Criterion, dict[str, float]]:
    thresholds, shown = {}, {}
    for u, layer in plan.taps:
        model = plan.models[u]
        null = null_distribution(model, layer, null_images, statistic=statistic, n_pairs=null_pairs,
                                 seed=seed, cache_dir=cache_dir)
        thresholds[(u, layer)] = threshold_from_null(null, quantile)
        shown[f"{model.spec}@{layer}"] = thresholds[(u, layer)]
    return Criterion(thresholds, statistic, same_label), shown


def generate_metamers(
    models: Any,
    targets: Any,
    layers: Any = None,
    recipe: Any = None,
    *,
    null_stimuli: Any = None,
    repeats: int = 1,
    combine: str = "mean",
    model_weights: Sequence[float] | None = None,
    batch_size: int = 64,
    seed: int = 0,
    device: Any = None,
    cache_dir: Any = None,
    checkpoint: Any = None,
    checkpoint_every: int = 100,
    quiet: bool = False,
    **overrides: Any,
) -> MetamerResult:
    """Generate metamers: images that ``models`` represent like ``targets`` at ``layers``.

    Rows are generator groups x layer groups x ``repeats`` x targets, optimised in batches of
    ``batch_size``. Samples are independent: a sample's result does not depend on its batch.

    Args:
        models: a ``Model``, or a list whose items are ``Model`` s (one metamer each) or lists
            of ``Model`` s matched jointly (one image for all, generators joined with ``"+"``).
        targets: (N, C, H, W) images in [0, 1], or ``Stimuli`` (ids and labels kept).
        layers: a layer name, ``"a+b"`` (several layers averaged), a list of those (one metamer
            per entry), a mapping ``{model spec or index: layer}`` for models with different
            layer names, or None for each model's ``meta["default_layers"]``.
        recipe: a :class:`~repalign.metamers.recipe.MetamerRecipe`, a preset name (``"fast"``,
            the default; ``"feather"``, ``"nanda"``) or a mapping of recipe fields.
        null_stimuli: natural images for the criterion's null (default: the targets); ``"other"``
            starts are drawn from them too.
        repeats: random starting points per target and layer.
        combine: ``"mean"`` or ``"max"`` of the per-model distances of a joint group.
        model_weights: one positive weight per distinct model (joint groups).
        batch_size: rows optimised together.
        seed: seeds the starting points, transforms and random null pairs.
        device: ``"auto"``/None, ``"cpu"``, ``"cuda"``; models are moved there.
        cache_dir: folder for the on-disk cache of null distributions.
        checkpoint: folder of the run's checkpoint. Finished batches are stored there and the
            batch in progress every ``checkpoint_every`` steps; calling again with the same
            arguments skips finished batches and continues the unfinished one from its last
            snapshot, ending with the result of an uninterrupted run.
        checkpoint_every: steps between snapshots of the batch in progress.
        quiet: no progress bar.
        **overrides: recipe fields that replace the recipe's (``steps=500``,
            ``optimizer="sgd:momentum=0.5"``, ``precision="bf16"``, ...; see
            :class:`~repalign.metamers.recipe.MetamerRecipe`), and the keywords of earlier
            versions: ``preset`` (= ``recipe``), ``statistic``, ``quantile``, ``null_pairs``,
            ``same_label`` (enter ``criterion``), ``amp=True`` (= ``precision="bf16"``, CUDA).

    Returns:
        A :class:`MetamerResult` with one row per metamer.

    Example:
        >>> import repalign as ra                                   # doctest: +SKIP
        >>> model = ra.create_model("zoo:cnn_standard_s0")          # doctest: +SKIP
        >>> stim = ra.load_stimuli("bundled:digits")                # doctest: +SKIP
        >>> res = ra.generate_metamers(model, stim.subset(range(8)), "features.4",
        ...                            recipe="fast", null_stimuli=stim)  # doctest: +SKIP
        >>> res.success.mean(), res.steps_to_success               # doctest: +SKIP
    """
    t0 = time.perf_counter()
    preset = overrides.pop("preset", None)
    if preset is not None and recipe is not None:
        raise ConfigError(f"Give the recipe once: recipe={spec_name(recipe)!r} and "
                          f"preset={preset!r} (preset= is the old spelling of recipe=).")
    dev = resolve_device(device)
    rec = apply_overrides(as_recipe(recipe if recipe is not None else (preset or "fast")),
                          overrides, dev)
    _check_run(batch_size, combine, checkpoint_every)
    statistic, crit_opts = criterion_options(rec.criterion)

    images, ids, labels = _targets(targets)
    plan = build_plan(models, images.shape[0], layers, repeats=repeats, model_weights=model_weights)
    null_images = _null_images(plan, images, null_stimuli)
    cfg = loop_config(rec, images[:1], combine=combine, quiet=quiet,
                      checkpoint_every=checkpoint_every if checkpoint is not None else None)
    n_t = images.shape[0]
    init_name, init_kw = split_spec(rec.init, "init")
    if init_name == "other" and "pool" not in init_kw and null_stimuli is not None:
        init_kw["pool"] = null_images  # other natural images: the null's stimuli
    seeds_all = make_seeds((init_name, init_kw), images.repeat(repeats, 1, 1, 1), seed=seed)

    run_info = {"recipe": rec.describe(), "repeats": repeats, "combine": combine,
                "model_weights": model_weights, "batch_size": batch_size, "seed": seed,
                "models": describe_models(plan.models)}
    ck = None
    if checkpoint is not None:
        ck = RunCheckpoint(checkpoint, {
            **run_info, "rows": [[plan.generator_label(r), plan.layer_label(r)]
                                 for r in range(len(plan))],
            "targets": hash_array(images), "null": hash_array(null_images)})
    with _frozen_models(plan, dev, rec):
        mode = _same_label_mode(crit_opts["same_label"], labels, plan, images)
        crit, shown = _criterion(plan, null_images, statistic, crit_opts["quantile"],
                                 crit_opts["null_pairs"], seed, cache_dir, mode)
        outs: list[BatchOutcome] = []
        for b, start in enumerate(range(0, len(plan), batch_size)):
            done = ck.finished(b) if ck is not None else None
            if done is None:
                rows = np.arange(start, min(len(plan), start + batch_size))
                t_idx = torch.as_tensor(plan.target[rows])
                s_idx = torch.as_tensor(plan.repeat[rows] * n_t + plan.target[rows])
                done = run_batch(
                    ActiveSet(plan, rows, combine, dev), images[t_idx].to(dev),
                    seeds_all[s_idx].to(dev), torch.as_tensor(labels[plan.target[rows]], device=dev),
                    cfg, crit, seed=seed + start,
                    resume=ck.state(b) if ck is not None else None,
                    save=functools.partial(ck.save_state, b) if ck is not None else None,
                )
                if done.resumed_from:
                    log.info("batch %d resumed at step %d", b, done.resumed_from)
                if ck is not None:
                    ck.save_finished(b, done)
            outs.append(done)
    return _result(plan, outs, images, ids, labels, rec, cfg, run_info, {
        "statistic": statistic, **crit_opts, "same_label": mode,
        "null_images": int(null_images.shape[0]), "thresholds": shown, "device": str(dev),
        "amp": rec.precision != "fp32", "history_every": cfg.history_every,
    }, time.perf_counter() - t0)


def _check_run(batch_size: Any, combine: str, checkpoint_every: Any) -> None:
    for name, value in (("batch_size", batch_size), ("checkpoint_every", checkpoint_every)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, received {value!r}.")
    if combine not in ("mean", "max"):
        raise ConfigError(f"combine must be 'mean' or 'max', received {combine!r}.")


def _null_images(plan: Plan, images: torch.Tensor, null_stimuli: Any) -> torch.Tensor:
    shapes = {m.input_size for m in plan.models}
    for m in plan.models:
        check_images(images, f"targets for {m.spec}", channels=m.input_size[0])
    if len({s[0] for s in shapes}) > 1:
        raise ConfigError(f"Models take different channel counts {sorted(shapes)}; group models "
                          "that take the same images.")
    null_images = images if null_stimuli is None else getattr(null_stimuli, "images", null_stimuli)
    null_images = check_images(null_images, "null_stimuli", channels=images.shape[1])
    if null_images.shape[1:] != images.shape[1:]:
        raise ShapeError(f"null_stimuli have shape {tuple(null_images.shape[1:])} per image but "
                         f"the targets {tuple(images.shape[1:])}; use stimuli of the targets' size.")
    if null_images.shape[0] < 15:
        warnings.warn(f"The criterion's null comes from only {null_images.shape[0]} natural "
                      "images; pass null_stimuli=... (e.g. the whole stimulus set) for a stricter "
                      "threshold.", stacklevel=3)
    return null_images


def _result(
    plan: Plan, outs: list[BatchOutcome], images: torch.Tensor, ids: list[str],
    labels: np.ndarray, rec: MetamerRecipe, cfg: LoopConfig, run_info: dict[str, Any],
    extra: dict[str, Any], wall_time: float,
) -> MetamerResult:
    n_rows = len(plan)
    described = rec.describe()
    config = {
        "preset": rec.name, **{k: v for k, v in described.items() if k != "name"},
        "loss": cfg.loss.name, **run_info, **extra,
        "steps_run": [o.steps_run for o in outs], "resumed_from": [o.resumed_from for o in outs],
    }
    return MetamerResult(
        images=torch.cat([o.images for o in outs]),
        seeds=torch.cat([o.seeds for o in outs]),
        targets=images[torch.as_tensor(plan.target)],
        target_ids=[ids[t] for t in plan.target],
        target_labels=labels[plan.target],
        generators=[plan.generator_label(r) for r in range(n_rows)],
        layers=[plan.layer_label(r) for r in range(n_rows)],
        inits=[spec_name(rec.init)] * n_rows,
        regularizers=[spec_name(rec.regularizer)] * n_rows,
        optimizers=[spec_name(rec.optimizer)] * n_rows,
        repeats=plan.repeat,
        final_distance=np.concatenate([o.final_distance for o in outs]),
        success=np.concatenate([o.success for o in outs]),
        steps_to_success=np.concatenate([o.steps_to_success for o in outs]),
        history={"step": np.arange(0, cfg.steps, cfg.history_every),
                 "loss": np.concatenate([o.history_loss for o in outs], axis=1)},
        wall_time=wall_time,
        config=config,
    )
