"""Exceptions raised by repalign.

Every error is a :class:`RepalignError` and also the builtin it refines, so callers may catch
either. Messages say what was expected, what was received and what to do.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataFormatError",
    "MissingDependencyError",
    "NotFittedError",
    "RepalignError",
    "ShapeError",
    "SpecError",
    "UnknownNameError",
    "WeightsUnavailableError",
]


class RepalignError(Exception):
    """Base class of every error raised on purpose by repalign."""


class ShapeError(RepalignError, ValueError):
    """An array or tensor has the wrong rank, length or size, or holds NaN/Inf or constants."""


class UnknownNameError(RepalignError, KeyError):
    """A name (metric, model, layer, regularizer, ...) is not known; the message lists valid ones."""

    def __str__(self) -> str:  # KeyError would otherwise print the repr of the message
        return str(self.args[0]) if self.args else ""


class NotFittedError(RepalignError, ValueError, AttributeError):
    """An estimator was used before ``fit``."""


class MissingDependencyError(RepalignError, ImportError):
    """An optional backend is not installed; the message names the extra to install."""


class DataFormatError(RepalignError, ValueError):
    """A file or array does not have the expected format; the message names the file or shape."""


class ConfigError(RepalignError, ValueError):
    """A study configuration or a combination of options is invalid."""


class SpecError(ConfigError):
    """A spec string does not follow the spec grammar (:mod:`repalign.specs`).

    Attributes:
        spec: the text that was read.
        position: index of the offending character (``len(spec)`` when the text ended early).
        expected: what the grammar allowed there.
    """

    def __init__(self, spec: str, position: int, expected: str, kind: str = "spec") -> None:
        self.spec, self.position, self.expected = spec, position, expected
        found = repr(spec[position]) if position < len(spec) else "the end"
        what = "spec" if kind == "spec" else f"{kind} spec"
        super().__init__(
            f"Cannot read the {what} {spec!r}: expected {expected} at character "
            f"{position + 1}, found {found}.\n  {spec}\n  {' ' * position}^\n"
            "Specs are 'name' or 'name:key=value,key=value' (see docs/specs.md)."
        )


class WeightsUnavailableError(RepalignError, FileNotFoundError):
    """Pretrained weights are not on disk and cannot be downloaded; says where to put them."""
