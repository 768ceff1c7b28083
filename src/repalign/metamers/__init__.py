"""repalign.metamers: model metamers / identically represented inputs (IRIs).

Generation is assembled from registries of small pieces; each accepts a name (with
``":key=value"`` options) or a callable:

- objectives (:mod:`.objectives`), regularizers and loss presets (:mod:`.regularizers`,
  composable :class:`~repalign.metamers.terms.Term` s), parametrizations (:mod:`.parametrizations`),
  transforms (:mod:`.transforms`), starting points (:mod:`.inits`), optimizers
  (:mod:`.optimizers`), schedules (:mod:`.schedules`), stopping rules (:mod:`.stopping`), and the
  metamer criterion (:mod:`.criterion`).
- a :class:`~repalign.metamers.recipe.MetamerRecipe` holds one choice of each; the named recipes
  are ``recipes.fast``, ``recipes.feather``, ``recipes.nanda`` (:mod:`.presets`).
- runs are checkpointed and resumed mid-optimisation (:mod:`.checkpoint`).

Example:
    >>> import repalign as ra
    >>> ra.metamers.list_presets()
    ['fast', 'feather', 'nanda']
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES: dict[str, str] = {
    "generate_metamers": "generate",
    "MetamerResult": "result",
    "plot_metamers": "figures",
    "Term": "terms",
    "DIST": "terms",
    "LossContext": "terms",
    "image_term": "terms",
    "build_loss": "regularizers",
    "list_regularizers": "regularizers",
    "list_objectives": "objectives",
    "list_inits": "inits",
    "make_seeds": "inits",
    "list_optimizers": "optimizers",
    "list_schedules": "schedules",
    "list_stops": "stopping",
    "list_presets": "presets",
    "get_preset": "presets",
    "recipes": "presets",
    "MetamerRecipe": "recipe",
    "null_distribution": "criterion",
    "rowwise_correlation": "criterion",
}

__all__ = sorted(_NAMES)


def list_parametrizations(pattern: str = "*") -> list[str]:
    """Registered parametrizations."""
    from repalign.metamers.parametrizations import PARAMETRIZATIONS

    return PARAMETRIZATIONS.list(pattern)


def list_transforms(pattern: str = "*") -> list[str]:
    """Registered transforms and transform presets."""
    from repalign.metamers.transforms import TRANSFORMS

    return TRANSFORMS.list(pattern)


__all__ += ["list_parametrizations", "list_transforms"]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(f"repalign.metamers.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'repalign.metamers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
