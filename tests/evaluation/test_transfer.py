"""Transfer matrix: relations between generators and observers, known cells, summaries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repalign.errors import ConfigError
from repalign.evaluation import transfer_matrix, transfer_summary
from repalign.evaluation.transfer import TESTS, relation


@pytest.fixture
def zoo(cnn, brightness_observer):
    return [cnn("test:cnn_standard_s0", seed=0), cnn("test:cnn_standard_s1", seed=1),
            cnn("test:cnn_l2_s0", seed=2, style="pgd_l2"), brightness_observer]


@pytest.fixture
def results(make, levels):
    centres = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    labels = np.repeat(np.arange(5), 2)
    targets = levels(centres[labels], noise=0.1, seed=1)
    seeds = levels(np.full(10, 0.5), noise=0.2, seed=2)
    ids = [f"t{i}" for i in range(10)]

    def gen(spec, images):
        return make(torch.cat([images, images]), torch.cat([seeds, seeds]),
                    torch.cat([targets, targets]), ids + ids, np.concatenate([labels, labels]),
                    generators=[spec] * 20, layers=["6"] * 20, repeats=[0] * 10 + [1] * 10)

    # the first CNN's metamers are exact copies of the targets; the brightness model's are the seeds
    return [gen("test:cnn_standard_s0", targets), gen("test:brightness", seeds)]


def test_cells_relations_and_known_values(results, zoo):
    df = transfer_matrix(results, zoo, n_perm=99, n_boot=100, device="cpu")
    assert set(df.test) == set(TESTS)
    assert set(df.observer) == {m.spec for m in zoo}
    rel = df.drop_duplicates(["generator", "observer"]).set_index(["generator", "observer"]).relation
    assert rel["test:cnn_standard_s0", "test:cnn_standard_s0"] == "self"
    assert rel["test:cnn_standard_s0", "test:cnn_standard_s1"] == "same architecture, other seed"
    assert rel["test:cnn_standard_s0", "test:cnn_l2_s0"] == "same architecture, other training"
    assert rel["test:cnn_standard_s0", "test:brightness"] == "other architecture"
    assert rel["test:brightness", "test:brightness"] == "self"
    exact = df[df.generator == "test:cnn_standard_s0"].set_index(["observer", "metric"]).value
    seeds = df[df.generator == "test:brightness"].set_index(["observer", "metric"]).value
    for m in zoo:
        assert exact[m.spec, "two_afc"] == 1.0
        assert exact[m.spec, "match_rate"] == 1.0
        assert exact[m.spec, "clustering"] == 1.0
        assert exact[m.spec, "accuracy_metamers"] == exact[m.spec, "accuracy_targets"]
        assert seeds[m.spec, "two_afc"] == 0.0
    assert seeds["test:brightness", "accuracy_metamers"] == pytest.approx(0.2)
    assert set(df[df.observer == "test:brightness"].observer_layer) == {"pool"}


def test_summary_by_relation_and_style(results, zoo):
    df = transfer_matrix(results, zoo, tests=["recognizability"], n_boot=50, device="cpu")
    s = transfer_summary(df, "accuracy_metamers")
    cells = df[df.metric == "accuracy_metamers"]
    diag = s[(s.summary == "diagonal") & (s.group == "diagonal")].iloc[0]
    assert diag.value == pytest.approx(cells[cells.relation == "self"].value.mean())
    assert diag.n == 2
    off = s[(s.summary == "diagonal") & (s.group == "off-diagonal")].iloc[0]
    assert off.n == 6
    styles = s[s.summary == "style"].set_index("group")
    assert "standard -> robust" in styles.index and "standard -> standard" in styles.index
    assert styles.loc["standard -> robust", "n"] == 2  # both generators, the one robust observer
    with pytest.raises(ConfigError, match="No rows with metric"):
        transfer_summary(df, "two_afc")


def test_summary_views_against_a_loop_over_cells(results, zoo):
    df = transfer_matrix(results, zoo, tests=["recognizability"], n_boot=50, device="cpu")
    s = transfer_summary(df, "accuracy_metamers").set_index(["regularizer", "summary", "group"])
    arch = {"test:cnn_standard_s0": "cnn", "test:cnn_standard_s1": "cnn", "test:cnn_l2_s0": "cnn",
            "test:brightness": "bright"}
    style = {spec: "robust" if spec == "test:cnn_l2_s0" else "standard" for spec in arch}
    expected: dict[tuple[str, str], list[float]] = {}
    for r in df[df.metric == "accuracy_metamers"].itertuples():
        g, o = r.generator, r.observer
        keys = [("diagonal", "diagonal" if g == o else "off-diagonal")]
        if g != o:
            keys += [("style", f"{style[g]} -> {style[o]}"), ("generator style", style[g]),
                     ("architecture", f"{arch[g]} -> {arch[o]}"), ("generator architecture", arch[g])]
        for key in keys:
            expected.setdefault(key, []).append(r.value)
    views = ("diagonal", "style", "generator style", "architecture", "generator architecture")
    got = {(summary, group) for _, summary, group in s.index if summary in views}
    assert got == set(expected)
    assert ("architecture", "cnn -> bright") in got and ("generator architecture", "bright") in got
    for (summary, group), vals in expected.items():
        row = s.loc[("none", summary, group)]
        assert row.value == pytest.approx(np.mean(vals))
        assert row.n == len(vals)
        if len(vals) > 1:
            assert row.sd == pytest.approx(np.std(vals, ddof=1))


def test_bad_arguments(results, zoo):
    with pytest.raises(ConfigError, match="subset of"):
        transfer_matrix(results, zoo, tests=["speed"])
    with pytest.raises(ConfigError, match="MetamerResult"):
        transfer_matrix([], zoo)
    assert relation("a+b", "a", {}, {}) == "joint"
    assert relation("a", "b", {"architecture": None}, {"architecture": "cnn"}) == "unknown"
