"""Lazy import of optional backends with a clear message naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from repalign.errors import MissingDependencyError

__all__ = ["require"]


def require(module: str, extra: str, *, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``extra``.

    Args:
        module: importable module name, e.g. ``"open_clip"``.
        extra: the repalign extra that installs it, e.g. ``"clip"``.
        purpose: what the module is needed for, shown in the message.

    Example:
        >>> np = require("numpy", "core")
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised with monkeypatch in tests
        what = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"The optional package '{module}' is needed{what} but is not installed "
            f"({exc}). Install it with: pip install 'repalign[{extra}]'"
        ) from exc
