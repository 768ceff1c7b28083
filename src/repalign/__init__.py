"""repalign: measure and improve how well neural network representations and invariances align
with human perception and with each other.

Nothing heavy runs at import: entry points and subpackages load on first use.

Example:
    >>> import repalign as ra
    >>> stim = ra.load_stimuli("bundled:digits")          # doctest: +SKIP
    >>> model = ra.create_model("zoo:cnn_standard_s0")    # doctest: +SKIP
    >>> feats = ra.extract_features(model, stim, layers=["features.4"])  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy entry points below resolve to, for type checkers
    from repalign.data.loaders import load_stimuli as load_stimuli
    from repalign.data.stimuli import Stimuli as Stimuli
    from repalign.embedding.fit import fit_embedding as fit_embedding
    from repalign.embedding.result import EmbeddingResult as EmbeddingResult
    from repalign.features.extract import extract_features as extract_features
    from repalign.metamers.generate import generate_metamers as generate_metamers
    from repalign.metamers.recipe import MetamerRecipe as MetamerRecipe
    from repalign.metamers.result import MetamerResult as MetamerResult
    from repalign.models.factory import create_model as create_model
    from repalign.models.factory import list_models as list_models
    from repalign.models.model import Model as Model
    from repalign.similarity.compare import compare as compare
    from repalign.similarity.compare import list_metrics as list_metrics
    from repalign.study.runner import run_study as run_study

__version__ = "0.1.0"

# public name -> module that defines it
_ENTRY_POINTS: dict[str, str] = {
    "Stimuli": "repalign.data.stimuli",
    "load_stimuli": "repalign.data.loaders",
    "Model": "repalign.models.model",
    "create_model": "repalign.models.factory",
    "list_models": "repalign.models.factory",
    "extract_features": "repalign.features.extract",
    "compare": "repalign.similarity.compare",
    "list_metrics": "repalign.similarity.compare",
    "generate_metamers": "repalign.metamers.generate",
    "MetamerResult": "repalign.metamers.result",
    "MetamerRecipe": "repalign.metamers.recipe",
    "run_study": "repalign.study.runner",
    "fit_embedding": "repalign.embedding.fit",
    "EmbeddingResult": "repalign.embedding.result",
}
_SUBPACKAGES = (
    "alignment",
    "analysis",
    "data",
    "embedding",
    "errors",
    "evaluation",
    "features",
    "metamers",
    "models",
    "perceptual",
    "similarity",
    "study",
)

__all__ = sorted([*_ENTRY_POINTS, *_SUBPACKAGES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _ENTRY_POINTS:
        value = getattr(importlib.import_module(_ENTRY_POINTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"repalign.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'repalign' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__

