"""Seed 000's analysis on many small zoo models: alignment, few-shot transfer, statistics.

For every model (trained on digits 0-4) this measures, on the unseen digits 5-9:

- its alignment with a reference agent: Pearson and Spearman correlation of the similarity
  matrices' upper triangles and exact triplet agreement (seed 000's three metrics), on a fixed
  stratified subset of the transfer images;
- its few-shot transfer: :func:`~repalign.analysis.few_shot` on the penultimate features of all
  transfer images;

then relates the two across models with :func:`~repalign.analysis.analyze_alignment`, with the
model's clean accuracy on digits 0-4 as the covariate (the role ImageNet top-1 plays in the
paper) and as further downstream metrics its robust (PGD) accuracies, the adversarial axis, and
its accuracy on the held-out digits 0-4 re-drawn in renditions it never trained on
(``shift_acc``, from ``bundled:digits_shifted``), the domain-shift axis (ImageNet-R's role).

The reference is human data when given: a similarity or dissimilarity matrix over all transfer
images (``reference=``, a :class:`~repalign.data.SimilarityMatrix` or an array), restricted to
the subset. Offline no human judgements exist for these images, so the default reference is a
**stand-in**: the mean cosine-similarity matrix of the 12 built-in adversarially trained zoo
models (L2 and Linf PGD, three architectures, two seeds), the "robust-model ensemble";
adversarially robust models are the ones whose invariances agree best with human perception
(seed 002), which is why they stand in for the observer. A model that is itself a member of an
ensemble is compared with the other members.

Example:
    >>> study = zoo_study(folder, names)                        # doctest: +SKIP
    >>> study.analysis.tables["table3"]                         # doctest: +SKIP
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repalign._io import atomic_write_text
from repalign._progress import progress
from repalign._validation import describe
from repalign.analysis.probes import HEADS, few_shot
from repalign.analysis.report import AlignmentAnalysis, analyze_alignment
from repalign.data.similarity_matrix import SimilarityMatrix
from repalign.errors import ConfigError, DataFormatError

__all__ = ["ALIGNMENT_METRICS", "ZooStudy", "alignment_subset", "reference_names", "zoo_study"]

log = logging.getLogger(__name__)

#: seed 000's three alignment metrics, as (column, repalign metric)
ALIGNMENT_METRICS: tuple[tuple[str, str], ...] = (
    ("pearson", "rsa_pearson"),
    ("spearman", "rsa_spearman"),
    ("triplet", "triplet_agreement"),
)
_CONFIG_COLUMNS = ("arch", "style", "width", "depth", "epochs", "augmentation",
                   "label_smoothing", "norm", "epsilon", "seed")


@dataclass(frozen=True)
class ZooStudy:
    """Result of :func:`zoo_study`.

    Attributes:
        model_table: one row per model: name, config fields, ``clean_acc``,
            ``robust_acc_l2``, ``robust_acc_linf``, ``shift_acc`` (mean over renditions) and
            ``shift_acc_<rendition>``, ``fewshot_<head>_<n>`` (mean accuracy) and
            ``included`` (whether the model entered the statistics).
        alignment: one row per model: ``model``, ``pearson``, ``spearman``, ``triplet``.
        few_shot: tidy few-shot results of every model (``model`` column added).
        analysis: the statistics across models.
        reference: description of the reference agent.
    """

    model_table: pd.DataFrame
    alignment: pd.DataFrame
    few_shot: pd.DataFrame
    analysis: AlignmentAnalysis
    reference: str


def reference_names() -> list[str]:
    """The built-in robust zoo models that form the default reference ensemble."""
    from repalign.models.zoo import builtin_configs

    return sorted(n for n, c in builtin_configs().items() if c.style in ("pgd_l2", "pgd_linf"))


def alignment_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """The stratified subset of images on which a zoo model's alignment is measured.

    ``per_class`` images of every class, drawn without replacement by a generator seeded with
    ``seed`` (all of a class's images when it has fewer), so that every zoo analysis compares
    models on the same images.

    Args:
        labels: (N,) class labels of the transfer images.
        per_class: images per class.
        seed: seed of the draw.

    Returns:
        (m,) sorted indices into ``labels``.
    """
    rng = np.random.default_rng(seed)
    picks = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(picks))


def _matrix_reference(reference: SimilarityMatrix | np.ndarray, n: int,
                      subset: np.ndarray) -> tuple[np.ndarray, str, str]:
    """A given (human) reference matrix over the transfer images, restricted to the subset.

    Args:
        reference: (n, n) similarities as an array, or a :class:`SimilarityMatrix` of either
            kind, with rows in the order of ``digits_split().transfer``.
        n: number of transfer images.
        subset: (m,) indices of the alignment subset.

    Returns:
        The (m, m) restricted matrix, its kind (``"similarity"`` or ``"dissimilarity"``) and
        the label of the reference.

    Raises:
        DataFormatError: not (n, n), NaN/Inf, or asymmetric.
    """
    expected = (f"zoo_study: the reference matrix must be ({n}, {n}), one row per transfer image "
                "in the order of digits_split().transfer")
    if not isinstance(reference, SimilarityMatrix):
        arr = np.asarray(reference)
        if arr.shape != (n, n):
            raise DataFormatError(f"{expected}; received {describe(arr)}.")
        try:
            reference = SimilarityMatrix(arr, "similarity", source="given array")
        except DataFormatError as exc:
            raise DataFormatError(f"{expected}, symmetric and finite; {exc}") from exc
    if len(reference) != n:
        raise DataFormatError(
            f"{expected}; received ({len(reference)}, {len(reference)}) from {reference.source}."
        )
    source = "given array" if reference.source == "array" else reference.source
    label = (f"human {reference.kind} matrix ({source}, {n} x {n}; restricted to the "
             f"{len(subset)}-image alignment subset)")
    return reference.matrix[np.ix_(subset, subset)], reference.kind, label


def zoo_study(
    folder: str | Path,
    names: Sequence[str] | None = None,
    *,
    reference: Sequence[str] | SimilarityMatrix | np.ndarray | None = None,
    shots: Sequence[int] = (1, 5, 10, 20, 40, 80),
    heads: Sequence[str] = HEADS,
    repeats: int = 5,
    per_class: int = 50,
    k: int = 5,
    seed: int = 0,
    device: str = "cpu",
    min_clean_acc: float | None = None,
    out: str | Path | None = None,
    quiet: bool = True,
) -> ZooStudy:
    """Measure alignment and few-shot transfer of zoo models and relate them (seed 000).

    Args:
        folder: folder of zoo checkpoints (``<name>.pt``), e.g. from ``train_sweep``.
        names: the models to study (default: every checkpoint in ``folder``).
        reference: human data, as a :class:`~repalign.data.SimilarityMatrix` (similarity or
            dissimilarity) or an (N_transfer, N_transfer) array of similarities over all transfer
            images in the order of ``digits_split().transfer``, restricted to the alignment
            subset; or zoo model names forming a reference ensemble (default:
            :func:`reference_names`, the built-in robust models, a stand-in).
        shots, heads, repeats: few-shot settings (see :func:`~repalign.analysis.few_shot`).
        per_class: transfer images per class on which alignment is measured.
        k: models per high/mid/low group.
        seed: seed of the image subset and of the few-shot draws.
        device: device for feature extraction and the few-shot heads.
        min_clean_acc: leave models whose clean accuracy on digits 0-4 is below this out of
            the statistics (training that collapsed to chance); they stay in ``model_table``
            with ``included = False`` and a warning names them.
        out: folder for ``model_table.csv``, ``alignment.csv``, ``few_shot.csv`` and the
            analysis tables and figures (``figure6``: the first few-shot metric;
            ``figure_shift``: the shifted-digits accuracy) (None: write nothing).
        quiet: hide progress bars.

    Returns:
        :class:`ZooStudy`.

    Raises:
        ConfigError: a checkpoint is missing.
        DataFormatError: a reference matrix that is not (N_transfer, N_transfer), holds NaN/Inf
            or is asymmetric.
    """
    from repalign.data.bundled import digits_split
    from repalign.features.extract import penultimate_features
    from repalign.models.zoo import load_checkpoint, load_zoo_model, shift_accuracies
    from repalign.similarity import compare, rsm

    folder = Path(folder)
    paths = (
        sorted(folder.glob("*.pt")) if names is None else [folder / f"{n}.pt" for n in names]
    )
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        raise ConfigError(
            f"zoo_study: no checkpoint for {missing[:5] or [str(folder / '*.pt')]}; train the "
            "models first (repalign zoo sweep --n N)."
        )
    transfer = digits_split().transfer
    assert transfer.labels is not None
    labels = transfer.labels
    subset = alignment_subset(labels, per_class, seed)
    human: tuple[np.ndarray, str, str] | None = None
    if isinstance(reference, (SimilarityMatrix, np.ndarray)):
        human = _matrix_reference(reference, len(transfer), subset)
        ref_names: list[str] = []
    else:
        ref_names = list(reference) if reference is not None else reference_names()
    ref_sims = {}
    for name in ref_names:
        model = load_zoo_model(name, device=device)
        ref_sims[name] = rsm(penultimate_features(model, transfer.images[subset], device), "cosine")
    rows, align_rows, fs_rows = [], [], []
    for path in progress(paths, quiet=quiet, desc="zoo study", unit="model"):
        model = load_checkpoint(path, device=device)
        name = path.stem
        feats = penultimate_features(model, transfer.images, device)
        if human is not None:
            ref, ref_kind = human[0], human[1]
        else:
            ref = np.mean([s for n, s in ref_sims.items() if n != name], axis=0)
            ref_kind = "similarity"
        align = {"model": name}
        for column, metric in ALIGNMENT_METRICS:
            align[column] = compare(feats[subset], ref, metric, kind=("features", ref_kind),
                                    rdm_metric="cosine")
        align_rows.append(align)
        fs = few_shot(feats, labels, shots, heads, repeats, seed, device=device)
        fs_rows.append(fs.assign(model=name))
        meta = model.meta
        cfg = meta.get("config", {})
        row: dict[str, Any] = {"model": name, **{c: cfg.get(c) for c in _CONFIG_COLUMNS}}
        row.update({m: meta.get(m) for m in ("clean_acc", "robust_acc_l2", "robust_acc_linf")})
        row.update(shift_accuracies(model, device=device))
        row["penultimate_dim"] = feats.shape[1]
        for r in fs.itertuples():
            row[f"fewshot_{r.head}_{r.shots}"] = r.mean
        rows.append(row)
    table = pd.DataFrame(rows)
    alignment = pd.DataFrame(align_rows)
    few = pd.concat(fs_rows, ignore_index=True)
    table["included"] = True
    if min_clean_acc is not None:
        table["included"] = table["clean_acc"] >= min_clean_acc
        if not table["included"].all():
            left = table.loc[~table["included"], ["model", "clean_acc"]].values.tolist()
            warnings.warn(
                f"{len(left)} model(s) below clean accuracy {min_clean_acc} are left out of the "
                f"statistics: {left}", stacklevel=2,
            )
    kept = table[table["included"]]
    downstream = [c for c in table.columns if c.startswith("fewshot_")]
    downstream += ["robust_acc_l2", "robust_acc_linf", "shift_acc"]
    first = f"fewshot_{heads[0]}_{min(shots)}"
    analysis = analyze_alignment(
        kept[["model", "clean_acc", *downstream]],
        alignment[alignment["model"].isin(kept["model"])], covar="clean_acc",
        downstream=downstream, k=k, figure_y=first, out=out,
    )  # fmt: skip
    label = (human[2] if human is not None else
             f"robust-model ensemble ({len(ref_names)} zoo models: mean cosine similarity)")
    if out is not None:
        from repalign.analysis.figures import scatter_figure

        out = Path(out)
        analysis.files.extend(scatter_figure(analysis.data, analysis.alignment_metrics,
                                             "shift_acc", out / "figure_shift"))
        for fname, df in (("model_table", table), ("alignment", alignment), ("few_shot", few)):
            atomic_write_text(out / f"{fname}.csv", df.to_csv(index=False))
        atomic_write_text(out / "reference.txt", "".join(f"{s}\n" for s in [label, *ref_names]))
    return ZooStudy(table, alignment, few, analysis, label)
