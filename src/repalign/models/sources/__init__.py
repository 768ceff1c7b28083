"""Model sources: the registry behind ``create_model("source:name")`` and ``list_models``.

Every source is a :class:`ModelSource` registered under its prefix; the libraries behind them are
imported only when a model is created or listed.

Example:
    >>> from repalign.models.sources import SOURCES
    >>> SOURCES.list()
    ['dreamsim', 'file', 'harmonized', 'hf', 'open_clip', 'robustbench', 'timm', 'torchvision', 'zoo']
"""

from __future__ import annotations

from repalign._registry import Registry, Summary
from repalign.models.sources import (
    dreamsim_source,
    file_source,
    harmonized_source,
    hf_source,
    open_clip_source,
    robustbench_source,
    timm_source,
    torchvision_source,
    zoo_source,
)
from repalign.models.sources.base import ModelSource, parse_spec

__all__ = ["SOURCES", "ModelSource", "parse_spec"]

SOURCES: Registry[ModelSource, Summary] = Registry("model source", Summary)
for _module in (torchvision_source, timm_source, open_clip_source, hf_source, file_source, zoo_source,
                robustbench_source, dreamsim_source, harmonized_source):
    SOURCES.register(_module.SOURCE.name, _module.SOURCE, summary=_module.SOURCE.description)
