"""The communication game and the domain-shift prediction on real model pairs from the zoo.

Teacher and students are zoo models (trained on digits 0-4); the objects are digits 5-9 that no
zoo model trained on, represented by each model's penultimate features (Euclidean distances).
``n_shared`` digits are the shared objects, ``n_candidates`` others are the candidate new
objects. A student's eps is the measured triplet disagreement with the teacher over all of
those digits (1 - :func:`~repalign.similarity.triplet_agreement`, exact); the student uses it as
its channel model. The teacher answers each query from its own features, so the same query
gets the same answer and each pair is asked at most once. As a control, the same student hears
its own codes through fixed random flips at the rate measured on the game's triplets: the
difference between the two shows what the structure of real disagreements adds to the
binary-symmetric-channel picture.

:func:`zoo_shift` measures, per model, the quantities of Appendix A on the shifted digits:
the domain-shift sensitivity sigma (share of triplets that change between the clean held-out
digits 0-4 and the same digits in each rendition of ``bundled:digits_shifted``), the accuracy on
the renditions, and eps against the teacher, next to the prediction 2 eps (1 - eps).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from repalign._progress import progress
from repalign.analysis.theory.channel import capacity, shift_sensitivity
from repalign.analysis.theory.game import localise, triplet_codes
from repalign.errors import ConfigError

__all__ = ["DEFAULT_TEACHER", "simulate_zoo_pairs", "zoo_shift"]

log = logging.getLogger(__name__)

#: the teacher of the zoo games: an adversarially trained CNN (seed 002: robust models are the
#: zoo's best stand-in for a human observer)
DEFAULT_TEACHER = "cnn_l2_s0"


def _models(teacher: str, students: Sequence[str] | None) -> list[str]:
    from repalign.models.zoo import builtin_configs

    names = list(students) if students is not None else sorted(builtin_configs())
    return [teacher, *[s for s in names if s != teacher]]


def _features(name: str, images: torch.Tensor, device: str) -> np.ndarray:
    from repalign.features.extract import penultimate_features
    from repalign.models.zoo import load_zoo_model

    return penultimate_features(load_zoo_model(name, device=device), images, device).astype(np.float64)


def simulate_zoo_pairs(
    teacher: str = DEFAULT_TEACHER,
    students: Sequence[str] | None = None,
    *,
    n_shared: int = 24,
    n_candidates: int = 200,
    trials: int = 200,
    delta: float = 0.05,
    seed: int = 0,
    device: str = "cpu",
    quiet: bool = True,
) -> pd.DataFrame:
    """Queries real zoo students need to locate new digits from a zoo teacher's triplets.

    Args:
        teacher: zoo model answering the queries.
        students: zoo models listening (default: every built-in zoo model; the teacher itself
            is always included as the eps = 0 student).
        n_shared: shared digits (P = n_shared (n_shared - 1) / 2 possible queries).
        n_candidates: candidate new digits (candidates with a repeated code in a student's
            space are dropped for that student).
        trials: games per student (the new digit drawn uniformly from the candidates).
        delta: confidence at which the student stops.
        seed: seed of the digit draw, the games and the control's flips.
        device: device for the features.
        quiet: hide the progress bar.

    Returns:
        One row per student: ``student``, ``eps`` (measured triplet disagreement with the
        teacher), ``eps_game`` (disagreement on the game's triplets), ``candidates``,
        ``queries_mean``, ``queries_se``, ``error_rate``, ``censored``, ``control_queries_mean``,
        ``control_error_rate``, ``bound`` (d log2 n / C(eps) with d log2 n = log2 candidates),
        ``capacity``.
    """
    from repalign.data.bundled import digits_split
    from repalign.similarity import triplet_agreement

    if n_shared < 3 or n_candidates < 2:
        raise ConfigError(f"need n_shared >= 3 and n_candidates >= 2, received {n_shared} and "
                          f"{n_candidates}.")
    transfer = digits_split().transfer
    if n_shared + n_candidates > len(transfer):
        raise ConfigError(f"n_shared + n_candidates must be at most {len(transfer)} (the unseen "
                          f"digits 5-9), received {n_shared + n_candidates}.")
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(transfer))[: n_shared + n_candidates]
    images = transfer.images[torch.as_tensor(pick)]
    names = _models(teacher, students)
    feats = {n: _features(n, images, device) for n in progress(names, quiet=quiet,
                                                                 desc="theory: zoo features")}
    t_codes = triplet_codes(feats[teacher][n_shared:], feats[teacher][:n_shared])
    rows: list[dict[str, object]] = []
    for name in progress(names, quiet=quiet, desc="theory: zoo games", unit="student"):
        f = feats[name]
        eps = 1.0 - triplet_agreement(feats[teacher], f)
        codes = triplet_codes(f[n_shared:], f[:n_shared])
        _, first = np.unique(codes, axis=0, return_index=True)
        keep = np.sort(first)
        codes, teach = codes[keep], t_codes[keep]
        eps_game = float((codes != teach).mean())
        g = np.random.default_rng([seed, len(rows)])
        truth = g.integers(len(codes), size=trials)
        out = localise(codes, truth, eps=eps, teacher=teach[truth], delta=delta)
        flips = g.random((trials, codes.shape[1])) < eps_game
        ctrl = localise(codes, truth, eps=eps_game, teacher=codes[truth] ^ flips, delta=delta)
        bits = np.log2(len(codes))
        cap = float(capacity(eps))
        rows.append({
            "student": name, "eps": eps, "eps_game": eps_game, "candidates": len(codes),
            "queries_mean": float(out.queries.mean()),
            "queries_se": float(out.queries.std(ddof=1) / np.sqrt(trials)),
            "error_rate": 1.0 - float(out.correct.mean()), "censored": float(out.censored.mean()),
            "control_queries_mean": float(ctrl.queries.mean()),
            "control_error_rate": 1.0 - float(ctrl.correct.mean()),
            "bound": bits / cap if cap > 0 else np.inf, "capacity": cap,
        })
    return pd.DataFrame(rows)


def zoo_shift(
    teacher: str = DEFAULT_TEACHER,
    models: Sequence[str] | None = None,
    *,
    n_images: int = 120,
    renditions: Sequence[str] | None = None,
    seed: int = 0,
    device: str = "cpu",
    quiet: bool = True,
) -> pd.DataFrame:
    """Domain-shift sensitivity, shifted accuracy and eps of zoo models (Appendix A, measured).

    Args:
        teacher: the reference agent eps is measured against.
        models: zoo models (default: every built-in one; the teacher is included).
        n_images: held-out digits 0-4 on which triplets are counted (accuracies use all 271).
        renditions: renditions of ``bundled:digits_shifted`` (default: all).
        seed: seed of the image subset.
        device: device for the features.
        quiet: hide the progress bar.

    Returns:
        One row per model: ``model``, ``eps`` (triplet disagreement with the teacher on the
        clean digits), ``sigma`` (mean over renditions of the triplet disagreement between the
        model's clean and shifted representations), ``sigma_<rendition>``, ``predicted_sigma``
        (2 eps (1 - eps), which assumes a robust teacher), ``clean_acc``, ``shift_acc`` (mean
        over renditions) and ``shift_acc_<rendition>``.
    """
    from repalign.data.bundled import digits_split
    from repalign.data.shifted import RENDITIONS, shifted_digits_test
    from repalign.models.zoo import accuracy, load_zoo_model, shift_accuracies
    from repalign.similarity import triplet_agreement

    test = digits_split().test
    names = list(renditions) if renditions is not None else list(RENDITIONS)
    shifted = shifted_digits_test(renditions=names)
    n = len(test)
    if not 3 <= n_images <= n:
        raise ConfigError(f"n_images must lie in [3, {n}], received {n_images}.")
    sub = torch.as_tensor(np.sort(np.random.default_rng(seed).permutation(n)[:n_images]))
    assert test.labels is not None
    y = torch.as_tensor(test.labels)
    ref = _features(teacher, test.images[sub], device)
    rows = []
    for name in progress(_models(teacher, models), quiet=quiet, desc="theory: zoo shift"):
        model = load_zoo_model(name, device=device)
        clean = _features(name, test.images[sub], device)
        eps = 1.0 - triplet_agreement(ref, clean)
        row: dict[str, object] = {"model": name, "eps": eps,
                                  "predicted_sigma": float(shift_sensitivity(eps))}
        with torch.no_grad():
            row["clean_acc"] = accuracy(model, test.images.to(device), y.to(device))
        for i, r in enumerate(names):
            imgs = shifted.images[i * n:(i + 1) * n][sub]
            row[f"sigma_{r}"] = 1.0 - triplet_agreement(clean, _features(name, imgs, device))
        row["sigma"] = float(np.mean([row[f"sigma_{r}"] for r in names]))
        row.update(shift_accuracies(model, names, device=device))
        rows.append(row)
    return pd.DataFrame(rows)
