"""The metric registry: every entry swept for its facts, invariances and errors; compare()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import repalign as ra
from repalign.errors import ConfigError, ShapeError, UnknownNameError
from repalign.similarity import METRICS, compare, list_metrics, rdm, rsm

NAMES = METRICS.list()
REQUIRED = {"rsa_pearson", "rsa_spearman", "rsa_kendall_tau_a", "rsa_kendall_tau_b", "rsa_cosine",
            "triplet_agreement", "cka_linear", "cka_linear_debiased", "cka_rbf", "procrustes",
            "mutual_knn"}


@pytest.fixture
def xy(rng):
    x = rng.normal(size=(24, 5))
    y = np.tanh(x @ rng.normal(size=(5, 7))) + 0.5 * rng.normal(size=(24, 7))
    return x, y


def test_list_metrics_facts():
    df = list_metrics()
    assert isinstance(df, pd.DataFrame) and REQUIRED <= set(df["metric"])
    assert list(df.columns[:8]) == ["metric", "type", "low", "high", "best", "symmetric",
                                    "differentiable", "based_on"]
    facts = df.set_index("metric")
    assert facts.loc["procrustes", "type"] == "distance" and facts.loc["procrustes", "best"] == 0
    assert not facts.loc["rsa_spearman", "differentiable"] and facts.loc["cka_linear", "differentiable"]
    assert set(df["type"]) == {"similarity", "distance"}
    assert list_metrics("rsa_*")["metric"].tolist() == sorted(n for n in REQUIRED if n.startswith("rsa"))
    assert ra.list_metrics is list_metrics and ra.compare is compare


@pytest.mark.parametrize("name", NAMES)
def test_every_metric_facts_hold(rng, xy, name):
    x, y = xy
    info = METRICS.info(name)
    value = compare(x, y, name)
    assert info.low - 1e-12 <= value <= info.high + 1e-12
    # self-comparison gives the best value (the maximum of a similarity, 0 for a distance)
    best = info.high if info.type == "similarity" else info.low
    assert compare(x, x, name) == pytest.approx(best, abs=1e-7)
    assert compare(y, y, name) == pytest.approx(best, abs=1e-7)
    other = compare(x, rng.normal(size=y.shape), name)
    assert (other < compare(x, x, name)) if info.type == "similarity" else (other > 0)
    if info.symmetric:
        assert compare(y, x, name) == pytest.approx(value, abs=1e-10)
    # a common permutation of the stimuli changes nothing
    perm = rng.permutation(len(x))
    assert compare(x[perm], y[perm], name) == pytest.approx(value, abs=1e-10)
    # but permuting one side only does (the check can fail)
    assert compare(x, y[perm], name) != pytest.approx(value, abs=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_every_metric_on_matrix_inputs(xy, name):
    x, y = xy
    info = METRICS.info(name)
    value = compare(x, y, name)
    if info.based_on == "rdm":
        dx, dy = rdm(x), rdm(y)
        assert compare(dx, dy, name, kind="dissimilarity") == pytest.approx(value, abs=1e-12)
        assert compare(1 - dx, 1 - dy, name, kind="similarity") == pytest.approx(value, abs=1e-12)
        assert compare(x, 1 - dy, name, kind=("features", "similarity")) == pytest.approx(value, abs=1e-12)
    if "similarity" in info.accepts and info.based_on == "features":  # kernels
        assert compare(x @ x.T, y @ y.T, name, kind="similarity") == pytest.approx(value, abs=1e-10)
        assert compare(x, y @ y.T, name, kind=("features", "similarity")) == pytest.approx(value, abs=1e-10)
    if "dissimilarity" in info.accepts and info.based_on == "features":
        assert compare(rdm(x), rdm(y), name, kind="dissimilarity") == pytest.approx(value, abs=1e-10)
        assert compare(rdm(x), y, name, kind=("dissimilarity", "features")) == pytest.approx(value, abs=1e-10)
    for kind in {"features", "similarity", "dissimilarity"} - set(info.accepts):
        with pytest.raises(ConfigError, match=f"does not accept kind='{kind}'"):
            compare(x @ x.T, y @ y.T, name, kind=kind)


def test_options_and_rdm_metric(xy):
    x, y = xy
    assert compare(x, y, "triplet_agreement", ties="strict") <= compare(x, y, "triplet_agreement")
    assert compare(x, y, "mutual_knn", k=3) != compare(x, y, "mutual_knn", k=8)
    assert compare(x, y, "rsa_spearman", rdm_metric="cosine") == pytest.approx(
        compare(rsm(x, "cosine"), rsm(y, "cosine"), "rsa_spearman", kind="similarity"), abs=1e-12)
    theta = compare(x, y, "procrustes")
    assert compare(x, y, "procrustes", angular=False) == pytest.approx(2 * np.sin(theta / 2))


def test_callable_metric(xy):
    x, y = xy
    assert compare(x, y, lambda a, b: float(a.shape[1] + b.shape[1])) == 12.0


def test_errors(xy):
    x, y = xy
    with pytest.raises(UnknownNameError, match=r"Unknown metric 'rsa_spearmen'.*Did you mean 'rsa_spearman'"):
        compare(x, y, "rsa_spearmen")
    with pytest.raises(UnknownNameError, match=r"Unknown input kind 'features2'"):
        compare(x, y, "rsa_pearson", kind="features2")
    with pytest.raises(ConfigError, match=r"has no option\(s\) \['k'\]; its options are \['ties'\]"):
        compare(x, y, "triplet_agreement", k=3)
    with pytest.raises(ConfigError, match=r"one kind or a pair"):
        compare(x, y, "rsa_pearson", kind=("features",))
    with pytest.raises(ShapeError, match=r"same stimuli in the same order"):
        compare(x, y[:-1], "rsa_pearson")
    with pytest.raises(ShapeError, match=r"same stimuli"):
        compare(x, y[:-1], "cka_linear")
    with pytest.raises(ShapeError, match=r"NaN or Inf"):
        compare(np.where(x > 1.5, np.nan, x), y, "procrustes")
    with pytest.raises(ShapeError, match=r"all pairwise dissimilarities of x are equal"):
        compare(np.eye(5), np.random.default_rng(0).normal(size=(5, 2)), "rsa_pearson")
    with pytest.raises(ShapeError, match=r"must be symmetric"):
        compare(np.arange(16.0).reshape(4, 4), rdm(x[:4]), "rsa_spearman", kind="dissimilarity")
    with pytest.raises(UnknownNameError, match=r"Unknown pairwise metric"):
        compare(x, y, "rsa_pearson", rdm_metric="manhattan")
