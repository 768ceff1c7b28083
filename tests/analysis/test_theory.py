"""Seed 000's teacher-student game, checked against independent facts of coding theory."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from repalign.analysis.theory import (
    _load_or_run,
    capacity,
    game_instance,
    localise,
    query_bound,
    shift_sensitivity,
    simulate_lemma,
    simulate_queries,
    simulate_shift,
    triplet_codes,
)
from repalign.cli import main
from repalign.errors import ConfigError, ShapeError


def test_capacity_is_one_minus_binary_entropy() -> None:
    eps = np.linspace(0.0, 1.0, 41)
    ref = np.array([1.0 - stats.entropy([e, 1.0 - e], base=2) for e in eps])
    np.testing.assert_allclose(capacity(eps), ref, atol=1e-12)
    assert capacity(0.0) == capacity(1.0) == 1.0 and capacity(0.5) == 0.0
    np.testing.assert_allclose(capacity(eps), capacity(1.0 - eps), atol=1e-12)
    assert np.all(np.diff(capacity(eps), 2) > 0)  # convex
    assert query_bound(0.0, 16, 2) == pytest.approx(8.0)
    assert query_bound(0.5, 16, 2) == np.inf
    h = stats.entropy([0.11, 0.89], base=2)
    assert query_bound(0.11, 16, 2) == pytest.approx(2 * np.log2(16) / (1.0 - h))
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        capacity(1.2)


def test_triplet_codes_match_a_loop(rng) -> None:
    shared, objs = rng.normal(size=(6, 3)), rng.normal(size=(5, 3))
    codes = triplet_codes(objs, shared)
    for m in range(5):
        for p, (j, k) in enumerate(combinations(range(6), 2)):
            dj = np.linalg.norm(objs[m] - shared[j])
            dk = np.linalg.norm(objs[m] - shared[k])
            assert codes[m, p] == (dj < dk)


def test_noiseless_binary_search_is_exact() -> None:
    # codes holding each candidate's 4 index bits allow a perfect halving at every query:
    # every object is found with exactly log2(16) = 4 answers
    m = 16
    bits = (np.arange(m)[:, None] >> np.arange(4)) & 1
    extra = np.random.default_rng(0).random((m, 6)) < 0.3
    codes = np.concatenate([bits.astype(bool), extra], axis=1)
    out = localise(codes, np.arange(m), eps=0.0)
    assert out.correct.all() and np.all(out.queries == 4)


def test_lemma_counting_at_eps_zero() -> None:
    # source coding: no sequence of yes/no questions identifies one of M equally likely objects
    # with fewer than log2 M answers on average; greedy triplet queries come close
    table = simulate_lemma(((8, 1), (8, 2), (6, 3)), trials=150)
    assert np.all(table["queries_mean"] >= table["log2_candidates"] - 1e-9)
    assert np.all(table["queries_mean"] <= table["log2_candidates"] + 1.5)
    np.testing.assert_allclose(table["log2_candidates"], table["d"] * np.log2(table["n"]))


@pytest.fixture(scope="module")
def sweep():
    return simulate_queries([0.0, 0.1, 0.2, 0.3, 0.7, 0.8, 0.9, 1.0], n=8, d=2, trials=300,
                            seed=1)


def test_measured_disagreement_equals_eps(sweep) -> None:
    flip = sweep[sweep["student"] == "flip"]
    answers = flip["queries_mean"] * flip["trials"]
    se = np.sqrt(flip["eps"] * (1 - flip["eps"]) / answers)
    assert np.all(np.abs(flip["disagreement"] - flip["eps"]) <= 4 * se + 1e-12)


def test_u_shape_flip_trick_and_fano(sweep) -> None:
    flip = sweep[sweep["student"] == "flip"].set_index("eps")
    q = flip["queries_mean"]
    assert q[0.0] < q[0.1] < q[0.2] < q[0.3]  # Theorem 3.9: further from 0.5 is cheaper
    assert q[1.0] < q[0.9] < q[0.8] < q[0.7]
    for e in (0.7, 0.8, 0.9, 1.0):  # the flip trick: eps costs what 1 - eps costs
        se = np.hypot(flip.loc[e, "queries_se"], flip.loc[round(1 - e, 3), "queries_se"])
        assert abs(q[e] - q[round(1 - e, 3)]) <= 4 * se + 0.5
    # converse of the coding theorem: no student beats ((1 - Pe) log2 M - 1) / C(eps)
    assert np.all(flip["queries_mean"] >= flip["fano"])
    assert np.all(flip["error_rate"] <= 0.12)
    naive = sweep[sweep["student"] == "naive"].set_index("eps")
    assert list(naive.index) == [0.7, 0.8, 0.9, 1.0]
    assert np.all(naive["error_rate"] >= 0.6)  # trusting flipped bits locates the wrong object


def test_half_disagreement_carries_nothing() -> None:
    _, _, codes = game_instance(6, 1, seed=0)
    out = localise(codes, np.zeros(40, dtype=int), eps=0.5, max_queries=200,
                   rng=np.random.default_rng(0))
    assert out.censored.all() and np.all(out.queries == 200)


def test_fixed_answers_ask_each_pair_once() -> None:
    _, _, codes = game_instance(6, 2, seed=0)
    truth = np.arange(len(codes))
    teacher = codes[truth].copy()
    teacher[:, 0] ^= True  # one wrong answer per object
    out = localise(codes, truth, eps=0.1, teacher=teacher)
    assert np.all(out.queries <= codes.shape[1])
    assert out.disagreements <= len(truth)


def test_domain_shift_sensitivity_is_two_eps_one_minus_eps() -> None:
    table = simulate_shift([0.0, 0.2, 0.5, 0.8, 1.0], n=12, k=3, trials=20)
    assert np.all(np.abs(table["sigma_mean"] - table["predicted"]) <= 5 * table["sigma_se"] + 1e-3)
    np.testing.assert_allclose(table["predicted"], shift_sensitivity(table["eps"]))
    assert table.loc[table["eps"] == 0.5, "sigma_mean"].item() == pytest.approx(0.5, abs=0.01)


def test_bad_input_is_named() -> None:
    codes = np.zeros((3, 4), dtype=bool)
    with pytest.raises(ConfigError, match="distinct code"):
        localise(codes, np.array([0]), eps=0.1)
    good = np.eye(4, dtype=bool)
    with pytest.raises(ShapeError, match="indices into 4"):
        localise(good, np.array([7]), eps=0.1)
    with pytest.raises(ConfigError, match="delta"):
        localise(good, np.array([0]), eps=0.1, delta=0.7)
    with pytest.raises(ShapeError, match=r"\(T, P\)"):
        localise(good, np.array([0]), eps=0.1, teacher=np.zeros((2, 4), bool))
    with pytest.raises(ConfigError, match="n >= 3"):
        game_instance(2, 1)


def test_cli_writes_tables_figure_and_resumes(tmp_path, capsys) -> None:
    out = tmp_path / "theory"
    args = ["theory", "simulate", "--no-zoo", "--eps", "0", "0.2", "0.8", "--n", "6", "--d",
            "1", "--trials", "30", "--out", str(out), "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "bound = d log2(n) / C(eps)" in printed and "U-shape" in printed
    for name in ("theory_queries.csv", "theory_lemma.csv", "theory_shift.csv", "theory.json",
                 "theory.png", "theory.svg"):
        assert (out / name).is_file(), name
    payload = json.loads((out / "theory.json").read_text())
    assert {r["eps"] for r in payload["tables"]["queries"]} == {0.0, 0.2, 0.8}
    assert "0.8" in payload["summary"]["flip_trick"]
    stamp = (out / "theory_queries.csv").stat().st_mtime_ns
    assert main(args) == 0  # same settings: the finished parts are reused
    assert (out / "theory_queries.csv").stat().st_mtime_ns == stamp


def test_parts_rerun_only_when_settings_change(tmp_path) -> None:
    calls = []

    def run():
        calls.append(1)
        return pd.DataFrame({"x": [len(calls)]})

    assert _load_or_run(tmp_path, "part", {"a": 1}, run)["x"].item() == 1
    assert _load_or_run(tmp_path, "part", {"a": 1}, run)["x"].item() == 1  # reused
    assert _load_or_run(tmp_path, "part", {"a": 2}, run)["x"].item() == 2  # rerun
    assert len(calls) == 2
