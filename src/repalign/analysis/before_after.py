"""Seed 001's before/after table: what a post-hoc alignment (gLocal) buys and what it costs.

For one model, each measure is taken on the original features and on the transformed ones, on
the same data, so that the two are paired:

- ``odd_one_out``: accuracy on held-out odd-one-out triplets (human or simulated); interval: a
  bootstrap over triplets; test: exact McNemar (a binomial test on the triplets that only one of
  the two representations gets right);
- ``alignment``: a similarity metric against the reference (``compare(features, reference)``);
  interval and test: the project's bootstrap over stimuli
  (:func:`~repalign.similarity.bootstrap`), drawn with the same seed for both, so the draws are
  paired and the difference has its own interval; p-value: twice the smaller tail of the
  differences around 0;
- ``few_shot_<n>``: few-shot accuracy with ``n`` examples per class
  (:func:`~repalign.analysis.few_shot_runs`: the same draws for both); interval: the t interval
  of the mean over repeats; test: paired t-test over repeats;
- ``ood_auroc``: AUROC of :func:`~repalign.analysis.ood_detection` (in-distribution training
  and test features and out-of-distribution features, all transformed); interval and test: the
  stratified bootstrap over test images, paired as for ``alignment``.

A model *gains on both sides* when alignment (or odd-one-out accuracy) and a downstream measure
rise; it *trades* when alignment rises and the downstream measure falls (seed 001's caution for
ImageNet CNNs).

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(60, 4)); labels = np.repeat(np.arange(3), 20)
    >>> df = before_after(lambda f: f, few_shot=(x, labels), shots=(2,), repeats=3)
    >>> str(df.loc[0, "measure"]), float(df.loc[0, "delta"])   # the identity changes nothing
    ('few_shot_2', 0.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from repalign._validation import as_array, check_count
from repalign.errors import ConfigError

__all__ = ["COLUMNS", "before_after", "bootstrap_p", "classify_change"]

#: columns of the table :func:`before_after` returns
COLUMNS = ("model", "measure", "before", "before_low", "before_high", "after", "after_low",
           "after_high", "delta", "delta_low", "delta_high", "p_value", "test", "n")


def bootstrap_p(deltas: np.ndarray) -> float:
    """Two-sided bootstrap p-value of a difference: twice the smaller share of draws on one side of 0.

    Example:
        >>> bootstrap_p(np.array([0.1, 0.2, -0.1, 0.3]))
        0.5
    """
    d = np.asarray(deltas, dtype=float)
    d = d[np.isfinite(d)]
    return float(min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0))))


def _interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    ok = samples[np.isfinite(samples)]
    low, high = np.quantile(ok, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def _row(measure: str, before: float, after: float, b_ci: tuple[float, float],
         a_ci: tuple[float, float], d_ci: tuple[float, float], p: float, test: str, n: int) -> dict[str, Any]:
    return {"measure": measure, "before": before, "before_low": b_ci[0], "before_high": b_ci[1],
            "after": after, "after_low": a_ci[0], "after_high": a_ci[1], "delta": after - before,
            "delta_low": d_ci[0], "delta_high": d_ci[1], "p_value": p, "test": test, "n": n}


def _odd_one_out(x: np.ndarray, z: np.ndarray, triplets: Any, n_boot: int, level: float,
                 seed: int) -> dict[str, Any]:
    from repalign.similarity import odd_one_out_correct

    cb = odd_one_out_correct(x, triplets).astype(float)
    ca = odd_one_out_correct(z, triplets).astype(float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(cb), (n_boot, len(cb)))
    sb, sa = cb[idx].mean(1), ca[idx].mean(1)
    only_a, only_b = int(np.sum((ca == 1) & (cb == 0))), int(np.sum((cb == 1) & (ca == 0)))
    p = 1.0 if only_a + only_b == 0 else float(stats.binomtest(only_a, only_a + only_b).pvalue)
    return _row("odd_one_out", float(cb.mean()), float(ca.mean()), _interval(sb, level),
                _interval(sa, level), _interval(sa - sb, level), p, "McNemar exact", len(cb))


def _alignment(x: np.ndarray, z: np.ndarray, reference: Any, kind: str, metric: str,
               rdm_metric: str, n_boot: int, level: float, seed: int) -> dict[str, Any]:
    from repalign.similarity import bootstrap

    rb, ra = (bootstrap(f, reference, metric, n_boot, kind=("features", kind), rdm_metric=rdm_metric,
                        level=level, seed=seed, quiet=True) for f in (x, z))
    d = ra.samples - rb.samples
    return _row(f"alignment_{rb.metric}", rb.value, ra.value, (rb.low, rb.high), (ra.low, ra.high),
                _interval(d, level), bootstrap_p(d), "paired bootstrap", len(x))


def _few_shot(x: np.ndarray, z: np.ndarray, labels: Any, shots: Sequence[int], head: str,
              repeats: int, level: float, seed: int, options: dict[str, Any]) -> list[dict[str, Any]]:
    from repalign.analysis.probes import few_shot_runs

    rb = few_shot_runs(x, labels, shots, (head,), repeats, seed, **options)
    ra = few_shot_runs(z, labels, shots, (head,), repeats, seed, **options)
    rows = []
    for s in shots:
        b = rb.loc[rb["shots"] == s, "accuracy"].to_numpy()
        a = ra.loc[ra["shots"] == s, "accuracy"].to_numpy()

        def t_ci(v: np.ndarray) -> tuple[float, float]:
            if len(v) < 2 or np.std(v) == 0:
                return float(v.mean()), float(v.mean())
            lo, hi = stats.t.interval(level, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
            return float(lo), float(hi)

        d = a - b
        p = 1.0 if np.all(d == 0) else (float(stats.ttest_rel(a, b).pvalue) if len(d) > 1 else float("nan"))
        rows.append(_row(f"few_shot_{s}", float(b.mean()), float(a.mean()), t_ci(b), t_ci(a), t_ci(d),
                         p, f"paired t ({head}, {repeats} repeats)", len(b)))
    return rows


def _ood(transform: Callable[[np.ndarray], np.ndarray], ood: Sequence[Any], method: str, k: int,
         n_boot: int, level: float, seed: int) -> list[dict[str, Any]]:
    from repalign.analysis.ood import ood_detection

    if len(ood) != 3:
        raise ConfigError(f"ood must be (train, test_in, test_out) features, received {len(ood)} item(s).")
    outs = ood[2] if isinstance(ood[2], dict) else {"": ood[2]}
    train, test_in = (as_array(a, n) for a, n in zip(ood[:2], ("ood train", "ood test_in"), strict=True))
    train_t, test_in_t = transform(train), transform(test_in)
    rows = []
    for name, out in outs.items():
        out = as_array(out, f"ood test_out {name}".strip())
        rb = ood_detection(train, test_in, out, method=method, k=k, n_boot=n_boot, level=level, seed=seed)
        ra = ood_detection(train_t, test_in_t, transform(out), method=method, k=k, n_boot=n_boot,
                           level=level, seed=seed)
        d = ra.samples[:, 0] - rb.samples[:, 0]
        mb, ma = rb.metrics.iloc[0], ra.metrics.iloc[0]
        rows.append(_row("ood_auroc" + (f"_{name}" if name else ""), float(mb.value), float(ma.value),
                         (mb.low, mb.high), (ma.low, ma.high), _interval(d, level), bootstrap_p(d),
                         f"paired bootstrap ({method}, k={k})", int(mb.n_in + mb.n_out)))
    return rows


def before_after(
    transform: Callable[[np.ndarray], np.ndarray],
    *,
    features: Any = None,
    triplets: Any = None,
    reference: Any = None,
    reference_kind: str = "similarity",
    metric: str = "rsa_spearman",
    rdm_metric: str = "cosine",
    few_shot: tuple[Any, Any] | None = None,
    shots: Sequence[int] = (5,),
    head: str = "linear",
    repeats: int = 5,
    ood: Sequence[Any] | None = None,
    ood_method: str = "knn",
    k: int = 10,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    model: str = "model",
    few_shot_options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Each measure before and after a feature transform, with intervals and a paired test.

    Args:
        transform: maps (N, D) features to transformed (N, D') features, e.g. a fitted
            :class:`~repalign.alignment.GLocal`'s ``transform``.
        features: (N, D) features of the objects the triplets and the reference describe.
        triplets: (T, 3) held-out odd-one-out triplets over ``features``' rows (needs
            ``features``).
        reference: (N, N) reference similarities (or (N, D_ref) features, ``reference_kind``)
            over ``features``' rows, for the alignment row (needs ``features``).
        reference_kind: ``"similarity"``, ``"dissimilarity"`` or ``"features"``.
        metric, rdm_metric: the alignment metric (see :func:`~repalign.similarity.compare`).
        few_shot: ``(features, labels)``: (M, D) features and (M,) labels for few-shot transfer.
        shots, head, repeats: few-shot settings (one row per ``shots``).
        ood: ``(train, test_in, test_out)`` (untransformed) features for OOD detection;
            ``test_out`` may be a dict ``{name: features}`` (one row ``ood_auroc_<name>`` each).
        ood_method, k: see :func:`~repalign.analysis.ood_detection`.
        n_boot: bootstrap draws (>= 2) for odd-one-out, alignment and OOD.
        level: confidence level of the intervals.
        seed: seed of every draw.
        model: the value of the ``model`` column.
        few_shot_options: further options of :func:`~repalign.analysis.few_shot_runs`.

    Returns:
        DataFrame with :data:`COLUMNS`, one row per measure given.

    Raises:
        ConfigError: nothing to measure, ``triplets``/``reference`` without ``features``, bad
            ``n_boot`` or ``level``.
        ShapeError: as the functions it calls.
    """
    check_count(n_boot, "n_boot", 2)
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), received {level}.")
    if (triplets is not None or reference is not None) and features is None:
        raise ConfigError("before_after: triplets and reference need the features of their objects (features=...).")
    if all(v is None for v in (triplets, reference, few_shot, ood)):
        raise ConfigError("before_after: give at least one of triplets, reference, few_shot or ood.")
    rows: list[dict[str, Any]] = []
    if features is not None:
        x = as_array(features, "features", min_rows=3)
        z = transform(x)
        if triplets is not None:
            rows.append(_odd_one_out(x, z, triplets, n_boot, level, seed))
        if reference is not None:
            rows.append(_alignment(x, z, reference, reference_kind, metric, rdm_metric, n_boot, level, seed))
    if few_shot is not None:
        fx = as_array(few_shot[0], "few-shot features", min_rows=2)
        rows += _few_shot(fx, transform(fx), few_shot[1], [int(s) for s in shots], head, repeats,
                          level, seed, dict(few_shot_options or {}))
    if ood is not None:
        rows += _ood(transform, ood, ood_method, k, n_boot, level, seed)
    out = pd.DataFrame(rows)
    out.insert(0, "model", model)
    return out[list(COLUMNS)]


def classify_change(table: pd.DataFrame, alignment: str, downstream: str, alpha: float = 0.05) -> pd.DataFrame:
    """Per model: does the transform raise ``alignment`` and ``downstream`` (both), trade one for
    the other, or neither? A change counts only when its paired test has ``p < alpha``.

    Args:
        table: rows of :func:`before_after` for several models.
        alignment: the alignment measure (e.g. ``"odd_one_out"``).
        downstream: the downstream measure (e.g. ``"ood_auroc"``, ``"few_shot_5"``).
        alpha: significance level.

    Returns:
        DataFrame: ``model``, ``alignment_delta``, ``downstream_delta``, ``outcome`` (``"both
        gain"``, ``"trade: alignment up, downstream down"``, ``"alignment up, downstream
        unchanged"``, ... ).
    """
    def sign(r: pd.Series) -> int:
        return 0 if not r.p_value < alpha else int(np.sign(r.delta))

    words = {1: "up", -1: "down", 0: "unchanged"}
    rows = []
    for model, g in table.groupby("model", sort=False):
        m = g.set_index("measure")
        if alignment not in m.index or downstream not in m.index:
            continue
        a, d = sign(m.loc[alignment]), sign(m.loc[downstream])
        outcome = ("both gain" if a == d == 1 else
                   "trade: alignment up, downstream down" if (a, d) == (1, -1) else
                   f"alignment {words[a]}, downstream {words[d]}")
        rows.append({"model": model, "alignment_delta": float(m.loc[alignment, "delta"]),
                     "downstream_delta": float(m.loc[downstream, "delta"]), "outcome": outcome})
    return pd.DataFrame(rows, columns=["model", "alignment_delta", "downstream_delta", "outcome"])
