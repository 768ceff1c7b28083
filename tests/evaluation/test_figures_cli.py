"""Figures (PNG and SVG) and the ``repalign evaluate`` command on a saved result."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from repalign.cli import main
from repalign.errors import ConfigError
from repalign.evaluation import (
    plot_metamer_grid,
    plot_scores,
    plot_transfer,
    recognizability,
    two_afc,
)
from repalign.metamers.figures import plot_metamers


@pytest.fixture
def digits_like(make, levels):
    """A result shaped like zoo input (1x32x32), labels 0-4, two regularizers, two repeats."""
    labels = np.tile(np.repeat(np.arange(5), 2), 4)
    g = torch.Generator().manual_seed(0)
    targets = torch.rand(10, 1, 32, 32, generator=g)[np.tile(np.arange(10), 4)]
    seeds = torch.rand(40, 1, 32, 32, generator=g)
    images = torch.cat([targets[:20], seeds[20:]])
    regs = ["none"] * 20 + ["adversarial"] * 20
    reps = np.tile(np.repeat([0, 1], 10), 2)
    return make(images, seeds, targets, [f"t{i}" for i in np.tile(np.arange(10), 4)], labels,
                generators=["zoo:x"] * 40, regularizers=regs, repeats=reps)


def test_figures_are_written_as_png_and_svg(tmp_path, digits_like, brightness_observer, make):
    df = two_afc(digits_like, "pixel_l2", device="cpu", n_boot=50)
    fig = plot_scores(df, "two_afc", path=tmp_path / "afc")
    assert fig.axes and (tmp_path / "afc.png").stat().st_size > 1000
    assert (tmp_path / "afc.svg").read_text().lstrip().startswith("<?xml")
    small = make(digits_like.images[:, :, :16, :16], digits_like.seeds[:, :, :16, :16],
                 digits_like.targets[:, :, :16, :16], digits_like.target_ids,
                 digits_like.target_labels, regularizers=digits_like.regularizers)
    rec = recognizability(small, [brightness_observer], device="cpu", n_boot=50)
    plot_scores(rec, "accuracy_metamers", path=tmp_path / "rec")
    table = pd.concat([rec.assign(observer=o) for o in ("a", "b")], ignore_index=True)
    plot_transfer(table, "accuracy_metamers", path=tmp_path / "transfer")
    for name in ("rec", "transfer"):
        assert (tmp_path / f"{name}.png").is_file() and (tmp_path / f"{name}.svg").is_file()
    assert plot_metamer_grid is plot_metamers  # one metamer-grid implementation, reused
    with pytest.raises(ConfigError, match="No rows with metric"):
        plot_scores(df, "accuracy_metamers")
    with pytest.raises(ConfigError, match="observer"):
        plot_transfer(df, "two_afc")


def test_cli_evaluate(tmp_path, digits_like, capsys):
    saved = digits_like.save(tmp_path / "res", png=False)
    out = tmp_path / "eval"
    rc = main(["evaluate", str(saved), "--tests", "two_afc", "clustering", "recognizability",
               "representation", "--observers", "zoo:cnn_standard_s0", "--distance", "pixel_l2",
               "--layers", "flatten", "--n-boot", "50", "--n-perm", "49", "--device", "cpu",
               "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "== two_afc" in text and "== recognizability" in text
    afc = pd.read_csv(out / "two_afc.csv")
    scores = afc[afc.metric == "two_afc"].set_index("regularizer").value
    assert scores["none"] == 1.0 and scores["adversarial"] == 0.0
    rep = pd.read_csv(out / "representation.csv")
    assert rep[(rep.regularizer == "none") & (rep.metric == "match_rate")].value.iloc[0] == 1.0
    for name in ("clustering.csv", "recognizability.csv", "metamers.png", "two_afc.svg",
                 "recognizability.png"):
        assert (out / name).is_file()
    rc = main(["evaluate", str(saved), "--tests", "recognizability"])
    assert rc == 2
    assert "--observers is required" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2


def test_cli_transfer_with_an_observer_pattern(tmp_path, digits_like, capsys):
    saved = digits_like.save(tmp_path / "res", png=False)
    out = tmp_path / "eval"
    rc = main(["evaluate", str(saved), "--tests", "transfer", "--observers", "zoo:cnn_standard_s*",
               "--n-boot", "20", "--n-perm", "19", "--device", "cpu", "--out", str(out)])
    assert rc == 0
    assert "== transfer" in capsys.readouterr().out
    tm = pd.read_csv(out / "transfer.csv")
    assert sorted(set(tm.observer)) == ["zoo:cnn_standard_s0", "zoo:cnn_standard_s1"]
    assert {"two_afc", "clustering", "recognizability", "representation"} <= set(tm.test)
    for metric in ("accuracy_metamers", "two_afc", "match_rate"):
        for fmt in ("png", "svg"):
            assert (out / f"transfer_{metric}.{fmt}").is_file()
    rc = main(["evaluate", str(saved), "--tests", "recognizability", "--observers", "zoo:nothing*",
               "--no-figures", "--out", str(out)])
    assert rc == 2
    assert "matches no model" in capsys.readouterr().err
