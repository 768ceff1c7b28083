"""The study configuration: a pydantic schema read from TOML or YAML.

Every section rejects unknown keys and values of the wrong type; the error names the dotted path of
the key (``metamers.regularizers[1]``) and, for a misspelt key or choice, the closest valid name.
A section that is present switches its stage on; ``features`` always runs.

Example:
    >>> cfg = load_config({"stimuli": {"source": "bundled:digits", "per_class": 4},
    ...                    "models": {"specs": ["zoo:*"]}})
    >>> cfg.models.layers
    ['penultimate']
    >>> load_config({"stimuli": {"sorce": "x"}, "models": {"specs": ["zoo:*"]}})
    Traceback (most recent call last):
    ...
    repalign.errors.ConfigError: Invalid study configuration (1 problem):
      stimuli.sorce: unknown key; did you mean 'source'? Valid keys: ...
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from repalign._config_files import FileRelative, load_config_as
from repalign._hashing import hash_params

__all__ = [
    "AnalysisConfig",
    "EvaluationConfig",
    "ExecutorConfig",
    "ExperimentData",
    "FeaturesConfig",
    "FewShotConfig",
    "GLocalConfig",
    "GLocalOODConfig",
    "HumanConfig",
    "MetamersConfig",
    "ModelsConfig",
    "SimilarityConfig",
    "StimuliConfig",
    "StudyConfig",
    "load_config",
]

TestName = Literal["two_afc", "clustering", "recognizability", "representation_test", "transfer"]
EVALUATION_TESTS: tuple[TestName, ...] = (
    "two_afc", "clustering", "recognizability", "representation_test", "transfer",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class StimuliConfig(_Section):
    """A stimulus set: any source :func:`repalign.load_stimuli` reads, then an optional selection.

    ``classes`` keeps the images of these labels; ``per_class`` then keeps the first n of each
    class (in the source's order); ``limit`` keeps the first n images overall.
    """

    source: str = "bundled:digits"
    size: int | None = Field(default=None, ge=1)
    channels: int | None = Field(default=None, ge=1)
    classes: list[int] | None = None
    per_class: int | None = Field(default=None, ge=1)
    limit: int | None = Field(default=None, ge=1)


class ModelsConfig(_Section):
    """The models under study: specs or glob patterns (``"zoo:*"``) and their analysis layers.

    Layers are torch module names or the aliases ``penultimate`` (the input of the classifier),
    ``middle`` (the middle of the forward pass) and ``last``.
    """

    specs: list[str] = Field(min_length=1)
    layers: list[str] = Field(default_factory=lambda: ["penultimate"], min_length=1)


class TripletsFile(_Section):
    """Human odd-one-out triplets over the study stimuli (indices in the stimuli's order).

    ``index_base`` (0 or 1) is required: how the file numbers the stimuli is never guessed.
    ``layout`` is ``pair_pair_odd`` (three columns), ``trials`` (three items, the chosen
    position, optionally a participant id) or ``auto``.
    """

    path: str
    index_base: Literal[0, 1]
    layout: Literal["auto", "pair_pair_odd", "trials"] = "auto"
    choice_base: Literal[0, 1] = 1


class SimilarityFile(_Section):
    """A human (N, N) similarity or dissimilarity matrix over the study stimuli (.npy, .csv,
    .mat; ``key`` names the MATLAB variable, ``symmetrize`` averages an asymmetric matrix)."""

    path: str
    kind: Literal["similarity", "dissimilarity"] = "similarity"
    key: str | None = None
    symmetrize: bool = False


class TwoAFCFile(_Section):
    """Human 2AFC judgements in the BAPPS layout (a folder with ``ref/``, ``p0/``, ``p1/``,
    ``judge/``); used to score the perceptual distances that stand in for humans."""

    path: str
    limit: int | None = Field(default=None, ge=1)


class ExperimentData(_Section):
    """Answers collected with ``repalign experiment serve``: the experiment database. Its
    odd-one-out triplets, similarity ratings or 2AFC judgements become the human data of that
    kind; ``include_flagged`` keeps participants flagged by an exclusion rule."""

    path: str
    include_flagged: bool = False


class HumanConfig(_Section):
    """Optional human data; paths are relative to the configuration file's folder."""

    triplets: TripletsFile | None = None
    similarity: SimilarityFile | None = None
    two_afc: TwoAFCFile | None = None
    experiment: ExperimentData | None = None


class FeaturesConfig(_Section):
    """Feature extraction for every model at its analysis layers."""

    reduce: str = "flatten"
    batch_size: int = Field(default=64, ge=1)


class SimilarityConfig(_Section):
    """Alignment of each model with a reference agent, and of every model pair.

    ``reference`` is ``"human"`` (the human similarity matrix or triplets), a model spec, or
    ``"ensemble:PATTERN"``: the mean similarity matrix of the matching models, a stand-in for
    humans that the report labels as such. ``rdm_metric`` turns features into dissimilarities
    for the RDM-based metrics (cosine matches the ensemble's cosine similarities).
    """

    metrics: list[str] = Field(
        default_factory=lambda: ["rsa_spearman", "rsa_pearson", "triplet_agreement"], min_length=1
    )
    reference: str = "human"
    reference_layer: str = "penultimate"
    pairwise: list[str] = Field(default_factory=lambda: ["rsa_spearman"])
    rdm_metric: Literal["euclidean", "sqeuclidean", "cosine", "correlation", "dot"] = "cosine"


class GLocalOODConfig(_Section):
    """Out-of-distribution detection before and after gLocal (seed 001): the
    ``in_distribution`` images are split at random in half, training features and in-distribution
    test images; the ``out`` images are out of distribution. ``method`` and ``k`` as in
    :func:`repalign.analysis.ood_detection`."""

    in_distribution: StimuliConfig
    out: StimuliConfig
    method: Literal["knn", "mahalanobis"] = "knn"
    k: int = Field(default=10, ge=1)


class GLocalConfig(_Section):
    """gLocal post-hoc alignment of each model's features to the reference's triplets.

    Without human triplets, ``triplets`` odd-one-out trials are drawn over the stimuli and
    answered by a simulated observer with the reference agent's similarities (softmax at
    ``temperature``). ``split`` holds out random triplets or, with ``objects``, whole stimuli.
    ``options`` go to :class:`repalign.alignment.GLocal`.

    Seed 001's before/after table compares, with intervals (``n_boot`` bootstrap draws) and
    paired tests, held-out odd-one-out accuracy, alignment with the reference (the first
    similarity metric), few-shot accuracy at ``shots`` (on the few-shot stimuli of
    ``[analysis]``, else the main stimuli, when they are labelled) and, with ``ood``, OOD AUROC.
    """

    triplets: int = Field(default=3000, ge=30)
    temperature: float = Field(default=0.05, gt=0.0)
    split: Literal["triplets", "objects"] = "triplets"
    test_fraction: float = Field(default=0.25, gt=0.0, lt=1.0)
    options: dict[str, Any] = Field(default_factory=dict)
    shots: list[int] = Field(default_factory=lambda: [5])
    ood: GLocalOODConfig | None = None
    n_boot: int = Field(default=1000, ge=2)


class MetamersConfig(_Section):
    """A metamer grid: generators x layers x regularizers x starting points x optimizers.

    ``targets`` natural images of the main stimuli (balanced over labels, only ``classes`` when
    given, e.g. the classes observers can name) are matched; ``repeats`` metamers per target
    and recipe. ``options`` go to :func:`repalign.generate_metamers`.
    """

    generators: list[str] = Field(min_length=1)
    targets: int = Field(default=6, ge=1)
    classes: list[int] | None = None
    layers: list[str] = Field(default_factory=lambda: ["middle", "penultimate"], min_length=1)
    regularizers: list[str] = Field(
        default_factory=lambda: ["none", "human_leaning", "adversarial"], min_length=1
    )
    inits: list[str] = Field(default_factory=lambda: ["noise", "blend"], min_length=1)
    optimizers: list[str] = Field(default_factory=lambda: ["adam", "normalized_gd"], min_length=1)
    steps: int = Field(default=300, ge=1)
    repeats: int = Field(default=2, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)


class EvaluationConfig(_Section):
    """Tests of the metamers: perceptual 2AFC and clustering under ``distances``,
    recognizability and the representation test by ``observers`` (at ``observer_layers``), and
    the transfer matrix; ``n_boot`` bootstrap resamples and ``n_perm`` Mantel permutations."""

    tests: list[TestName] = Field(default_factory=lambda: list(EVALUATION_TESTS), min_length=1)
    distances: list[str] = Field(default_factory=lambda: ["ssim"], min_length=1)
    observers: list[str] = Field(default_factory=list)
    observer_layers: list[str] = Field(default_factory=lambda: ["penultimate"], min_length=1)
    hard_clustering: bool = False
    n_boot: int = Field(default=1000, ge=0)
    n_perm: int = Field(default=1000, ge=0)


class FewShotConfig(_Section):
    """Few-shot transfer of each model's features (``stimuli`` defaults to the study's)."""

    stimuli: StimuliConfig | None = None
    shots: list[int] = Field(default_factory=lambda: [1, 5, 10, 20], min_length=1)
    heads: list[str] = Field(default_factory=lambda: ["linear"], min_length=1)
    repeats: int = Field(default=3, ge=1)
    # z-score the features with the training examples first (seed 000: the features as given)
    standardize: bool = False


class AnalysisConfig(_Section):
    """Seed 000's analysis: few-shot transfer against alignment (partial correlation, U-shape)."""

    few_shot: FewShotConfig = FewShotConfig()
    alignment_metric: str = "rsa_spearman"
    covariate: str | None = None


class TheoryConfig(_Section):
    """Seed 000's teacher-student game, simulated (see :mod:`repalign.analysis.theory`).

    Synthetic students hear a teacher's triplet answers with flip rate ``eps``; the report shows
    the queries they need against eps with the bound d log2(n) / C(eps), and places the study's
    models on that curve by their triplet disagreement with the reference (when
    ``similarity.metrics`` holds ``triplet_agreement``).
    """

    eps: list[float] = Field(default_factory=lambda: [round(0.05 * i, 2) for i in range(21)],
                             min_length=2)
    n: int = Field(default=16, ge=3)
    d: int = Field(default=2, ge=1)
    trials: int = Field(default=100, ge=2)
    delta: float = Field(default=0.05, gt=0, lt=0.5)
    max_queries: int = Field(default=3000, ge=1)

    @field_validator("eps")
    @classmethod
    def _eps_in_unit_interval(cls, v: list[float]) -> list[float]:
        bad = [e for e in v if not 0.0 <= e <= 1.0]
        if bad:
            raise ValueError(f"every eps must lie in [0, 1]; received {bad}")
        return v


class ExecutorConfig(_Section):
    """Where units run: ``local`` (in this process) or ``ray`` (tasks on a Ray cluster)."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = None
    cpus_per_unit: float = Field(default=1.0, gt=0)
    gpus_per_unit: float = Field(default=0.0, ge=0)
    threads: int | None = Field(default=None, ge=1)


class StudyConfig(FileRelative, _Section):
    """A whole study. Only ``stimuli`` and ``models`` are required."""

    name: str = "study"
    seed: int = 0
    device: str = "auto"
    output: str | None = None
    stimuli: StimuliConfig
    models: ModelsConfig
    human: HumanConfig | None = None
    features: FeaturesConfig = FeaturesConfig()
    similarity: SimilarityConfig | None = None
    glocal: GLocalConfig | None = None
    metamers: MetamersConfig | None = None
    evaluation: EvaluationConfig | None = None
    analysis: AnalysisConfig | None = None
    theory: TheoryConfig | None = None
    executor: ExecutorConfig = ExecutorConfig()

    @model_validator(mode="after")
    def _stages_have_inputs(self) -> StudyConfig:
        problems = []
        human = self.human
        if self.similarity is not None and self.similarity.reference == "human":
            if human is None or (human.similarity is None and human.triplets is None
                                 and human.experiment is None):
                problems.append(
                    "similarity.reference: 'human' needs [human] similarity or triplets; give "
                    "them or set a model spec or 'ensemble:PATTERN' as the reference"
                )
        if self.glocal is not None and self.similarity is None and (
                human is None or (human.triplets is None and human.experiment is None)):
            problems.append(
                "glocal: needs human triplets ([human] triplets) or a [similarity] section whose "
                "reference answers simulated triplets"
            )
        if self.evaluation is not None and self.metamers is None:
            problems.append("evaluation: evaluates metamers; add a [metamers] section")
        if self.analysis is not None and self.similarity is None:
            problems.append("analysis: relates few-shot transfer to alignment; add a [similarity] section")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def digest(self) -> str:
        """Content hash of the configuration (what it asks for, not where it was read from)."""
        return hash_params(self.model_dump(mode="json", exclude={"output"}))


# -- reading ------------------------------------------------------------------------------------


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any] | StudyConfig, *, base_dir: str | Path | None = None
) -> StudyConfig:
    """Read and validate a study configuration.

    Args:
        source: a ``.toml``/``.yaml`` path, a mapping, or a :class:`StudyConfig` (returned as is).
        base_dir: folder for relative data paths; default the file's folder (or the current one).

    Raises:
        ConfigError: unreadable file, unknown keys, wrong types or values, missing sections; the
            message lists every problem with its dotted key path.
    """
    return load_config_as(StudyConfig, source, base_dir=base_dir)
