"""Posterior reports: build the content from a trace, write it as HTML, Markdown, CSV,
PNG and SVG, and run whole analyses from TOML specifications.

Examples
--------
>>> from bayesdta.spec import load_spec  # doctest: +SKIP
>>> from bayesdta.report import build_report, run_analysis, write_report  # doctest: +SKIP
>>> spec = load_spec("models/dick_melanoma_cad.toml")  # doctest: +SKIP
>>> trace = run_analysis(spec)  # doctest: +SKIP
>>> write_report(build_report(trace, spec), spec.output_dir(), trace)  # doctest: +SKIP
"""

from .analysis import ANALYSIS_DIR_ATTR, ANALYSIS_SPEC_ATTR, build_model, run_analysis
from .build import build_report, spec_of_trace
from .content import Facts, Figure, Paragraph, Preformatted, Report, Section, Table
from .html import render_html
from .markdown import render_markdown
from .write import write_report

__all__ = [
    "ANALYSIS_DIR_ATTR",
    "ANALYSIS_SPEC_ATTR",
    "Facts",
    "Figure",
    "Paragraph",
    "Preformatted",
    "Report",
    "Section",
    "Table",
    "build_model",
    "build_report",
    "render_html",
    "render_markdown",
    "run_analysis",
    "spec_of_trace",
    "write_report",
]
