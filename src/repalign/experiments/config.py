"""The experiment configuration: a pydantic schema read from TOML or YAML.

Like study files, every section rejects unknown keys and wrong types, and the error names the
dotted key path (``design.trials_per_participant``) and, for a misspelt key or choice, the closest
valid name.

Example:
    >>> cfg = load_experiment({"paradigm": "odd_one_out",
    ...                        "stimuli": {"source": "bundled:digits", "limit": 20},
    ...                        "design": {"trials_per_participant": 10}})
    >>> cfg.design.planned_trials is None, cfg.url_params.participant
    (True, 'PROLIFIC_PID')
    >>> load_experiment({"paradigm": "odd_one_ot"})
    Traceback (most recent call last):
    ...
    repalign.errors.ConfigError: Invalid experiment configuration (1 problem):
      paradigm: did you mean 'odd_one_out'? expected one of ...
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from repalign._config_files import FileRelative, load_config_as
from repalign._hashing import hash_params

__all__ = [
    "PARADIGMS",
    "ExperimentConfig",
    "load_experiment",
]

Paradigm = Literal["odd_one_out", "two_afc", "matching", "recognition", "rating"]
PARADIGMS: tuple[str, ...] = ("odd_one_out", "two_afc", "matching", "recognition", "rating")
_NEEDS_METAMERS = ("two_afc", "matching")
_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
_CODE = r"^[A-Za-z0-9_-]{1,64}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ExperimentStimuli(_Section):
    """What people see: ``source`` (anything :func:`repalign.load_stimuli` reads: ``bundled:...``,
    a folder) or ``metamers`` (a saved :class:`~repalign.metamers.result.MetamerResult` folder:
    its metamers, their seeds and targets). Paths are relative to the configuration file."""

    source: str | None = None
    metamers: str | None = None
    size: int | None = Field(default=None, ge=8, le=1024)
    channels: Literal[1, 3] | None = None
    limit: int | None = Field(default=None, ge=3)

    @model_validator(mode="after")
    def _one_source(self) -> ExperimentStimuli:
        if (self.source is None) == (self.metamers is None):
            raise ValueError("give exactly one of 'source' (a stimulus set) or 'metamers' "
                             "(a metamer result folder)")
        return self


class DesignConfig(_Section):
    """Which trials, how many, for whom.

    ``planned_trials`` distinct trials are drawn (default: ``trials_per_participant``, i.e. every
    participant sees the same trials); each is assigned to ``participants_per_trial`` people,
    always the least-seen trials first, so ``ceil(planned_trials x participants_per_trial /
    trials_per_participant)`` participants complete the plan. Each participant sees their trials
    in their own random order with random on-screen positions (both recorded). ``adaptive``
    (odd-one-out only): each new participant gets ``trials_per_participant`` fresh triplets
    proposed from the answers so far (:mod:`repalign.experiments.adaptive`); ``planned_trials``
    and ``participants_per_trial`` then do not apply.

    A planned trial counts as seen by a participant once they answered it, or while it waits in
    the session of someone still active. A
    participant who has neither finished nor answered anything for ``abandoned_after_minutes``
    no longer holds their unanswered trials: these go to the next participants again (answers
    that come later are still stored).
    """

    trials_per_participant: int = Field(default=30, ge=1, le=2000)
    planned_trials: int | None = Field(default=None, ge=1, le=1_000_000)
    participants_per_trial: int = Field(default=1, ge=1, le=10_000)
    adaptive: bool = False
    abandoned_after_minutes: float = Field(default=120.0, gt=0, le=525_600)

    @model_validator(mode="after")
    def _check(self) -> DesignConfig:
        if self.planned_trials is not None and self.planned_trials < self.trials_per_participant:
            raise ValueError(
                f"planned_trials ({self.planned_trials}) must be at least trials_per_participant "
                f"({self.trials_per_participant}): a participant never sees a trial twice, except "
                "as a catch repeat"
            )
        return self


class CatchConfig(_Section):
    """Catch trials added to each participant's trials: ``repeats`` of their own earlier trials
    (with new positions; consistency), ``known`` trials with a known answer (attention; default
    2, and 0 for matching, which has none): odd-one-out shows an image twice and another once,
    2AFC the reference itself as a candidate, recognition a natural image, rating an image
    with itself (to be rated in the top quarter)."""

    repeats: int = Field(default=2, ge=0, le=100)
    known: int | None = Field(default=None, ge=0, le=100)


class ExclusionConfig(_Section):
    """Rules that flag participants (in the database and the export; nothing is deleted).

    ``min_rt_ms`` / ``max_fast_fraction``: flag ``too_fast`` when more than that fraction of the
    responses came faster. ``max_failed_known``: more failed known-answer catches flag
    ``failed_catch`` and end the session with the failure code. ``min_repeat_agreement``: flag
    ``inconsistent`` when fewer repeats than that fraction match the original answer.
    """

    min_rt_ms: float = Field(default=250.0, ge=0)
    max_fast_fraction: float = Field(default=0.25, ge=0, le=1)
    max_failed_known: int = Field(default=0, ge=0)
    min_repeat_agreement: float = Field(default=0.0, ge=0, le=1)


class TextsConfig(_Section):
    """Texts shown to participants (plain text: they are always escaped, never HTML)."""

    title: str = Field(default="A short experiment on how images look", max_length=200)
    consent: str = Field(
        default="This study asks you to look at images and answer questions about them. Your "
        "answers are recorded anonymously with your participant id. You may stop at any time.",
        max_length=20_000,
    )
    instructions: str = Field(default="", max_length=20_000)
    prompt: str = Field(default="", max_length=2_000)
    consent_button: str = Field(default="I agree", min_length=1, max_length=100)
    completed: str = Field(default="Thank you! Your answers are saved.", max_length=5_000)
    failed: str = Field(
        default="Unfortunately you did not pass the attention checks of this study.",
        max_length=5_000,
    )


class CompletionConfig(_Section):
    """What a participant gets at the end: ``code`` (and/or ``redirect_url``, e.g. Prolific's
    completion link), or ``failure_code`` when the attention checks failed. The page follows
    a redirect URL by itself after ``redirect_after_ms`` (None: only by a click)."""

    code: str = Field(default="COMPLETE", pattern=_CODE)
    redirect_url: str | None = Field(default=None, pattern=r"^https?://\S+$", max_length=2_000)
    failure_code: str = Field(default="FAILED", pattern=_CODE)
    failure_redirect_url: str | None = Field(default=None, pattern=r"^https?://\S+$",
                                             max_length=2_000)
    redirect_after_ms: int | None = Field(default=5000, ge=0, le=600_000)


class UrlParams(_Section):
    """Names of the URL parameters holding the participant, study and session ids."""

    participant: str = Field(default="PROLIFIC_PID", pattern=_NAME)
    study: str = Field(default="STUDY_ID", pattern=_NAME)
    session: str = Field(default="SESSION_ID", pattern=_NAME)
    # a visitor whose link lacks the participant id gets a random id kept in the browser (for
    # demos and pilots; never on a crowd platform, where the id links the answers to the person)
    allow_anonymous: bool = False


class MatchingConfig(_Section):
    """Matching trials: three targets and ``per_target`` metamers of each; ``draw`` ``easy``
    (random targets) or ``hard`` (the most similar targets, by pixel distance)."""

    per_target: int = Field(default=1, ge=1, le=4)
    draw: Literal["easy", "hard"] = "easy"


class RecognitionConfig(_Section):
    """Recognition trials: one image, choose its class. ``include_targets`` also shows the
    natural targets of a metamer result (the human ceiling)."""

    include_targets: bool = True


class RatingConfig(_Section):
    """Similarity rating on a slider from ``min`` to ``max`` (``labels`` at its two ends)."""

    min: int = 0
    max: int = 100
    labels: list[str] = Field(default_factory=lambda: ["very different", "very similar"],
                              min_length=2, max_length=2)

    @model_validator(mode="after")
    def _range(self) -> RatingConfig:
        if self.max <= self.min:
            raise ValueError(f"max ({self.max}) must be above min ({self.min})")
        return self


class ExperimentConfig(FileRelative, _Section):
    """A whole experiment. Only ``paradigm`` and ``stimuli`` are required."""

    name: str = Field(default="experiment", pattern=_CODE)
    paradigm: Paradigm
    seed: int = 0
    stimuli: ExperimentStimuli
    design: DesignConfig = DesignConfig()
    catch: CatchConfig = CatchConfig()
    exclusion: ExclusionConfig = ExclusionConfig()
    texts: TextsConfig = TextsConfig()
    completion: CompletionConfig = CompletionConfig()
    url_params: UrlParams = UrlParams()
    matching: MatchingConfig = MatchingConfig()
    recognition: RecognitionConfig = RecognitionConfig()
    rating: RatingConfig = RatingConfig()
    admin_token: str | None = Field(default=None, min_length=16, max_length=200,
                                    pattern=r"^[A-Za-z0-9_.~-]+$")
    max_participants: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _paradigm_fits(self) -> ExperimentConfig:
        if self.paradigm in _NEEDS_METAMERS and self.stimuli.metamers is None:
            raise ValueError(f"paradigm {self.paradigm!r} shows metamers with their targets and "
                             "seeds: set stimuli.metamers to a metamer result folder")
        if self.paradigm == "matching" and self.catch.known:
            raise ValueError("catch.known: matching has no known-answer catch trials (the "
                             "targets as their own metamers would show each image twice); set "
                             "catch.known = 0 and use catch.repeats")
        if self.design.adaptive and self.paradigm != "odd_one_out":
            raise ValueError(f"design.adaptive: adaptive selection proposes odd-one-out triplets; "
                             f"paradigm {self.paradigm!r} takes adaptive = false")
        if self.paradigm in ("odd_one_out", "rating") and self.stimuli.metamers is not None:
            raise ValueError(f"paradigm {self.paradigm!r} takes a stimulus set: set "
                             "stimuli.source instead of stimuli.metamers")
        return self

    def known_catches(self) -> int:
        """Known-answer catch trials per participant (``catch.known`` or its default)."""
        if self.catch.known is not None:
            return self.catch.known
        return 0 if self.paradigm == "matching" else 2

    def design_digest(self) -> str:
        """Hash of what fixes the planned trials (paradigm, stimuli, design, catch trials and
        paradigm options); texts, codes and exclusion thresholds may change between runs."""
        keys = {"paradigm", "seed", "stimuli", "design", "catch", "matching", "recognition",
                "rating"}
        return hash_params(self.model_dump(mode="json", include=keys))


def load_experiment(
    source: str | os.PathLike[str] | Mapping[str, Any] | ExperimentConfig,
    *,
    base_dir: str | Path | None = None,
) -> ExperimentConfig:
    """Read and validate an experiment configuration.

    Args:
        source: a ``.toml``/``.yaml`` path, a mapping, or an :class:`ExperimentConfig`.
        base_dir: folder for relative paths; default the file's folder (or the current one).

    Raises:
        ConfigError: unreadable file, unknown keys, wrong types or values; the message lists
            every problem with its dotted key path.
    """
    return load_config_as(ExperimentConfig, source, base_dir=base_dir,
                          what="experiment configuration")
