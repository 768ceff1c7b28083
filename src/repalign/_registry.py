"""One registry type for every pluggable name: metrics, distances, regularizers, inits, ...

Example:
    >>> reg = Registry("metric")
    >>> @reg.register("double", kind="toy")
    ... def double(x):
    ...     return 2 * x
    >>> reg.get("double")(2)
    4
    >>> reg.list("d*")
    ['double']
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from repalign.errors import UnknownNameError

__all__ = ["Registry", "closest_names", "unknown_name_message"]

T = TypeVar("T")


def closest_names(name: str, valid: list[str], n: int = 3) -> list[str]:
    """Return up to ``n`` names from ``valid`` that look like ``name``."""
    return difflib.get_close_matches(name, valid, n=n, cutoff=0.5)


def unknown_name_message(kind: str, name: str, valid: list[str]) -> str:
    """Build the message of an :class:`UnknownNameError`: valid names and closest matches."""
    close = closest_names(name, valid)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(valid[:60]) + (", ..." if len(valid) > 60 else "")
    return f"Unknown {kind} {name!r}.{hint} Valid {kind} names: {shown}."


class Registry(Generic[T]):
    """A named collection of callables (or objects) with per-entry metadata.

    Args:
        kind: what the entries are, used in error messages ("metric", "regularizer", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._info: dict[str, dict[str, Any]] = {}

    def register(self, name: str, obj: T | None = None, **info: Any) -> Any:
        """Register ``obj`` under ``name``; used as a decorator when ``obj`` is omitted.

        Extra keyword arguments are stored as the entry's metadata (see :meth:`info`).
        Registering a name twice raises ``ValueError`` so that entries never shadow each other.
        """

        def _add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = item
            self._info[name] = dict(info)
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

    def info(self, name: str) -> dict[str, Any]:
        """Metadata given at registration (a copy)."""
        self.get(name)
        return dict(self._info[name])

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

