"""``build_report``: the run directory's ``report.html`` (self-contained) and ``figures/*.png``.

The page opens with the findings (headline numbers with their intervals, the key figures), then
an overview of the run, one section per stage, and ends with the full configuration, folded.

The report reads only the store (results table, plan, verified artifacts), so it can be rebuilt at
any time with ``repalign report RUN``, also while a run is in progress (it shows what is finished).

Example:
    >>> build_report("repalign_demo")                                  # doctest: +SKIP
    PosixPath('repalign_demo/report.html')
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import matplotlib

from repalign._io import atomic_write_bytes, atomic_write_text
from repalign.study.html import Figure, Section, Table, render_page
from repalign.study.report_findings import findings_section
from repalign.study.report_sections import SECTIONS, ReportData
from repalign.study.store import Store

__all__ = ["build_report"]

log = logging.getLogger(__name__)
REPORT_NAME = "report.html"
FIGURES = "figures"
#: the report's own figure files in FIGURES (``NN_name.png``); other files there are left alone
FIGURE_NAME = re.compile(r"\d{2,}_.+\.png")


def _overview(data: ReportData) -> Section:
    run = data.run
    plan = data.plan
    per_stage = (
        plan.assign(seconds=plan["seconds"].fillna(0.0))
        .groupby("stage", sort=False)
        .agg(units=("key", "size"), finished=("done", "sum"), seconds=("seconds", "sum"))
        .reset_index()
    )
    missing = int((~plan["done"]).sum())
    state = f"{len(plan) - missing} of {len(plan)} units finished"
    if missing:
        state += f" ({missing} still to run: run `repalign run` on this directory to finish them)"
    return Section(
        "Overview",
        f"Study {run['config'].get('name')!r}, last run #{run['id']} ({run['status']}), started "
        f"{run['started']}, repalign {run['version']}. {state}.",
        [Table(per_stage, "Units per stage")],
    )


def _configuration(data: ReportData) -> Section:
    return Section(
        "Configuration",
        "Every key of the study configuration, as given or defaulted (click to unfold).",
        [Table(_config_table(data.run["config"]), "Configuration", folded=True)],
    )


def _config_table(config: dict[str, Any]) -> object:
    import pandas as pd

    flat: list[tuple[str, str]] = []

    def walk(prefix: str, v: object) -> None:
        if isinstance(v, dict) and v:
            for k, sub in v.items():
                walk(f"{prefix}.{k}" if prefix else str(k), sub)
        else:
            flat.append((prefix, json.dumps(v)))

    walk("", config)
    return pd.DataFrame(flat, columns=["key", "value"])


def build_report(run_dir: str | Path, *, out: str | Path | None = None) -> Path:
    """Write ``report.html`` (and ``figures/*.png``) for a study run directory.

    ``figures/`` holds exactly this build's figures as ``NN_name.png``: figure files of an
    earlier build that this one did not write (their numbering moved when sections changed)
    are removed; other files in the folder are left alone.

    Args:
        run_dir: a directory written by :func:`repalign.run_study`.
        out: the HTML file (default ``RUN_DIR/report.html``).

    Returns:
        The path of the HTML file.

    Raises:
        DataFormatError: ``run_dir`` is not a run directory, or an artifact was altered.
    """
    matplotlib.use("Agg", force=False)
    run_dir = Path(run_dir)
    with Store(run_dir, readonly=True) as store:
        data = ReportData(store=store, run=store.last_run(), plan=store.plan(), results=store.results())
        sections = [_overview(data)]
        for build in SECTIONS:
            section = build(data)
            if section is not None and section.blocks:
                sections.append(section)
        findings = findings_section(data, sections)
        sections = [s for s in sections if s.blocks]
        sections = ([findings] if findings is not None else []) + sections + [_configuration(data)]
    title = f"repalign study: {data.run['config'].get('name', 'study')}"
    page = render_page(title, sections, subtitle=f"Run directory: {run_dir.resolve().name}")
    figdir = run_dir / FIGURES
    written: set[str] = set()
    for sec in sections:
        for block in sec.blocks:
            if isinstance(block, Figure):
                name = f"{len(written) + 1:02d}_{block.name}.png"
                atomic_write_bytes(figdir / name, block.png)
                written.add(name)
    for stale in figdir.glob("*.png"):
        if FIGURE_NAME.fullmatch(stale.name) and stale.name not in written:  # an earlier build's figure whose number or name moved
            stale.unlink()
    n = len(written)
    target = Path(out) if out is not None else run_dir / REPORT_NAME
    atomic_write_text(target, page)
    log.info("report: %d section(s), %d figure(s) -> %s", len(sections), n, target)
    return target
