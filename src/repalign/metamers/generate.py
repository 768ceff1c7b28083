""":func:`generate_metamers`: model metamers / identically represented inputs, batched.

Every choice is a registry name (with ``":key=value"`` options) or a callable; a preset fills
the options not given. See ``docs/metamers.md`` for the recipes and measured speed-ups.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from repalign._device import resolve_device
from repalign._validation import check_images
from repalign.errors import ConfigError, ShapeError
from repalign.metamers._spec import check_options, spec_name
from repalign.metamers.criterion import STATISTICS, null_distribution, threshold_from_null
from repalign.metamers.evaluate import ActiveSet, Criterion, describe_models
from repalign.metamers.inits import make_seeds
from repalign.metamers.loop import LoopConfig, run_batch
from repalign.metamers.objectives import get_objective
from repalign.metamers.optimizers import get_optimizer
from repalign.metamers.parametrizations import get_parametrization
from repalign.metamers.plan import Plan, build_plan
from repalign.metamers.presets import get_preset
from repalign.metamers.regularizers import build_loss
from repalign.metamers.result import MetamerResult
from repalign.metamers.schedules import get_schedule
from repalign.metamers.stopping import STOPS, get_stop
from repalign.metamers.transforms import build_transforms
from repalign.specs import split_spec

__all__ = ["generate_metamers"]

log = logging.getLogger(__name__)

_OPTIONS = (
    "init", "regularizer", "parametrization", "transforms", "objective", "optimizer", "lr",
    "schedule", "steps", "stop", "keep", "check_every",
)


def _targets(targets: Any) -> tuple[torch.Tensor, list[str], np.ndarray]:
    images = getattr(targets, "images", targets)
    images = check_images(images, "targets").to(torch.float32)
    n = images.shape[0]
    ids = list(getattr(targets, "ids", None) or [f"target/{i:04d}" for i in range(n)])
    labels = getattr(targets, "labels", None)
    labels = np.full(n, -1, np.int64) if labels is None else np.asarray(labels, np.int64)
    return images, ids, labels


@contextmanager
def _frozen_models(models: Sequence[torch.nn.Module], device: torch.device) -> Any:
    """Models on ``device`` in eval mode with parameter gradients off; modes restored after."""
    modes = [m.training for m in models]
    grads = [(p, p.requires_grad) for m in models for p in m.parameters()]
    try:
        for m in models:
            m.to(device).eval()
        for p, _ in grads:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in grads:
            p.requires_grad_(flag)
        for m, mode in zip(models, modes, strict=True):
            m.train(mode)


def _check_options(o: dict[str, Any], batch_size: int, combine: str, quantile: float) -> None:
    for name in ("steps", "check_every"):
        if not isinstance(o[name], (int, np.integer)) or isinstance(o[name], bool) or o[name] < 1:
            raise ConfigError(f"{name} must be a positive integer, received {o[name]!r}.")
    if not isinstance(o["lr"], (int, float)) or o["lr"] <= 0:
        raise ConfigError(f"lr must be a positive number, received {o['lr']!r}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, received {batch_size!r}.")
    if o["keep"] not in ("last", "best"):
        raise ConfigError(f"keep must be 'last' or 'best', received {o['keep']!r}.")
    if combine not in ("mean", "max"):
        raise ConfigError(f"combine must be 'mean' or 'max', received {combine!r}.")
    if not 0 < quantile <= 1:
        raise ConfigError(f"quantile must be in (0, 1], received {quantile}.")


def _check_optimizer(factory: Any, name: Any, lr: float, kwargs: dict[str, Any]) -> None:
    """Build the optimizer once on a dummy parameter: options it does not take raise here."""
    check_options(factory, "optimizer", name, [], lr=lr, **kwargs)
    try:
        factory([torch.zeros(1, 1, requires_grad=True)], lr=lr, **kwargs)
    except TypeError as exc:  # factories that pass **options on to torch.optim
        raise ConfigError(
            f"Bad options {kwargs} for optimizer {spec_name(name)!r}: {exc}."
        ) from None


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
    *,
    preset: str = "fast",
    init: Any = None,
    regularizer: Any = None,
    parametrization: Any = None,
    transforms: Any = None,
    objective: Any = None,
    optimizer: Any = None,
    lr: float | None = None,
    schedule: Any = None,
    steps: int | None = None,
    stop: Any = None,
    keep: str | None = None,
    check_every: int | None = None,
    repeats: int = 1,
    combine: str = "mean",
    model_weights: Sequence[float] | None = None,
    null_stimuli: Any = None,
    statistic: str = "spearman",
    quantile: float = 1.0,
    null_pairs: int | None = None,
    same_label: bool | str = False,
    quantize: bool = True,
    batch_size: int = 64,
    seed: int = 0,
    device: Any = None,
    amp: bool = False,
    history_every: int | None = None,
    cache_dir: Any = None,
    quiet: bool = False,
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
        preset: ``"fast"`` (default), ``"feather"`` or ``"nanda"``; fills options left None.
        init: starting point (``"other"``: another natural image, drawn from ``null_stimuli`` when
            given, else from the other targets; ``"noise"``, ``"blend:alpha=0.5"``,
            ``("image", {"image": x})``, ...).
        regularizer: ``"none"``, ``"human_leaning"``, ``"adversarial"``, ``"seed_anchored"``,
            an image regularizer (``"total_variation:weight=1e-4"``), ``{name: weight}``, or a
            :class:`~repalign.metamers.terms.Term`.
        parametrization: ``"pixel"``, ``"sigmoid"``, ``"fourier"``.
        transforms: None, ``"robust"``, ``"robust_small"`` or a list like ``["jitter:d=4"]``;
            applied to the representation term only.
        objective: ``"normalized_l2"``, ``"cosine"``, ``"mse"`` or a callable.
        optimizer: ``"normalized_gd"``, ``"sgd"``, ``"sgd_momentum"``, ``"adam"`` or a factory.
        lr: base learning rate (step size).
        schedule: ``"constant"``, ``"halving"``, ``"cosine"``, ``"step"``, ``"plateau"``.
        steps: maximum number of steps.
        stop: ``"fixed"``, ``"threshold:tau=0.01"``, ``"plateau"``, ``"criterion"``.
        keep: ``"last"`` or ``"best"`` (lowest loss) iterate.
        check_every: steps between checks of the criterion and the stopping rule.
        repeats: random starting points per target and layer.
        combine: ``"mean"`` or ``"max"`` of the per-model distances of a joint group.
        model_weights: one positive weight per distinct model (joint groups).
        null_stimuli: natural images for the criterion's null (default: the targets).
        statistic: ``"spearman"`` (default) or ``"pearson"``.
        quantile: 1.0 compares with the null's maximum; lower values with that quantile.
        null_pairs: None for all pairs of ``null_stimuli``, else that many random pairs.
        same_label: also require the generator's label of the metamer to equal its label of the
            target (``True``/``"predicted"``, Feather's check) or the target's label (``"true"``).
        quantize: judge and return 8-bit images (rounded), as saved PNGs hold.
        batch_size: rows optimised together.
        seed: seeds the starting points, transforms and random null pairs.
        device: ``"auto"``/None, ``"cpu"``, ``"cuda"``; models are moved there.
        amp: bfloat16 autocast of the forward passes (CUDA only).
        history_every: steps between loss-history samples (default: about 200 samples).
        cache_dir: folder for the on-disk cache of null distributions.
        quiet: no progress bar.

    Returns:
        A :class:`MetamerResult` with one row per metamer.

    Example:
        >>> import repalign as ra                                   # doctest: +SKIP
        >>> model = ra.create_model("zoo:cnn_standard_s0")          # doctest: +SKIP
        >>> stim = ra.load_stimuli("bundled:digits")                # doctest: +SKIP
        >>> res = ra.generate_metamers(model, stim.subset(range(8)), layers="features.4",
        ...                            null_stimuli=stim)           # doctest: +SKIP
        >>> res.success.mean(), res.steps_to_success               # doctest: +SKIP
    """
    t0 = time.perf_counter()
    opts = get_preset(preset)
    given = dict(zip(_OPTIONS, (init, regularizer, parametrization, transforms, objective,
                                optimizer, lr, schedule, steps, stop, keep, check_every),
                     strict=True))
    opts.update({k: v for k, v in given.items() if v is not None})
    _check_options(opts, batch_size, combine, quantile)
    if statistic not in STATISTICS:
        raise ConfigError(f"statistic must be one of {STATISTICS}, received {statistic!r}.")
    dev = resolve_device(device)
    if amp and dev.type != "cuda":
        raise ConfigError(f"amp=True needs a CUDA device, but generation runs on {dev}; drop amp.")

    images, ids, labels = _targets(targets)
    plan = build_plan(models, images.shape[0], layers, repeats=repeats, model_weights=model_weights)
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
                      "threshold.", stacklevel=2)

    name_o, kw_o = split_spec(opts["optimizer"], "optimizer")
    name_s, kw_s = split_spec(opts["schedule"], "schedule")
    name_p, kw_p = split_spec(opts["parametrization"], "parametrization")
    name_st, kw_st = split_spec(opts["stop"], "stop")
    loss = build_loss(opts["regularizer"])
    cfg = LoopConfig(
        steps=int(opts["steps"]), lr=float(opts["lr"]),
        optimizer=get_optimizer(name_o), optimizer_kwargs=kw_o,
        schedule=get_schedule(name_s), schedule_kwargs=kw_s,
        parametrization=get_parametrization(name_p), parametrization_kwargs=kw_p,
        objective=get_objective(opts["objective"]), loss=loss,
        transforms=build_transforms(opts["transforms"]),
        stop=get_stop(name_st), stop_kwargs=kw_st,
        check_every=int(opts["check_every"]), keep=opts["keep"], combine=combine,
        history_every=int(history_every or max(1, int(opts["steps"]) // 200)),
        amp=amp, quantize=quantize, seed=seed, quiet=quiet,
        prescreen=isinstance(name_st, str) and not STOPS.info(name_st).uses_distance,
    )
    # validate every piece's options before any work
    check_options(cfg.schedule, "schedule", name_s, cfg.steps, **kw_s)
    cfg.schedule(cfg.steps, **kw_s)
    check_options(cfg.stop, "stop", name_st, 1, **kw_st)
    cfg.stop(1, **kw_st)
    check_options(cfg.parametrization, "parametrization", name_p, images[:1], **kw_p)
    _check_optimizer(cfg.optimizer, name_o, cfg.lr, kw_o)
    n_t = images.shape[0]
    init_name, init_kw = split_spec(opts["init"], "init")
    if init_name == "other" and "pool" not in init_kw and null_stimuli is not None:
        init_kw["pool"] = null_images  # other natural images: the null's stimuli
    seeds_all = make_seeds((init_name, init_kw), images.repeat(repeats, 1, 1, 1), seed=seed)

    with _frozen_models(plan.models, dev):
        mode = _same_label_mode(same_label, labels, plan, images)
        crit, shown = _criterion(plan, null_images, statistic, quantile, null_pairs, seed,
                                 cache_dir, mode)
        outs, steps_run = [], []
        for start in range(0, len(plan), batch_size):
            rows = np.arange(start, min(len(plan), start + batch_size))
            act = ActiveSet(plan, rows, combine, dev)
            t_idx = torch.as_tensor(plan.target[rows])
            s_idx = torch.as_tensor(plan.repeat[rows] * n_t + plan.target[rows])
            cfg.seed = seed + start
            out = run_batch(act, images[t_idx].to(dev), seeds_all[s_idx].to(dev),
                            torch.as_tensor(labels[plan.target[rows]], device=dev), cfg, crit)
            outs.append(out)
            steps_run.append(out.steps_run)
    cfg.seed = seed

    n_rows = len(plan)
    config = {
        "preset": preset, **{k: spec_name(v) if v is not None else None for k, v in opts.items()
                             if k not in ("lr", "steps", "check_every")},
        "lr": cfg.lr, "steps": cfg.steps, "check_every": cfg.check_every, "loss": loss.name,
        "repeats": repeats, "combine": combine, "model_weights": model_weights,
        "statistic": statistic, "quantile": quantile, "null_pairs": null_pairs,
        "null_images": int(null_images.shape[0]), "thresholds": shown, "same_label": mode,
        "quantize": quantize, "batch_size": batch_size, "seed": seed, "device": str(dev),
        "amp": amp, "steps_run": steps_run, "models": describe_models(plan.models),
        "history_every": cfg.history_every,
    }
    return MetamerResult(
        images=torch.cat([o.images for o in outs]),
        seeds=torch.cat([o.seeds for o in outs]),
        targets=images[torch.as_tensor(plan.target)],
        target_ids=[ids[t] for t in plan.target],
        target_labels=labels[plan.target],
        generators=[plan.generator_label(r) for r in range(n_rows)],
        layers=[plan.layer_label(r) for r in range(n_rows)],
        inits=[spec_name(opts["init"])] * n_rows,
        regularizers=[spec_name(opts["regularizer"])] * n_rows,
        optimizers=[spec_name(opts["optimizer"])] * n_rows,
        repeats=plan.repeat,
        final_distance=np.concatenate([o.final_distance for o in outs]),
        success=np.concatenate([o.success for o in outs]),
        steps_to_success=np.concatenate([o.steps_to_success for o in outs]),
        history={"step": np.arange(0, cfg.steps, cfg.history_every),
                 "loss": np.concatenate([o.history_loss for o in outs], axis=1)},
        wall_time=time.perf_counter() - t0,
        config=config,
    )
