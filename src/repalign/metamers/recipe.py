""":class:`MetamerRecipe`: every choice of a metamer run in one validated, immutable object.

Each part is a spec in the one grammar of :mod:`repalign.specs` (``docs/specs.md``): a registry
name, ``"name:key=value,..."``, ``(name, {options})``, ``{"name": ..., **options}`` or an object
passed through (a callable, a :class:`~repalign.metamers.terms.Term`, an optimizer factory).

======================  =====================================================================
part                    field (spec examples)
======================  =====================================================================
objective               ``objective`` (``"normalized_l2"``, ``"cosine"``, ``"mse"``)
parametrisation         ``parametrization`` (``"pixel"``, ``"sigmoid"``, ``"fourier:decay_power=1"``)
start                   ``init`` (``"other"``, ``"noise"``, ``"blend:alpha=0.5"``)
transforms              ``transforms`` (None, ``"robust"``, ``["jitter:d=4"]``)
optimizer               ``optimizer`` (``"adam"``, ``"normalized_gd"``) and its step size ``lr``
schedule                ``schedule`` (``"cosine"``, ``"halving:blocks=8"``) over ``steps``
regularizers            ``regularizer`` (``"none"``, ``"total_variation:weight=1e-4"``, ``{name: w}``)
stopping rule           ``stop`` (``"fixed"``, ``"criterion"``, ``"threshold:tau=0.01"``), judged
                        every ``check_every`` steps; ``keep`` the ``"last"`` or ``"best"`` iterate
criterion               ``criterion`` (``"spearman"``, ``"pearson:quantile=0.95,same_label=true"``)
numerics                ``precision`` (``"fp32"``, ``"bf16"``, ``"fp16"``: autocast of the
                        optimisation's forwards; the criterion is judged in float32),
                        ``channels_last``, ``compile`` (True or a ``torch.compile`` backend),
                        ``quantize``, ``history_every``
======================  =====================================================================

A recipe never changes: :meth:`MetamerRecipe.replace` returns a new, validated one.

Example:
    >>> r = MetamerRecipe(optimizer="adam", lr=0.1, steps=200)
    >>> r.replace(steps=50).steps, r.steps
    (50, 200)
    >>> criterion_options("pearson:quantile=0.95")
    ('pearson', {'quantile': 0.95, 'null_pairs': None, 'same_label': False})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from repalign.errors import ConfigError
from repalign.metamers._spec import spec_name
from repalign.specs import split_spec

__all__ = ["PRECISIONS", "MetamerRecipe", "criterion_options"]

PRECISIONS = ("fp32", "bf16", "fp16")
_STATISTICS = ("spearman", "pearson")
_CRITERION_OPTIONS = {"quantile": 1.0, "null_pairs": None, "same_label": False}


def _registry_name(spec: Any, kind: str) -> None:
    """An unknown registry name in a string spec raises UnknownNameError (listing valid ones)."""
    from repalign.metamers.inits import INITS
    from repalign.metamers.objectives import OBJECTIVES
    from repalign.metamers.optimizers import OPTIMIZERS
    from repalign.metamers.parametrizations import PARAMETRIZATIONS
    from repalign.metamers.schedules import SCHEDULES
    from repalign.metamers.stopping import STOPS

    registry: Any = {"init": INITS, "objective": OBJECTIVES, "optimizer": OPTIMIZERS,
                     "parametrization": PARAMETRIZATIONS, "schedule": SCHEDULES,
                     "stop": STOPS}[kind]
    name, _ = split_spec(spec, kind)
    if isinstance(name, str):
        registry.get(name)


def criterion_options(spec: Any) -> tuple[str, dict[str, Any]]:
    """The criterion's statistic and its options ``quantile``, ``null_pairs``, ``same_label``."""
    name, kwargs = split_spec(spec, "criterion")
    if name not in _STATISTICS:
        raise ConfigError(f"statistic must be one of {_STATISTICS}, received {name!r} "
                          "(the criterion spec's name).")
    unknown = sorted(set(kwargs) - set(_CRITERION_OPTIONS))
    if unknown:
        raise ConfigError(f"Bad options {unknown} for the criterion {name!r}: it takes "
                          f"{sorted(_CRITERION_OPTIONS)}.")
    opts = {**_CRITERION_OPTIONS, **kwargs}
    q = opts["quantile"]
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q <= 1:
        raise ConfigError(f"quantile must be in (0, 1], received {q}.")
    pairs = opts["null_pairs"]
    if pairs is not None and (isinstance(pairs, bool) or not isinstance(pairs, int) or pairs < 1):
        raise ConfigError(f"null_pairs must be None or a positive integer, received {pairs!r}.")
    if opts["same_label"] not in (False, True, None, "predicted", "true"):
        raise ConfigError("same_label must be False, True, 'predicted' or 'true', got "
                          f"{opts['same_label']!r}.")
    return name, opts


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        # numpy integers are ints too
        if hasattr(value, "__index__") and not isinstance(value, bool) and int(value) >= 1:
            return int(value)
        raise ConfigError(f"{name} must be a positive integer, received {value!r}.")
    return value


class MetamerRecipe(BaseModel):
    """How metamers are made: see the module docstring for every part and its spec.

    Defaults are repalign's ``fast`` recipe. ``name`` is the named recipe this one derives from
    (kept by :meth:`replace`). Invalid values raise :class:`~repalign.errors.ConfigError` (or
    :class:`~repalign.errors.UnknownNameError` for an unknown registry name).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str | None = None
    objective: Any = "normalized_l2"
    parametrization: Any = "pixel"
    init: Any = "other"
    transforms: Any = None
    optimizer: Any = "adam"
    lr: float = 0.1
    schedule: Any = "cosine"
    steps: int = 2000
    regularizer: Any = "none"
    stop: Any = "criterion"
    keep: str = "last"
    check_every: int = 5
    criterion: Any = "spearman"
    quantize: bool = True
    history_every: int | None = None
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool | str = False

    def __init__(self, **data: Any) -> None:
        unknown = sorted(set(data) - set(type(self).model_fields))
        if unknown:
            import difflib

            hints = [difflib.get_close_matches(k, list(type(self).model_fields), n=1) for k in unknown]
            shown = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "")
                              for k, h in zip(unknown, hints, strict=True))
            raise ConfigError(f"Unknown recipe field(s) {shown}; a MetamerRecipe has "
                              f"{', '.join(type(self).model_fields)}.")
        try:
            super().__init__(**data)
        except ValidationError as exc:
            cause = (exc.errors()[0].get("ctx") or {}).get("error")
            if isinstance(cause, ConfigError):
                raise cause from None
            raise ConfigError(f"Invalid metamer recipe: {exc}") from None

    @field_validator("steps", "check_every", mode="before")
    @classmethod
    def _counts(cls, v: Any, info: Any) -> int:
        return _positive_int(info.field_name, v)

    @field_validator("history_every", mode="before")
    @classmethod
    def _history(cls, v: Any) -> int | None:
        return None if v is None else _positive_int("history_every", v)

    @field_validator("lr", mode="before")
    @classmethod
    def _lr(cls, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ConfigError(f"lr must be a positive number, received {v!r}.")
        return float(v)

    @field_validator("keep")
    @classmethod
    def _keep(cls, v: str) -> str:
        if v not in ("last", "best"):
            raise ConfigError(f"keep must be 'last' or 'best', received {v!r}.")
        return v

    @field_validator("precision")
    @classmethod
    def _precision(cls, v: str) -> str:
        if v not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, received {v!r}.")
        return v

    @field_validator("compile", mode="before")
    @classmethod
    def _compile(cls, v: Any) -> bool | str:
        if not isinstance(v, (bool, str)) or v == "":
            raise ConfigError("compile must be True/False or a torch.compile backend name "
                              f"('inductor', 'eager', 'aot_eager', ...), received {v!r}.")
        return v

    @field_validator("criterion")
    @classmethod
    def _criterion(cls, v: Any) -> Any:
        criterion_options(v)
        return v

    @field_validator("init", "objective", "optimizer", "parametrization", "schedule", "stop")
    @classmethod
    def _names(cls, v: Any, info: Any) -> Any:
        _registry_name(v, info.field_name)
        return v

    def replace(self, **changes: Any) -> MetamerRecipe:
        """A new recipe with ``changes`` applied (validated); this one is unchanged."""
        return type(self)(**{**self.fields(), **changes})

    def fields(self) -> dict[str, Any]:
        """Every field's value as given (specs unparsed)."""
        return {k: getattr(self, k) for k in type(self).model_fields}

    def describe(self) -> dict[str, Any]:
        """JSON-able view: specs as short readable strings, numbers as they are."""
        out: dict[str, Any] = {}
        for key, value in self.fields().items():
            if value is None or isinstance(value, (bool, int, float)) or key == "name":
                out[key] = value
            elif isinstance(value, list):
                out[key] = [spec_name(v) for v in value]
            else:
                out[key] = spec_name(value)
        return out


def as_recipe(recipe: Any) -> MetamerRecipe:
    """A :class:`MetamerRecipe` from a recipe, a preset name, or a mapping of fields."""
    if isinstance(recipe, MetamerRecipe):
        return recipe
    if isinstance(recipe, str):
        from repalign.metamers.presets import PRESETS

        return PRESETS.get(recipe)
    if isinstance(recipe, Mapping):
        return MetamerRecipe(**recipe)
    raise ConfigError(f"recipe must be a MetamerRecipe, a preset name ({_preset_names()}) or a "
                      f"mapping of recipe fields, received {type(recipe).__name__}.")


def _preset_names() -> str:
    from repalign.metamers.presets import list_presets

    return ", ".join(list_presets())


__all__ += ["as_recipe"]
