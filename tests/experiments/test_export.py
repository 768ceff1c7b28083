"""Export: every paradigm's files load with the project's loaders and hold exactly the posted
answers; scores from people are recomputed here from the posted answers."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from starlette.testclient import TestClient

from repalign.data import load_similarity_matrix, load_triplets, load_two_afc
from repalign.data.triplets import triplets_from_trials
from repalign.errors import ConfigError, DataFormatError
from repalign.experiments import Experiment, create_app, export_experiment, load_experiment
from repalign.metamers.result import MetamerResult

from .conftest import complete, make_config, onscreen, response_body


@pytest.fixture(scope="module")
def metamer_dir(tmp_path_factory):
    """Two recipes x 6 labelled targets x 2 repeats of random 3 x 12 x 12 images."""
    g = torch.Generator().manual_seed(0)
    n_t, reps = 6, 2
    rows = [(r, t, k) for r in range(2) for t in range(n_t) for k in range(reps)]
    m = len(rows)
    targets = torch.rand(n_t, 3, 12, 12, generator=g)
    res = MetamerResult(
        images=torch.rand(m, 3, 12, 12, generator=g), seeds=torch.rand(m, 3, 12, 12, generator=g),
        targets=torch.stack([targets[t] for _, t, _ in rows]),
        target_ids=[f"img{t}" for _, t, _ in rows],
        target_labels=np.array([t % 3 for _, t, _ in rows]),
        generators=[f"zoo:gen{r}" for r, _, _ in rows], layers=["l"] * m, inits=["noise"] * m,
        regularizers=["none"] * m, optimizers=["adam"] * m,
        repeats=np.array([k for _, _, k in rows]), final_distance=np.zeros(m),
        success=np.ones(m, bool), steps_to_success=np.ones(m, np.int64))
    out = tmp_path_factory.mktemp("metamers") / "res"
    res.save(out, png=False)
    return out


def _run(tmp_path, cfg, n_people, answer):
    """Serve cfg, let n_people answer with answer(trial, rng); return (exp, bodies, out)."""
    exp = Experiment.open(cfg, tmp_path / "e.sqlite")
    rng = np.random.default_rng(0)
    bodies = []
    with TestClient(create_app(exp)) as c:
        for k in range(n_people):
            pid = f"P{k}"
            bodies += complete(c, pid, answer=lambda t: answer(t, rng))
            assert c.post("/api/finish", json={"participant_id": pid}).status_code == 200
    exp.store.close()
    out = tmp_path / "export"
    summary = export_experiment(tmp_path / "e.sqlite", out, quiet=True)
    assert summary["responses"] == len(bodies)
    return exp, bodies, out


def _main(bodies, exp_path):
    import sqlite3

    conn = sqlite3.connect(exp_path)
    kinds = {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT p.external_id, a.trial_index, a.kind FROM assignments a JOIN participants p ON "
        "p.id = a.participant")}
    specs = {(r[0], r[1]): json.loads(r[2]) for r in conn.execute(
        "SELECT p.external_id, a.trial_index, a.spec FROM assignments a JOIN participants p ON "
        "p.id = a.participant")}
    conn.close()
    return [(b, specs[(b["participant_id"], b["trial_index"])]) for b in bodies
            if kinds[(b["participant_id"], b["trial_index"])] == "main"]


def test_triplets_export_equals_posted_responses(tmp_path):
    cfg = make_config(design={"trials_per_participant": 5, "planned_trials": 10})
    _, bodies, out = _run(tmp_path, cfg, 3, lambda t, rng: (
        {"choice": [s["id"] for s in t["stimuli"]].index(
            next(i for i in (s["id"] for s in t["stimuli"])
                 if [s["id"] for s in t["stimuli"]].count(i) == 1))}
        if t["kind"] == "catch_known" else {"choice": int(rng.integers(3))}))
    ts = load_triplets(out / "triplets.csv", index_base=0, n_objects=12)
    # expected, from the posted bodies alone: items as shown, the odd one out's screen position
    main = _main(bodies, tmp_path / "e.sqlite")
    shown = np.array([[int(i[1:]) for i in b["onscreen_order"]] for b, _ in main])
    odd_pos = [b["onscreen_order"].index(t["stimuli"][b["response"]["choice"]]) for b, t in main]
    expected = triplets_from_trials(shown, np.array(odd_pos), choice_base=0)
    order = np.lexsort(expected.T[::-1])
    assert len(ts) == len(main) == 15
    assert np.array_equal(ts.triplets[np.lexsort(ts.triplets.T[::-1])], expected[order])
    people = {b["participant_id"] for b, _ in main}
    assert sorted(np.unique(ts.participants).tolist()) == [1, 2, 3] and len(people) == 3
    with open(out / "participants.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["participant_id"] for r in rows] == ["P0", "P1", "P2"]
    with open(out / "responses.csv") as fh:
        raw = list(csv.DictReader(fh))
    assert len(raw) == len(bodies)
    assert {r["response_id"] for r in raw} == {b["response_id"] for b in bodies}
    for r, b in zip(raw, bodies, strict=True):
        assert json.loads(r["onscreen_order"]) == b["onscreen_order"]
        assert float(r["rt_ms"]) == b["rt_ms"]


def test_flagged_participants_are_kept_and_marked(tmp_path):
    cfg = make_config()
    exp = Experiment.open(cfg, tmp_path / "e.sqlite")
    with TestClient(create_app(exp)) as c:
        complete(c, "GOOD-1", answer=lambda t: (
            {"choice": [s["id"] for s in t["stimuli"]].index(next(
                i for i in [s["id"] for s in t["stimuli"]]
                if [s["id"] for s in t["stimuli"]].count(i) == 1))}
            if t["kind"] == "catch_known" else {"choice": 0}))
        c.post("/api/finish", json={"participant_id": "GOOD-1"})
        complete(c, "BAD-1", answer=lambda t: {"choice": 0 if t["kind"] != "catch_known" else next(
            k for k, s in enumerate(t["stimuli"])
            if [x["id"] for x in t["stimuli"]].count(s["id"]) == 2)})
        assert c.post("/api/finish", json={"participant_id": "BAD-1"}).json()["status"] == "failed"
    exp.store.close()
    export_experiment(tmp_path / "e.sqlite", tmp_path / "out", quiet=True)
    every = load_triplets(tmp_path / "out" / "triplets.csv", index_base=0, n_objects=12)
    kept = load_triplets(tmp_path / "out" / "triplets_included.csv", index_base=0, n_objects=12)
    assert len(every) == 8 and len(kept) == 4 and set(kept.participants.tolist()) == {1}
    with open(tmp_path / "out" / "participants.csv") as fh:
        flags = {r["participant_id"]: (r["flags"], r["excluded"]) for r in csv.DictReader(fh)}
    assert flags == {"GOOD-1": ("", "0"), "BAD-1": ("failed_catch", "1")}


def test_two_afc_export_loads_as_two_afc_set(tmp_path, metamer_dir):
    cfg = make_config(paradigm="two_afc", stimuli={"metamers": str(metamer_dir)},
                      design={"trials_per_participant": 12, "planned_trials": 24,
                              "participants_per_trial": 2})
    cfg["stimuli"] = {"metamers": str(metamer_dir)}
    _, bodies, out = _run(tmp_path, cfg, 4, lambda t, rng: {"choice": int(rng.integers(1, 3))})
    two = load_two_afc(out / "two_afc")
    assert len(two) == 24
    res = MetamerResult.load(metamer_dir)
    # h recomputed from the posted bodies: share of people choosing the seed (stimuli[2])
    main = _main(bodies, tmp_path / "e.sqlite")
    by_metamer: dict[int, list[int]] = {}
    for b, t in main:
        by_metamer.setdefault(int(t["stimuli"][0][1:]), []).append(int(b["response"]["choice"] == 2))
    assert all(len(v) == 2 for v in by_metamer.values())
    assert list(two.ids) == [f"{i:05d}" for i in sorted(by_metamer)]
    assert np.allclose(two.h, [np.mean(by_metamer[i]) for i in sorted(by_metamer)])
    i0 = sorted(by_metamer)[0]
    assert torch.allclose(two.reference[0], res.images[i0], atol=0.5 / 255 + 1e-6)
    assert torch.allclose(two.p0[0], res.targets[i0], atol=0.5 / 255 + 1e-6)
    assert torch.allclose(two.p1[0], res.seeds[i0], atol=0.5 / 255 + 1e-6)
    import pandas as pd

    from repalign.evaluation.two_afc import COLUMNS

    scores = pd.read_csv(out / "two_afc_scores.csv")
    assert list(scores.columns) == COLUMNS and set(scores["distance"]) == {"human"}
    for gen, grp in scores.groupby("generator"):
        per_target: dict[str, list[float]] = {}
        for i in sorted(by_metamer):
            if res.generators[i] == gen:
                per_target.setdefault(res.target_ids[i], []).append(1 - np.mean(by_metamer[i]))
        assert grp["value"].iloc[0] == pytest.approx(np.mean([np.mean(v) for v in per_target.values()]))


def test_matching_export_scores(tmp_path, metamer_dir):
    cfg = make_config(paradigm="matching", design={"trials_per_participant": 2,
                                                   "planned_trials": 4},
                      catch={"repeats": 1, "known": 0})
    cfg["stimuli"] = {"metamers": str(metamer_dir)}

    def answer(t, rng):
        k = len(t["choices"])
        n = len(t["stimuli"]) - k
        return {"matches": [n + int(j) for j in rng.permutation(k)]}

    _, bodies, out = _run(tmp_path, cfg, 4, answer)
    import pandas as pd

    from repalign.evaluation.clustering import COLUMNS

    res = MetamerResult.load(metamer_dir)
    main = _main(bodies, tmp_path / "e.sqlite")
    acc = {}
    for b, t in main:
        n = len(t["stimuli"]) - len(t["choices"])
        truth = [f"t{[*dict.fromkeys(res.target_ids)].index(res.target_ids[int(m[1:])]):05d}"
                 for m in t["stimuli"][:n]]
        ok = [t["stimuli"][j] == truth[i] for i, j in enumerate(b["response"]["matches"])]
        acc.setdefault(res.generators[int(t["stimuli"][0][1:])], []).append(np.mean(ok))
    scores = pd.read_csv(out / "matching_scores.csv")
    assert list(scores.columns) == COLUMNS
    for _, row in scores.iterrows():
        assert row["value"] == pytest.approx(np.mean(acc[row["generator"]]))
        assert row["n"] == len(acc[row["generator"]]) and row["metric"] == "clustering"
    table = pd.read_csv(out / "matching.csv")
    assert len(table) == len(main)


def test_recognition_export_scores(tmp_path, metamer_dir):
    cfg = make_config(paradigm="recognition", design={"trials_per_participant": 10,
                                                      "planned_trials": 30})
    cfg["stimuli"] = {"metamers": str(metamer_dir)}
    _, bodies, out = _run(tmp_path, cfg, 3, lambda t, rng: {"choice": int(rng.integers(3))})
    import pandas as pd

    from repalign.evaluation.recognizability import COLUMNS

    res = MetamerResult.load(metamer_dir)
    main = _main(bodies, tmp_path / "e.sqlite")
    correct: dict[tuple[str, str], list[int]] = {}
    for b, t in main:
        name = t["stimuli"][0]
        if name[0] == "m":
            i = int(name[1:])
            correct.setdefault((res.generators[i], "accuracy_metamers"), []).append(
                int(b["response"]["choice"] == res.target_labels[i]))
    scores = pd.read_csv(out / "recognition_scores.csv")
    assert list(scores.columns) == COLUMNS and set(scores["observer"]) == {"human"}
    met = scores[scores["metric"] == "accuracy_metamers"]
    assert len(met) == len({k for k in correct})
    for _, row in met.iterrows():
        assert row["value"] == pytest.approx(np.mean(correct[(row["generator"], row["metric"])]))
    # natural targets: every target serves both generators here, so both rows hold all of them
    names = [*dict.fromkeys(res.target_ids)]
    on_targets = [int(b["response"]["choice"] == res.target_labels[res.target_ids.index(
        names[int(t["stimuli"][0][1:])])]) for b, t in main if t["stimuli"][0][0] == "t"]
    tgt = scores[scores["metric"] == "accuracy_targets"]
    assert on_targets and len(tgt) == 2
    assert np.allclose(tgt["value"], np.mean(on_targets)) and set(tgt["n"]) == {len(on_targets)}
    assert scores["chance"].iloc[0] == pytest.approx(1 / 3)


def test_rating_export_is_a_similarity_matrix(tmp_path):
    cfg = make_config(paradigm="rating", stimuli={"limit": 4},
                      design={"trials_per_participant": 6, "planned_trials": 6})
    _, bodies, out = _run(tmp_path, cfg, 2, lambda t, rng: (
        {"rating": 100} if t["kind"] == "catch_known" else {"rating": int(rng.integers(0, 101))}))
    sim = load_similarity_matrix(out / "similarity.csv")
    main = _main(bodies, tmp_path / "e.sqlite")
    expected = np.eye(4)
    pairs: dict[tuple[int, int], list[float]] = {}
    for b, t in main:
        i, j = sorted(int(s[1:]) for s in t["stimuli"])
        pairs.setdefault((i, j), []).append(b["response"]["rating"] / 100)
    for (i, j), v in pairs.items():
        expected[i, j] = expected[j, i] = np.mean(v)
    assert len(pairs) == 6
    assert np.allclose(sim.matrix, expected)
    assert list(sim.names) == ["x00000", "x00001", "x00002", "x00003"]


def test_export_of_a_non_experiment_file(tmp_path):
    bad = tmp_path / "x.sqlite"
    bad.write_bytes(b"not a database at all" * 10)
    with pytest.raises(DataFormatError, match="not an experiment database"):
        export_experiment(bad, tmp_path / "out")
    with pytest.raises(DataFormatError, match="no such"):
        export_experiment(tmp_path / "missing.sqlite", tmp_path / "out")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"paradigm": "odd_one_ot"}, "did you mean 'odd_one_out'"),
    ({"design": {"trials_per_participant": 0}}, "design.trials_per_participant"),
    ({"paradigm": "rating", "design": {"adaptive": True}}, "adaptive selection proposes odd-one-out"),
    ({"design": {"trials_per_participant": 9, "planned_trials": 4}}, "planned_trials"),
    ({"paradigm": "two_afc"}, "stimuli.metamers"),
    ({"stimuli": {"source": "bundled:digits", "metamers": "x"}}, "exactly one"),
    ({"completion": {"code": "has space"}}, "completion.code"),
    ({"url_params": {"participant": "1bad"}}, "url_params.participant"),
    ({"texts": {"titel": "x"}}, "did you mean 'title'"),
    ({"admin_token": "short"}, "admin_token"),
])
def test_config_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(make_config(**overrides))


def test_config_file_and_plan_limits(tmp_path):
    (tmp_path / "e.toml").write_text('paradigm = "rating"\n[stimuli]\nsource = "bundled:digits"\n'
                                     'limit = 3\n[design]\ntrials_per_participant = 4\n')
    cfg = load_experiment(tmp_path / "e.toml")
    with pytest.raises(ConfigError, match="only 3 distinct rating trials"):
        Experiment.open(cfg, tmp_path / "e.sqlite")
    (tmp_path / "bad.toml").write_text("paradigm = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_experiment(tmp_path / "bad.toml")


def test_onscreen_helper_matches_positions():
    t = {"stimuli": [{"id": "a"}, {"id": "b"}, {"id": "c"}], "positions": [2, 0, 1]}
    assert onscreen(t) == ["c", "a", "b"]
    assert response_body("P", {**t, "trial_index": 0}, {"choice": 0})["onscreen_order"] == \
        ["c", "a", "b"]
