"""Seed 001 on the model zoo: out-of-distribution detection and the before/after-gLocal table.

Every zoo model is trained on digits 0-4 (:func:`~repalign.data.digits_split`), which makes the
split of seed 001's downstream tests natural:

- OOD detection (:func:`zoo_ood`): in-distribution training features are the training digits
  0-4, the positives the held-out test digits 0-4; out of distribution are the unseen digits 5-9
  (``digits_5_9``, a semantic shift) and the held-out digits 0-4 in the renditions of
  ``bundled:digits_shifted`` (``digits_shifted``, a domain shift with the same classes);
- gLocal (:func:`zoo_glocal`): the transform is fitted on odd-one-out triplets over
  ``per_class`` digits of every class (the "THINGS objects" of the zoo), answered by a
  simulated observer whose similarities are the reference's (no human judgements exist for
  these images offline), with the training digits 0-4 as the local-structure set (the role of
  ImageNet in the paper). The default reference is the robust-model ensemble of
  :func:`~repalign.analysis.zoo_study`, a **stand-in** for humans; a model in the ensemble is
  compared with the other members. :func:`~repalign.analysis.before_after` then measures
  held-out odd-one-out accuracy, alignment with the reference, few-shot accuracy on digits
  5-9 and OOD AUROC before and after.

Features are each model's penultimate layer (``meta["penultimate"]``).

Example:
    >>> table = zoo_ood(["cnn_standard_s0"], n_boot=100)                # doctest: +SKIP
    >>> res = zoo_glocal(["cnn_standard_s0", "cnn_l2_s0"], n_boot=100)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repalign._io import atomic_write_text
from repalign._progress import progress
from repalign.analysis.before_after import before_after, classify_change
from repalign.analysis.ood import OOD_METHODS, ood_detection
from repalign.analysis.zoo_study import alignment_subset, reference_names
from repalign.features.extract import penultimate_features

__all__ = ["ZooGLocal", "zoo_glocal", "zoo_ood"]

log = logging.getLogger(__name__)

#: default gLocal settings on the zoo (small problems: a higher rate, fewer epochs)
ZOO_GLOCAL_OPTIONS: dict[str, Any] = {"lr": 0.01, "max_epochs": 50, "patience": 10}


@dataclass(frozen=True)
class ZooGLocal:
    """Result of :func:`zoo_glocal`.

    Attributes:
        table: rows of :func:`~repalign.analysis.before_after` for every model (plus
            ``ceiling``, the simulated observer's noise ceiling on the held-out triplets).
        outcomes: per model and downstream measure, whether alignment and the downstream
            measure both rose (``"both gain"``) or one was traded for the other
            (:func:`~repalign.analysis.before_after.classify_change`, alignment measured by
            held-out odd-one-out accuracy).
        reference: description of the reference agent.
        files: files written (when ``out`` was given).
    """

    table: pd.DataFrame
    outcomes: pd.DataFrame
    reference: str
    files: list[Path]


def _ood_sets() -> tuple[dict[str, Any], str]:
    """Image sets: ``train``, ``test_in`` and the out-of-distribution sets, and a note."""
    from repalign.data.bundled import digits_split

    split = digits_split()
    sets: dict[str, Any] = {"train": split.train, "test_in": split.test, "digits_5_9": split.transfer}
    try:
        from repalign.data.shifted import shifted_digits_test
    except ImportError:  # pragma: no cover - older installs without the shifted set
        return sets, "out of distribution: digits 5-9 only (no bundled:digits_shifted)"
    sets["digits_shifted"] = shifted_digits_test()
    return sets, "out of distribution: digits 5-9 and bundled:digits_shifted (held-out 0-4)"


def _names(names: Sequence[str] | None) -> list[str]:
    from repalign.models.zoo import zoo_names

    return list(names) if names is not None else list(zoo_names())


def zoo_ood(
    names: Sequence[str] | None = None,
    *,
    methods: Sequence[str] = OOD_METHODS,
    k: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
    device: str = "cpu",
    quiet: bool = True,
) -> pd.DataFrame:
    """OOD detection of every zoo model: digits 0-4 in, digits 5-9 and shifted digits out.

    Args:
        names: zoo model names (default: the 18 built-in models).
        methods: ``"knn"`` and/or ``"mahalanobis"`` (class-conditional, with the training labels).
        k: neighbour rank of ``"knn"``.
        n_boot, seed: bootstrap draws and seed of the intervals.
        device: device for feature extraction.
        quiet: hide progress bars.

    Returns:
        Tidy DataFrame: ``model``, ``method``, ``k``, ``ood_set``, ``metric``, ``value``,
        ``low``, ``high``, ``level``, ``n_in``, ``n_out``.
    """
    from repalign.models.zoo import load_zoo_model

    sets, note = _ood_sets()
    log.info("zoo_ood: %s", note)
    frames = []
    for name in progress(_names(names), quiet=quiet, desc="zoo OOD", unit="model"):
        model = load_zoo_model(name, device=device)
        feats = {s: penultimate_features(model, stim.images, device) for s, stim in sets.items()}
        for method in methods:
            labels = sets["train"].labels if method == "mahalanobis" else None
            for out in [s for s in sets if s not in ("train", "test_in")]:
                res = ood_detection(feats["train"], feats["test_in"], feats[out], method=method, k=k,
                                    train_labels=labels, n_boot=n_boot, seed=seed)
                frames.append(res.metrics.assign(model=name, method=method, k=res.k, ood_set=out))
    df = pd.concat(frames, ignore_index=True)
    return df[["model", "method", "k", "ood_set", "metric", "value", "low", "high", "level", "n_in", "n_out"]]


def zoo_glocal(
    names: Sequence[str] | None = None,
    *,
    reference: Sequence[str] | None = None,
    per_class: int = 30,
    triplets: int = 3000,
    temperature: float = 0.05,
    test_fraction: float = 0.25,
    options: Mapping[str, Any] | None = None,
    metric: str = "rsa_spearman",
    shots: Sequence[int] = (5, 20),
    repeats: int = 5,
    k: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
    device: str = "cpu",
    out: str | Path | None = None,
    quiet: bool = True,
) -> ZooGLocal:
    """Seed 001's before/after-gLocal table on zoo models, with the arrow figure.

    Args:
        names: zoo model names (default: the 18 built-in models).
        reference: zoo models whose mean cosine-similarity matrix is the reference (default:
            :func:`~repalign.analysis.reference_names`, the robust-model ensemble).
        per_class: digits of each class 0-9 that the triplets are drawn over.
        triplets, temperature: simulated odd-one-out trials and the observer's softmax
            temperature.
        test_fraction: share of the triplets held out for the odd-one-out row.
        options: :class:`~repalign.alignment.GLocal` parameters (default
            :data:`ZOO_GLOCAL_OPTIONS`).
        metric: alignment metric against the reference.
        shots, repeats: few-shot settings (linear probe on digits 5-9).
        k: neighbour rank of the kNN OOD score.
        n_boot: bootstrap draws of the intervals and paired tests.
        seed: seed of the objects, triplets, fits and draws.
        device: device for extraction and fitting.
        out: folder for ``before_after.csv``, ``outcomes.csv`` and ``before_after.{png,svg}``.
        quiet: hide progress bars.

    Returns:
        :class:`ZooGLocal`.
    """
    from repalign.alignment import GLocal, embedding_from_similarity, simulate_observer
    from repalign.data import load_stimuli
    from repalign.models.zoo import load_zoo_model
    from repalign.similarity import rsm

    digits = load_stimuli("bundled:digits")
    assert digits.labels is not None
    objects = alignment_subset(digits.labels, per_class, seed)
    sets, note = _ood_sets()
    transfer = sets["digits_5_9"]
    ref_names = list(reference) if reference is not None else reference_names()
    ref_sims = {n: rsm(penultimate_features(load_zoo_model(n, device=device), digits.images[objects], device), "cosine")
                for n in ref_names}
    label = f"robust-model ensemble ({len(ref_names)} zoo models, mean cosine similarity; a stand-in for humans)"
    opts = {**ZOO_GLOCAL_OPTIONS, **dict(options or {})}
    frames = []
    for name in progress(_names(names), quiet=quiet, desc="zoo gLocal", unit="model"):
        model = load_zoo_model(name, device=device)
        x = penultimate_features(model, digits.images[objects], device)
        feats = {s: penultimate_features(model, stim.images, device) for s, stim in sets.items()}
        ref = np.mean([s for n, s in ref_sims.items() if n != name], axis=0)
        sim = simulate_observer(embedding_from_similarity(ref), triplets, temperature=temperature, seed=seed)
        perm = np.random.default_rng(seed).permutation(triplets)
        n_test = max(1, round(test_fraction * triplets))
        test, train = sim.triplets[perm[:n_test]], sim.triplets[perm[n_test:]]
        aligner = GLocal(**opts, random_state=seed, device=device).fit(x, train, x_local=feats["train"])
        outs = {s: f for s, f in feats.items() if s not in ("train", "test_in")}
        df = before_after(
            aligner.transform, features=x, triplets=test, reference=ref, metric=metric,
            few_shot=(feats["digits_5_9"], transfer.labels), shots=shots, repeats=repeats,
            ood=(feats["train"], feats["test_in"], outs), k=k, n_boot=n_boot, seed=seed, model=name,
        )  # fmt: skip
        frames.append(df.assign(ceiling=float(sim.probabilities[perm[:n_test]].max(1).mean())))
    table = pd.concat(frames, ignore_index=True)
    downstream = [m for m in table["measure"].unique() if m.startswith(("few_shot_", "ood_auroc"))]
    outcomes = pd.concat([classify_change(table, "odd_one_out", d).assign(downstream=d) for d in downstream],
                         ignore_index=True)
    files: list[Path] = []
    if out is not None:
        from repalign.analysis.figures import before_after_figure

        out = Path(out)
        for fname, frame in (("before_after", table), ("outcomes", outcomes)):
            atomic_write_text(out / f"{fname}.csv", frame.to_csv(index=False))
            files.append(out / f"{fname}.csv")
        atomic_write_text(out / "reference.txt", f"{label}\n{note}\n" + "".join(f"{n}\n" for n in ref_names))
        ys = [f"few_shot_{min(shots)}", *[d for d in downstream if d.startswith("ood_auroc")]]
        files += before_after_figure(table, "odd_one_out", ys, out / "before_after",
                                     title="zoo: before -> after gLocal")
    return ZooGLocal(table, outcomes, f"{label}; {note}", files)
