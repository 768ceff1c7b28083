"""Human data named in a study's ``[human]`` section, loaded against the study's stimuli.

Indices and matrix rows refer to the main stimulus set in its order; sizes are checked against it.
Each loaded object has a content digest that enters the keys of the units that read it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from repalign._hashing import hash_array, hash_params
from repalign.data.stimuli import Stimuli
from repalign.errors import ConfigError, RepalignError
from repalign.study.config import StudyConfig

__all__ = ["human_digest", "load_human"]


def load_human(config: StudyConfig, stimuli: Stimuli) -> dict[str, Any]:
    """Load every human data file of ``config`` (an empty dict when there is none).

    Returns:
        ``{"triplets": TripletSet, "similarity": SimilarityMatrix, "two_afc": TwoAFCSet}``,
        only the kinds given (``experiment``: the kind its paradigm collects).

    Raises:
        ConfigError: a file is missing, malformed or does not match the stimuli; the message
            names the configuration key.
    """
    human = config.human
    out: dict[str, Any] = {}
    if human is None:
        return out
    n = len(stimuli)
    if human.triplets is not None:
        from repalign.data import load_triplets

        t = human.triplets
        try:
            out["triplets"] = load_triplets(
                config.resolve_path(t.path), index_base=t.index_base, n_objects=n, layout=t.layout,
                choice_base=t.choice_base,
            )
        except RepalignError as exc:
            raise ConfigError(f"human.triplets: {exc} (the study has {n} stimuli)") from exc
    if human.similarity is not None:
        from repalign.data import load_similarity_matrix

        sm = human.similarity
        try:
            out["similarity"] = load_similarity_matrix(
                config.resolve_path(sm.path), kind=sm.kind, key=sm.key, stimuli=n,
                symmetrize=sm.symmetrize,
            )
        except RepalignError as exc:
            raise ConfigError(f"human.similarity: {exc}") from exc
    if human.two_afc is not None:
        from repalign.data import load_two_afc

        try:
            out["two_afc"] = load_two_afc(config.resolve_path(human.two_afc.path), limit=human.two_afc.limit)
        except RepalignError as exc:
            raise ConfigError(f"human.two_afc: {exc}") from exc
    if human.experiment is not None:
        from repalign.experiments.data import load_experiment_data

        try:
            got = load_experiment_data(config.resolve_path(human.experiment.path),
                                       include_flagged=human.experiment.include_flagged,
                                       stimulus_ids=stimuli.ids)
        except RepalignError as exc:
            raise ConfigError(f"human.experiment: {exc}") from exc
        for kind, value in got.items():
            if kind in out:
                raise ConfigError(f"human.experiment gives {kind}, which human.{kind} gives "
                                  "too; keep one of them.")
            out[kind] = value
    return out


def human_digest(data: Any) -> str:
    """Content hash of a loaded human data object (its arrays, not its file name)."""
    arrays = {
        k: hash_array(v) for k, v in sorted(vars(data).items()) if isinstance(v, (np.ndarray, torch.Tensor))
    }
    if not arrays:
        raise ConfigError(f"cannot fingerprint human data of type {type(data).__name__}")
    return hash_params(arrays)
