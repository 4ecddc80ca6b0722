"""The pieces scslab's HTML pages are made of (the report, the sweep report): the page's
CSS and signature, escaping, figures as inline SVG, tables of numbers and explanatory
paragraphs. Pages are self-contained: inline SVG and CSS, no scripts.
"""

from __future__ import annotations

import html
import io
import logging
import re
from collections.abc import Callable

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

REPORT_SIGNATURE = "<meta name='generator' content='scslab"  # marks a file as ours

log = logging.getLogger(__name__)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa;line-height:1.45}
header{background:#263238;color:#fff;padding:1.2em 2em}
header h1{margin:0 0 .2em;font-size:1.6em}
header p{margin:.2em 0;color:#cfd8dc}
nav{background:#eceff1;padding:.5em 2em;font-size:.9em;position:sticky;top:0;z-index:1}
nav a{margin-right:1em;color:#37474f;text-decoration:none;white-space:nowrap}
main{max-width:1150px;margin:0 auto;padding:0 1.5em 3em}
section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:.6em 1.4em 1em;
margin:1.2em 0}
h2{border-bottom:2px solid #eceff1;padding-bottom:.2em}
.how{color:#455a64;max-width:60em}
figure{margin:.8em 0}
figure svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:.88em;margin:.6em 0}
th,td{border-bottom:1px solid #e0e0e0;padding:.25em .7em;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f5f5f5}
.note{background:#fff8e1;border-left:4px solid #ffb300;padding:.5em 1em}
.bad{color:#c62828;font-weight:600}
details summary{cursor:pointer;color:#37474f}
footer{color:#78909c;font-size:.85em;text-align:center;margin:2em}
"""


def esc(x: object) -> str:
    """Text escaped for HTML."""
    return html.escape(str(x))


def svg(fig: Figure, key: str) -> str:
    """A figure as inline SVG markup (text drawn as paths: no fonts needed to view it).

    `key` salts the SVG's internal ids so that several figures on one page never clash,
    and keeps the output deterministic.
    """
    buf = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": f"scslab-{key}", "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", text, count=1)
    return text.replace("<svg", f'<svg role="img" aria-label="{esc(key)}"', 1)


def figure_html(draw: Callable[[], Figure], key: str, caption: str = "") -> str:
    """Draw one figure as a <figure>; a drawing error becomes a visible note, not a crash."""
    try:
        fig = draw()
    except Exception as err:
        log.exception("figure %s failed", key)
        return f'<p class="note">This figure could not be drawn: {esc(err)}</p>'
    cap = f"<figcaption class='how'>{caption}</figcaption>" if caption else ""
    return f'<figure id="fig-{esc(key)}">{svg(fig, key)}{cap}</figure>'


def _num(x: float, digits: int = 0) -> str:
    if x != x:  # NaN
        return "–"
    if x in (float("inf"), float("-inf")):
        return "∞"
    return f"{x:,.{digits}f}"


def table_html(frame: pd.DataFrame, num_digits: dict[str, int] | None = None) -> str:
    """A DataFrame as a plain HTML table; numeric columns right-aligned and formatted."""
    num_digits = num_digits or {}
    head = "".join(
        f'<th class="{"num" if pd.api.types.is_numeric_dtype(frame[c]) else ""}">{esc(c)}</th>'
        for c in frame.columns
    )
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for c in frame.columns:
            v = row[c]
            if isinstance(v, int | float) and not isinstance(v, bool):
                cells.append(f'<td class="num">{_num(float(v), num_digits.get(c, 0))}</td>')
            else:
                cells.append(f"<td>{esc(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def how_html(text: str) -> str:
    """A paragraph saying how to read what follows (`text` is HTML, inserted as given)."""
    return f'<p class="how">{text}</p>'
