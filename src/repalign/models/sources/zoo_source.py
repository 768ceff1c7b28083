"""``zoo:NAME``: the built-in tiny models trained on digits (see :mod:`repalign.models.zoo`)."""

from __future__ import annotations

from typing import Any

from repalign.errors import ConfigError
from repalign.models.model import Model
from repalign.models.sources.base import ModelSource, check_known

__all__ = ["SOURCE"]


def _zoo() -> Any:
    try:
        from repalign.models import zoo
    except ModuleNotFoundError as exc:
        if exc.name != "repalign.models.zoo":
            raise
        raise ConfigError(
            "The model zoo (repalign.models.zoo) is not part of this installation; reinstall "
            "repalign or pick another source (see repalign.list_models())."
        ) from exc
    if not (hasattr(zoo, "zoo_names") and hasattr(zoo, "load_zoo_model")):
        raise ConfigError(
            "The model zoo in this installation does not offer zoo_names/load_zoo_model; "
            "reinstall repalign or pick another source (see repalign.list_models())."
        )
    return zoo


def _names() -> list[str]:
    try:
        zoo = _zoo()
    except ConfigError:
        return []
    return list(zoo.zoo_names())


def _create(name: str, *, pretrained: bool = True, **kwargs: Any) -> Model:
    zoo = _zoo()
    check_known("zoo model", name, zoo.zoo_names())
    if not pretrained:
        raise ConfigError(
            f"zoo:{name} is defined by its training; pretrained=False is not offered. For a "
            "random network of the same shape, re-initialise the returned model's parameters."
        )
    if kwargs:
        raise ConfigError(f"zoo models take no options, received {sorted(kwargs)}.")
    model: Model = zoo.load_zoo_model(name)
    model.meta.setdefault("source", "zoo")
    model.meta.setdefault("name", name)
    model.meta.setdefault("pretrained", True)
    return model


SOURCE = ModelSource(
    name="zoo",
    create=_create,
    names=_names,
    description="built-in tiny MLP/CNN/ResNet models trained on digits 0-4 (standard and adversarial)",
)
