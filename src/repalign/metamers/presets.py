"""Named recipes: the published procedures and repalign's faster default.

- ``feather`` (Feather et al. 2023): start ``clamp(0.5 + 0.05 N(0, 1))``, normalised gradient
  steps of size 1 halved every 3,000 steps, 24,000 steps in all (8 blocks: 1, 1/2, ..., 1/128),
  pixels clamped to [0, 1], no regularizer, last iterate kept, success judged afterwards.
- ``nanda`` (Nanda et al. 2023, regularizer-free IRIs): start ``N(0, 1)``, 5,000 normalised
  gradient steps of size 1, no schedule, best iterate kept, pixels clamped to [0, 1].
- ``fast`` (repalign's default): starts from another natural image (a random other stimulus, never
  the target), Adam with learning rate 0.1 decayed by a cosine over 2,000 steps, checked every 5
  steps and stopped per sample as soon as its 8-bit image passes the metamer criterion. On the zoo
  this needs far fewer steps than Feather's recipe and succeeds more often (docs/metamers.md).

Each preset is a :class:`~repalign.metamers.recipe.MetamerRecipe` instance (``recipes.fast``,
``recipes.feather``, ``recipes.nanda``); any option passed to :func:`repalign.generate_metamers`
overrides the preset's, and ``recipes.feather.replace(steps=80)`` makes a variation. A preset's
``steps`` can be scaled down: block schedules keep their number of blocks.

Example:
    >>> get_preset("feather")["steps"]
    24000
    >>> recipes.fast.replace(steps=100).optimizer
    'adam'
"""

from __future__ import annotations

from typing import Any

from repalign._registry import Registry, Summary
from repalign.metamers.recipe import MetamerRecipe

__all__ = ["PRESETS", "get_preset", "list_presets", "recipes"]

PRESETS: Registry[MetamerRecipe, Summary] = Registry("preset", Summary)

PRESETS.register(
    "feather",
    MetamerRecipe(
        name="feather", init="noise", optimizer="normalized_gd", lr=1.0,
        schedule="halving:blocks=8", steps=24000, stop="fixed", keep="last", check_every=100,
    ),
    summary="Feather et al. 2023: 24,000 normalised steps, size 1 halved every 3,000, last iterate",
)

PRESETS.register(
    "nanda",
    MetamerRecipe(
        name="nanda", init="gaussian", optimizer="normalized_gd", lr=1.0, schedule="constant",
        steps=5000, stop="fixed", keep="best", check_every=100,
    ),
    summary="Nanda et al. 2023: 5,000 normalised steps of size 1, best iterate, N(0, 1) start",
)

PRESETS.register(
    "fast",
    MetamerRecipe(
        name="fast", init="other", optimizer="adam", lr=0.1, schedule="cosine", steps=2000,
        stop="criterion", keep="last", check_every=5,
    ),
    summary="repalign's default: another natural image as start, Adam 0.1 with a cosine rate, "
    "per-sample stop at the metamer criterion (checked every 5 steps)",
)

# the options a preset sets, as generate_metamers' keywords (every preset: regularizer-free
# pixel optimisation of the normalised distance, no transforms)
_OPTIONS = ("regularizer", "parametrization", "transforms", "objective", "init", "optimizer",
            "lr", "schedule", "steps", "stop", "keep", "check_every")


class _Recipes:
    """The named recipes as attributes: ``recipes.fast``, ``recipes.feather``, ``recipes.nanda``
    (and any recipe registered in ``PRESETS`` later)."""

    def __getattr__(self, name: str) -> MetamerRecipe:
        if name.startswith("_"):
            raise AttributeError(name)
        return PRESETS.get(name)

    def __dir__(self) -> list[str]:
        return PRESETS.list()

    def __repr__(self) -> str:
        return f"recipes({', '.join(PRESETS.list())})"


recipes = _Recipes()


def get_preset(name: str) -> dict[str, Any]:
    """The options of preset ``name`` as a dict of :func:`repalign.generate_metamers` keywords."""
    recipe = PRESETS.get(name)
    return {k: getattr(recipe, k) for k in _OPTIONS}


def list_presets(pattern: str = "*") -> list[str]:
    """Registered presets."""
    return PRESETS.list(pattern)
