"""Recognizability: a perfect observer, a guessing observer at chance, the label contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import binomtest

from repalign.errors import ConfigError, ShapeError
from repalign.evaluation import recognizability
from repalign.models.model import Model


def _labelled(make, levels, n_per_class=4, seed=0):
    centres = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    labels = np.repeat(np.arange(5), n_per_class)
    targets = levels(centres[labels], noise=0.02, seed=seed)
    seeds = levels(np.full(len(labels), 0.5), noise=0.2, seed=seed + 1)
    ids = [f"t{i}" for i in range(len(labels))]
    return targets, seeds, ids, labels


def test_perfect_observer_on_exact_and_on_seed_metamers(make, levels, brightness_observer):
    targets, seeds, ids, labels = _labelled(make, levels)
    regs = ["exact"] * len(ids) + ["seed"] * len(ids)
    res = make(torch.cat([targets, seeds]), torch.cat([seeds, seeds]), torch.cat([targets, targets]),
               ids + ids, np.concatenate([labels, labels]), regularizers=regs)
    df = recognizability(res, [brightness_observer], device="cpu", n_boot=200)
    val = df.set_index(["regularizer", "metric"]).value
    assert val["exact", "accuracy_metamers"] == 1.0
    assert val["exact", "accuracy_targets"] == 1.0
    # every seed has grey level ~0.5: the observer says class 2, right for a fifth of the targets
    assert val["seed", "accuracy_metamers"] == pytest.approx(0.2)
    assert set(df.chance) == {0.2} and set(df.observer) == {"test:brightness"}
    assert df[df.metric == "accuracy_targets"].n.tolist() == [20, 20]


def test_random_observer_recognises_at_chance(make, levels, random_observer):
    targets, seeds, ids, labels = _labelled(make, levels, n_per_class=400)
    res = make(seeds, seeds, targets, ids, labels)
    row = recognizability(res, random_observer, device="cpu", n_boot=500).iloc[0]
    hits = round(row.value * row.n)
    assert row.n == 2000
    assert binomtest(hits, 2000, 0.2).pvalue > 0.001
    assert row.ci_low < 0.2 < row.ci_high
    assert row["sem"] == pytest.approx(np.sqrt(0.2 * 0.8 / 2000), rel=0.25)


def test_matches_argmax_of_any_classifier(make, tiny_cnn):
    g = torch.Generator().manual_seed(0)
    targets = torch.rand(10, 3, 16, 16, generator=g)
    metamers = torch.rand(10, 3, 16, 16, generator=g)
    labels = np.arange(10) % 5
    res = make(metamers, metamers, targets, [f"t{i}" for i in range(10)], labels)
    df = recognizability(res, [tiny_cnn], device="cpu").set_index("metric").value
    with torch.no_grad():
        pm, pt = tiny_cnn(metamers).argmax(1).numpy(), tiny_cnn(targets).argmax(1).numpy()
    assert df["accuracy_metamers"] == pytest.approx(np.mean(pm == labels))
    assert df["accuracy_targets"] == pytest.approx(np.mean(pt == labels))


def test_label_contract(make, levels, brightness_observer):
    targets, seeds, ids, labels = _labelled(make, levels, n_per_class=1)
    res = make(targets, seeds, targets, ids, labels + 5)  # digits 5-9
    with pytest.raises(ConfigError, match=r"cannot name target label\(s\) \[5, 6, 7, 8, 9\]"):
        recognizability(res, [brightness_observer], device="cpu")
    mapped = recognizability(res, [brightness_observer], device="cpu",
                             label_map={k + 5: k for k in range(5)})
    assert mapped.value.tolist() == [1.0, 1.0]
    unknown = make(targets, seeds, targets, ids, None)
    with pytest.raises(ShapeError, match="unknown"):
        recognizability(unknown, [brightness_observer], device="cpu")
    liar = Model(brightness_observer.network, None, spec="test:liar", input_size=(1, 16, 16),
                 meta={"classes": [0, 1, 2]})
    with pytest.raises(ConfigError, match="declares 3 classes"):
        recognizability(make(targets, seeds, targets, ids, labels), [liar], device="cpu")


def test_observer_arguments(make, levels, brightness_observer):
    targets, seeds, ids, labels = _labelled(make, levels, n_per_class=1)
    res = make(targets, seeds, targets, ids, labels)
    with pytest.raises(ConfigError, match="At least one observer"):
        recognizability(res, [])
    with pytest.raises(ConfigError, match="must be a repalign Model"):
        recognizability(res, [torch.nn.Identity()])
    with pytest.raises(ConfigError, match="distinct"):
        recognizability(res, [brightness_observer, brightness_observer])
