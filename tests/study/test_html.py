"""The report's HTML: escaping of every string, inline images, no external resources."""

from __future__ import annotations

import base64
import re

import pandas as pd

from repalign.study.figures import grouped_bars, matrix_heatmap
from repalign.study.html import Figure, Section, Table, figure_png, render_page

EVIL = '<script>alert("x")</script>'


def test_strings_and_cells_are_escaped():
    table = pd.DataFrame({"model": [EVIL], "value": [0.5]})
    png = figure_png(grouped_bars(pd.DataFrame({"m": ["a"], "g": ["b"], "v": [1.0]}), "m", "g", "v", title="t"))
    page = render_page(
        EVIL, [Section(EVIL, EVIL, [Table(table, EVIL), Figure(EVIL, png, EVIL)])], subtitle=EVIL
    )
    assert "<script" not in page
    assert page.count("&lt;script&gt;") >= 6
    assert "http://" not in page and "https://" not in page
    src = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(src) == png and png[:8] == b"\x89PNG\r\n\x1a\n"


def test_heatmap_and_bars_draw_what_they_are_given():
    mat = pd.DataFrame([[1.0, 0.2], [0.2, 1.0]], index=["a", "b"], columns=["a", "b"])
    fig = matrix_heatmap(mat, title="m")
    assert fig.axes[0].images[0].get_array().tolist() == [[1.0, 0.2], [0.2, 1.0]]
    df = pd.DataFrame({"model": ["a", "b", "a"], "metric": ["r", "r", "k"], "value": [0.1, 0.2, 0.3]})
    fig = grouped_bars(df, "model", "metric", "value", title="t", hline=0.5, hline_label="chance")
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches if p.get_height() == p.get_height())
    assert heights == [0.1, 0.2, 0.3]
