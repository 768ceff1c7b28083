"""An experiment database named as a study's human data."""

from __future__ import annotations

import numpy as np
import pytest
from starlette.testclient import TestClient

from repalign.data import load_stimuli, load_triplets
from repalign.errors import ConfigError, DataFormatError
from repalign.experiments import Experiment, create_app, export_experiment
from repalign.experiments.data import load_experiment_data
from repalign.study.config import load_config
from repalign.study.human import load_human

from .conftest import complete, make_config


def _known_right(t):
    ids = [s["id"] for s in t["stimuli"]]
    if t["kind"] == "catch_known":
        return {"choice": ids.index(next(i for i in ids if ids.count(i) == 1))}
    return {"choice": 1}


@pytest.fixture
def db(tmp_path):
    exp = Experiment.open(make_config(), tmp_path / "exp.sqlite")
    with TestClient(create_app(exp)) as c:
        for pid in ("A", "B"):
            complete(c, pid, answer=_known_right)
            c.post("/api/finish", json={"participant_id": pid})
    exp.store.close()
    return tmp_path / "exp.sqlite"


def test_study_reads_experiment_database_as_triplets(db, tmp_path):
    cfg = load_config({"stimuli": {"source": "bundled:digits", "limit": 12},
                       "models": {"specs": ["zoo:*"]},
                       "human": {"experiment": {"path": "exp.sqlite"}},
                       "similarity": {"reference": "human"}}, base_dir=tmp_path)
    human = load_human(cfg, load_stimuli("bundled:digits", limit=12))
    export_experiment(db, tmp_path / "out", quiet=True)
    direct = load_triplets(tmp_path / "out" / "triplets_included.csv", index_base=0, n_objects=12)
    assert len(human["triplets"]) == 8
    assert np.array_equal(human["triplets"].triplets, direct.triplets)
    assert np.array_equal(human["triplets"].participants, direct.participants)


def test_study_refuses_other_stimuli(db, tmp_path):
    cfg = load_config({"stimuli": {"source": "bundled:digits", "limit": 13},
                       "models": {"specs": ["zoo:*"]},
                       "human": {"experiment": {"path": "exp.sqlite"}}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"human\.experiment: .*showed 12 stimuli"):
        load_human(cfg, load_stimuli("bundled:digits", limit=13))


def test_experiment_without_answers_says_so(tmp_path):
    Experiment.open(make_config(), tmp_path / "e.sqlite").store.close()
    with pytest.raises(DataFormatError, match="0 responses so far"):
        load_experiment_data(tmp_path / "e.sqlite")
