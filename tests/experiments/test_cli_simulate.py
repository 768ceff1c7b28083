"""The `repalign experiment` commands that need no server, the simulated observer's answers,
matching's hard draw and YAML experiment files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from starlette.testclient import TestClient

from repalign.cli import main
from repalign.errors import ConfigError
from repalign.experiments import Experiment, create_app, load_experiment
from repalign.experiments.plan import plan_trials
from repalign.experiments.pool import build_pool
from repalign.experiments.simulate import answer_trial, simulate_participants

from .conftest import complete, make_config


def test_cli_export_and_config_errors(tmp_path, capsys):
    exp = Experiment.open(make_config(), tmp_path / "e.sqlite")
    with TestClient(create_app(exp)) as c:
        complete(c, "A")
    exp.store.close()
    assert main(["experiment", "export", str(tmp_path / "e.sqlite"), "--out",
                 str(tmp_path / "out"), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["responses"] == 6 and summary["paradigm"] == "odd_one_out"
    (tmp_path / "bad.toml").write_text('paradigm = "odd_one_out"\n[stimuli]\nsorce = "x"\n')
    code = main(["experiment", "serve", str(tmp_path / "bad.toml"), "--db",
                 str(tmp_path / "b.sqlite"), "--api-only"])
    err = capsys.readouterr().err
    assert code == 2 and "stimuli.sorce: unknown key; did you mean 'source'" in err
    assert main(["experiment", "export", str(tmp_path / "none.sqlite"), "--out",
                 str(tmp_path / "o")]) == 2


def test_simulated_observer_follows_its_embedding():
    emb = np.array([[1.0, 0.0], [0.98, 0.02], [0.0, 1.0]]) * 10
    trial = {"paradigm": "odd_one_out", "stimuli": [{"id": f"x{i:05d}"} for i in range(3)]}
    rng = np.random.default_rng(0)
    picks = [answer_trial(trial, rng, emb, temperature=0.1)["choice"] for _ in range(50)]
    assert picks == [2] * 50  # 0 and 1 are alike: item 2 is the odd one out
    rating = {"paradigm": "rating", "stimuli": [{"id": "x00000"}, {"id": "x00001"}],
              "choices": {"min": 0, "max": 100}}
    assert answer_trial(rating, rng, emb)["rating"] > 99
    matching = {"paradigm": "matching", "stimuli": [{"id": str(i)} for i in range(6)],
                "choices": ["3", "4", "5"]}
    assert sorted(answer_trial(matching, rng)["matches"]) == [3, 4, 5]


def test_simulate_refuses_remote_urls():
    with pytest.raises(ConfigError, match="only target this machine"):
        simulate_participants("http://example.org:8000", 1)


def test_matching_hard_draw_takes_the_most_similar_targets(tmp_path):
    from repalign.metamers.result import MetamerResult

    torch = pytest.importorskip("torch")
    base = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    # targets 0-2 nearly equal, 3-5 far apart from them and from each other
    targets = torch.cat([base + 0.01 * k for k in range(3)]
                        + [torch.rand(1, 3, 8, 8) for _ in range(3)]).clamp(0, 1)
    m = 6
    MetamerResult(images=targets.clone(), seeds=torch.rand(m, 3, 8, 8), targets=targets,
                  target_ids=[f"t{i}" for i in range(m)], target_labels=np.arange(m) % 3,
                  generators=["g"] * m, layers=["l"] * m, inits=["noise"] * m,
                  regularizers=["none"] * m, optimizers=["adam"] * m, repeats=np.zeros(m),
                  final_distance=np.zeros(m), success=np.ones(m, bool),
                  steps_to_success=np.ones(m)).save(tmp_path / "res", png=False)
    cfg = load_experiment(make_config(paradigm="matching", stimuli={"source": None},
                                      matching={"draw": "hard"}, catch={"known": 0},
                                      design={"trials_per_participant": 2, "planned_trials": 2})
                          | {"stimuli": {"metamers": str(tmp_path / "res")}})
    planned = plan_trials(cfg, build_pool(cfg))
    groups = sorted(sorted(t["choices"]) for t in planned)  # the three near-copies together
    assert groups == [["t00000", "t00001", "t00002"], ["t00003", "t00004", "t00005"]]
    assert planned[0]["group"]["draw"] == "hard"


def test_yaml_experiment_file(tmp_path):
    (tmp_path / "e.yaml").write_text(
        "paradigm: rating\nstimuli:\n  source: bundled:digits\n  limit: 5\n"
        "design:\n  trials_per_participant: 10\nrating:\n  min: 1\n  max: 7\n")
    cfg = load_experiment(tmp_path / "e.yaml")
    assert cfg.rating.max == 7 and cfg.paradigm == "rating"
    assert len(plan_trials(cfg, build_pool(cfg))) == 10
