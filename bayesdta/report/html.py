"""Render a :class:`~bayesdta.report.content.Report` as one self-contained HTML page.

Figures are embedded as base64 SVG images (sharp in print), styles are inline, and the page
loads nothing from the network, so it reads the same offline and prints on A4 or Letter.
"""

from __future__ import annotations

import base64
import html
import numbers

from .content import Facts, Figure, Paragraph, Preformatted, Report, Section, Table

__all__ = ["render_html"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
       max-width: 62rem; margin: 2rem auto; padding: 0 1.5rem; line-height: 1.5; }
h1 { font-size: 1.7rem; margin-bottom: 0.2rem; }
.subtitle { color: #555; margin-top: 0; }
h2 { font-size: 1.3rem; border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2.2rem; }
nav ol { columns: 2; padding-left: 1.2rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.85rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.2rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.table-wrap { overflow-x: auto; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.85rem; color: #444; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.15rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; word-break: break-all; }
pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
.note { border-left: 4px solid #c77700; background: #fff6e5; padding: 0.4rem 0.8rem; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  nav { display: none; }
  h2 { break-after: avoid; }
  figure, table, dl, pre { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  pre { white-space: pre-wrap; }
  a { color: inherit; text-decoration: none; }
}
@page { margin: 15mm; }
"""


def render_html(report: Report) -> str:
    """Return the report as a self-contained HTML document."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(report.title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(report.title)}</h1>",
        f'<p class="subtitle">{html.escape(report.subtitle)}</p>',
        _contents(report),
    ]
    parts += [_section(section) for section in report.sections]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _contents(report: Report) -> str:
    items = "".join(
        f'<li><a href="#{section.key}">{html.escape(section.title)}</a></li>'
        for section in report.sections
    )
    return f'<nav aria-label="Contents"><ol>{items}</ol></nav>'


def _section(section: Section) -> str:
    body = "\n".join(_block(block) for block in section.blocks)
    return (
        f'<section id="{section.key}">\n<h2>{html.escape(section.title)}</h2>\n{body}\n</section>'
    )


def _block(block) -> str:
    if isinstance(block, Paragraph):
        css = ' class="note"' if block.kind == "note" else ""
        return f"<p{css}>{html.escape(block.text)}</p>"
    if isinstance(block, Preformatted):
        return f"<pre>{html.escape(block.text)}</pre>"
    if isinstance(block, Facts):
        rows = "".join(
            f"<dt>{html.escape(label)}</dt><dd>{html.escape(value)}</dd>"
            for label, value in block.items
        )
        return f"<dl>{rows}</dl>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return _figure(block)
    raise TypeError(f"cannot render a report block of type {type(block).__name__}")


def _table(table: Table) -> str:
    frame = table.frame
    head = "".join(f'<th scope="col">{html.escape(str(column))}</th>' for column in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = "".join(_cell(value) for value in values)
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table id="table-{table.name}">'
        f"<caption>{html.escape(table.caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _cell(value) -> str:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return f"<td>{html.escape(str(value))}</td>"
    text = str(value) if isinstance(value, numbers.Integral) else f"{value:.3f}"
    return f'<td class="number">{text}</td>'


def _figure(figure: Figure) -> str:
    encoded = base64.b64encode(figure.svg.encode("utf-8")).decode("ascii")
    alt = html.escape(figure.caption)
    return (
        f'<figure id="figure-{figure.name}">'
        f'<img src="data:image/svg+xml;base64,{encoded}" alt="{alt}">'
        f"<figcaption>{alt}</figcaption></figure>"
    )
