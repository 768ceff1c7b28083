"""Seed 000's teacher-student theory (Section 3 and Appendix A) as a simulation.

- :mod:`~repalign.analysis.theory.channel`: C(eps), the bound d log2(n) / C(eps), the
  domain-shift prediction 2 eps (1 - eps);
- :mod:`~repalign.analysis.theory.game`: the communication game (a student locates a new object
  from a teacher's triplet answers);
- :mod:`~repalign.analysis.theory.synthetic`: synthetic students (flip rate eps), Lemma 3.7 at
  eps = 0, and domain-shift sensitivity;
- :mod:`~repalign.analysis.theory.zoo_pairs`: the same on real zoo model pairs and on
  ``bundled:digits_shifted``;
- :func:`simulate_theory`: all of it, written as tables (CSV, JSON) and one figure.

Example:
    >>> res = simulate_theory(eps=[0.0, 0.3, 0.7], trials=40, zoo=False)   # doctest: +SKIP
    >>> res.summary["flip_trick"]                                          # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from repalign._io import atomic_write_text
from repalign.analysis.theory.channel import capacity, query_bound, shift_sensitivity
from repalign.analysis.theory.game import GameOutcome, all_pairs, localise, triplet_codes
from repalign.analysis.theory.synthetic import (
    DEFAULT_EPS,
    game_instance,
    simulate_lemma,
    simulate_queries,
    simulate_shift,
)
from repalign.analysis.theory.zoo_pairs import DEFAULT_TEACHER, simulate_zoo_pairs, zoo_shift

__all__ = [
    "DEFAULT_EPS",
    "DEFAULT_TEACHER",
    "GameOutcome",
    "TheoryResult",
    "all_pairs",
    "capacity",
    "game_instance",
    "localise",
    "query_bound",
    "shift_sensitivity",
    "simulate_lemma",
    "simulate_queries",
    "simulate_shift",
    "simulate_theory",
    "simulate_zoo_pairs",
    "summarize_theory",
    "triplet_codes",
    "zoo_shift",
]

log = logging.getLogger(__name__)

_PARTS = ("queries", "lemma", "shift", "zoo_pairs", "zoo_shift")


@dataclass(frozen=True)
class TheoryResult:
    """Everything :func:`simulate_theory` computed.

    Attributes:
        queries: queries against eps for synthetic students (see :func:`simulate_queries`).
        lemma: queries at eps = 0 against d log2 n (see :func:`simulate_lemma`).
        shift: synthetic domain-shift sensitivity (see :func:`simulate_shift`).
        zoo_pairs: real zoo students (see :func:`simulate_zoo_pairs`), or None.
        zoo_shift: zoo models on the shifted digits (see :func:`zoo_shift`), or None.
        summary: the checks of the theory's predictions (U-shape, flip trick, bound, zoo
            correlations), JSON-ready.
        files: paths written.
    """

    queries: pd.DataFrame
    lemma: pd.DataFrame
    shift: pd.DataFrame
    zoo_pairs: pd.DataFrame | None
    zoo_shift: pd.DataFrame | None
    summary: dict[str, Any]
    files: list[Path] = field(default_factory=list)


def _spearman(x: pd.Series, y: pd.Series) -> dict[str, float]:
    r, p = stats.spearmanr(x, y)
    return {"rho": float(r), "p": float(p), "n": len(x)}


def summarize_theory(queries: pd.DataFrame, shift: pd.DataFrame,
                     zoo_pairs: pd.DataFrame | None = None,
                     zoo_shift: pd.DataFrame | None = None) -> dict[str, Any]:
    """The theory's predictions, checked on the simulated tables.

    Returns:
        ``u_shape``: Spearman correlation of the flip student's mean queries with
        |eps - 0.5| (-1 for a perfect U) over the uncensored eps; ``flip_trick``: for each
        eps > 0.5, queries(eps) / queries(1 - eps) of the flip student and the naive student's
        error rate; ``bound_ratio``: measured / bound per eps; ``shift``: largest deviation of
        the simulated sensitivity from 2 eps (1 - eps); ``zoo_pairs`` / ``zoo_shift``: Spearman
        correlations across zoo models.
    """
    flip = queries[queries["student"] == "flip"].set_index("eps")
    ok = flip[flip["censored"] < 0.5]
    out: dict[str, Any] = {
        "u_shape": _spearman(pd.Series(np.abs(ok.index - 0.5)), ok["queries_mean"].reset_index(
            drop=True)),
        "bound_ratio": {f"{e:g}": float(r["queries_mean"] / r["bound"])
                        for e, r in ok.iterrows() if np.isfinite(r["bound"])},
    }
    naive = queries[queries["student"] == "naive"].set_index("eps")
    trick = {}
    for e in flip.index[flip.index > 0.5]:
        mirror = round(1.0 - e, 6)
        match = [m for m in flip.index if abs(m - mirror) < 1e-6]
        if match and flip.loc[e, "censored"] < 0.5:
            trick[f"{e:g}"] = {
                "queries_ratio_to_1_minus_eps": float(flip.loc[e, "queries_mean"]
                                                      / flip.loc[match[0], "queries_mean"]),
                "naive_error_rate": float(naive.loc[e, "error_rate"]) if e in naive.index
                else None,
            }
    out["flip_trick"] = trick
    out["shift"] = {"max_abs_error": float((shift["sigma_mean"] - shift["predicted"]).abs().max())}
    if zoo_pairs is not None and len(zoo_pairs) > 2:
        out["zoo_pairs"] = {
            "eps_range": [float(zoo_pairs["eps"].min()), float(zoo_pairs["eps"].max())],
            "queries_vs_eps": _spearman(zoo_pairs["eps"], zoo_pairs["queries_mean"]),
            "control_vs_eps": _spearman(zoo_pairs["eps"], zoo_pairs["control_queries_mean"]),
        }
    if zoo_shift is not None and len(zoo_shift) > 2:
        out["zoo_shift"] = {
            "sigma_vs_eps": _spearman(zoo_shift["eps"], zoo_shift["sigma"]),
            "shift_acc_vs_eps": _spearman(zoo_shift["eps"], zoo_shift["shift_acc"]),
            "teacher_sigma": float(zoo_shift["sigma"].iloc[0]),
        }
    return out


def _load_or_run(out: Path | None, part: str, params: dict[str, Any], run: Any) -> pd.DataFrame:
    """A part's table: reused from ``out`` when written there with the same parameters."""
    if out is not None:
        csv, meta = out / f"theory_{part}.csv", out / f"theory_{part}.params.json"
        if csv.is_file() and meta.is_file() and json.loads(meta.read_text()) == params:
            log.info("theory: reusing %s", csv)
            return pd.read_csv(csv)
    table: pd.DataFrame = run()
    if out is not None:
        atomic_write_text(csv, table.to_csv(index=False))
        atomic_write_text(meta, json.dumps(params, sort_keys=True))
    return table


def simulate_theory(
    out: str | Path | None = None,
    *,
    eps: Sequence[float] = DEFAULT_EPS,
    n: int = 16,
    d: int = 2,
    trials: int = 200,
    delta: float = 0.05,
    max_queries: int = 3000,
    zoo: bool = True,
    teacher: str = DEFAULT_TEACHER,
    students: Sequence[str] | None = None,
    seed: int = 0,
    device: str = "cpu",
    quiet: bool = True,
) -> TheoryResult:
    """Run the whole simulation of seed 000's theory and write its tables and figure.

    Each part (``queries``, ``lemma``, ``shift``, ``zoo_pairs``, ``zoo_shift``) is written to
    ``out/theory_<part>.csv`` as soon as it is done, with its parameters; a rerun with the same
    parameters reuses finished parts, so an interrupted run resumes.

    Args:
        out: folder for ``theory_<part>.csv``, ``theory.json`` (summary and parameters) and
            ``theory.png`` / ``theory.svg``; None writes nothing.
        eps: flip rates of the synthetic students.
        n, d: shared objects and dimensions of the synthetic game.
        trials: games per eps (and per zoo student).
        delta: confidence at which students stop.
        max_queries: query budget of a synthetic game.
        zoo: also play with real zoo model pairs and measure the zoo on the shifted digits.
        teacher: zoo teacher; students: zoo students (default: every built-in zoo model).
        seed: seed of everything random.
        device: device for zoo features.
        quiet: hide progress bars.

    Returns:
        :class:`TheoryResult`.
    """
    folder = Path(out) if out is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    base = {"seed": seed, "trials": trials, "delta": delta}
    queries = _load_or_run(
        folder, "queries", {**base, "eps": [float(e) for e in eps], "n": n, "d": d,
                            "max_queries": max_queries},
        lambda: simulate_queries(eps, n=n, d=d, trials=trials, delta=delta,
                                 max_queries=max_queries, seed=seed, quiet=quiet))
    lemma = _load_or_run(folder, "lemma", base, lambda: simulate_lemma(trials=trials, seed=seed))
    shift = _load_or_run(folder, "shift", {**base, "eps": [float(e) for e in eps]},
                         lambda: simulate_shift(eps, seed=seed))
    pairs = shifted = None
    if zoo:
        zparams = {**base, "teacher": teacher, "students": list(students or [])}
        pairs = _load_or_run(folder, "zoo_pairs", zparams, lambda: simulate_zoo_pairs(
            teacher, students, trials=trials, delta=delta, seed=seed, device=device,
            quiet=quiet))
        shifted = _load_or_run(folder, "zoo_shift", zparams, lambda: zoo_shift(
            teacher, students, seed=seed, device=device, quiet=quiet))
    summary = summarize_theory(queries, shift, pairs, shifted)
    files: list[Path] = []
    if folder is not None:
        from repalign.analysis.theory.figures import theory_figure

        files = [folder / f"theory_{p}.csv" for p in _PARTS if (folder / f"theory_{p}.csv").is_file()]
        payload = {"summary": summary, "capacity": "C(eps) = 1 + eps log2 eps + (1 - eps) "
                   "log2 (1 - eps)", "bound": "d log2(n) / C(eps)",
                   "tables": {p: json.loads(t.to_json(orient="records")) for p, t in
                              (("queries", queries), ("lemma", lemma), ("shift", shift),
                               ("zoo_pairs", pairs), ("zoo_shift", shifted)) if t is not None}}
        atomic_write_text(folder / "theory.json", json.dumps(payload, indent=1, default=float))
        files.append(folder / "theory.json")
        files += theory_figure(queries, shift, folder / "theory", zoo_pairs=pairs,
                               zoo_shift=shifted)
    return TheoryResult(queries, lemma, shift, pairs, shifted, summary, files)
