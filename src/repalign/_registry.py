"""One registry type for every pluggable name: metrics, distances, regularizers, inits, ...

A ``Registry[T, M]`` holds entries of type ``T`` and, for each, a metadata dataclass of type ``M``
(one dataclass per kind of entry, e.g. ``MetricInfo``; :class:`Summary` for kinds that only carry
a one-line summary). Keyword arguments of :meth:`Registry.register` become the fields of ``M``,
so a misspelt field fails at registration and :meth:`Registry.info` returns a typed object.
String specs follow the one spec grammar (:mod:`repalign.specs`); :meth:`Registry.parse` reads one.

Example:
    >>> reg: Registry[Callable[[int], int], Summary] = Registry("metric", Summary)
    >>> @reg.register("double", summary="twice the input")
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> reg.get("double")(2), reg.info("double").summary
    (4, 'twice the input')
    >>> reg.list("d*")
    ['double']
    >>> reg.parse("double:scale=3")
    ('double', {'scale': 3})
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from repalign.errors import UnknownNameError
from repalign.specs import Spec, Value, split_spec

__all__ = ["Registry", "Summary", "closest_names", "unknown_name_message"]

T = TypeVar("T")
M = TypeVar("M")


@dataclass(frozen=True)
class Summary:
    """The metadata of kinds that carry only a one-line summary (inits, optimizers, ...)."""

    summary: str = ""


def closest_names(name: str, valid: list[str], n: int = 3) -> list[str]:
    """Return up to ``n`` names from ``valid`` that look like ``name``."""
    return difflib.get_close_matches(name, valid, n=n, cutoff=0.5)


def unknown_name_message(kind: str, name: str, valid: list[str]) -> str:
    """Build the message of an :class:`UnknownNameError`: valid names and closest matches."""
    close = closest_names(name, valid)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(valid[:60]) + (", ..." if len(valid) > 60 else "")
    return f"Unknown {kind} {name!r}.{hint} Valid {kind} names: {shown}."


class Registry(Generic[T, M]):
    """A named collection of callables (or objects), each with a metadata dataclass.

    Args:
        kind: what the entries are, used in error messages ("metric", "regularizer", ...).
        info: the metadata dataclass; ``register``'s keyword arguments are its fields.
    """

    def __init__(self, kind: str, info: Callable[..., M]) -> None:
        self.kind = kind
        self._make_info = info
        self._items: dict[str, T] = {}
        self._info: dict[str, M] = {}

    @overload
    def register(self, name: str, obj: None = None, **info: Any) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T, **info: Any) -> T: ...

    def register(self, name: str, obj: T | None = None, **info: Any) -> T | Callable[[T], T]:
        """Register ``obj`` under ``name``; used as a decorator when ``obj`` is omitted.

        Keyword arguments are the fields of the registry's metadata dataclass (see :meth:`info`).

        Raises:
            ValueError: ``name`` is already registered (entries never shadow each other).
            TypeError: a keyword that is not a field of the metadata dataclass.
        """
        try:
            meta = self._make_info(**info)
        except TypeError as exc:
            fields = _field_names(self._make_info)
            raise TypeError(f"{self.kind} {name!r}: {exc}; the metadata fields are {fields}.") from None

        def _add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = item
            self._info[name] = meta
            return item

        if obj is None:
            return _add
        return _add(obj)

    def get(self, name: str | T) -> T:
        """Return the entry called ``name``; a non-string (e.g. a callable) is passed through."""
        if not isinstance(name, str):
            return name
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                unknown_name_message(self.kind, name, sorted(self._items))
            ) from None

    def info(self, name: str) -> M:
        """The metadata given at registration (a frozen dataclass)."""
        self.get(name)
        return self._info[name]

    def parse(self, spec: str | Spec) -> tuple[str, dict[str, Value]]:
        """``(name, options)`` of a spec string of the one grammar, the name checked to exist.

        Raises:
            SpecError: malformed text, or parts in parentheses (no registry entry takes them).
            UnknownNameError: the name is not registered (the valid and closest ones are listed).
        """
        name, options = split_spec(spec, self.kind)
        self.get(str(name))
        return str(name), options

    def list(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a glob ``pattern`` (``fnmatch`` syntax)."""
        return sorted(n for n in self._items if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"


def _field_names(cls: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
