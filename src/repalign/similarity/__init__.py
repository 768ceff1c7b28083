"""repalign.similarity: similarity matrices and alignment metrics between representations.

Example:
    >>> import numpy as np
    >>> from repalign import similarity
    >>> x = np.random.default_rng(0).normal(size=(20, 5))
    >>> round(similarity.cka(x, x), 6)
    1.0
"""

from repalign.similarity.matrices import as_dissimilarity, rdm, rsm, to_matrix, to_vector
from repalign.similarity.triplets import odd_one_out_accuracy, odd_one_out_correct

__all__ = [
    "as_dissimilarity",
    "odd_one_out_accuracy",
    "odd_one_out_correct",
    "rdm",
    "rsm",
    "to_matrix",
    "to_vector",
]
