"""repalign.similarity: similarity matrices and alignment metrics between representations.

Example:
    >>> import numpy as np
    >>> from repalign import similarity
    >>> x = np.random.default_rng(0).normal(size=(20, 5))
    >>> round(similarity.cka(x, x), 6)
    1.0
"""

from repalign.similarity.bootstrap import BootstrapResult, bootstrap
from repalign.similarity.cka import CKAAccumulator, cka, cka_from_grams
from repalign.similarity.compare import METRICS, compare, list_metrics
from repalign.similarity.knn import mutual_knn
from repalign.similarity.mantel import MantelResult, mantel
from repalign.similarity.matrices import as_dissimilarity, rdm, rsm, to_matrix, to_vector
from repalign.similarity.noise_ceiling import NoiseCeiling, noise_ceiling
from repalign.similarity.procrustes import procrustes_distance
from repalign.similarity.rsa import rsa_correlation
from repalign.similarity.triplet_agreement import (
    SampledAgreement,
    triplet_agreement,
    triplet_agreement_per_anchor,
    triplet_agreement_sampled,
)
from repalign.similarity.triplets import odd_one_out_accuracy, odd_one_out_correct

__all__ = [
    "METRICS",
    "BootstrapResult",
    "CKAAccumulator",
    "MantelResult",
    "NoiseCeiling",
    "SampledAgreement",
    "as_dissimilarity",
    "bootstrap",
    "cka",
    "cka_from_grams",
    "compare",
    "list_metrics",
    "mantel",
    "mutual_knn",
    "noise_ceiling",
    "odd_one_out_accuracy",
    "odd_one_out_correct",
    "procrustes_distance",
    "rdm",
    "rsa_correlation",
    "rsm",
    "to_matrix",
    "to_vector",
    "triplet_agreement",
    "triplet_agreement_per_anchor",
    "triplet_agreement_sampled",
]
