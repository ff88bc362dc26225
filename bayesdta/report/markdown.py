"""Render a :class:`~bayesdta.report.content.Report` as Markdown.

Figures are linked as ``figures/<name>.png``, the files that
:func:`bayesdta.report.write_report` writes next to the Markdown file.
"""

from __future__ import annotations

import pandas as pd

from .content import Facts, Figure, Paragraph, Preformatted, Report, Section, Table

__all__ = ["render_markdown"]


def render_markdown(report: Report, figure_dir: str = "figures") -> str:
    """Return the report as GitHub-flavoured Markdown."""
    parts = [f"# {report.title}", "", f"*{report.subtitle}*", ""]
    for section in report.sections:
        parts += _section(section, figure_dir)
    return "\n".join(parts).rstrip() + "\n"


def _section(section: Section, figure_dir: str) -> list[str]:
    lines = [f"## {section.title}", ""]
    for block in section.blocks:
        lines += _block(block, figure_dir)
        lines.append("")
    return lines


def _block(block, figure_dir: str) -> list[str]:
    if isinstance(block, Paragraph):
        return [f"> **Note:** {block.text}" if block.kind == "note" else block.text]
    if isinstance(block, Preformatted):
        return ["```", block.text.rstrip(), "```"]
    if isinstance(block, Facts):
        return [f"- **{label}:** {value}" for label, value in block.items]
    if isinstance(block, Table):
        return [f"**{block.caption}**", "", *_table(block.frame)]
    if isinstance(block, Figure):
        return [f"![{block.caption}]({figure_dir}/{block.name}.png)", "", f"*{block.caption}*"]
    raise TypeError(f"cannot render a report block of type {type(block).__name__}")


def _table(frame: pd.DataFrame) -> list[str]:
    header = "| " + " | ".join(_escape(column) for column in frame.columns) + " |"
    rule = "|" + "|".join(" --- " for _ in frame.columns) + "|"
    rows = [
        "| " + " | ".join(_escape(_format(value)) for value in values) + " |"
        for values in frame.itertuples(index=False)
    ]
    return [header, rule, *rows]


def _format(value) -> str:
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:.3f}"
    return str(value)


def _escape(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
