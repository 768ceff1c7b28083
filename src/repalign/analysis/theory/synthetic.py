"""The communication game with synthetic students: queries needed against eps, and domain shift.

The teacher's representation is n shared objects and M candidate new objects drawn from a
standard normal in d dimensions. M = n^d, so identifying the new object carries exactly
log2 M = d log2 n bits, the count of Lemma 3.7; candidates are redrawn until their triplet codes
differ. A synthetic student hears the teacher's answers through a binary symmetric channel with
flip rate eps (fresh flips, repeated queries allowed), as in the proof of Proposition 3.8.

Reference lines for each eps, all in queries:

- ``bound``: seed 000's d log2(n) / C(eps);
- ``fano``: the converse of the channel coding theorem for variable-length codes with feedback,
  ((1 - P_e) log2 M - 1) / C(eps), with P_e the measured error rate: no strategy can do better
  on average.

Example:
    >>> table = simulate_queries([0.0, 0.2], n=8, d=1, trials=50)
    >>> list(table["eps"])
    [0.0, 0.2]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from repalign._progress import progress
from repalign.analysis.theory.channel import capacity, query_bound, shift_sensitivity
from repalign.analysis.theory.game import GameOutcome, localise, triplet_codes
from repalign.errors import ConfigError

__all__ = ["DEFAULT_EPS", "game_instance", "simulate_lemma", "simulate_queries", "simulate_shift"]

log = logging.getLogger(__name__)

_MAX_DRAWS = 200

#: the eps grid of the default simulation: 0 to 1 in steps of 0.05
DEFAULT_EPS: tuple[float, ...] = tuple(float(e) for e in np.round(np.linspace(0, 1, 21), 3))


def game_instance(n: int, d: int, n_candidates: int | None = None, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n shared objects and M candidates (distinct triplet codes) in d dimensions.

    Returns:
        shared (n, d), candidates (M, d), codes (M, n (n - 1) / 2) bool.

    Raises:
        ConfigError: n < 3, d < 1, or M distinct codes could not be drawn.
    """
    if n < 3 or d < 1:
        raise ConfigError(f"need n >= 3 shared objects and d >= 1, received n={n}, d={d}.")
    m = int(n_candidates) if n_candidates is not None else n**d
    if m < 2:
        raise ConfigError(f"need at least 2 candidates, received {m}.")
    rng = np.random.default_rng([seed, n, d, m])
    shared = rng.standard_normal((n, d))
    cands = np.empty((0, d))
    codes = np.empty((0, n * (n - 1) // 2), dtype=bool)
    for _ in range(_MAX_DRAWS):
        new = rng.standard_normal((m, d))
        cands = np.concatenate([cands, new])
        codes = np.concatenate([codes, triplet_codes(new, shared)])
        _, first = np.unique(codes, axis=0, return_index=True)
        keep = np.sort(first)
        cands, codes = cands[keep], codes[keep]
        if len(cands) >= m:
            return shared, cands[:m], codes[:m]
    raise ConfigError(f"could not draw {m} candidates with distinct triplet codes among {n} "
                      f"objects in {d} dimensions; ask for fewer candidates.")


def _summary(eps: float, student: str, out: GameOutcome, n: int, d: int, m: int
             ) -> dict[str, float | str]:
    q = out.queries
    err = 1.0 - float(out.correct.mean())
    cap = float(capacity(eps))
    with np.errstate(divide="ignore"):
        fano = max((1 - err) * np.log2(m) - 1.0, 0.0) / cap if cap > 0 else np.inf
    return {
        "eps": eps, "student": student, "n": n, "d": d, "candidates": m, "trials": len(q),
        "capacity": cap, "queries_mean": float(q.mean()),
        "queries_se": float(q.std(ddof=1) / np.sqrt(len(q))) if len(q) > 1 else np.nan,
        "queries_median": float(np.median(q)),
        "censored": float(out.censored.mean()),
        "error_rate": err,
        "disagreement": out.disagreements / max(out.answers, 1),
        "bound": float(query_bound(eps, n, d)), "fano": float(fano),
    }


def simulate_queries(
    eps: Sequence[float] = DEFAULT_EPS,
    *,
    n: int = 16,
    d: int = 2,
    trials: int = 200,
    delta: float = 0.05,
    max_queries: int = 3000,
    naive: bool = True,
    seed: int = 0,
    quiet: bool = True,
) -> pd.DataFrame:
    """Queries a synthetic student needs to locate a new object, for each eps.

    Args:
        eps: flip rates to simulate, in [0, 1].
        n, d: shared objects and dimensions (M = n^d candidates).
        trials: games per eps (the new object is drawn uniformly from the candidates).
        delta: confidence at which the student stops.
        max_queries: budget per game (games that hit it count as censored).
        naive: also simulate, for eps > 0.5, a student who does not flip (trusts the bits).
        seed: seed of the instance, the new objects and the flips.
        quiet: hide the progress bar.

    Returns:
        One row per (eps, student): ``eps``, ``student`` (``"flip"``: the Bayes student who
        uses the flip trick; ``"naive"``), ``n``, ``d``, ``candidates``, ``trials``,
        ``capacity``, ``queries_mean``, ``queries_se``, ``queries_median``, ``censored``,
        ``error_rate``, ``disagreement`` (measured flip rate), ``bound``, ``fano``.
    """
    _, _, codes = game_instance(n, d, seed=seed)
    m = len(codes)
    rows = []
    for i, e in enumerate(progress(list(eps), quiet=quiet, desc="theory: eps", unit="eps")):
        e = float(e)
        students = [("flip", True)] + ([("naive", False)] if naive and e > 0.5 else [])
        for student, flip in students:
            rng = np.random.default_rng([seed, i, int(flip)])
            truth = rng.integers(m, size=trials)
            out = localise(codes, truth, eps=e, flip=flip, delta=delta, max_queries=max_queries,
                           rng=rng)
            rows.append(_summary(e, student, out, n, d, m))
    return pd.DataFrame(rows)


def simulate_lemma(
    sizes: Sequence[tuple[int, int]] = ((8, 1), (16, 1), (32, 1), (8, 2), (16, 2), (6, 3)),
    *,
    trials: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Lemma 3.7 at eps = 0: queries against d log2 n for several (n, d).

    With a perfectly aligned student every answer is right, so the game is a binary search over
    M = n^d candidates; no strategy asks fewer than log2 M = d log2 n queries on average (the
    source coding bound), and the greedy split stays close to it.

    Returns:
        One row per (n, d): ``n``, ``d``, ``candidates``, ``log2_candidates``,
        ``queries_mean``, ``queries_max``, ``ratio`` (queries_mean / (d log2 n)).
    """
    rows = []
    for n, d in sizes:
        _, _, codes = game_instance(n, d, seed=seed)
        rng = np.random.default_rng([seed, n, d])
        out = localise(codes, rng.integers(len(codes), size=trials), eps=0.0, rng=rng)
        bits = d * np.log2(n)
        rows.append({"n": n, "d": d, "candidates": len(codes), "log2_candidates": bits,
                     "queries_mean": float(out.queries.mean()),
                     "queries_max": int(out.queries.max()),
                     "ratio": float(out.queries.mean() / bits)})
    return pd.DataFrame(rows)


def simulate_shift(
    eps: Sequence[float] = DEFAULT_EPS,
    *,
    n: int = 30,
    k: int = 5,
    d: int = 2,
    trials: int = 50,
    seed: int = 0,
) -> pd.DataFrame:
    """Domain-shift sensitivity of synthetic students under a robust teacher (Appendix A).

    The teacher holds n shared objects and k class centroids; the domain shift moves the
    centroids (c -> c*) without changing any of the teacher's triplets over x and c
    (sigma_A = 0). A student's triplets on each domain are the teacher's, each flipped with
    probability eps, independently across domains. Its sensitivity sigma_B is the fraction of
    its triplets over x and c (every anchor, every pair) that differ between the domains.

    Returns:
        One row per eps: ``eps``, ``sigma_mean``, ``sigma_se``, ``predicted``
        (2 eps (1 - eps)), ``teacher_sigma`` (0 by construction), ``triplets`` per trial.
    """
    rng = np.random.default_rng([seed, n, k, d])
    points = rng.standard_normal((n + k, d))
    m = n + k
    # all anchored triplets (i; j < k) over the shared objects and centroids
    dist = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    teacher = np.concatenate([
        (dist[i, j] < dist[i, kk])[None] for i in range(m)
        for j, kk in [(a, b) for a in range(m) for b in range(a + 1, m) if i not in (a, b)]
    ])
    rows = []
    for e in eps:
        e = float(e)
        sig = []
        for _ in range(trials):
            source = teacher ^ (rng.random(teacher.shape) < e)
            target = teacher ^ (rng.random(teacher.shape) < e)
            sig.append(float((source != target).mean()))
        arr = np.array(sig)
        rows.append({"eps": e, "sigma_mean": float(arr.mean()),
                     "sigma_se": float(arr.std(ddof=1) / np.sqrt(len(arr))),
                     "predicted": float(shift_sensitivity(e)), "teacher_sigma": 0.0,
                     "triplets": len(teacher)})
    return pd.DataFrame(rows)
