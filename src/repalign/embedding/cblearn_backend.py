"""SOE, t-STE and CKL from the ``cblearn`` package (``embedding`` extra), behind fit_embedding.

cblearn fits ordinal embeddings from triplets ``(anchor, near, far)``: "the anchor is closer to
near than to far" in Euclidean distance. An odd-one-out judgement ``(a, b, odd)`` says both
``a`` and ``b`` are closer to each other than to the odd one, i.e. the two triplets
``(a, b, odd)`` and ``(b, a, odd)`` (what cblearn's ``triplets_from_oddoneout`` returns; it is
not called because it uses ``np.row_stack``, deprecated in NumPy 2).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from repalign._deps import require
from repalign.errors import ConfigError

__all__ = ["CBLEARN_METHODS", "fit_cblearn"]

# repalign method name -> cblearn estimator class
CBLEARN_METHODS = {"soe": "SOE", "tste": "TSTE", "ckl": "CKL"}


def fit_cblearn(method: str, triplets: np.ndarray, n_objects: int, dims: int, seed: int,
                **options: Any) -> tuple[np.ndarray, dict[str, float]]:
    """Fit a cblearn embedding to (pair, pair, odd-one-out) triplets.

    Args:
        method: ``"soe"``, ``"tste"`` or ``"ckl"``.
        triplets: (T, 3) int64 training triplets.
        n_objects: number of objects (rows of the result).
        dims: embedding dimensions (cblearn's ``n_components``).
        seed: random seed.
        **options: passed to the cblearn estimator (e.g. ``max_iter``, ``n_init`` for SOE).

    Returns:
        ``(embedding (n_objects, dims), info)``, ``info`` holding the final objective and the
        number of iterations.
    """
    cbl = require("cblearn", "embedding", purpose=f"the {method!r} embedding")
    embedding_mod = require("cblearn.embedding", "embedding")
    estimator_cls = getattr(embedding_mod, CBLEARN_METHODS[method])
    ordinal = np.concatenate([triplets, triplets[:, [1, 0, 2]]])
    try:
        est = estimator_cls(n_components=dims, random_state=seed, **options)
    except TypeError as exc:
        raise ConfigError(
            f"unknown option for cblearn's {CBLEARN_METHODS[method]} ({exc}); see cblearn "
            f"{cbl.__version__}'s documentation."
        ) from exc
    with warnings.catch_warnings():  # cblearn passes L-BFGS-B options newer SciPy deprecates
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="cblearn")
        est.fit(ordinal, n_objects=n_objects)
    info = {"objective": float(getattr(est, "stress_", np.nan)),
            "iterations": float(getattr(est, "n_iter_", np.nan))}
    return np.asarray(est.embedding_, dtype=np.float32), info
