"""The report's opening section: the study's headline numbers, with their intervals, and the key
figures (moved here from their sections, so each figure appears once).

Headlines, when the study computed them:

- alignment with the reference: the most and the least aligned model per metric;
- 2AFC: each generator's best recipe, with the bootstrap interval over targets;
- alignment and few-shot transfer: the partial correlation of each alignment metric with the
  first few-shot column, with its 95 % interval (Fisher z).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from repalign.study.html import Figure, Section, Table
from repalign.study.report_sections import ReportData

__all__ = ["KEY_FIGURES", "findings_section"]

#: the figures that open the report, in this order (when the study made them)
KEY_FIGURES = ("alignment_reference", "evaluation_two_afc", "alignment_vs_few_shot")
_COLUMNS = ["finding", "value", "ci_low", "ci_high", "where"]


def _short(spec: Any) -> str:
    text = str(spec)
    return text.split(":", 1)[1] if text.startswith("zoo:") else text


def _alignment(data: ReportData) -> list[dict[str, Any]]:
    ref = data.stage("similarity", kind="reference")
    rows = []
    for metric, sub in ref.groupby("metric", sort=False):
        sub = sub.dropna(subset=["value"])
        if sub.empty:
            continue
        agent = str(sub["other"].iloc[0])
        for word, row in (("most", sub.loc[sub["value"].idxmax()]),
                          ("least", sub.loc[sub["value"].idxmin()])):
            rows.append({"finding": f"{word} aligned with {agent} ({metric})",
                         "value": float(row["value"]), "ci_low": math.nan, "ci_high": math.nan,
                         "where": f"{_short(row['model'])} @ {row.get('layer', '')}"})
            if len(sub) == 1:
                break
    return rows


def _two_afc(data: ReportData) -> list[dict[str, Any]]:
    ev = data.stage("evaluation")
    if ev.empty or "test" not in ev.columns:
        return []
    ev = ev[(ev["test"] == "two_afc") & (ev["metric"] == "two_afc")]
    if "relation" in ev.columns:
        ev = ev[ev["relation"].isna()]
    rows = []
    for gen, sub in ev.dropna(subset=["value"]).groupby("model", sort=False):
        best = sub.loc[sub["value"].idxmax()]
        recipe = ", ".join(f"{k} {best[k]}" for k in ("layer", "regularizer", "init", "optimizer",
                                                       "distance") if k in best and pd.notna(best[k]))
        rows.append({"finding": f"2AFC score of {_short(gen)}'s metamers (best recipe; chance 0.5)",
                     "value": float(best["value"]), "ci_low": float(best.get("ci_low", math.nan)),
                     "ci_high": float(best.get("ci_high", math.nan)), "where": recipe})
    return rows


def _partial(data: ReportData) -> list[dict[str, Any]]:
    an = data.stage("analysis")
    if an.empty or "alignment" not in an.columns:
        return []
    part = an[an["metric"].isin(["partial_r", "partial_ci_low", "partial_ci_high"])]
    if part.empty:
        return []
    keys = [c for c in ("alignment", "downstream", "covar") if c in part.columns]
    wide = part.pivot_table(index=keys, columns="metric", values="value", sort=False).reset_index()
    first = wide["downstream"].iloc[0]
    rows = []
    for _, r in wide[wide["downstream"] == first].iterrows():
        covar = f" given {r['covar']}" if "covar" in r and isinstance(r["covar"], str) and r["covar"] else ""
        rows.append({"finding": f"partial correlation of {first} with {r['alignment']}{covar}",
                     "value": float(r.get("partial_r", math.nan)),
                     "ci_low": float(r.get("partial_ci_low", math.nan)),
                     "ci_high": float(r.get("partial_ci_high", math.nan)), "where": "all models"})
    return rows


def findings_section(data: ReportData, sections: list[Section]) -> Section | None:
    """The headline table and the key figures, taken out of ``sections`` (modified in place)."""
    rows = _alignment(data) + _two_afc(data) + _partial(data)
    blocks: list[Figure | Table] = []
    if rows:
        blocks.append(Table(pd.DataFrame(rows, columns=_COLUMNS),
                            "Headline numbers (intervals: 95 %, where the study computed them)"))
    for name in KEY_FIGURES:
        for sec in sections:
            found = [b for b in sec.blocks if isinstance(b, Figure) and b.name == name]
            if found:
                sec.blocks.remove(found[0])
                blocks.append(found[0])
                break
    if not blocks:
        return None
    return Section(
        "Findings",
        "What the study found, first: the headline numbers and the key figures. The sections "
        "below hold every figure and table; the full configuration is at the end.",
        blocks,
    )
