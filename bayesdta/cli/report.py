"""``bayesdta report``: run an analysis specification, or reload a saved trace, and write
the report (HTML, Markdown, CSV tables, PNG and SVG figures, trace.nc)."""

from __future__ import annotations

import logging
from pathlib import Path

from .common import stdout_to_stderr

__all__ = ["add_parser", "run"]

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    """Register the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="run an analysis specification (TOML) and write its report",
        description=(
            "Check the analysis specification, fit its model and write a self-contained "
            "HTML report, the same content as Markdown, the tables as CSV, the figures as PNG "
            "and SVG, and the trace as netCDF. With --from-trace, rebuild the report from a "
            "saved trace without fitting."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("spec", nargs="?", type=Path, help="analysis specification (.toml)")
    source.add_argument(
        "--from-trace",
        type=Path,
        metavar="TRACE.nc",
        help="rebuild the report from a trace written by an earlier report or analyze run",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="output folder (default: [output] dir of the specification, relative to it; "
        "with --from-trace, the folder of the trace)",
    )
    parser.add_argument("--progress", action="store_true", help="show the sampler's progress bar")
    parser.set_defaults(run=run)


def run(args) -> int:
    """Run ``bayesdta report``."""
    if args.from_trace is not None:
        return _from_trace(args)

    from ..spec import load_spec

    spec = load_spec(args.spec)
    out = args.out if args.out is not None else spec.output_dir()
    with stdout_to_stderr():
        from ..report import build_report, run_analysis, write_report

        trace = run_analysis(spec, progressbar=args.progress)
        report = build_report(trace, spec, spec_path=str(args.spec))
        written = write_report(report, out, trace, formats=spec.output.formats)
    _print_written(out, written)
    return 0


def _from_trace(args) -> int:
    import xarray as xr

    path = args.from_trace
    if not path.is_file():
        raise FileNotFoundError(f"trace file {str(path)!r} not found")
    out = args.out if args.out is not None else path.parent
    with stdout_to_stderr():
        from ..report import build_report, spec_of_trace, write_report

        trace = xr.open_datatree(path).load()
        spec = spec_of_trace(trace)
        report = build_report(trace, spec, refit=False)
        formats = [name for name in spec.output.formats if name != "netcdf"]
        written = write_report(report, out, trace, formats=formats)
    _print_written(out, written)
    return 0


def _print_written(out: Path, written: dict) -> None:
    count = sum(len(paths) for paths in written.values())
    print(f"wrote {count} files to {out}")
    if written.get("html"):
        print(f"open {written['html'][0]} in a browser")
