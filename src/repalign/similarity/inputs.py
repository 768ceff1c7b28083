"""Read a representation from disk: features of one layer, or a similarity/dissimilarity matrix.

Features come through :func:`repalign.features.io.load_features` (``.npy``, ``.npz``, ``.h5``/
``.hdf5``, thingsvision folders); matrices also from ``.csv``/``.tsv``/``.txt``/``.mat`` through
:func:`repalign.data.similarity_matrix.load_similarity_matrix`. Used by the ``repalign compare``
and ``repalign triplets`` commands.

Example:
    >>> x = load_representation("features.h5", layer="avgpool")   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from repalign.errors import ConfigError, DataFormatError

__all__ = ["load_representation"]

_MATRIX_FILES = (".csv", ".tsv", ".txt", ".mat")


def load_representation(path: str | Path, *, kind: str = "features",
                        layer: str | None = None) -> np.ndarray:
    """Load one (N, D) feature matrix or one (N, N) similarity/dissimilarity matrix.

    Args:
        path: the file (or thingsvision folder).
        kind: ``"features"``, ``"similarity"`` or ``"dissimilarity"``.
        layer: which array of a multi-layer file (a layer name, an .npz key, an HDF5 group, or
            a MATLAB variable such as ``sim_judgements``); needed when there are several.

    Returns:
        The array; features with more than two axes are flattened to (N, D).

    Raises:
        DataFormatError: unreadable file, unknown layer.
        ConfigError: several layers and none chosen.
    """
    from repalign.data.similarity_matrix import load_similarity_matrix
    from repalign.features.io import load_features

    path = Path(path)
    if kind != "features" and path.suffix.lower() in _MATRIX_FILES:
        return np.array(load_similarity_matrix(path, kind=kind, key=layer).matrix, copy=True)
    if path.suffix.lower() in _MATRIX_FILES:
        raise DataFormatError(
            f"{path}: {path.suffix} files hold matrices; pass kind='similarity' or "
            "'dissimilarity', or store features as .npy, .npz or .h5."
        )
    arrays = load_features(path, None if layer is None else [layer])
    if len(arrays) > 1:
        raise ConfigError(f"{path} holds several arrays {list(arrays)}; choose one with layer=... (--layer on the command line).")
    arr = np.asarray(next(iter(arrays.values())))
    if kind == "features" and arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)
    return arr
