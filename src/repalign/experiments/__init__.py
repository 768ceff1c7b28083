"""Human experiments in the browser: odd-one-out, 2AFC, matching, recognition and rating.

An experiment file (:func:`load_experiment`) declares the paradigm, the images (a stimulus set or
a metamer result), the design, catch trials, exclusion rules and texts. :class:`Experiment` keeps
everything in one SQLite database; :func:`create_app` serves it (Starlette + uvicorn, the
``experiments`` extra); :func:`export_experiment` writes the answers in the project's own
formats (``TripletSet`` files, a BAPPS 2AFC folder, similarity matrices, score tables).
The browser page lives in ``web/`` (jsPsych from npm).
"""

from typing import Any

from repalign.experiments.config import ExperimentConfig, load_experiment
from repalign.experiments.export import export_experiment
from repalign.experiments.service import Experiment

__all__ = ["Experiment", "ExperimentConfig", "create_app", "export_experiment", "load_experiment"]


def create_app(exp: Experiment, **kwargs: Any) -> Any:
    """See :func:`repalign.experiments.app.create_app` (imported lazily: needs starlette)."""
    from repalign.experiments.app import create_app as _create_app

    return _create_app(exp, **kwargs)
