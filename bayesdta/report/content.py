"""The content of a report, independent of its output format.

A :class:`Report` is a list of :class:`Section` objects, each a list of blocks:
:class:`Paragraph`, :class:`Preformatted`, :class:`Facts` (label and value pairs),
:class:`Table` and :class:`Figure`. The HTML and Markdown writers render the same blocks,
so both formats always carry the same content.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pandas as pd

__all__ = [
    "Paragraph",
    "Preformatted",
    "Facts",
    "Table",
    "Figure",
    "Section",
    "Report",
    "figure_from_matplotlib",
]


@dataclass(frozen=True)
class Paragraph:
    """Plain text; ``kind="note"`` marks a warning the reader must act on."""

    text: str
    kind: str = "text"


@dataclass(frozen=True)
class Preformatted:
    """Text shown verbatim in a monospaced font, such as a specification file."""

    text: str


@dataclass(frozen=True)
class Facts:
    """Label and value pairs, rendered as a definition list."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    """A table: ``name`` is the CSV file stem, ``frame`` contains formatted or numeric values.

    ``csv_frame`` contains the full-precision values written to CSV; when ``None`` the
    displayed ``frame`` is written.
    """

    name: str
    caption: str
    frame: pd.DataFrame
    csv_frame: pd.DataFrame | None = None


@dataclass(frozen=True)
class Figure:
    """A rendered figure: ``name`` is the file stem of the PNG and SVG files."""

    name: str
    caption: str
    png: bytes
    svg: str


@dataclass
class Section:
    """One report section with an anchor ``key`` and a heading ``title``."""

    key: str
    title: str
    blocks: list = field(default_factory=list)

    def tables(self) -> list[Table]:
        """Return the tables of this section."""
        return [block for block in self.blocks if isinstance(block, Table)]

    def figures(self) -> list[Figure]:
        """Return the figures of this section."""
        return [block for block in self.blocks if isinstance(block, Figure)]


@dataclass
class Report:
    """A whole report: title, subtitle line and sections in reading order."""

    title: str
    subtitle: str
    sections: list[Section] = field(default_factory=list)

    def tables(self) -> list[Table]:
        """Return every table, in reading order."""
        return [table for section in self.sections for table in section.tables()]

    def figures(self) -> list[Figure]:
        """Return every figure, in reading order."""
        return [figure for section in self.sections for figure in section.figures()]


def figure_from_matplotlib(fig, name: str, caption: str, dpi: int = 150) -> Figure:
    """Render a matplotlib figure to PNG (``dpi`` dots per inch) and SVG, then close it."""
    import matplotlib.pyplot as plt

    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi, bbox_inches="tight")
    svg = io.StringIO()
    fig.savefig(svg, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return Figure(name=name, caption=caption, png=png.getvalue(), svg=svg.getvalue())
