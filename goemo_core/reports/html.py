"""The pieces of a self-contained HTML page: every text escaped (run names, tags and notes are user text), tables,
figures holding inline SVG, sections, and the page itself, whose content security policy forbids scripts and every
request (a report opens offline and sends nothing anywhere)."""

from __future__ import annotations

import html
import math
from typing import Any, Sequence


class Markup(str):
    """HTML this module or the report built itself (never user text): inserted as it is."""


def esc(value: Any) -> str:
    """Any value as HTML text: escaped, quotes included (safe in attributes too)."""
    return value if isinstance(value, Markup) else html.escape("" if value is None else str(value), quote=True)


def number(value: Any, digits: int = 2, thousands: bool = False) -> str:
    """A figure as text; "–" where there is none (None, NaN, not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float)
                                                                          and not math.isfinite(value)):
        return "–"
    if isinstance(value, int) and not digits:
        return f"{value:,}" if thousands else str(value)
    return f"{value:,.{digits}f}" if thousands else f"{value:.{digits}f}"


def mean_spread(mean: Any, std: Any, digits: int) -> str:
    """"67.03 ± 0.13", or the mean alone (one seed has no spread)."""
    text = number(mean, digits)
    return text if text == "–" or number(std, digits) == "–" else f"{text} ± {number(std, digits)}"


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], key: str = "", numeric: Sequence[int] = ()) -> Markup:
    """An HTML table; cells are escaped unless they are Markup. `numeric`: column indexes aligned right."""
    right = set(numeric)

    def cell(tag: str, index: int, value: Any) -> str:
        align = ' class="num"' if index in right else ""
        return f"<{tag}{align}>{esc(value)}</{tag}>"

    head = "".join(cell("th", i, name) for i, name in enumerate(columns))
    body = "".join("<tr>" + "".join(cell("td", i, value) for i, value in enumerate(row)) + "</tr>" for row in rows)
    data = f' data-table="{esc(key)}"' if key else ""
    return Markup(f'<div class="scroll"><table{data}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
                  "</div>")


def figure(svg: str, key: str, caption: str = "") -> Markup:
    """A chart: `svg` is markup drawn by charts.to_svg (checked there); the caption is escaped."""
    note = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return Markup(f'<figure class="chart" data-chart="{esc(key)}">{svg}{note}</figure>')


def paragraph(text: Any, css: str = "") -> Markup:
    attribute = f' class="{esc(css)}"' if css else ""
    return Markup(f"<p{attribute}>{esc(text)}</p>")


def section(key: str, anchor: str, title: str, parts: Sequence[str], level: int = 3) -> Markup:
    """A section the table of contents links to (`anchor`), found by `data-section` = key."""
    return Markup(f'<section id="{esc(anchor)}" data-section="{esc(key)}"><h{level}>{esc(title)}</h{level}>'
                  + "".join(parts) + "</section>")


STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d1d1f; }
header, main, nav { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; } h1 { margin-bottom: 4px; } .meta { color: #555; margin-top: 0; }
nav { border-bottom: 1px solid #ddd; padding-bottom: 8px; } nav ul { margin: 0; padding-left: 18px; }
nav li ul { display: flex; flex-wrap: wrap; gap: 0 18px; padding-left: 0; list-style: none; }
h2 { border-bottom: 2px solid #4e79a7; padding-bottom: 4px; margin-top: 36px; }
h3 { margin-top: 28px; } section { margin-bottom: 12px; }
.scroll { overflow-x: auto; } table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f4f6f9; position: sticky; top: 0; } td.num, th.num { text-align: right;
  font-variant-numeric: tabular-nums; } tr:hover td { background: #fafbfd; }
figure.chart { margin: 12px 0 20px; overflow-x: auto; } figure.chart svg { max-width: none; height: auto; }
figcaption, .note { color: #555; font-size: 13px; } .problem { color: #a40000; }
.grid { display: flex; flex-wrap: wrap; gap: 8px 24px; } details { margin: 8px 0; } summary { cursor: pointer; }
"""
# No script, style sheet, font, image or frame may load, and no form or link can send anything.
CONTENT_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
                  "base-uri 'none'; frame-ancestors 'none'")


def page(title: str, subtitle: str, contents: Sequence[tuple[str, str, Sequence[tuple[str, str]]]],
         body: Sequence[str]) -> str:
    """The whole document: `contents` are (anchor, title, [(anchor, title) of its sections]) for the table of
    contents."""
    def link(anchor: str, name: str) -> str:
        return f'<a href="#{esc(anchor)}">{esc(name)}</a>'

    def item(anchor: str, name: str, children: Sequence[tuple[str, str]]) -> str:
        inner = "".join(f"<li>{link(a, n)}</li>" for a, n in children)
        return f"<li>{link(anchor, name)}" + (f"<ul>{inner}</ul>" if inner else "") + "</li>"

    items = "".join(item(*entry) for entry in contents)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_POLICY}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f'<header><h1>{esc(title)}</h1><p class="meta">{esc(subtitle)}</p></header>'
            f'<nav aria-label="contents"><ul>{items}</ul></nav><main>' + "".join(body) + "</main></body></html>\n")
