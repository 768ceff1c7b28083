"""A self-contained HTML page: sections of text, figures (inline base64 PNG) and tables.

Everything that comes from a configuration, a file or a model's metadata is escaped
(``html.escape``; pandas escapes table cells); the page makes no external request.

Example:
    >>> sec = Section("Alignment", "How models align.", [Table(pd.DataFrame({"m": ["<b>"]}), "t")])
    >>> "&lt;b&gt;" in render_page("study <1>", [sec], subtitle="")
    True
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Figure", "Section", "Table", "figure_png", "render_page"]


@dataclass
class Figure:
    """A figure: PNG bytes, a short file-safe name and a caption."""

    name: str
    png: bytes
    caption: str


@dataclass
class Table:
    """A table and its caption (cells are escaped when rendered); ``folded`` tables start closed
    (``<details>``, the caption is the summary to click)."""

    frame: pd.DataFrame
    caption: str
    folded: bool = False


@dataclass
class Section:
    """A titled part of the report."""

    title: str
    intro: str = ""
    blocks: list[Figure | Table] = field(default_factory=list)


def figure_png(fig: Any, dpi: int = 110) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return buf.getvalue()


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;
color:#222;line-height:1.45;padding:0 1rem}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
.subtitle{color:#666;margin-top:0}nav a{margin-right:1rem}
figure{margin:1.2rem 0;text-align:center}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.92rem;margin-top:.3rem}
table{border-collapse:collapse;font-size:.85rem;margin:.6rem 0 1.4rem}
th,td{border:1px solid #ddd;padding:.2rem .5rem;text-align:right}th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}.caption{font-weight:600;margin-top:1rem}
.scroll{overflow-x:auto}summary.caption{cursor:pointer}
"""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _table_html(t: Table) -> str:
    body = t.frame.to_html(index=False, escape=True, border=0, na_rep="–", float_format=lambda v: f"{v:.4g}")
    if t.folded:
        return (f'<details><summary class="caption">{html.escape(t.caption)} '
                f'({len(t.frame)} rows)</summary><div class="scroll">{body}</div></details>')
    return f'<p class="caption">{html.escape(t.caption)}</p><div class="scroll">{body}</div>'


def _figure_html(f: Figure, number: int) -> str:
    data = base64.b64encode(f.png).decode("ascii")
    cap = html.escape(f.caption)
    return (
        f'<figure class="fig" id="fig-{number}" data-name="{html.escape(f.name, quote=True)}">'
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(f.caption, quote=True)}">'
        f"<figcaption>Figure {number}. {cap}</figcaption></figure>"
    )


def render_page(title: str, sections: list[Section], *, subtitle: str) -> str:
    """The whole page as a string (UTF-8, no external resources)."""
    parts = []
    nav = []
    n_fig = 0
    for sec in sections:
        anchor = _slug(sec.title)
        nav.append(f'<a href="#{anchor}">{html.escape(sec.title)}</a>')
        out = [f'<section id="{anchor}"><h2>{html.escape(sec.title)}</h2>']
        if sec.intro:
            out.append(f"<p>{html.escape(sec.intro)}</p>")
        for block in sec.blocks:
            if isinstance(block, Figure):
                n_fig += 1
                out.append(_figure_html(block, n_fig))
            else:
                out.append(_table_html(block))
        out.append("</section>")
        parts.append("\n".join(out))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class=\"subtitle\">{html.escape(subtitle)}</p>"
        f"<nav>{''.join(nav)}</nav>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
