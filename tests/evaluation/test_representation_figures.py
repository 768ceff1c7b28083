"""Seed 003's representation pictures: the observer x depth heatmap with its null band and the
per-stage 2-D projection, checked against values computed independently (scipy, numpy SVD)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import binom, spearmanr

from repalign.cli import main
from repalign.errors import ConfigError
from repalign.evaluation import (
    heatmap_table,
    plot_representation_heatmap,
    plot_representation_projection,
    representation_projection,
    representation_test,
)


@pytest.fixture
def mixed(make):
    """8 targets: 5 metamers are noisy copies of their target, 3 are another target's image."""
    g = torch.Generator().manual_seed(0)
    targets = torch.rand(8, 3, 16, 16, generator=g)
    images = (targets + 0.05 * torch.randn(targets.shape, generator=g)).clamp(0, 1)
    images[5:] = targets[torch.as_tensor([6, 7, 0])]
    return make(images, torch.rand(8, 3, 16, 16, generator=g), targets,
                [f"t{i}" for i in range(8)], generators=["gen:a"] * 8, layers=["L"] * 8)


def _by_hand(model, res, layer):
    """Match rate: each metamer's Spearman rho with its own target beats every other target."""
    with torch.no_grad():
        fm = model.features(res.images, [layer])[layer].flatten(1).numpy()
        ft = model.features(res.targets, [layer])[layer].flatten(1).numpy()
    hits = []
    for i in range(len(fm)):
        rho = np.array([spearmanr(fm[i], ft[j])[0] for j in range(len(ft))])
        hits.append(rho[i] > np.delete(rho, i).max())
    return float(np.mean(hits)), fm, ft


def test_heatmap_cells_equal_independent_values_and_null_band(mixed, tiny_cnn, tmp_path):
    layers = ["1", "4", "7"]  # three stages of the observer
    df = representation_test(mixed, [tiny_cnn], layers, n_perm=49, n_boot=20, device="cpu")
    cells = heatmap_table(df, "match_rate", level=0.95)
    assert list(cells.depth) == [0, 1, 2] and list(cells.observer_layer) == layers
    for layer, cell in zip(layers, cells.itertuples(), strict=True):
        value, _, _ = _by_hand(tiny_cnn, mixed, layer)
        assert cell.value == pytest.approx(value)
        lo, hi = binom.ppf([0.025, 0.975], 8, 1 / 8) / 8  # chance 1/8 with 8 targets
        assert (cell.null_low, cell.null_high) == pytest.approx((lo, hi))
        assert cell.above == (value > hi)
    assert cells.above.any()  # 5 of 8 metamers are near copies: beyond chance somewhere
    rdm = heatmap_table(df, "rdm_r")
    p = df[df.metric == "rdm_r"].p_value.to_numpy()
    assert list(rdm.above) == list(p < 0.05) and rdm.null_low.isna().all()
    fig = plot_representation_heatmap(df, path=tmp_path / "heat")
    assert fig.axes
    assert (tmp_path / "heat.png").stat().st_size > 1000 and (tmp_path / "heat.svg").is_file()
    with pytest.raises(ConfigError, match="No rows with metric"):
        heatmap_table(df, "accuracy_metamers")
    with pytest.raises(ConfigError, match="level"):
        heatmap_table(df, level=1.5)


def test_projection_is_the_pca_of_targets_and_metamers(mixed, tiny_cnn, tmp_path):
    xy = representation_projection(mixed, [tiny_cnn], ["4"], device="cpu")
    assert len(xy) == 16 and set(xy.kind) == {"target", "metamer"}
    _, fm, ft = _by_hand(tiny_cnn, mixed, "4")
    x = np.concatenate([ft, fm]).astype(np.float64)
    x -= x.mean(0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    ref = u[:, :2] * s[:2]
    got = xy[["x", "y"]].to_numpy()
    for k in range(2):  # components are defined up to sign
        sign = np.sign(ref[:, k] @ got[:, k])
        np.testing.assert_allclose(got[:, k], sign * ref[:, k], rtol=1e-4, atol=1e-4)
    assert xy.explained.iloc[0] == pytest.approx((s[:2] ** 2).sum() / (s**2).sum(), rel=1e-4)
    met = xy[xy.kind == "metamer"]
    assert list(met.target_id) == mixed.target_ids and set(met.generator) == {"gen:a"}
    mds = representation_projection(mixed, [tiny_cnn], ["1", "4"], method="mds", device="cpu")
    assert mds.explained.isna().all() and len(mds) == 32
    plot_representation_projection(pd.concat([xy, mds.assign(observer="other")]),
                                   path=tmp_path / "proj")
    assert (tmp_path / "proj.png").stat().st_size > 1000 and (tmp_path / "proj.svg").is_file()
    with pytest.raises(ConfigError, match="method"):
        representation_projection(mixed, [tiny_cnn], ["4"], method="tsne")


def test_cli_evaluate_draws_both(tmp_path, make):
    g = torch.Generator().manual_seed(1)
    targets = torch.rand(6, 1, 32, 32, generator=g)
    res = make((targets + 0.05 * torch.randn(targets.shape, generator=g)).clamp(0, 1),
               torch.rand(6, 1, 32, 32, generator=g), targets, [f"t{i}" for i in range(6)])
    saved = res.save(tmp_path / "res", png=False)
    out = tmp_path / "eval"
    rc = main(["evaluate", str(saved), "--tests", "representation", "--observers",
               "zoo:cnn_standard_s0", "--layers", "block1", "block3", "--n-boot", "20",
               "--n-perm", "19", "--device", "cpu", "--out", str(out), "--projection", "pca"])
    assert rc == 0
    for name in ("representation_heatmap", "representation_projection"):
        assert (out / f"{name}.png").is_file() and (out / f"{name}.svg").is_file()
    coords = pd.read_csv(out / "representation_projection.csv")
    assert set(coords.observer_layer) == {"block1", "block3"} and len(coords) == 2 * 12
