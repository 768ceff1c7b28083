"""The experimenter's view: progress per participant, exclusions, responses per planned trial,
and a plot that the page reloads every 15 seconds. Every string is HTML-escaped."""

from __future__ import annotations

import html
import io
import math
import time
from typing import Any
from urllib.parse import quote

from repalign.experiments.service import Experiment

__all__ = ["admin_html", "plot_svg"]

_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.2em .5em}
th{background:#f3f3f3}.flag{color:#a00}img{max-width:100%}"""


def _when(t: float | None) -> str:
    return "" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def admin_html(exp: Experiment, progress: dict[str, Any]) -> str:
    """The admin page (no script: it refreshes itself with a meta tag)."""
    e = html.escape
    people = progress["participants"]
    planned = progress["planned"]
    need = progress["target_per_trial"]
    done_items = sum(p["responses"] >= need for p in planned)
    per_person = exp.cfg.design.trials_per_participant
    to_go = math.ceil(max(0, sum(max(0, need - p["held"]) for p in planned)) / per_person)
    counts: dict[str, int] = {}
    for p in people:
        counts[p["status"]] = counts.get(p["status"], 0) + 1
    rows = "".join(
        f"<tr><td>{p['id']}</td><td>{e(p['external_id'])}</td><td>{e(p['status'])}</td>"
        f"<td>{p['n_responses']} / {p['n_trials']}</td><td>{_when(p['created_at'])}</td>"
        f"<td>{_when(p['finished_at'])}</td><td class=flag>{e(p['flags'])}</td></tr>"
        for p in people)
    token = quote(exp.token, safe="")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="15">
<meta name="robots" content="noindex"><title>{e(exp.cfg.name)}: admin</title>
<style>{_STYLE}</style></head><body>
<h1>{e(exp.cfg.texts.title)} <small>({e(exp.cfg.paradigm)}, {e(exp.cfg.name)})</small></h1>
<p>{len(people)} participants ({e(', '.join(f'{k}: {v}' for k, v in sorted(counts.items())))});
{len(progress['response_times'])} responses stored. Planned trials with {need} response(s):
{done_items} of {len(planned)}; about {to_go} more participant(s) needed to assign every planned
trial {need} time(s) (answered, or waiting in an active session; people silent for
{exp.cfg.design.abandoned_after_minutes:g} minutes give theirs up). <a href="/api/export?token={e(token)}">Download all responses (CSV)</a>.</p>
<img src="/admin/plot.svg?token={e(token)}" alt="responses over time and per planned trial">
<h2>Participants</h2>
<table><tr><th>#</th><th>participant id</th><th>status</th><th>responses</th><th>started (UTC)
</th><th>finished (UTC)</th><th>exclusion flags</th></tr>{rows}</table>
</body></html>
"""


def plot_svg(progress: dict[str, Any]) -> bytes:
    """SVG with two panels: cumulative responses over time, and responses per planned trial."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.2))
    ax1, ax2 = fig.subplots(1, 2)
    times = progress["response_times"]
    if times:
        t0 = times[0]
        ax1.plot([(t - t0) / 60 for t in times], range(1, len(times) + 1), color="C0")
    ax1.set_xlabel("minutes since the first response")
    ax1.set_ylabel("responses stored")
    ax1.set_title("Responses over time")
    counts = [p["responses"] for p in progress["planned"]]
    if counts:
        top = max(max(counts), progress["target_per_trial"])
        ax2.hist(counts, bins=range(top + 2), color="C1", align="left", rwidth=0.8)
        ax2.axvline(progress["target_per_trial"], color="k", linestyle="--", label="target")
        ax2.legend(frameon=False)
    ax2.set_xlabel("responses to a planned trial")
    ax2.set_ylabel("planned trials")
    ax2.set_title("Coverage of the planned trials")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    return buf.getvalue()
