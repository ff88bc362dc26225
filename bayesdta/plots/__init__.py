"""Matplotlib plots. Each function takes ``ax=None`` (or ``fig=None``), returns the Axes or
Figure, forwards styling keyword arguments and never calls ``show()``.

The plot functions load on first use, so that importing one plot module does not import the
others.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

__all__ = [
    "plot_sroc",
    "draw_sroc_layers",
    "format_sroc_axes",
    "plot_forest",
    "write_analysis_figures",
]

logger = logging.getLogger(__name__)

_LAZY = {
    "plot_sroc": "bayesdta.plots.sroc",
    "draw_sroc_layers": "bayesdta.plots.sroc",
    "format_sroc_axes": "bayesdta.plots.sroc",
    "plot_forest": "bayesdta.plots.forest",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bayesdta.plots' has no attribute {name!r}")


def write_analysis_figures(trace, out: Path, prob: float = 0.95) -> list[Path]:
    """Write the SROC plot and the forest plot of a fit as PNG and SVG files.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`.
    out : pathlib.Path
        Existing folder; ``sroc.png``, ``sroc.svg``, ``forest.png`` and ``forest.svg`` are
        written there, replacing files of those names.
    prob : float, default 0.95
        Probability of the band, the regions and every interval.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from matplotlib.figure import Figure

    from ..trace import read_spec
    from .forest import forest_figure_size, plot_forest
    from .sroc import plot_sroc

    spec = read_spec(trace)
    source = spec.get("data", {}).get("source", "")
    n_tables = trace["observed_data"].sizes["study"]

    # Figure objects without pyplot: no GUI backend is needed and nothing stays open.
    # A meta-regression's summary point, curve and pooled rows belong to the reference
    # profile only; the per-level plots (sroc_by_<covariate>) show every level.
    scope = ", reference profile" if spec.get("kind") == "regression" else ""
    sroc_figure = Figure(figsize=(6.4, 7.6), layout="constrained")
    ax = plot_sroc(trace, ax=sroc_figure.add_subplot(), prob=prob)
    ax.set_title(f"SROC: {source} ({n_tables} tables{scope})", fontsize="medium")
    forest_figure = plot_forest(trace, fig=Figure(figsize=forest_figure_size(trace)), prob=prob)

    written = []
    for stem, figure in (("sroc", sroc_figure), ("forest", forest_figure)):
        for suffix in ("png", "svg"):
            path = Path(out) / f"{stem}.{suffix}"
            figure.savefig(path, dpi=150, bbox_inches="tight")
            written.append(path)
    logger.info("wrote %s", ", ".join(str(path) for path in written))
    return written
