"""Human similarity (or dissimilarity) matrices: the :class:`SimilarityMatrix` container and loader.

Files: ``.npy``; ``.csv``/``.tsv``/``.txt`` (numbers, optionally with a header row and/or a first
column of stimulus names); ``.mat`` (MATLAB, including v7.3/HDF5 files), where ``key`` names the
variable, e.g. ``"sim_judgements"`` in Peterson et al.'s files. Every problem is a
``DataFormatError`` naming the file: not square, NaN (with where), asymmetric (with by how much;
``symmetrize=True`` averages ``M`` and ``M.T`` instead), a size that does not match the stimuli.

Example:
    >>> s = SimilarityMatrix(np.array([[1.0, 0.2], [0.2, 1.0]]))
    >>> s.dissimilarity()[0, 1].item()
    0.8
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repalign._validation import describe
from repalign.errors import DataFormatError

__all__ = ["SimilarityMatrix", "load_similarity_matrix"]

log = logging.getLogger(__name__)
KINDS = ("similarity", "dissimilarity")


@dataclass(frozen=True, eq=False)
class SimilarityMatrix:
    """A symmetric (n, n) matrix of judged similarities or dissimilarities between n stimuli.

    Attributes:
        matrix: (n, n) float64, symmetric, finite (read-only).
        kind: ``"similarity"`` (larger = more alike) or ``"dissimilarity"``.
        names: optional n stimulus names, in row order.
        source: where it came from.
    """

    matrix: np.ndarray
    kind: str = "similarity"
    names: Sequence[str] | None = None
    source: str = "array"

    def __post_init__(self) -> None:
        where = self.source
        if self.kind not in KINDS:
            raise DataFormatError(f"{where}: kind must be one of {KINDS}, received {self.kind!r}.")
        m = np.asarray(self.matrix)
        if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
            raise DataFormatError(
                f"{where}: a similarity matrix must be square (n, n) with n >= 2, received "
                f"{describe(m)}."
            )
        if not np.issubdtype(m.dtype, np.number):
            raise DataFormatError(f"{where}: the matrix must be numeric, received {describe(m)}.")
        m = m.astype(np.float64)
        bad = ~np.isfinite(m)
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            only_diag = bool(np.all(np.argwhere(bad)[:, 0] == np.argwhere(bad)[:, 1]))
            hint = (" They are all on the diagonal: pass diagonal=1.0 (similarity) or 0.0 "
                    "(dissimilarity) to set it." if only_diag else
                    " Impute the missing pairs or drop those stimuli.")
            raise DataFormatError(
                f"{where}: {int(bad.sum())} NaN/Inf value(s) (first at row {i}, column {j}).{hint}"
            )
        asym = float(np.max(np.abs(m - m.T)))
        if asym > 1e-8 * max(1.0, float(np.max(np.abs(m)))):
            i, j = (int(v) for v in np.unravel_index(np.argmax(np.abs(m - m.T)), m.shape))
            raise DataFormatError(
                f"{where}: the matrix is not symmetric (|M - M.T| up to {asym:.4g}, at row {i}, "
                f"column {j}); pass symmetrize=True to use (M + M.T) / 2."
            )
        m.setflags(write=False)
        object.__setattr__(self, "matrix", m)
        if self.names is not None:
            names = tuple(str(s) for s in self.names)
            if len(names) != m.shape[0]:
                raise DataFormatError(
                    f"{where}: {len(names)} names for a {m.shape[0]} x {m.shape[0]} matrix."
                )
            object.__setattr__(self, "names", names)

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    def check_size(self, stimuli: Any) -> None:
        """Raise DataFormatError unless the matrix has one row per stimulus.

        Args:
            stimuli: a number, or anything with ``len`` (e.g. :class:`~repalign.data.Stimuli`).
        """
        n = stimuli if isinstance(stimuli, (int, np.integer)) else len(stimuli)
        if n != len(self):
            raise DataFormatError(
                f"{self.source}: the matrix describes {len(self)} stimuli but {n} were given; "
                "use the stimuli the judgements were collected on, in the same order."
            )

    def similarity(self) -> np.ndarray:
        """The matrix as similarities (``1 - D`` for a dissimilarity matrix)."""
        return self.matrix.copy() if self.kind == "similarity" else 1.0 - self.matrix

    def dissimilarity(self) -> np.ndarray:
        """The matrix as dissimilarities (``1 - S`` for a similarity matrix)."""
        return self.matrix.copy() if self.kind == "dissimilarity" else 1.0 - self.matrix

    def subset(self, index: Any) -> SimilarityMatrix:
        """The matrix restricted to the stimuli ``index`` (rows and columns)."""
        idx = np.asarray(index)
        names = None if self.names is None else [self.names[i] for i in np.arange(len(self))[idx]]
        return SimilarityMatrix(self.matrix[np.ix_(idx, idx)], self.kind, names, self.source)


def _read_mat(path: Path, key: str | None) -> np.ndarray:
    import h5py
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        if h5py.is_hdf5(path):  # MATLAB v7.3 files are HDF5, stored column-major: transpose
            with h5py.File(path, "r") as h5:
                data = {k: np.asarray(v).T for k, v in h5.items() if isinstance(v, h5py.Dataset)}
        else:
            data = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    except (ValueError, OSError, TypeError, NotImplementedError, MatReadError) as exc:
        raise DataFormatError(f"{path}: not a readable MATLAB file ({exc}).") from exc
    shapes = {k: np.shape(v) for k, v in data.items()}
    if key is None:
        square = [k for k, s in shapes.items() if len(s) == 2 and s[0] == s[1] and s[0] > 1]
        if len(square) != 1:
            raise DataFormatError(
                f"{path}: cannot tell which variable holds the matrix; pass key=... (variables: "
                f"{shapes})."
            )
        key = square[0]
    if key not in data:
        raise DataFormatError(f"{path}: no variable {key!r}; variables: {shapes}.")
    return np.asarray(data[key])


def _read_text(path: Path) -> tuple[np.ndarray, list[str] | None]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
    if not first.strip():
        raise DataFormatError(f"{path}: the file is empty.")
    sep = "," if "," in first else "\t" if "\t" in first else r"\s+"
    try:
        df = pd.read_csv(path, sep=sep, header=None, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataFormatError(f"{path}: could not parse as a table ({exc}).") from exc

    def text(values: Any) -> bool:  # no entry parses as a number
        return bool(pd.to_numeric(pd.Series(values), errors="coerce").isna().all())

    names = None
    if text(df.iloc[0, 1:]):  # header row
        names = [str(v) for v in df.iloc[0].tolist()]
        df = df.iloc[1:]
    if text(df.iloc[:, 0]):  # row names
        names = [str(v) for v in df.iloc[:, 0].tolist()]
        df = df.iloc[:, 1:]
    elif names is not None and len(names) == df.shape[1] + 1:
        names = names[1:]
    cells = df.apply(lambda col: col.str.strip())
    values = cells.apply(lambda col: pd.to_numeric(col, errors="coerce"))
    # empty cells and NaN/NA are missing values (checked, with their position, by
    # SimilarityMatrix; diagonal=... fills an unrated diagonal); any other text is an error
    missing = cells.apply(lambda col: col.str.lower().isin(["", "nan", "na"])).to_numpy()
    text_cells = values.isna().to_numpy() & ~missing
    if text_cells.any():
        bad = np.argwhere(text_cells)[0]
        raise DataFormatError(
            f"{path}: non-numeric value {cells.iat[int(bad[0]), int(bad[1])]!r} at data row "
            f"{int(bad[0])}, column {int(bad[1])}; every entry must be a number (NaN or an "
            "empty cell for a missing pair)."
        )
    return values.to_numpy(dtype=np.float64), names


def load_similarity_matrix(path: str | Path, *, kind: str = "similarity", key: str | None = None,
                           stimuli: Any = None, symmetrize: bool = False,
                           diagonal: float | None = None,
                           names: Sequence[str] | None = None) -> SimilarityMatrix:
    """Load a human similarity or dissimilarity matrix from .npy, .csv/.tsv/.txt or .mat.

    Args:
        path: the file.
        kind: ``"similarity"`` or ``"dissimilarity"``.
        key: the MATLAB variable (e.g. ``"sim_judgements"``); needed when a .mat file holds
            several square matrices.
        stimuli: optional number of stimuli, or the stimuli themselves, to check the size.
        symmetrize: average ``M`` and ``M.T`` (logged) instead of rejecting an asymmetric
            matrix.
        diagonal: a value to put on the diagonal (e.g. when it was not rated and is NaN).
        names: stimulus names (default: those in a text file's header or first column).

    Returns:
        :class:`SimilarityMatrix`.

    Raises:
        DataFormatError: unreadable file, not square, NaN/Inf, asymmetric, wrong size.

    Example:
        >>> sm = load_similarity_matrix("animals.mat", key="sim_judgements")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    file_names = None
    if suffix == ".npy":
        try:
            m = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataFormatError(f"{path}: not a readable .npy array ({exc}).") from exc
    elif suffix == ".mat":
        m = _read_mat(path, key)
    elif suffix in (".csv", ".tsv", ".txt"):
        m, file_names = _read_text(path)
    else:
        raise DataFormatError(
            f"{path}: unsupported file type {suffix!r}; expected .npy, .csv, .tsv, .txt or .mat."
        )
    m = np.array(m, dtype=np.float64) if np.issubdtype(np.asarray(m).dtype, np.number) else m
    if diagonal is not None and getattr(m, "ndim", 0) == 2 and m.shape[0] == m.shape[1]:
        np.fill_diagonal(m, diagonal)
    if symmetrize and getattr(m, "ndim", 0) == 2 and m.shape[0] == m.shape[1]:
        asym = float(np.nanmax(np.abs(m - m.T)))
        log.info("%s: symmetrised (largest |M - M.T| was %.4g)", path, asym)
        m = (m + m.T) / 2.0
    sm = SimilarityMatrix(m, kind, names if names is not None else file_names, str(path))
    if stimuli is not None:
        sm.check_size(stimuli)
    return sm
