"""Parse the specs of pluggable pieces: a name, ``"name:key=value,..."``, ``(name, kwargs)``,
``{"name": ..., **kwargs}``, or an object passed through.

Example:
    >>> parse_spec("blend:alpha=0.5")
    ('blend', {'alpha': 0.5})
    >>> parse_spec(("halving", {"blocks": 8}))
    ('halving', {'blocks': 8})
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

from repalign.errors import ConfigError

__all__ = ["check_options", "parse_spec", "spec_name"]


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_spec(spec: Any, kind: str = "option") -> tuple[Any, dict[str, Any]]:
    """Split a spec into ``(name_or_object, kwargs)``.

    Strings may carry keyword arguments after a colon, separated by commas; values are read as
    JSON when they parse (numbers, booleans, lists) and kept as strings otherwise.
    """
    if isinstance(spec, str):
        name, _, rest = spec.partition(":")
        kwargs: dict[str, Any] = {}
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, val = item.partition("=")
            if not eq or not key.strip():
                raise ConfigError(
                    f"Cannot read {kind} spec {spec!r}: expected 'name' or "
                    f"'name:key=value,key=value', received the item {item!r}."
                )
            kwargs[key.strip()] = _value(val.strip())
        return name.strip(), kwargs
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Mapping):
        return spec[0], dict(spec[1])
    if isinstance(spec, Mapping):
        if "name" not in spec:
            raise ConfigError(
                f"A {kind} spec given as a mapping needs a 'name' key, received keys {sorted(spec)}."
            )
        rest_kw = {k: v for k, v in spec.items() if k != "name"}
        return spec["name"], rest_kw
    return spec, {}


def check_options(fn: Callable[..., Any], kind: str, name: Any, *args: Any, **kwargs: Any) -> None:
    """Raise :class:`ConfigError` when ``fn(*args, **kwargs)`` does not fit ``fn``'s signature
    (e.g. an option name with a typo), naming the options ``fn`` takes. Functions that accept
    any keyword (``**kwargs``) or have no readable signature pass unchecked.
    """
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        takes = [p.name for p in list(sig.parameters.values())[len(args):] if p.kind in named]
        raise ConfigError(
            f"Bad options {kwargs} for {kind} {spec_name(name)!r}: {exc}. It takes "
            f"{takes or 'no options'}."
        ) from None


def spec_name(spec: Any) -> str:
    """A short readable name for a spec (registry name, or the callable's name)."""
    if isinstance(spec, Mapping) and "name" not in spec:  # {regularizer: weight}
        return "+".join(f"{k}={_short(v)}" for k, v in spec.items())
    name, kwargs = parse_spec(spec)
    if not isinstance(name, str):
        name = getattr(name, "name", None) or getattr(name, "__name__", type(name).__name__)
    if kwargs:
        name += ":" + ",".join(f"{k}={_short(v)}" for k, v in kwargs.items())
    return str(name)


def _short(value: Any) -> str:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return str(value)
    if isinstance(value, (list, tuple)) and len(value) <= 8:
        return json.dumps(value, default=lambda o: type(o).__name__)
    shape = getattr(value, "shape", None)
    return f"<{type(value).__name__}{tuple(shape) if shape is not None else ''}>"
