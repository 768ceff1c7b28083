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


class WeightsUnavailableError(RepalignError, FileNotFoundError):
    """Pretrained weights are not on disk and cannot be downloaded; says where to put them."""
