"""Model specs and patterns in a study's plan."""

from __future__ import annotations

import pytest

from repalign.errors import ConfigError
from repalign.study.config import StudyConfig
from repalign.study.plan import Planner


def _planner() -> Planner:
    config = StudyConfig.model_validate({"stimuli": {"source": "bundled:digits"},
                                         "models": {"specs": ["zoo:*"]}})
    return Planner(config, ctx=None)  # type: ignore[arg-type]  # expand_specs needs no context


def test_patterns_expand_and_file_specs_stay_as_given():
    # a file: spec's '?' starts its options; it is a path, not a glob pattern
    specs = _planner().expand_specs(
        ["zoo:cnn_*_s0", "file:checkpoints/robust_resnet50.pt?arch=resnet50", "zoo:cnn_l2_s0"],
        "models.specs")
    assert specs == ["zoo:cnn_l2_s0", "zoo:cnn_linf_s0", "zoo:cnn_standard_s0",
                     "file:checkpoints/robust_resnet50.pt?arch=resnet50"]


def test_a_pattern_that_matches_nothing_is_an_error():
    with pytest.raises(ConfigError, match=r"models.specs\[0\]: pattern 'zoo:nothing_\*' matches no"):
        _planner().expand_specs(["zoo:nothing_*"], "models.specs")
