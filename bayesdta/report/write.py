"""Write a report to a folder: HTML, Markdown, CSV tables, PNG and SVG figures, the trace."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import xarray as xr

from ..spec import OUTPUT_FORMATS
from .content import Report
from .html import render_html
from .markdown import render_markdown

__all__ = ["write_report"]

logger = logging.getLogger(__name__)


def write_report(
    report: Report,
    out_dir: str | Path,
    trace: xr.DataTree | None = None,
    formats: Iterable[str] = OUTPUT_FORMATS,
) -> dict[str, list[Path]]:
    """Write the report files into ``out_dir`` (created if missing).

    Files: ``report.html`` (self-contained), ``report.md`` with ``figures/*.png`` next to
    it, ``tables/<name>.csv``, ``figures/<name>.png`` and ``.svg``, and ``trace.nc``.

    Parameters
    ----------
    report : Report
    out_dir : str or path
    trace : xarray.DataTree, optional
        Written as ``trace.nc`` when ``"netcdf"`` is among ``formats``.
    formats : iterable of str, default all of :data:`bayesdta.spec.OUTPUT_FORMATS`
        Markdown links to the PNG files, so ``"markdown"`` also writes them.

    Returns
    -------
    dict of str to list of Path
        The files written, by format.
    """
    formats = set(formats)
    unknown = sorted(formats - set(OUTPUT_FORMATS))
    if unknown:
        raise ValueError(
            f"unknown output format(s) {unknown}; valid formats are {list(OUTPUT_FORMATS)}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {name: [] for name in sorted(formats)}

    if "html" in formats:
        written["html"].append(_write_text(out / "report.html", render_html(report)))
    if "markdown" in formats:
        written["markdown"].append(_write_text(out / "report.md", render_markdown(report)))
    if "csv" in formats:
        written["csv"] = _write_tables(report, out / "tables")
    if formats & {"png", "svg", "markdown"}:
        figures = _write_figures(report, out / "figures", formats)
        for name, paths in figures.items():
            written.setdefault(name, []).extend(paths)
    if "netcdf" in formats and trace is not None:
        trace.to_netcdf(out / "trace.nc")
        written["netcdf"].append(out / "trace.nc")

    logger.info("wrote the report to %s", out)
    return written


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _write_tables(report: Report, folder: Path) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for table in report.tables():
        frame = table.csv_frame if table.csv_frame is not None else table.frame
        path = folder / f"{table.name}.csv"
        frame.to_csv(path, index=frame.index.name is not None)
        paths.append(path)
    return paths


def _write_figures(report: Report, folder: Path, formats: set[str]) -> dict[str, list[Path]]:
    folder.mkdir(exist_ok=True)
    written: dict[str, list[Path]] = {"png": [], "svg": []}
    for figure in report.figures():
        if formats & {"png", "markdown"}:
            path = folder / f"{figure.name}.png"
            path.write_bytes(figure.png)
            written["png"].append(path)
        if "svg" in formats:
            path = folder / f"{figure.name}.svg"
            path.write_text(figure.svg, encoding="utf-8")
            written["svg"].append(path)
    return {name: paths for name, paths in written.items() if paths}
