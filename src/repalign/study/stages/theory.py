"""Stage ``theory``: seed 000's teacher-student game, simulated (optional ``[theory]`` section).

One unit runs :func:`repalign.analysis.theory.simulate_queries` and
:func:`~repalign.analysis.theory.simulate_shift` with the section's settings: rows
``theory_queries`` (mean queries), ``theory_queries_se``, ``theory_error_rate``,
``theory_disagreement`` and ``theory_bound`` by ``eps`` and ``student`` (``flip`` or ``naive``),
and ``theory_shift_sensitivity`` by ``eps``; artifacts ``theory_queries.csv``,
``theory_shift.csv`` and ``theory.png``. The report places the study's models on
the curve by their triplet disagreement with the reference.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from repalign.study.context import StudyContext
from repalign.study.plan import Planner
from repalign.study.units import Unit, UnitInput, UnitOutput, rows_from_frame

__all__ = ["expand", "run"]

_QUERY_COLUMNS = {"queries_mean": "queries", "queries_se": "queries_se",
                  "error_rate": "error_rate", "disagreement": "disagreement", "bound": "bound"}


def expand(p: Planner) -> None:
    cfg = p.config.theory
    if cfg is None:
        return
    params = {**cfg.model_dump(), "seed": p.seed("theory")}
    p.add("theory", "teacher-student simulation", params)


def run(unit: Unit, ctx: StudyContext, inputs: Mapping[str, UnitInput]) -> UnitOutput:
    from repalign.analysis.theory import simulate_queries, simulate_shift
    from repalign.analysis.theory.figures import theory_figure

    prm = unit.params
    queries = simulate_queries(prm["eps"], n=prm["n"], d=prm["d"], trials=prm["trials"],
                               delta=prm["delta"], max_queries=prm["max_queries"],
                               seed=prm["seed"])
    shift = simulate_shift(prm["eps"], seed=prm["seed"])
    rows = rows_from_frame(queries[["eps", "student", *_QUERY_COLUMNS]]
                           .rename(columns=_QUERY_COLUMNS), list(_QUERY_COLUMNS.values()),
                           prefix="theory_")
    rows += rows_from_frame(shift[["eps", "sigma_mean"]].rename(
        columns={"sigma_mean": "shift_sensitivity"}), ["shift_sensitivity"], prefix="theory_")
    with tempfile.TemporaryDirectory() as tmp:
        theory_figure(queries, shift, Path(tmp) / "theory", formats=(".png",))
        files = {f.name: f.read_bytes() for f in sorted(Path(tmp).iterdir())}
    files["theory_queries.csv"] = queries.to_csv(index=False).encode()
    files["theory_shift.csv"] = shift.to_csv(index=False).encode()
    return UnitOutput(rows=rows, files=files)
