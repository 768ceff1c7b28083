"""The report's sections, one builder per stage; each reads the results table and artifacts.

A builder returns None (or a section without blocks) when its stage has no finished results, so
a partial run gives a partial report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from repalign.study.figures import grouped_bars, matrix_heatmap
from repalign.study.html import Figure, Section, Table, figure_png
from repalign.study.store import Store

__all__ = ["SECTIONS", "ReportData"]


@dataclass
class ReportData:
    """What the builders read: the store (for artifacts), the last run, its plan and results."""

    store: Store
    run: dict[str, Any]
    plan: pd.DataFrame
    results: pd.DataFrame

    def stage(self, name: str, **labels: Any) -> pd.DataFrame:
        """The rows of one stage, optionally filtered on label columns."""
        df = self.results[self.results["stage"] == name]
        for key, value in labels.items():
            if key not in df.columns:
                return df.iloc[0:0]
            df = df[df[key] == value]
        return df.dropna(axis=1, how="all") if len(df) else df


def _short(spec: str) -> str:
    return spec.split(":", 1)[1] if spec.startswith("zoo:") else spec


def alignment_section(data: ReportData) -> Section | None:
    ref = data.stage("similarity", kind="reference")
    pair = data.stage("similarity", kind="pairwise")
    if ref.empty and pair.empty:
        return None
    blocks: list[Figure | Table] = []
    intro = "Representational alignment of each model with the reference agent and with each other."
    if not ref.empty:
        agent = str(ref["other"].iloc[0])
        if agent.startswith("ensemble:"):
            intro += (
                f" The reference is {agent}: the mean similarity matrix of those models (each model "
                "left out of its own reference), a stand-in for human judgements, not human data."
            )
        else:
            intro += f" The reference is {agent}."
        show = ref.assign(model=ref["model"].map(_short))
        fig = grouped_bars(show, "model", "metric", "value", title=f"Alignment with {agent}",
                           ylabel="alignment")
        blocks.append(Figure("alignment_reference", figure_png(fig), f"Each model's alignment with {agent}, by metric."))
        table = show.pivot_table(index=["model", "layer"], columns="metric", values="value", sort=False).reset_index().rename_axis(columns=None)
        blocks.append(Table(table, f"Alignment with {agent}"))
    for metric, sub in pair.groupby("metric", sort=False):
        a = sub.assign(model=sub["model"].map(_short), other=sub["other"].map(_short))
        order = list(dict.fromkeys([*a["model"], *a["other"]]))
        mat = a.pivot_table(index="model", columns="other", values="value", sort=False)
        mat = mat.reindex(index=order, columns=order)
        for name in order:  # symmetric metrics are stored once per pair
            for other in order:
                if pd.isna(mat.loc[name, other]) and pd.notna(mat.loc[other, name]):
                    mat.loc[name, other] = mat.loc[other, name]
        fig = matrix_heatmap(mat, title=f"Model x model alignment ({metric})", label=str(metric))
        blocks.append(Figure(f"alignment_pairwise_{metric}", figure_png(fig),
                             f"Alignment ({metric}) between every pair of models."))
    return Section("Alignment", intro, blocks)


def glocal_section(data: ReportData) -> Section | None:
    df = data.stage("glocal")
    if df.empty:
        return None
    acc = df[df["metric"] == "odd_one_out"].assign(model=lambda d: d["model"].map(_short))
    blocks: list[Figure | Table] = []
    source = ", ".join(sorted(set(df.get("triplets", pd.Series(["?"])).dropna().astype(str))))
    if not acc.empty:
        test = acc[acc["split"] == "test"]
        fig = grouped_bars(test, "model", "features", "value", title="Held-out odd-one-out accuracy",
                           ylabel="accuracy", hline=1 / 3, hline_label="chance")
        blocks.append(Figure("glocal_odd_one_out", figure_png(fig),
                             f"Odd-one-out accuracy on held-out {source} triplets before and after gLocal."))
    table = df.assign(model=df["model"].map(_short)).pivot_table(
        index=["model", "layer"], columns=[c for c in ("metric", "features", "split") if c in df.columns],
        values="value", sort=False,
    )
    table.columns = [" ".join(str(v) for v in col if str(v) != "nan") for col in table.columns]
    blocks.append(Table(table.reset_index(), "gLocal: accuracy and local-structure preservation"))
    intro = (f"An affine transform of each model's features fitted to {source} odd-one-out triplets "
             "(global term) while keeping its local similarity structure (local term).")
    ba = _before_after_blocks(data)
    if ba:
        blocks += ba
        intro += (" The before/after table (seed 001) gives each measure on the original and the "
                  "transformed features with 95% intervals, the change with its interval and a paired "
                  "test; a model gains on both sides when alignment and a downstream measure rise.")
    return Section("gLocal post-hoc alignment", intro, blocks)


def _before_after_blocks(data: ReportData) -> list[Figure | Table]:
    from repalign.analysis import classify_change
    from repalign.analysis.figures import draw_before_after
    from repalign.study.stages.glocal import before_after_table

    table = before_after_table(data.results)
    if table.empty:
        return []
    first_layer = table.groupby("model", sort=False)["layer"].transform("first")
    first = table[table["layer"] == first_layer].assign(model=lambda d: d["model"].map(_short))
    measures = list(dict.fromkeys(first["measure"]))
    downstream = [m for m in measures if m.startswith(("few_shot_", "ood_auroc"))]
    blocks: list[Figure | Table] = []
    if "odd_one_out" in measures and downstream:
        fig = draw_before_after(first, "odd_one_out", downstream[:3])
        blocks.append(Figure("glocal_before_after", figure_png(fig),
                             "Each model before (dot) and after (arrow head) gLocal: held-out odd-one-out "
                             "accuracy against the downstream measures."))
        outcomes = pd.concat([classify_change(first, "odd_one_out", d).assign(downstream=d) for d in downstream],
                             ignore_index=True)
        blocks.append(Table(outcomes, "Who gains on both sides, who trades (changes with p < 0.05)"))
    show = table.assign(model=table["model"].map(_short)).round(4)
    blocks.append(Table(show, "Before/after gLocal: values, 95% intervals, paired tests"))
    return blocks


def metamer_section(data: ReportData) -> Section | None:
    df = data.stage("metamers")
    if df.empty:
        return None
    keys = ["model", "layer", "regularizer", "init", "optimizer"]
    table = df.pivot_table(index=keys, columns="metric", values="value", sort=False).reset_index().rename_axis(columns=None)
    table["model"] = table["model"].map(_short)
    blocks: list[Figure | Table] = []
    for fig, name, caption in _metamer_grids(data):
        blocks.append(Figure(name, figure_png(fig), caption))
    blocks.append(Table(table, "Metamer grid: success rate, median steps to success, final distance"))
    return Section(
        "Metamers",
        "Images the generator represents like the target at the given layer, for each recipe "
        "(regularizer, starting point, optimizer). Success is the metamer criterion on the 8-bit image.",
        blocks,
    )


def _metamer_grids(data: ReportData) -> list[tuple[Any, str, str]]:
    """One grid per generator: target | seed | metamer for each layer and regularizer (first
    starting point and optimizer of the grid, first repeat)."""
    from repalign.metamers.figures import plot_metamers
    from repalign.metamers.result import MetamerResult
    from repalign.study.stages.metamers import load_result

    units = data.plan[(data.plan["stage"] == "metamers") & data.plan["done"]]
    if units.empty:
        return []
    first_init = units["params"].map(lambda p: p["init"]).iloc[0]
    first_opt = units["params"].map(lambda p: p["optimizer"]).iloc[0]
    per_gen: dict[str, list[MetamerResult]] = {}
    for _, u in units.iterrows():
        prm = u["params"]
        if prm["init"] == first_init and prm["optimizer"] == first_opt:
            per_gen.setdefault(prm["model"], []).append(load_result(data.store.read_files(u["key"])))
    out = []
    for spec, results in per_gen.items():
        fig = plot_metamers(MetamerResult.concat(results), keys=("layers", "regularizers"), max_targets=4)
        fig.suptitle(f"Metamers of {spec} (start {first_init}, optimizer {first_opt})", fontsize=9)
        out.append((fig, f"metamers_{_short(spec)}".replace(":", "_"),
                    f"Target, starting point and metamer for {spec}, per layer and regularizer "
                    f"(start {first_init}, optimizer {first_opt}; pass/fail is the metamer criterion)."))
    return out


def _evaluation_frames(data: ReportData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluation rows in the evaluation tables' layout (``generator`` instead of ``model``):
    the per-recipe tests, and the transfer matrix (the rows that carry a ``relation``)."""
    df = data.stage("evaluation").rename(columns={"model": "generator"})
    for col in ("ci_low", "ci_high", "chance", "relation"):
        if col not in df.columns:
            df[col] = float("nan") if col != "relation" else None
    transfer = df["relation"].notna()
    return df[~transfer], df[transfer]


def _first_recipe(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Rows of the first starting point and optimizer (bars compare regularizers)."""
    note = []
    for col in ("init", "optimizer"):
        if col in df.columns and df[col].nunique() > 1:
            first = df[col].iloc[0]
            df = df[df[col] == first]
            note.append(f"{col} {first}")
    return df, (" (" + ", ".join(note) + "; every recipe is in the table below)") if note else ""


_SCORES = [
    ("two_afc", "two_afc", "2AFC score: share of metamers closer to their target than to their seed"),
    ("clustering", "clustering", "Clustering accuracy of metamers to their targets (chance 1/3)"),
    ("recognizability", "accuracy_metamers", "Recognizability: observers' accuracy on the metamers"),
    ("representation_test", "match_rate", "Representation test: share of metamers matched to their own target"),
]


# projections drawn in the report (a study may have dozens of metamer sets; each figure is a grid
# of observers x stages, and drawing them all made the report take a minute)
_MAX_PROJECTIONS = 4


def _representation_figures(data: ReportData, per_recipe: pd.DataFrame) -> list[Figure]:
    """Seed 003's pictures: the observer x depth heatmap of the representation test's match rate
    (with its null band) and, per metamer set, the 2-D projection of targets and metamers."""
    import io

    from repalign.evaluation import plot_representation_heatmap, plot_representation_projection

    out: list[Figure] = []
    rep = per_recipe[per_recipe["test"] == "representation_test"] if not per_recipe.empty else per_recipe
    if rep.empty or "observer_layer" not in rep.columns:
        return out
    fig = plot_representation_heatmap(rep)
    out.append(Figure("representation_heatmap", figure_png(fig),
                      "Representation test per observer (rows) and stage (columns): share of metamers "
                      "whose activations correlate more with their own target than with any other, "
                      "with the 95% band of that share under chance (* beyond it)."))
    done = data.plan[(data.plan["stage"] == "evaluation") & data.plan["done"]
                     & data.plan["params"].map(lambda p: p.get("test") == "representation_test")]
    shown = 0
    for key, params in zip(done["key"], done["params"], strict=True):
        if shown == _MAX_PROJECTIONS:
            break
        files = data.store.read_files(key)
        if "projection.csv" not in files:
            continue
        coords = pd.read_csv(io.BytesIO(files["projection.csv"]))
        fig = plot_representation_projection(coords)
        shown += 1
        more = (f" The report shows the first {_MAX_PROJECTIONS} of {len(done)} metamer sets; "
                "each set's coordinates are in its unit's projection.csv in the run."
                if len(done) > _MAX_PROJECTIONS else "")
        out.append(Figure(f"representation_projection_{key[:8]}", figure_png(fig),
                          f"Targets (o) and metamers (x) of {params.get('metamers', 'the metamer set')} "
                          "in each observer stage: first two principal components of their activations, "
                          "each metamer joined to its target." + more))
    return out


def evaluation_section(data: ReportData) -> Section | None:
    from repalign.evaluation import plot_scores, plot_transfer

    per_recipe, transfer = _evaluation_frames(data)
    if per_recipe.empty and transfer.empty:
        return None
    blocks: list[Figure | Table] = []
    for test, metric, caption in _SCORES:
        sub = per_recipe[(per_recipe["test"] == test) & (per_recipe["metric"] == metric)] if not per_recipe.empty else per_recipe
        if sub.empty:
            continue
        shown, note = _first_recipe(sub)
        fig = plot_scores(shown, metric, hue="regularizer", title=metric)
        blocks.append(Figure(f"evaluation_{test}", figure_png(fig), caption + note + "."))
    blocks += _representation_figures(data, per_recipe)
    if not transfer.empty:
        shown = transfer[transfer["metric"] == "accuracy_metamers"]
        if not shown.empty:
            shown, note = _first_recipe(shown)
            fig = plot_transfer(shown, "accuracy_metamers", split="regularizer")
            blocks.append(Figure("transfer_accuracy", figure_png(fig),
                                 "Transfer: each observer's accuracy on each generator's metamers "
                                 f"(the generator itself on the diagonal){note}."))
        summary = (transfer.groupby(["test", "metric", "relation"], sort=False)["value"]
                   .agg(["mean", "count"]).reset_index())
        blocks.append(Table(summary, "Transfer by relation between generator and observer (mean over cells)"))
    for test, sub in per_recipe.groupby("test", sort=False) if not per_recipe.empty else ():
        keys = [c for c in ("generator", "layer", "regularizer", "init", "optimizer", "distance", "observer",
                            "observer_layer") if c in sub.columns and sub[c].notna().all()]
        table = sub.pivot_table(index=keys, columns="metric", values="value", sort=False).reset_index().rename_axis(columns=None)
        table["generator"] = table["generator"].map(_short)
        blocks.append(Table(table, f"{test}: every recipe"))
    return Section(
        "Evaluation of the metamers",
        "Perceptual distances stand in for human judges in the 2AFC and clustering tests; observer "
        "models classify the metamers (recognizability) and compare their activations with the "
        "targets' (representation test). Error bars are bootstrap intervals.",
        blocks,
    )


def analysis_section(data: ReportData) -> Section | None:
    import io

    few = data.stage("analysis")
    few = few[few["metric"] == "few_shot_accuracy"] if not few.empty else few
    blocks: list[Figure | Table] = []
    stats = data.plan[(data.plan["stage"] == "analysis") & data.plan["done"]
                      & data.plan["params"].map(lambda p: "few_shot" in p)]
    if not stats.empty:
        files = data.store.read_files(stats["key"].iloc[0])
        if "figure6.png" in files:
            blocks.append(Figure("alignment_vs_few_shot", files["figure6.png"],
                                 "Few-shot accuracy against alignment with the reference, one dot per model, "
                                 "with the quadratic fit of the U-shape test."))
        for name, caption in (("table3.csv", "Partial correlation of few-shot accuracy with alignment"),
                              ("table4.csv", "Correlation of few-shot accuracy with z²(alignment)"),
                              ("u_shape.csv", "U-shape tests (quadratic coefficient and its p-value)"),
                              ("table1_2.csv", "Mean few-shot accuracy of the most, middle and least aligned models")):
            if name in files:
                blocks.append(Table(pd.read_csv(io.BytesIO(files[name])), caption))
    if not few.empty:
        show = few.assign(model=few["model"].map(_short), shots=few["shots"].map(lambda v: f"{int(v)}-shot"))
        if "head" in show.columns and show["head"].nunique() > 1:
            show = show[show["head"] == show["head"].iloc[0]]
        fig = grouped_bars(show, "model", "shots", "value", title="Few-shot transfer to unseen classes",
                           ylabel="accuracy", error="sd")
        blocks.insert(0, Figure("few_shot", figure_png(fig),
                                "Few-shot accuracy of a probe on each model's features (mean and sd over repeats)."))
    if not blocks:
        return None
    return Section(
        "Alignment and few-shot transfer",
        "Seed 000's question on these models: does alignment with the reference predict how well "
        "the features support learning new classes from a few examples?",
        blocks,
    )


def theory_section(data: ReportData) -> Section | None:
    from repalign.analysis.theory import query_bound

    units = data.plan[(data.plan["stage"] == "theory") & data.plan["done"]]
    if units.empty:
        return None
    prm = units["params"].iloc[0]
    files = data.store.read_files(units["key"].iloc[0])
    blocks: list[Figure | Table] = []
    if "theory.png" in files:
        blocks.append(Figure("theory", files["theory.png"],
                             "Queries a student needs to locate a new object against its triplet "
                             "disagreement eps with the teacher, with the bound d log2(n) / C(eps); "
                             "the flip trick for eps > 0.5; domain-shift sensitivity against "
                             "2 eps (1 - eps)."))
    ref = data.stage("similarity", kind="reference", metric="triplet_agreement")
    if not ref.empty:
        first = ref.drop_duplicates("model")
        eps = (1.0 - first["value"]).clip(0.0, 1.0)
        blocks.append(Table(pd.DataFrame({
            "model": first["model"].map(_short).to_numpy(), "layer": first["layer"].to_numpy(),
            "eps": eps.to_numpy(),
            "predicted_queries": query_bound(eps.to_numpy(), prm["n"], prm["d"]),
        }), f"The study's models as students of {first['other'].iloc[0]}: eps = 1 - triplet "
            f"agreement, and the queries the bound predicts (n = {prm['n']}, d = {prm['d']})"))
    if "theory_queries.csv" in files:
        import io

        q = pd.read_csv(io.BytesIO(files["theory_queries.csv"]))
        cols = ["eps", "student", "queries_mean", "queries_se", "bound", "fano", "error_rate",
                "censored", "disagreement"]
        blocks.append(Table(q[cols], "Simulated queries against eps (flip: the student flips "
                                     "the answers when eps > 0.5; naive: it trusts them)"))
    return Section(
        "Theory: alignment and the cost of learning from a teacher",
        "Seed 000's Section 3 as a simulation: a student whose triplets disagree with the "
        "teacher's at rate eps hears the teacher through a binary symmetric channel of capacity "
        "C(eps) = 1 + eps log2 eps + (1 - eps) log2 (1 - eps), so the queries it needs grow like "
        "d log2(n) / C(eps): U-shaped in eps, lowest at 0 and 1, unbounded at 0.5.",
        blocks,
    )


def results_section(data: ReportData) -> Section | None:
    df = data.results
    if df.empty:
        return None
    counts = df.groupby(["stage", "metric"], sort=False)["value"].agg(["count", "mean", "min", "max"]).reset_index()
    return Section(
        "All results",
        "Every number of the study is in results.sqlite (table results, long format); export it "
        "with `repalign results RUN --format csv|json|parquet` or read it with "
        "repalign.study.load_results(RUN).",
        [Table(counts, "Rows per stage and metric")],
    )


SECTIONS: list[Callable[[ReportData], Section | None]] = [
    alignment_section,
    glocal_section,
    metamer_section,
    evaluation_section,
    analysis_section,
    theory_section,
    results_section,
]
