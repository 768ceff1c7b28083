"""Progress bars: tqdm, shown only on a terminal and never when ``quiet=True``."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["progress"]

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, *, quiet: bool = False, **kwargs: Any) -> Any:
    """Wrap ``iterable`` in a tqdm bar; disabled when ``quiet`` or stderr is not a TTY.

    Keyword arguments go to :class:`tqdm.tqdm` (``total``, ``desc``, ``unit``, ...).
    """
    disable = quiet or not sys.stderr.isatty()
    return tqdm(iterable, disable=disable, dynamic_ncols=True, leave=False, **kwargs)
