"""Entry point of the ``bayesdta`` console script.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args)``.
Heavy libraries (PyMC, ArviZ) are imported inside ``run``, so that ``--help`` and input
errors answer at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from . import analyze, diagnose, quality, report, sensitivity

__all__ = ["main", "build_parser"]

_COMMANDS = [analyze, report, quality, sensitivity, diagnose]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="bayesdta",
        description="Bayesian meta-analysis of diagnostic test accuracy.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log decisions and progress to stderr"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(subparsers)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    from ..errors import StudyDataError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    warnings.showwarning = _show_warning
    try:
        return int(args.run(args) or 0)
    except StudyDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, KeyError, ImportError) as error:
        text = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
