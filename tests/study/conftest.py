"""Shared fixtures of the study tests: a small study file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

_SMALL_STUDY = """
name = "{name}"
device = "cpu"
[stimuli]
per_class = 2
[models]
specs = ["zoo:mlp_standard_s0", "zoo:cnn_standard_s0"]
[similarity]
reference = "zoo:cnn_l2_s0"
metrics = [{metrics}]
pairwise = []
{sections}[executor]
threads = 1
"""


@pytest.fixture
def small_study(tmp_path: Path) -> Callable[..., Path]:
    """Writes ``tmp_path/study.toml``: two zoo models against the reference ``zoo:cnn_l2_s0`` on
    two bundled digits per class, one thread; returns its path.

    The function takes ``name``, the similarity ``metrics`` and ``sections`` (TOML text of further
    sections, e.g. ``[theory]``).
    """

    def write(name: str, metrics: Sequence[str], sections: str = "") -> Path:
        path = tmp_path / "study.toml"
        listed = ", ".join(f'"{m}"' for m in metrics)
        path.write_text(_SMALL_STUDY.format(name=name, metrics=listed, sections=sections))
        return path

    return write
