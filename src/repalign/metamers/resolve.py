"""From a recipe and a call's keywords to what the loop runs.

:func:`apply_overrides` turns :func:`repalign.generate_metamers`' ``**overrides`` into a new
recipe: recipe fields replace the recipe's, and the keywords of earlier versions keep working
(``preset=``, ``statistic=``, ``quantile=``, ``null_pairs=``, ``same_label=`` enter the
``criterion`` spec; ``amp=True`` is ``precision="bf16"`` on CUDA). :func:`loop_config` builds
every piece once (checking its options) into the loop's frozen :class:`LoopConfig`.

Example:
    >>> from repalign.metamers.presets import recipes
    >>> apply_overrides(recipes.fast, {"quantile": 0.9, "steps": 10}, "cpu").criterion
    ('spearman', {'quantile': 0.9})
"""

from __future__ import annotations

import difflib
from typing import Any

import torch

from repalign.errors import ConfigError
from repalign.metamers._spec import check_options, spec_name
from repalign.metamers.evaluate import Numerics
from repalign.metamers.loop import LoopConfig
from repalign.metamers.objectives import get_objective
from repalign.metamers.optimizers import get_optimizer
from repalign.metamers.parametrizations import get_parametrization
from repalign.metamers.recipe import MetamerRecipe, criterion_options
from repalign.metamers.regularizers import build_loss
from repalign.metamers.schedules import get_schedule
from repalign.metamers.stopping import STOPS, get_stop
from repalign.metamers.transforms import build_transforms
from repalign.specs import split_spec

__all__ = ["LEGACY", "apply_overrides", "loop_config"]

# keywords of earlier versions that are not recipe fields, and what they became
LEGACY = {
    "statistic": "criterion='NAME' (e.g. 'pearson')",
    "quantile": "criterion='spearman:quantile=Q'",
    "null_pairs": "criterion='spearman:null_pairs=K'",
    "same_label": "criterion='spearman:same_label=true'",
    "amp": "precision='bf16'",
}
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
FP16_LOSS_SCALE = 1024.0


def apply_overrides(
    recipe: MetamerRecipe, overrides: dict[str, Any], device: torch.device | str
) -> MetamerRecipe:
    """``recipe`` with ``overrides`` applied (fields, or keywords of earlier versions).

    Raises:
        ConfigError: an unknown keyword (naming the closest valid one), or ``amp=True`` off CUDA.
    """
    fields = set(MetamerRecipe.model_fields) - {"name"}
    unknown = sorted(set(overrides) - fields - set(LEGACY))
    if unknown:
        valid = sorted(fields | set(LEGACY))
        hints = [difflib.get_close_matches(k, valid, n=1) for k in unknown]
        shown = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "")
                          for k, h in zip(unknown, hints, strict=True))
        raise ConfigError(f"generate_metamers got unknown option(s) {shown}; recipe fields: "
                          f"{', '.join(sorted(fields))}.")
    changes = {k: v for k, v in overrides.items() if k in fields and v is not None}
    crit_keys = [k for k in ("statistic", "quantile", "null_pairs", "same_label")
                 if k in overrides]
    if crit_keys:
        name, _ = criterion_options(changes.get("criterion", recipe.criterion))
        _, given = split_spec(changes.get("criterion", recipe.criterion), "criterion")
        if "statistic" in overrides:
            name = overrides["statistic"]
        given.update({k: overrides[k] for k in crit_keys if k != "statistic"})
        changes["criterion"] = (name, given)
    if overrides.get("amp"):
        dev = torch.device(device)
        if dev.type != "cuda":
            raise ConfigError(
                f"amp=True needs a CUDA device, but generation runs on {dev}; amp=True is the old "
                "spelling of precision='bf16', which runs bfloat16 autocast on any device "
                "(the criterion stays float32)."
            )
        changes["precision"] = "bf16"
    return recipe.replace(**changes) if changes else recipe


def _check_optimizer(factory: Any, name: Any, lr: float, kwargs: dict[str, Any]) -> None:
    """Build the optimizer once on a dummy parameter: options it does not take raise here."""
    check_options(factory, "optimizer", name, [], lr=lr, **kwargs)
    try:
        factory([torch.zeros(1, 1, requires_grad=True)], lr=lr, **kwargs)
    except TypeError as exc:  # factories that pass **options on to torch.optim
        raise ConfigError(
            f"Bad options {kwargs} for optimizer {spec_name(name)!r}: {exc}."
        ) from None


def loop_config(
    recipe: MetamerRecipe, example: torch.Tensor, *, combine: str, quiet: bool,
    checkpoint_every: int | None = None,
) -> LoopConfig:
    """Every piece of ``recipe`` built and checked (``example``: (1, C, H, W) image)."""
    name_o, kw_o = split_spec(recipe.optimizer, "optimizer")
    name_s, kw_s = split_spec(recipe.schedule, "schedule")
    name_p, kw_p = split_spec(recipe.parametrization, "parametrization")
    name_st, kw_st = split_spec(recipe.stop, "stop")
    cfg = LoopConfig(
        steps=recipe.steps, lr=recipe.lr,
        optimizer=get_optimizer(name_o), optimizer_kwargs=kw_o,
        schedule=get_schedule(name_s), schedule_kwargs=kw_s,
        parametrization=get_parametrization(name_p), parametrization_kwargs=kw_p,
        objective=get_objective(recipe.objective), loss=build_loss(recipe.regularizer),
        transforms=build_transforms(recipe.transforms),
        stop=get_stop(name_st), stop_kwargs=kw_st,
        check_every=recipe.check_every, keep=recipe.keep, combine=combine,
        history_every=recipe.history_every or max(1, recipe.steps // 200),
        quantize=recipe.quantize, quiet=quiet,
        numerics=Numerics(_DTYPES[recipe.precision], recipe.channels_last),
        loss_scale=FP16_LOSS_SCALE if recipe.precision == "fp16" else 1.0,
        prescreen=isinstance(name_st, str) and not STOPS.info(name_st).uses_distance,
        checkpoint_every=checkpoint_every,
    )
    # validate every piece's options before any work
    check_options(cfg.schedule, "schedule", name_s, cfg.steps, **kw_s)
    cfg.schedule(cfg.steps, **kw_s)
    check_options(cfg.stop, "stop", name_st, 1, **kw_st)
    cfg.stop(1, **kw_st)
    check_options(cfg.parametrization, "parametrization", name_p, example, **kw_p)
    _check_optimizer(cfg.optimizer, name_o, cfg.lr, kw_o)
    return cfg
