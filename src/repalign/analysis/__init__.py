"""Downstream analysis of alignment (seed 000): few-shot transfer, partial correlation, z²,
extreme groups, the U-shape test and the paper's tables and figure; the simulation of the
paper's teacher-student theory (:mod:`repalign.analysis.theory`); out-of-distribution
detection and the before/after-gLocal table (seed 001).

Example:
    >>> import repalign as ra
    >>> ra.analysis.few_shot(feats, labels, shots=(1, 5, 10))                 # doctest: +SKIP
    >>> ra.analysis.partial_corr(df, x="alignment", y="fewshot_5", covar="imagenet_top1")  # doctest: +SKIP
"""

from __future__ import annotations

from repalign.analysis.before_after import before_after, classify_change
from repalign.analysis.figures import before_after_figure
from repalign.analysis.groups import extreme_groups
from repalign.analysis.ood import OODResult, detection_metrics, ood_detection, ood_scores
from repalign.analysis.probes import HEADS, few_shot, few_shot_runs, sample_shots
from repalign.analysis.report import AlignmentAnalysis, analyze_alignment
from repalign.analysis.stats import Correlation, UShape, partial_corr, u_shape, z2
from repalign.analysis.theory import TheoryResult, simulate_theory
from repalign.analysis.zoo_glocal import ZooGLocal, zoo_glocal, zoo_ood
from repalign.analysis.zoo_study import ZooStudy, reference_names, zoo_study

__all__ = [
    "HEADS",
    "AlignmentAnalysis",
    "Correlation",
    "OODResult",
    "TheoryResult",
    "UShape",
    "ZooGLocal",
    "ZooStudy",
    "analyze_alignment",
    "before_after",
    "before_after_figure",
    "classify_change",
    "detection_metrics",
    "extreme_groups",
    "few_shot",
    "few_shot_runs",
    "ood_detection",
    "ood_scores",
    "partial_corr",
    "reference_names",
    "sample_shots",
    "simulate_theory",
    "u_shape",
    "z2",
    "zoo_glocal",
    "zoo_ood",
    "zoo_study",
]
