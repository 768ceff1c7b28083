"""Studies: a configuration in, a resumable run directory and an HTML report out.

Example:
    >>> import repalign as ra
    >>> run = ra.run_study("examples/quickstart.toml", out="runs/quick")   # doctest: +SKIP
    >>> ra.study.load_results("runs/quick").head()                           # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "StudyConfig",
    "StudyError",
    "StudyRun",
    "build_report",
    "load_config",
    "load_results",
    "load_units",
    "run_study",
]

_WHERE = {
    "StudyConfig": "repalign.study.config",
    "load_config": "repalign.study.config",
    "StudyError": "repalign.study.runner",
    "StudyRun": "repalign.study.runner",
    "run_study": "repalign.study.runner",
    "build_report": "repalign.study.report",
    "load_results": "repalign.study.store",
    "load_units": "repalign.study.store",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'repalign.study' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
