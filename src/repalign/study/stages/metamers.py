"""Stage ``metamers``: the grid generators x regularizers x starting points x optimizers.

One unit per (generator, regularizer, init, optimizer) generates metamers for every target at
every grid layer (one metamer per target, layer and repeat) with
:func:`repalign.generate_metamers`; the criterion's null comes from the whole main stimulus set.
The artifact is the saved :class:`~repalign.metamers.result.MetamerResult` (``result.npz`` and
``result.json``); rows summarise each layer: ``success_rate``, ``median_steps`` (over the
successful metamers), ``final_distance`` (mean) and ``n``. While a unit runs, its checkpoint
(finished batches, and the batch in progress every ``checkpoint_every`` steps) lives in the run
directory's ``work/metamers/<unit key>``: a killed study resumes the unit mid-optimisation.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from repalign.errors import ConfigError, SpecError, UnknownNameError
from repalign.metamers.result import MetamerResult
from repalign.specs import split_spec
from repalign.study.config import MetamersConfig
from repalign.study.context import StudyContext, balanced_subset
from repalign.study.plan import Planner
from repalign.study.stages.features import checked_model
from repalign.study.units import Unit, UnitInput, UnitOutput, result_row

__all__ = ["expand", "load_result", "result_files", "run"]

# set by the grid or by the study; not allowed in metamers.options
_RESERVED = {
    "models", "targets", "layers", "init", "regularizer", "optimizer", "steps", "repeats",
    "seed", "device", "quiet", "null_stimuli", "cache_dir", "checkpoint",
}


def _check_options(options: Mapping[str, object]) -> None:
    from repalign.metamers.generate import OPTION_NAMES

    valid = sorted(set(OPTION_NAMES) - _RESERVED)
    for key in options:
        if key in _RESERVED:
            raise ConfigError(
                f"metamers.options.{key}: set by the grid or the study; use the metamers section's "
                "own keys (generators, layers, regularizers, inits, optimizers, steps, repeats)."
            )
        if key not in valid:
            import difflib

            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"metamers.options.{key}: unknown option; {hint}Valid: {', '.join(valid)}.")


def _check_names(cfg: MetamersConfig) -> None:
    """Every grid entry must name a registered recipe (options after ``:`` are checked later)."""
    from repalign.metamers.inits import INITS
    from repalign.metamers.optimizers import OPTIMIZERS
    from repalign.metamers.regularizers import REGULARIZERS

    for key, registry in (("regularizers", REGULARIZERS), ("inits", INITS), ("optimizers", OPTIMIZERS)):
        for i, spec in enumerate(getattr(cfg, key)):
            try:
                registry.get(split_spec(spec, key[:-1])[0])
            except (UnknownNameError, SpecError) as exc:
                raise ConfigError(f"metamers.{key}[{i}]: {exc}") from None


def expand(p: Planner) -> None:
    cfg = p.config.metamers
    if cfg is None:
        return
    _check_options(cfg.options)
    _check_names(cfg)
    main = p.ctx.stimuli["main"]
    pool = main
    index = np.arange(len(main))
    if cfg.classes is not None:
        if main.labels is None or not set(cfg.classes) <= set(main.labels.tolist()):
            have = None if main.labels is None else sorted(set(main.labels.tolist()))
            raise ConfigError(f"metamers.classes: {cfg.classes} are not all labels of the stimuli ({have}).")
        index = np.flatnonzero(np.isin(main.labels, cfg.classes))
        pool = main.subset(index)
    try:
        targets = index[balanced_subset(pool, cfg.targets)].tolist()
    except ConfigError as exc:
        raise ConfigError(f"metamers.targets: {exc}") from None
    generators = p.expand_specs(cfg.generators, "metamers.generators")
    for spec in generators:
        info = p.model(spec, "metamers.generators")
        layers = info.layers(cfg.layers, where="metamers.layers")
        for reg in cfg.regularizers:
            for init in cfg.inits:
                for opt in cfg.optimizers:
                    params = {
                        "model": spec, "model_key": info.key, "layers": layers,
                        "regularizer": reg, "init": init, "optimizer": opt, "steps": cfg.steps,
                        "repeats": cfg.repeats, "targets": targets,
                        "stimuli_sha256": p.stimuli_key("main"), "options": dict(cfg.options),
                        "seed": p.seed("metamers", spec, reg, init, opt),
                    }
                    p.add("metamers", f"metamers {spec} {reg}/{init}/{opt}", params,
                          tag=("metamers", spec, reg, init, opt), gpu=True)


def run(unit: Unit, ctx: StudyContext, inputs: Mapping[str, UnitInput]) -> UnitOutput:
    from repalign import generate_metamers

    prm = unit.params
    model = checked_model(prm["model"], prm["model_key"], ctx)
    main = ctx.stimuli["main"]
    work = Path(ctx.work_dir) / "metamers" / unit.key if ctx.work_dir is not None else None
    res = generate_metamers(
        [model], main.subset(prm["targets"]), list(prm["layers"]), init=prm["init"],
        regularizer=prm["regularizer"], optimizer=prm["optimizer"], steps=prm["steps"],
        repeats=prm["repeats"], null_stimuli=main, seed=prm["seed"], device=model.device,
        quiet=True, checkpoint=work, **prm["options"],
    )
    if work is not None:  # the result goes to the store next; a kill before that reruns it
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    layers = np.asarray(res.layers)
    for layer in prm["layers"]:
        sel = layers == layer
        ok = res.success[sel]
        steps = res.steps_to_success[sel][ok]
        labels = {"regularizer": prm["regularizer"], "init": prm["init"], "optimizer": prm["optimizer"]}
        for metric, value in (
            ("success_rate", float(ok.mean())),
            ("median_steps", float(np.median(steps)) if len(steps) else float("nan")),
            ("final_distance", float(res.final_distance[sel].mean())),
            ("n", float(sel.sum())),
        ):
            rows.append(result_row(metric, value, model=prm["model"], layer=layer, **labels))
    return UnitOutput(rows=rows, files=result_files(res))


def result_files(res: MetamerResult) -> dict[str, bytes]:
    """A result's saved files (``result.npz``, ``result.json``) as bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        res.save(tmp, png=False)
        return {name: (Path(tmp) / name).read_bytes() for name in ("result.npz", "result.json")}


def load_result(inp: UnitInput | Mapping[str, bytes]) -> MetamerResult:
    """The :class:`MetamerResult` of a finished metamers unit (files already sha256-checked)."""
    files = inp.files if isinstance(inp, UnitInput) else inp
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("result.npz", "result.json"):
            (Path(tmp) / name).write_bytes(files[name])
        return MetamerResult.load(tmp)
