"""A tiny study on the zoo and bundled digits, run once locally for the integration tests."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest

#: five zoo models, 30 digits, a two-recipe metamer grid with few steps, every evaluation, the
#: few-shot analysis; one torch thread so that every executor computes bit-identical numbers
TINY: dict = {
    "name": "tiny <study> & co",
    "seed": 7,
    "device": "cpu",
    "stimuli": {"source": "bundled:digits", "per_class": 3},
    "models": {
        "specs": ["zoo:mlp_standard_s0", "zoo:cnn_standard_s0", "zoo:cnn_l2_s0",
                  "zoo:resnet_standard_s0", "zoo:mlp_linf_s0"],
    },
    "similarity": {
        "reference": "ensemble:zoo:cnn_*_s0",
        "metrics": ["rsa_spearman", "triplet_agreement", "cka_linear"],
        "pairwise": ["rsa_spearman"],
    },
    "glocal": {
        "triplets": 300, "options": {"max_epochs": 4, "batch_size": 64}, "n_boot": 50,
        "ood": {"in_distribution": {"source": "bundled:digits", "classes": [0, 1, 2, 3, 4], "per_class": 8},
                "out": {"source": "bundled:digits_shifted", "per_class": 2}},
    },
    "metamers": {
        "generators": ["zoo:cnn_l2_s0"],
        "targets": 3,
        "classes": [0, 1, 2, 3, 4],
        "layers": ["middle", "penultimate"],
        "regularizers": ["none", "human_leaning"],
        "inits": ["noise"],
        "optimizers": ["adam"],
        "steps": 8,
        "repeats": 2,
    },
    "evaluation": {"distances": ["ssim"], "observers": ["zoo:cnn_standard_s0"], "n_boot": 50, "n_perm": 50},
    "analysis": {
        "few_shot": {
            "stimuli": {"source": "bundled:digits", "classes": [5, 6, 7, 8, 9], "per_class": 12},
            "shots": [1, 5],
            "heads": ["linear"],
            "repeats": 2,
        },
        "covariate": "clean_acc",
    },
    "executor": {"threads": 1},
}

def _tiny_config() -> dict:
    return copy.deepcopy(TINY)


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    """A results table in a canonical row order (units may finish in another order)."""
    cols = [c for c in df.columns if c != "value"]
    return df.sort_values(cols, kind="stable", na_position="first").reset_index(drop=True)


@pytest.fixture
def tiny_config():
    """A function returning a fresh copy of the tiny study's configuration."""
    return _tiny_config


@pytest.fixture
def comparable():
    """A function putting a results table in a canonical row order."""
    return _comparable


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny study run once with the local executor (report included)."""
    from repalign.study.runner import run_study

    out = tmp_path_factory.mktemp("tiny") / "run"
    run = run_study(_tiny_config(), out=out, quiet=True)
    assert run.ran == run.units
    return out
