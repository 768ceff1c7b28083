"""Human odd-one-out triplets (THINGS style): the :class:`TripletSet` container and its loaders.

A triplet set is a (T, 3) array of 0-based object indices in the **(pair, pair, odd-one-out)**
layout: columns 0 and 1 hold the two objects a participant judged most similar, column 2 the odd
one out. Files come in two layouts:

- ``"pair_pair_odd"``: 3 columns, already in the layout above (THINGS ``train_90.npy``,
  ``test_10.txt``).
- ``"trials"``: the raw trial layout, 4 or 5 columns: item a, item b, item c, the position
  (1, 2 or 3 by default) of the item chosen as the odd one out, and optionally a participant id.

Files may be 0- or 1-based; the loader never guesses: ``index_base`` must be given, and an index
that contradicts it (0 with ``index_base=1``, ``n_objects`` with ``index_base=0``) is an error.
An optional ``sortind`` permutation remaps file indices to rows of a feature matrix.

Example:
    >>> ts = TripletSet(np.array([[0, 1, 2], [2, 3, 0]]), n_objects=4)
    >>> len(ts), ts.triplets[1].tolist()
    (2, [2, 3, 0])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from repalign._validation import describe
from repalign.errors import DataFormatError, ShapeError

__all__ = ["TripletSet", "check_triplets", "load_triplets", "random_triplets", "triplets_from_trials"]

log = logging.getLogger(__name__)

Layout = Literal["auto", "pair_pair_odd", "trials"]


def random_triplets(n: int, t: int, rng: np.random.Generator) -> np.ndarray:
    """``t`` triples of three distinct objects among ``n``, each uniformly random.

    Draws every entry uniformly and redraws the triples that repeat an object, so memory stays
    (t, 3) however large ``n`` is.

    Args:
        n: number of objects (at least 3).
        t: number of triples.
        rng: the generator drawn from.

    Returns:
        (t, 3) int64 object indices in [0, n).
    """
    out = rng.integers(0, n, size=(t, 3))
    while True:
        bad = (out[:, 0] == out[:, 1]) | (out[:, 0] == out[:, 2]) | (out[:, 1] == out[:, 2])
        if not bad.any():
            typed: np.ndarray = out.astype(np.int64)
            return typed
        out[bad] = rng.integers(0, n, size=(int(bad.sum()), 3))


def check_triplets(triplets: Any, n_objects: int | None = None, *, name: str = "triplets",
                   error: type[Exception] = ShapeError) -> np.ndarray:
    """Validate 0-based (T, 3) integer triplets; return them as an int64 array.

    Args:
        triplets: (T, 3) array-like of object indices.
        n_objects: number of objects; indices must lie in ``[0, n_objects)``. ``None`` checks
            only that they are non-negative.
        name: what to call the input in messages (a file name for loaders).
        error: the exception type raised (``ShapeError`` for arrays, ``DataFormatError`` for
            files).

    Raises:
        ShapeError (or ``error``): wrong shape, non-integer values, indices out of range, or an
            object repeated within a triplet.
    """
    arr = np.asarray(triplets.triplets if isinstance(triplets, TripletSet) else triplets)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise error(f"{name} must be a (T, 3) array of object indices, received {describe(arr)}.")
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise error(f"{name} must hold integer indices, received {describe(arr)}.")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise error(
                f"{name} must hold whole-number indices, received non-integer values "
                f"({describe(arr)}); check the file's layout."
            )
    arr = arr.astype(np.int64)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0:
            row = int(np.argwhere(arr < 0)[0, 0])
            raise error(f"{name}: indices must be >= 0, received {lo} (row {row}).")
        if n_objects is not None and hi >= n_objects:
            row = int(np.argwhere(arr >= n_objects)[0, 0])
            raise error(
                f"{name}: indices must be < n_objects={n_objects}, received {hi} (row {row}); "
                "if the file is 1-based, load it with index_base=1."
            )
        rep = (arr[:, 0] == arr[:, 1]) | (arr[:, 0] == arr[:, 2]) | (arr[:, 1] == arr[:, 2])
        if rep.any():
            row = int(np.flatnonzero(rep)[0])
            raise error(
                f"{name}: {int(rep.sum())} triplet(s) repeat an object (first: row {row}, "
                f"{arr[row].tolist()}); a triplet needs three distinct objects."
            )
    return arr


@dataclass(frozen=True, eq=False)
class TripletSet:
    """Odd-one-out judgements as 0-based (pair, pair, odd-one-out) triplets.

    Attributes:
        triplets: (T, 3) int64; columns 0 and 1 the pair judged most similar, 2 the odd one out.
        n_objects: number of objects the indices refer to (rows of the feature matrix).
        participants: (T,) int64 participant ids, or None.
        source: where the triplets came from (a file path or ``"array"``).

    Example:
        >>> TripletSet([[0, 1, 2]], n_objects=3).objects().tolist()
        [0, 1, 2]
    """

    triplets: np.ndarray
    n_objects: int
    participants: np.ndarray | None = None
    source: str = "array"

    def __post_init__(self) -> None:
        if int(self.n_objects) < 3:
            raise ShapeError(f"n_objects must be >= 3, received {self.n_objects}.")
        object.__setattr__(self, "n_objects", int(self.n_objects))
        arr = check_triplets(self.triplets, self.n_objects, name=f"triplets of {self.source!r}")
        arr.setflags(write=False)
        object.__setattr__(self, "triplets", arr)
        if self.participants is not None:
            p = np.asarray(self.participants)
            if p.shape != (len(arr),) or not np.issubdtype(p.dtype, np.integer):
                raise ShapeError(
                    f"participants must be {len(arr)} integer ids (one per triplet), received "
                    f"{describe(p)}."
                )
            p = p.astype(np.int64)
            p.setflags(write=False)
            object.__setattr__(self, "participants", p)

    def __len__(self) -> int:
        return int(self.triplets.shape[0])

    def __repr__(self) -> str:
        who = "" if self.participants is None else f", {len(np.unique(self.participants))} participants"
        return f"TripletSet({len(self)} triplets over {self.n_objects} objects{who}, source={self.source!r})"

    def objects(self) -> np.ndarray:
        """Sorted unique object indices that occur in at least one triplet."""
        return np.unique(self.triplets)

    def subset(self, index: Any) -> TripletSet:
        """A new set with the triplets selected by ``index`` (integer indices or a boolean mask)."""
        idx = np.asarray(index)
        parts = None if self.participants is None else self.participants[idx]
        return TripletSet(self.triplets[idx], self.n_objects, parts, self.source)

    def remap(self, sortind: Any) -> TripletSet:
        """Remap indices through a permutation: index ``k`` becomes ``sortind[k]``.

        Use it when the triplet files number the objects in another order than the rows of the
        features, e.g. ``sortind[k]`` = row of object ``k`` in the feature matrix.

        Raises:
            ShapeError: ``sortind`` is not a permutation of ``range(n_objects)``.
        """
        perm = np.asarray(sortind)
        if (
            perm.shape != (self.n_objects,)
            or not np.issubdtype(perm.dtype, np.integer)
            or not np.array_equal(np.sort(perm), np.arange(self.n_objects))
        ):
            raise ShapeError(
                f"sortind must be a permutation of 0..{self.n_objects - 1} (one entry per object), "
                f"received {describe(perm)}; build it as the feature row of each file index."
            )
        return TripletSet(perm[self.triplets], self.n_objects, self.participants, self.source)


def triplets_from_trials(items: Any, odd_position: Any, *, choice_base: int = 1,
                         name: str = "trials", error: type[Exception] = ShapeError) -> np.ndarray:
    """Convert raw trials (three items, position of the odd one out) to (pair, pair, odd).

    Args:
        items: (T, 3) item indices as shown in the trial (already 0-based).
        odd_position: (T,) position of the item chosen as the odd one out, in
            ``{choice_base, choice_base + 1, choice_base + 2}``.
        choice_base: 1 when positions are 1, 2, 3 (as in THINGS trial files), 0 for 0, 1, 2.
        name: what to call the input in messages.
        error: exception type raised on bad values.

    Returns:
        (T, 3) int64 triplets; the pair keeps the order in which its items were shown.

    Example:
        >>> triplets_from_trials([[5, 6, 7]], [1]).tolist()
        [[6, 7, 5]]
    """
    arr = np.asarray(items)
    pos = np.asarray(odd_position)
    if arr.ndim != 2 or arr.shape[1] != 3 or pos.shape != (arr.shape[0],):
        raise error(
            f"{name}: expected (T, 3) items and (T,) positions, received {describe(arr)} and "
            f"{describe(pos)}."
        )
    if choice_base not in (0, 1):
        raise error(f"choice_base must be 0 or 1, received {choice_base!r}.")
    if pos.size and (
        not np.all(np.isfinite(pos)) or np.any(pos != np.round(pos))
    ):
        raise error(f"{name}: the odd-one-out positions must be whole numbers.")
    p = pos.astype(np.int64) - choice_base
    if p.size and (p.min() < 0 or p.max() > 2):
        bad = int(np.flatnonzero((p < 0) | (p > 2))[0])
        allowed = [choice_base, choice_base + 1, choice_base + 2]
        hint = (" The file looks 0-based: pass choice_base=0." if choice_base == 1 and pos.min() == 0
                else " The file looks 1-based: pass choice_base=1." if pos.max() == 3 else "")
        raise error(
            f"{name}: odd-one-out positions must be in {allowed}, received {pos[bad]} "
            f"(row {bad}).{hint}"
        )
    rows = np.arange(arr.shape[0])
    keep = np.array([[1, 2], [0, 2], [0, 1]])[p]  # positions of the pair, in shown order
    out = np.column_stack([arr[rows, keep[:, 0]], arr[rows, keep[:, 1]], arr[rows, p]])
    return out.astype(np.int64)


def _read_table(path: Path) -> np.ndarray:
    """Numeric table from .npy, or from a text file (comma, tab or space separated, optional header)."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataFormatError(f"{path}: not a readable .npy array ({exc}).") from exc
        arr = np.asarray(arr)
        if not np.issubdtype(arr.dtype, np.number):
            raise DataFormatError(
                f"{path}: expected a numeric array of object indices, received {describe(arr)}."
            )
        return arr
    if suffix not in (".txt", ".csv", ".tsv"):
        raise DataFormatError(
            f"{path}: unsupported triplet file type {suffix!r}; expected .npy, .txt, .csv or .tsv."
        )
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
    if not first.strip():
        raise DataFormatError(f"{path}: the file is empty; expected one triplet or trial per line.")
    sep = "," if "," in first else r"\s+"
    tokens = [t for t in first.replace(",", " ").split() if t]
    # a header has no number in it; a first line with some numbers is data (and a bad cell in it
    # is reported below, instead of the line being taken for a header)
    header = None if any(_is_number(t) for t in tokens) else 0
    if header == 0:
        log.info("%s: first line treated as a header: %s", path, first.strip())
    try:
        df = pd.read_csv(path, sep=sep, header=header)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataFormatError(f"{path}: could not parse as a numeric table ({exc}).") from exc
    for j, col in enumerate(df.columns):
        if pd.api.types.is_numeric_dtype(df[col]):
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero((values.isna() & df[col].notna()).to_numpy())
        if bad.size:
            r = int(bad[0])
            raise DataFormatError(
                f"{path}: line {r + 1 + (header is not None)}, column {j + 1}: "
                f"{df[col].iloc[r]!r} is not a number; every cell must be numeric (object "
                "indices, positions, participant ids)."
            )
        df[col] = values
    table: np.ndarray = df.to_numpy(dtype=np.float64)
    return table


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_triplets(path: str | Path, *, index_base: int, n_objects: int | None = None,
                  layout: Layout = "auto", choice_base: int = 1,
                  sortind: Any = None) -> TripletSet:
    """Load THINGS-style odd-one-out triplets from .npy, .txt, .csv or .tsv.

    Args:
        path: the file.
        index_base: 0 or 1, how the file numbers the objects (required: never guessed).
        n_objects: number of objects (e.g. 1854 for THINGS); indices are checked against it.
            ``None`` uses ``len(sortind)`` when given, else the largest index + 1.
        layout: ``"pair_pair_odd"`` (3 columns), ``"trials"`` (4 or 5 columns: three items,
            odd-one-out position, participant id) or ``"auto"`` (by the number of columns).
        choice_base: for trial files, 1 when positions are 1..3, 0 when 0..2.
        sortind: optional permutation; file index ``k`` (after the base shift) becomes
            ``sortind[k]``.

    Returns:
        A :class:`TripletSet` with 0-based (pair, pair, odd-one-out) triplets.

    Raises:
        DataFormatError: unreadable file, wrong number of columns, indices contradicting
            ``index_base`` or ``n_objects``, repeated objects within a triplet.

    Example:
        >>> ts = load_triplets("test_triplets.csv", index_base=1, n_objects=1854)  # doctest: +SKIP
        >>> ts.triplets.shape                                                       # doctest: +SKIP
        (20000, 3)
    """
    path = Path(path)
    if index_base not in (0, 1):
        raise DataFormatError(f"index_base must be 0 or 1, received {index_base!r}.")
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file.")
    table = _read_table(path)
    if table.ndim != 2 or table.shape[0] == 0:
        raise DataFormatError(f"{path}: expected a non-empty table of triplets, received {describe(table)}.")
    ncol = table.shape[1]
    if layout == "auto":
        layout = "pair_pair_odd" if ncol == 3 else "trials" if ncol in (4, 5) else layout
    if layout == "auto" or (layout == "pair_pair_odd" and ncol != 3) or (
        layout == "trials" and ncol not in (4, 5)
    ):
        raise DataFormatError(
            f"{path}: {ncol} column(s) do not fit layout {layout!r}; expected 3 columns "
            "(pair, pair, odd-one-out) or 4-5 columns (item a, item b, item c, odd-one-out "
            "position, participant id)."
        )
    if not np.all(np.isfinite(table)):
        row = int(np.argwhere(~np.isfinite(table))[0, 0])
        raise DataFormatError(f"{path}: missing or non-finite value in row {row}.")
    items = table[:, :3]
    if np.any(items != np.round(items)):
        raise DataFormatError(f"{path}: object indices must be whole numbers.")
    items = items.astype(np.int64)
    if index_base == 1 and items.size and items.min() == 0:
        raise DataFormatError(
            f"{path}: found object index 0 but index_base=1; the file looks 0-based: "
            "load it with index_base=0."
        )
    items = items - index_base
    participants = None
    if layout == "trials":
        triplets = triplets_from_trials(items, table[:, 3], choice_base=choice_base,
                                        name=str(path), error=DataFormatError)
        if ncol == 5:
            pid = table[:, 4]
            fractional = np.flatnonzero(pid != np.round(pid))
            if fractional.size:
                row = int(fractional[0])
                raise DataFormatError(
                    f"{path}: participant ids (column 5) must be whole numbers, received "
                    f"{pid[row]:g} (row {row})."
                )
            participants = pid.astype(np.int64)
    else:
        triplets = items
    if sortind is not None:
        n_from_sort = len(np.asarray(sortind))
        if n_objects is not None and n_objects != n_from_sort:
            raise DataFormatError(
                f"{path}: n_objects={n_objects} but sortind has {n_from_sort} entries."
            )
        n_objects = n_from_sort
    if n_objects is None:
        n_objects = int(triplets.max()) + 1
    triplets = check_triplets(triplets, n_objects, name=str(path), error=DataFormatError)
    ts = TripletSet(triplets, n_objects, participants, source=str(path))
    if sortind is not None:
        ts = ts.remap(sortind)
    log.info("loaded %r", ts)
    return ts
