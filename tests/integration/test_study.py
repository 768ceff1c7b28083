"""A small study end to end: every stage on the zoo, results checked against direct API calls."""

from __future__ import annotations

import io
import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

import repalign as ra
from repalign.cli import main
from repalign.study.store import load_results, load_units


def test_every_unit_finishes_and_every_stage_reports(tiny_run):
    units = load_units(tiny_run)
    assert units["done"].all()
    df = load_results(tiny_run)
    assert set(df["stage"]) == {"features", "similarity", "glocal", "metamers", "evaluation", "analysis"}
    sim = df[(df["stage"] == "similarity") & (df["kind"] == "reference")]
    assert set(sim["metric"]) == {"rsa_spearman", "triplet_agreement", "cka_linear"}
    assert sim["value"].notna().all()
    pair = df[(df["stage"] == "similarity") & (df["kind"] == "pairwise")]
    assert len(pair) == 10  # five models: one row per unordered pair
    met = df[df["stage"] == "metamers"]
    # 1 generator x 2 regularizers x 1 init x 1 optimizer x 2 layers, 4 numbers each
    assert len(met) == 2 * 2 * 4
    assert set(met["layer"]) == {"block2", "flatten"}
    with sqlite3.connect(tiny_run / "results.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM runs WHERE status = 'finished'").fetchone()[0] == 1
    assert (tiny_run / "study.log").read_text().count("done in") == len(units)


def test_alignment_matches_a_direct_computation(tiny_run, tiny_config):
    """The stored rsa_spearman of a model equals scipy on features extracted by hand against the
    leave-one-out ensemble built by hand."""
    cfg = tiny_config()
    stim = ra.load_stimuli("bundled:digits")
    keep = np.concatenate([np.flatnonzero(stim.labels == c)[:3] for c in range(10)])
    stim = stim.subset(np.sort(keep))

    def feats(spec: str, layer: str) -> np.ndarray:
        model = ra.create_model(spec, device="cpu")
        return ra.extract_features(model, stim, layers=[layer], quiet=True)[layer].astype(np.float64)

    def cos_sim(x: np.ndarray) -> np.ndarray:
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        return x @ x.T

    members = ["zoo:cnn_l2_s0", "zoo:cnn_linf_s0", "zoo:cnn_standard_s0"]
    ref = np.mean([cos_sim(feats(m, "flatten")) for m in members if m != "zoo:cnn_l2_s0"], axis=0)
    x = feats("zoo:cnn_l2_s0", "flatten")
    iu = np.triu_indices(len(x), 1)
    expected = spearmanr(1 - cos_sim(x)[iu], 1 - ref[iu]).statistic
    df = load_results(tiny_run)
    got = df.query("stage == 'similarity' and kind == 'reference' and model == 'zoo:cnn_l2_s0' "
                   "and metric == 'rsa_spearman'")["value"]
    assert len(got) == 1 and got.iloc[0] == pytest.approx(expected, abs=1e-5)
    assert cfg["similarity"]["reference"] == "ensemble:zoo:cnn_*_s0"


def test_metamer_artifacts_load_and_match_their_rows(tiny_run):
    from repalign.study.stages.metamers import load_result
    from repalign.study.store import Store

    with Store(tiny_run, readonly=True) as store:
        plan = store.plan()
        met = plan[plan["stage"] == "metamers"]
        for _, u in met.iterrows():
            res = load_result(store.read_files(u["key"]))
            assert len(res) == 3 * 2 * 2  # targets x layers x repeats
            rows = pd.DataFrame(store.unit_rows(u["key"]))
            for layer in set(res.layers):
                sel = np.asarray(res.layers) == layer
                stored = rows[(rows["layer"] == layer) & (rows["metric"] == "final_distance")]["value"]
                assert stored.iloc[0] == pytest.approx(res.final_distance[sel].mean())
            assert set(res.regularizers) == {u["params"]["regularizer"]}


def test_second_run_reuses_everything(tiny_run, tiny_config, comparable):
    from repalign.study.runner import run_study

    before = load_results(tiny_run)
    run = run_study(tiny_config(), out=tiny_run, report=False, quiet=True)
    assert run.ran == 0 and run.units == len(load_units(tiny_run))
    after = load_results(tiny_run)
    pd.testing.assert_frame_equal(comparable(before), comparable(after))


def test_changing_a_parameter_reruns_only_what_depends_on_it(tiny_run, tmp_path, tiny_config):
    import shutil

    from repalign.study.runner import run_study

    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    cfg = tiny_config()
    cfg["metamers"]["steps"] = 9
    run = run_study(cfg, out=copy, report=False, quiet=True)
    # the two metamer units and the 2 x 4 evaluations of them plus the transfer matrix; features,
    # similarity, gLocal and the analysis are reused
    assert run.ran == 2 + 9
    plan = load_units(copy)
    assert set(plan[~plan["key"].isin(load_units(tiny_run)["key"])]["stage"]) == {"metamers", "evaluation"}


def test_results_cli_exports(tiny_run, tmp_path, capsys):
    import importlib.util

    df = load_results(tiny_run)
    formats = ["csv", "json", "parquet"]
    if importlib.util.find_spec("pyarrow") is None:  # the parquet extra is not installed
        assert main(["results", str(tiny_run), "--format", "parquet", "--out",
                     str(tmp_path / "r.pq")]) == 2
        assert "pip install 'repalign[parquet]'" in capsys.readouterr().err
        formats.remove("parquet")
    for fmt in formats:
        out = tmp_path / f"r.{fmt}"
        assert main(["results", str(tiny_run), "--format", fmt, "--out", str(out)]) == 0
        back = {"csv": pd.read_csv, "json": pd.read_json, "parquet": pd.read_parquet}[fmt](out)
        assert len(back) == len(df)
        assert back["value"].sum() == pytest.approx(df["value"].sum())
    assert capsys.readouterr().out.count("row(s) written to") == len(formats)
    assert main(["results", str(tiny_run), "--format", "json", "--stage", "metamers"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["stage"] for r in rows} == {"metamers"} and len(rows) == 16


def test_bad_names_fail_at_planning_with_the_key(tmp_path, tiny_config):
    from repalign.errors import ConfigError
    from repalign.study.runner import run_study

    cases = [
        (("models", "specs"), ["zoo:cnn_standrd_s0"], r"models\.specs: model 'zoo:cnn_standrd_s0'.*cnn_standard_s0"),
        (("models", "layers"), ["flaten"], r"models\.layers: Unknown layer of zoo:mlp_standard_s0 'flaten'. Did you mean 'flatten'"),
        (("similarity", "metrics"), ["rsa_spearmann"], r"similarity\.metrics\[0\]: Unknown metric 'rsa_spearmann'"),
        (("similarity", "metrics"), ["procrustes"], r"similarity\.metrics\[0\]: metric 'procrustes' cannot compare features with a similarity matrix"),
        (("metamers", "regularizers"), ["none", "human_leanin"], r"metamers\.regularizers\[1\]: Unknown regularizer 'human_leanin'"),
        (("metamers", "options"), {"stepz": 3}, r"metamers\.options\.stepz: unknown option"),
        (("glocal", "options"), {"alpah": 0.1}, r"glocal\.options\.alpah: unknown GLocal parameter; did you mean 'alpha'"),
        (("similarity", "reference"), "ensemble:zoo:nothing*", r"similarity\.reference\[0\]: pattern 'zoo:nothing\*' matches no model"),
    ]
    for (section, key), value, pattern in cases:
        cfg = tiny_config()
        cfg[section][key] = value
        with pytest.raises(ConfigError, match=pattern):
            run_study(cfg, out=tmp_path / "bad", report=False, quiet=True)


def test_evaluation_and_analysis_match_direct_calls(tiny_run):
    """Stored 2AFC scores equal two_afc on the stored metamers; stored few-shot accuracies equal
    few_shot on features extracted by hand with the unit's seed; the U-shape rows equal u_shape on
    the stored model table."""
    from repalign.analysis import few_shot, u_shape
    from repalign.evaluation import two_afc
    from repalign.study.stages.metamers import load_result
    from repalign.study.store import Store

    df = load_results(tiny_run)
    with Store(tiny_run, readonly=True) as store:
        plan = store.plan()
        met = plan[plan["stage"] == "metamers"].iloc[0]
        res = load_result(store.read_files(met["key"]))
        stats_key = plan[plan["name"] == "alignment vs few-shot statistics"]["key"].iloc[0]
        table = pd.read_csv(io.BytesIO(store.read_files(stats_key)["model_table.csv"]))
    direct = two_afc(res, "ssim", n_boot=0, device="cpu")
    direct = direct[direct["metric"] == "two_afc"]
    stored = df[(df["stage"] == "evaluation") & (df["test"] == "two_afc") & (df["metric"] == "two_afc")
                & (df["regularizer"] == met["params"]["regularizer"]) & df["relation"].isna()]
    assert sorted(stored["value"]) == pytest.approx(sorted(direct["value"]))

    fs = plan[plan["name"] == "few-shot zoo:cnn_l2_s0"].iloc[0]["params"]
    stim = ra.load_stimuli("bundled:digits")
    keep = np.concatenate([np.flatnonzero(stim.labels == c)[:12] for c in range(5, 10)])
    stim = stim.subset(np.sort(keep))
    x = ra.extract_features(ra.create_model("zoo:cnn_l2_s0", device="cpu"), stim, ["flatten"], quiet=True)["flatten"]
    expect = few_shot(x, stim.labels, shots=[1, 5], heads=["linear"], repeats=2, seed=fs["seed"], device="cpu")
    got = df[(df["metric"] == "few_shot_accuracy") & (df["model"] == "zoo:cnn_l2_s0")]
    assert got["value"].tolist() == pytest.approx(expect["mean"].tolist())

    u = u_shape(table, "rsa_spearman", "linear_1shot")
    row = df[(df["metric"] == "u_shape_quadratic") & (df["alignment"] == "rsa_spearman")
             & (df["downstream"] == "linear_1shot")]
    assert row["value"].iloc[0] == pytest.approx(u.quadratic)
    assert set(table.columns) >= {"model", "clean_acc", "linear_1shot", "linear_5shot", "rsa_spearman"}


def test_report_opens_with_findings_and_ends_with_the_folded_configuration(tiny_run):
    import re

    from repalign.study.report import build_report

    figdir = tiny_run / "figures"
    (figdir / "99_moved_figure.png").write_bytes(b"an earlier build's figure")
    (figdir / "notes.txt").write_text("the user's own file")
    page = build_report(tiny_run, out=tiny_run / "findings_check.html").read_text()
    # figures/ holds exactly this build's figures, numbered in page order; other files stay
    drawn = re.findall(r'<figure class="fig" id="fig-\d+" data-name="([^"]+)"', page)
    on_disk = sorted(p.name for p in figdir.glob("*.png"))
    assert on_disk == [f"{i:02d}_{name}.png" for i, name in enumerate(drawn, start=1)]
    assert (figdir / "notes.txt").read_text() == "the user's own file"
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    assert titles[0] == "Findings" and titles[1] == "Overview" and titles[-1] == "Configuration"
    findings = page.split("<h2>Findings</h2>", 1)[1].split("<h2>", 1)[0]
    # headline numbers with their intervals, and the key figures (each once in the page)
    assert "Headline numbers" in findings and "2AFC score of" in findings
    assert "partial correlation of" in findings and "most aligned with" in findings
    for name in ("alignment_reference", "evaluation_two_afc", "alignment_vs_few_shot"):
        assert f'data-name="{name}"' in findings and page.count(f'data-name="{name}"') == 1
    results = load_results(tiny_run)
    two_afc = results[(results["metric"] == "two_afc") & results["relation"].isna()] \
        if "relation" in results.columns else results[results["metric"] == "two_afc"]
    assert two_afc["ci_low"].notna().any()  # the interval the headline shows exists
    # the configuration: folded, at the end, every key of the study
    config = page.split("<h2>Configuration</h2>", 1)[1]
    assert config.lstrip().startswith("<p>") and "<details>" in config and "metamers.steps" in config
    assert "metamers.steps" not in page.split("<h2>Configuration</h2>", 1)[0]


def test_report_draws_the_representation_pictures(tiny_run):
    """The representation test units store a projection of targets and metamers; the report
    draws it and the observer x depth heatmap, whose cells are the stored match rates."""
    from repalign.evaluation import heatmap_table
    from repalign.study.report_sections import _evaluation_frames
    from repalign.study.store import Store

    figures = {p.stem.split("_", 1)[1] for p in (tiny_run / "figures").glob("*.png")}  # NN_name
    assert "representation_heatmap" in figures
    assert any(f.startswith("representation_projection_") for f in figures)
    df = load_results(tiny_run)
    stored = df[(df["stage"] == "evaluation") & (df["test"] == "representation_test")
                & (df["metric"] == "match_rate")]
    with Store(tiny_run, readonly=True) as store:
        plan = store.plan()
        unit = plan[(plan["stage"] == "evaluation")
                    & plan["params"].map(lambda p: p.get("test") == "representation_test")].iloc[0]
        coords = pd.read_csv(io.BytesIO(store.read_files(unit["key"])["projection.csv"]))
    assert {"target", "metamer"} == set(coords["kind"]) and coords[["x", "y"]].notna().all().all()

    class Data:  # what _evaluation_frames reads
        def stage(self, name):
            return df[df["stage"] == name].dropna(axis=1, how="all")

    per_recipe, _ = _evaluation_frames(Data())
    cells = heatmap_table(per_recipe[per_recipe["test"] == "representation_test"])
    assert sorted(cells["value"]) == pytest.approx(sorted(stored["value"]))


def test_glocal_before_after_rows_agree_with_the_stage_and_the_cli(tiny_run, capsys):
    from repalign.study.stages.glocal import before_after_table
    from repalign.study.store import Store

    with Store(tiny_run, readonly=True) as store:
        table = before_after_table(store.results())
    assert set(table["measure"]) == {"odd_one_out", "alignment_rsa_spearman", "few_shot_5", "ood_auroc"}
    assert table["model"].nunique() == 5
    assert (table["before_low"] <= table["before"] + 1e-12).all() and (table["after"] <= table["after_high"] + 1e-12).all()
    np.testing.assert_allclose(table["delta"], table["after"] - table["before"], atol=1e-12)
    df = load_results(tiny_run)
    ooo = df.query("stage == 'glocal' and metric == 'odd_one_out' and split == 'test'")
    for _, row in table[table["measure"] == "odd_one_out"].iterrows():
        mine = ooo[(ooo["model"] == row.model) & (ooo["layer"] == row.layer)].set_index("features")["value"]
        assert row.before == pytest.approx(mine["original"]) and row.after == pytest.approx(mine["aligned"])
    assert main(["analyze", "--glocal", str(tiny_run)]) == 0
    out = capsys.readouterr().out
    assert "ood_auroc" in out and "Outcomes" in out
    assert "Before/after gLocal" in (tiny_run / "report.html").read_text()
