"""Check the options of pluggable pieces and name them; the specs themselves are read by
:func:`repalign.specs.split_spec` (the one spec grammar).

Example:
    >>> spec_name(("halving", {"blocks": 8}))
    'halving:blocks=8'
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from repalign.errors import ConfigError
from repalign.specs import format_value, split_spec

__all__ = ["check_options", "spec_name"]


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
    name, kwargs = split_spec(spec)
    if not isinstance(name, str):
        name = getattr(name, "name", None) or getattr(name, "__name__", type(name).__name__)
    if kwargs:
        name += ":" + ",".join(f"{k}={_short(v)}" for k, v in kwargs.items())
    return str(name)


def _short(value: Any) -> str:
    if isinstance(value, (str, int, float, bool)) or value is None or (
        isinstance(value, (list, tuple)) and len(value) <= 8
    ):
        try:
            return format_value(value)
        except ConfigError:
            pass
    shape = getattr(value, "shape", None)
    return f"<{type(value).__name__}{tuple(shape) if shape is not None else ''}>"
