"""Embeddings from odd-one-out triplets (SPoSE, VICE; SOE, t-STE, CKL through cblearn) and the
choice of which triplets to ask next.

Example:
    >>> import repalign as ra
    >>> res = ra.fit_embedding(triplets, n_objects=1854, method="vice")   # doctest: +SKIP
    >>> res.weights.shape, res.val_accuracy                               # doctest: +SKIP
"""

from __future__ import annotations

from repalign.embedding.fit import METHODS, fit_embedding, split_triplets
from repalign.embedding.likelihood import choice_probabilities, predicted_pair, triplet_nll
from repalign.embedding.result import EmbeddingResult

__all__ = [
    "METHODS",
    "EmbeddingResult",
    "choice_probabilities",
    "fit_embedding",
    "predicted_pair",
    "split_triplets",
    "triplet_nll",
]
