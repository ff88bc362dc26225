"""Options and helpers shared by the subcommands."""

from __future__ import annotations

import contextlib
import os
import sys

from ..sampler_defaults import TARGET_ACCEPT, TUNE

__all__ = [
    "add_few_studies_options",
    "add_sampler_options", "check_output_options", "sampler_kwargs", "stdout_to_stderr"]


def add_sampler_options(parser) -> None:
    """Add --draws, --tune, --chains, --seed, --sampler, --target-accept, --no-progress."""
    group = parser.add_argument_group("sampler")
    group.add_argument("--draws", type=int, default=1000, help="kept draws per chain (1000)")
    group.add_argument(
        "--tune",
        type=int,
        help="warm-up draws per chain (1000). In 'bayesdta sensitivity' without this option, "
        "each prior set after the first of its model starts from that fit's draws with a "
        "short, checked warm-up",
    )
    group.add_argument("--chains", type=int, default=4, help="number of chains (4)")
    group.add_argument("--seed", type=int, default=None, help="random seed, for reproducible runs")
    group.add_argument(
        "--sampler",
        choices=["nutpie", "pymc", "numpyro"],
        default="nutpie",
        help="NUTS engine (nutpie)",
    )
    group.add_argument(
        "--target-accept",
        type=float,
        default=TARGET_ACCEPT,
        help=f"NUTS target acceptance rate; raise to 0.95 or 0.99 when there are divergences "
        f"({TARGET_ACCEPT})",
    )
    group.add_argument(
        "--parametrization",
        choices=["auto", "centered", "noncentered"],
        default="auto",
        help="form of the study effects (auto: chosen from the study sizes)",
    )
    group.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_few_studies_options(parser) -> None:
    """Add --few-studies and --fixed-rho, the choice for 2 or 3 studies."""
    parser.add_argument(
        "--few-studies",
        choices=["auto", "full", "fix-correlation", "margins"],
        default="auto",
        help="with 2 or 3 studies: fix the correlation (auto, fix-correlation), fit each "
        "margin alone (margins), or estimate it from its prior (full) (auto)",
    )
    parser.add_argument(
        "--fixed-rho", type=float, default=0.0, help="correlation used by fix-correlation (0)"
    )


def check_output_options(args) -> None:
    """Reject --prob outside (0, 1), a --seed the samplers cannot take, and an --out path
    that is an existing file, before anything is fitted."""
    problems = []
    prob = getattr(args, "prob", None)
    if prob is not None and not 0 < prob < 1:
        problems.append(f"--prob must lie strictly between 0 and 1, got {prob}")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        problems.append(f"--seed must be a whole number from 0 to 2**63 - 1, got {args.seed}")
    out = getattr(args, "out", None)
    if out is not None and out.exists() and not out.is_dir():
        problems.append(f"--out {str(out)!r} is an existing file; give a folder name")
    if problems:
        raise ValueError("; ".join(problems))


def sampler_kwargs(args) -> dict:
    """Return the keyword arguments of :func:`bayesdta.fit` from parsed options."""
    return {
        "draws": args.draws,
        "tune": TUNE if args.tune is None else args.tune,
        "chains": args.chains,
        "seed": args.seed,
        "sampler": args.sampler,
        "target_accept": args.target_accept,
        "progressbar": not args.no_progress,
    }


@contextlib.contextmanager
def stdout_to_stderr(active: bool = True):
    """Send everything written to standard output, by Python or by compiled code, to
    standard error while active, so that ``--json`` output stays clean."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        sys.stdout = real_stdout
