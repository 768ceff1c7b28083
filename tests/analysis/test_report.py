"""analyze_alignment: seed 000's Tables 1-4 and Figure 6 from a model table and alignment scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from repalign.analysis import analyze_alignment, extreme_groups, partial_corr, u_shape, z2
from repalign.errors import DataFormatError


@pytest.fixture
def tables(rng):
    """A synthetic model zoo: downstream metrics with a U-shape in alignment plus a covariate."""
    n = 45
    names = [f"net{i:02d}" for i in range(n)]
    top1 = rng.uniform(0.7, 0.85, n)
    pearson = rng.uniform(0.1, 0.6, n)
    triplet = 0.4 + 0.5 * pearson + rng.normal(scale=0.02, size=n)
    models = pd.DataFrame({
        "model": names, "imagenet_top1": top1,
        "imagenet_a_top1": 10 + 30 * pearson + 20 * top1 + rng.normal(size=n),
        "fewshot_1": 0.2 + 4 * (pearson - 0.35) ** 2 + 0.2 * top1 + rng.normal(scale=0.01, size=n),
    })  # fmt: skip
    align = pd.DataFrame({"model": names[::-1], "pearson": pearson[::-1], "triplet": triplet[::-1]})
    return models, align


def test_tables_and_figure(tables, tmp_path):
    models, align = tables
    res = analyze_alignment(models, align, covar="imagenet_top1", out=tmp_path / "out")
    assert res.alignment_metrics == ["pearson", "triplet"]
    assert res.downstream == ["imagenet_a_top1", "fewshot_1"]
    merged = models.merge(align, on="model")
    # Tables 1-2: high/mid/low means per downstream metric and alignment metric
    t12 = res.tables["table1_2"]
    assert t12.shape == (6, 2)
    ref = extreme_groups(merged, "pearson", 5, ["imagenet_a_top1", "fewshot_1"])
    for r in ref.itertuples():
        assert t12.loc[(r.metric, r.group), "pearson"] == pytest.approx(r.mean)
    # Table 3: partial correlation given the covariate
    pc = partial_corr(merged, "triplet", "imagenet_a_top1", covar="imagenet_top1")
    assert res.tables["table3"].loc["imagenet_a_top1", "triplet"] == f"{pc.r:.3f} (p={pc.p:.3f})"
    # Table 4: correlation with z²(alignment)
    r = np.corrcoef(z2(merged["pearson"]), merged["fewshot_1"])[0, 1]
    row = res.z2_corr[(res.z2_corr.x == "pearson") & (res.z2_corr.y == "fewshot_1")].iloc[0]
    assert row.r == pytest.approx(r, rel=1e-10)
    # the U-shape built into fewshot_1 is found, not in imagenet_a_top1
    us = res.u_shapes.set_index(["y", "x"])
    assert us.loc[("fewshot_1", "pearson"), "is_u"]
    assert not us.loc[("imagenet_a_top1", "pearson"), "is_u"]
    assert us.loc[("fewshot_1", "pearson"), "quadratic"] == pytest.approx(
        u_shape(merged, "pearson", "fewshot_1").quadratic)
    names = {p.name for p in res.files}
    assert {"table1_2.csv", "table3.csv", "table4.csv", "u_shape.csv", "figure6.png",
            "figure6.svg", "tidy_groups.csv"} <= names
    assert (tmp_path / "out" / "figure6.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (tmp_path / "out" / "figure6.svg").read_bytes()[:400]
    back = pd.read_csv(tmp_path / "out" / "tidy_partial.csv")
    assert len(back) == 4 and set(back["covar"]) == {"imagenet_top1"}


def test_csv_and_long_alignment_inputs(tables, tmp_path):
    models, align = tables
    models.to_csv(tmp_path / "models.csv", index=False)
    long = align.melt(id_vars="model", var_name="metric", value_name="value")
    long.to_csv(tmp_path / "align.csv", index=False)
    a = analyze_alignment(tmp_path / "models.csv", tmp_path / "align.csv", covar="imagenet_top1")
    b = analyze_alignment(models, align, covar="imagenet_top1")
    pd.testing.assert_frame_equal(a.partial, b.partial)
    single = analyze_alignment(models, dict(zip(align.model, align.pearson, strict=True)),
                               downstream=["fewshot_1"])
    assert single.alignment_metrics == ["alignment"] and single.covar == []


def test_missing_models(tables):
    models, align = tables
    with pytest.raises(DataFormatError, match=r"1 model\(s\) have no alignment score .*net00"):
        analyze_alignment(models, align[align.model != "net00"])
    with pytest.warns(UserWarning, match="left out"):
        res = analyze_alignment(models, align[align.model != "net00"], missing="drop")
    assert len(res.data) == 44
    with pytest.raises(DataFormatError, match="no 'model' column"):
        analyze_alignment(models.rename(columns={"model": "name"}), align)
    with pytest.raises(DataFormatError, match="no file"):
        analyze_alignment("does/not/exist.csv", align)
    with pytest.raises(DataFormatError, match="repeat"):
        analyze_alignment(pd.concat([models, models.head(1)]), align)
