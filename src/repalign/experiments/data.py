"""An experiment database as human data: the answers loaded as the project's data types.

The database is exported (:func:`~repalign.experiments.export.export_experiment`) to a temporary
folder and read back with the project's loaders, so the objects are exactly what the exported
files give: odd-one-out -> :class:`~repalign.data.TripletSet`, rating ->
:class:`~repalign.data.SimilarityMatrix`, 2AFC -> :class:`~repalign.data.TwoAFCSet`.

Example:
    >>> data = load_experiment_data("exp.sqlite")          # doctest: +SKIP
    >>> data["triplets"]                                    # doctest: +SKIP
    TripletSet(1440 triplets over 60 objects, 48 participants, source=...)
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from repalign.errors import DataFormatError, RepalignError
from repalign.experiments.export import export_experiment

__all__ = ["load_experiment_data"]


def load_experiment_data(db: str | Path, *, include_flagged: bool = False,
                         stimulus_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """The answers of an experiment database as human data.

    Args:
        db: the experiment database.
        include_flagged: keep participants flagged by an exclusion rule (odd-one-out only;
            default: drop them).
        stimulus_ids: the ids of the stimuli the data must refer to, in order (e.g. a study's
            stimuli); checked against the experiment's.

    Returns:
        ``{"triplets": TripletSet}``, ``{"similarity": SimilarityMatrix}`` or
        ``{"two_afc": TwoAFCSet}`` by the experiment's paradigm.

    Raises:
        DataFormatError: not an experiment database, a paradigm that gives no such data
            (matching, recognition: use the exported score tables), no answers yet, or
            stimuli that differ from ``stimulus_ids``.
    """
    from repalign.data import load_similarity_matrix, load_triplets, load_two_afc

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        info = export_experiment(db, out, quiet=True)
        paradigm = info["paradigm"]
        with open(out / "stimuli.csv", newline="", encoding="utf-8") as fh:
            ids = [r["source_id"] for r in csv.DictReader(fh) if r["kind"] == "stimulus"]
        if stimulus_ids is not None and paradigm in ("odd_one_out", "rating"):
            want = [str(i) for i in stimulus_ids]
            if want != ids:
                first = next((k for k, (a, b) in enumerate(zip(want, ids, strict=False))
                              if a != b), min(len(want), len(ids)))
                raise DataFormatError(
                    f"{db}: the experiment showed {len(ids)} stimuli, the data must refer to "
                    f"{len(want)}; they differ from position {first} (experiment "
                    f"{ids[first:first + 2]}, expected {want[first:first + 2]}). Use the same "
                    "stimulus source and selection as the experiment's [stimuli] section.")
        try:
            if paradigm == "odd_one_out":
                name = "triplets.csv" if include_flagged else "triplets_included.csv"
                return {"triplets": load_triplets(out / name, index_base=0, n_objects=len(ids),
                                                  layout="trials")}
            if paradigm == "rating":
                return {"similarity": load_similarity_matrix(out / "similarity.csv",
                                                             stimuli=len(ids))}
            if paradigm == "two_afc":
                return {"two_afc": load_two_afc(out / "two_afc")}
        except RepalignError as exc:
            raise DataFormatError(f"{db}: {info['responses']} responses so far; the {paradigm} "
                                  f"data cannot be read yet ({exc})") from exc
    raise DataFormatError(
        f"{db}: a {paradigm} experiment gives score tables, not triplets, a similarity matrix or "
        f"2AFC judgements; export it with `repalign experiment export` and read "
        f"{paradigm}_scores.csv.")
