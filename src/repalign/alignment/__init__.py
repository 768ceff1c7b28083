"""Post-hoc alignment of model features to human similarity judgements (gLocal).

Example:
    >>> import repalign as ra
    >>> aligner = ra.alignment.GLocal(alpha=0.25, lam=1.0, tau=0.1)   # doctest: +SKIP
    >>> aligner.fit(x, triplets, x_local=x_aux).transform(x)           # doctest: +SKIP
    >>> ra.alignment.load_transform("transform.npz")                   # doctest: +SKIP
"""

from __future__ import annotations

from repalign.alignment.estimator import GLocal
from repalign.alignment.losses import (
    global_triplet_loss,
    glocal_loss,
    identity_pull,
    local_contrastive_loss,
)
from repalign.alignment.search import (
    DEFAULT_GRID,
    PUBLISHED_GRID,
    GLocalSearch,
    object_disjoint_folds,
    object_disjoint_split,
    search_glocal,
)
from repalign.alignment.simulate import (
    SimulatedTriplets,
    distorted_view,
    embedding_from_similarity,
    simulate_observer,
)
from repalign.alignment.transform_io import load_transform, save_transform

__all__ = [
    "DEFAULT_GRID",
    "PUBLISHED_GRID",
    "GLocal",
    "GLocalSearch",
    "SimulatedTriplets",
    "distorted_view",
    "embedding_from_similarity",
    "global_triplet_loss",
    "glocal_loss",
    "identity_pull",
    "load_transform",
    "local_contrastive_loss",
    "object_disjoint_folds",
    "object_disjoint_split",
    "save_transform",
    "search_glocal",
    "simulate_observer",
]
