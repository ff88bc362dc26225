"""``bayesdta sensitivity``: refit under several prior sets and show what changes."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .common import add_sampler_options, sampler_kwargs, stdout_to_stderr

__all__ = ["add_parser", "run", "format_sensitivity", "TABLE_FILE", "FIGURE_FILE"]

#: Files written by ``--out``.
TABLE_FILE = "prior_sensitivity.csv"
FIGURE_FILE = "prior_sensitivity.png"
FLAGS_FILE = "prior_sensitivity_flags.csv"

#: Quantities printed and returned by ``--json``.
CLI_QUANTITIES = (
    "sensitivity",
    "specificity",
    "tau_sens",
    "tau_spec",
    "rho",
    "predictive_sensitivity",
    "predictive_specificity",
)


def add_parser(subparsers) -> None:
    """Register the ``sensitivity`` subcommand."""
    parser = subparsers.add_parser(
        "sensitivity",
        help="refit under several prior sets and flag conclusions that change",
        description=(
            "Fit the model once per prior set with the same data, sampler settings and seed, "
            "and print the pooled sensitivity and specificity, the between-study SDs and the "
            "correlation under each. Prior sets with the same distribution families share one "
            "compiled model. Named sets: weakly-informative (default priors), cochrane-vague, "
            "metabayesdta, sceptical-heterogeneity, heavy-tailed."
        ),
    )
    parser.add_argument("data", help="CSV or Excel file, or the name of a bundled dataset")
    parser.add_argument(
        "--priors",
        default=None,
        help="comma-separated prior set names; the first is the reference (all named sets)",
    )
    parser.add_argument(
        "--covariate",
        action="append",
        default=[],
        metavar="NAME[:sens|:spec|:both]",
        help="fit the meta-regression model with this covariate; repeat for several",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.02,
        help="flag a prior set when a pooled probability's median moves by more than this (0.02)",
    )
    parser.add_argument(
        "--decision",
        action="append",
        default=[],
        metavar="QUANTITY=VALUE",
        help="flag a prior set whose interval lies on another side of VALUE than under the "
        "reference set, for example sensitivity=0.9; repeat for several",
    )
    parser.add_argument("--prob", type=float, default=0.95, help="interval probability (0.95)")
    parser.add_argument(
        "--out", type=Path, help=f"write {TABLE_FILE}, {FLAGS_FILE} and {FIGURE_FILE} here"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout, nothing else"
    )
    add_sampler_options(parser)
    parser.set_defaults(run=run)


def _prior_set_names(text: str | None) -> list[str]:
    from ..prior_sets import get_prior_set, prior_set_names

    if text is None:
        return prior_set_names()
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ValueError("--priors is empty; give prior set names separated by commas")
    for name in names:
        get_prior_set(name)
    return names


def _decision_values(items: list[str]) -> dict[str, float]:
    values, problems = {}, []
    for item in items:
        quantity, separator, text = item.partition("=")
        try:
            values[quantity.strip()] = float(text)
        except ValueError:
            problems.append(item)
        if not separator:
            problems.append(item)
    if problems:
        raise ValueError(
            f"--decision needs QUANTITY=VALUE with a number, for example sensitivity=0.9; got "
            f"{sorted(set(problems))}"
        )
    return values


def run(args) -> int:
    """Run ``bayesdta sensitivity``."""
    from ..studytable import read_studies

    names = _prior_set_names(args.priors)
    decision_values = _decision_values(args.decision)
    table = read_studies(args.data)
    builder, builder_kwargs = _model_choice(args)

    started = time.perf_counter()
    kwargs = sampler_kwargs(args)
    # Without --tune, later prior sets are warm-started (see sensitivity_analysis).
    kwargs["tune"] = args.tune
    progressbar = kwargs.pop("progressbar")
    with stdout_to_stderr(args.json):
        from ..sensitivity import sensitivity_analysis

        result = sensitivity_analysis(
            table,
            names,
            builder=builder,
            builder_kwargs=builder_kwargs,
            threshold=args.threshold,
            decision_values=decision_values,
            prob=args.prob,
            progressbar=progressbar,
            keep_traces=False,
            **kwargs,
        )
    elapsed = time.perf_counter() - started

    if args.out is not None:
        _write_outputs(args.out, result)
    if args.json:
        print(json.dumps(result.to_json(_shown_quantities(result)), indent=2))
    else:
        print(format_sensitivity(result, table, elapsed))
        if args.out is not None:
            written = ", ".join(str(args.out / name) for name in (TABLE_FILE, FLAGS_FILE))
            print(f"\nwrote {written} and {args.out / FIGURE_FILE}")
    return 0


def _model_choice(args):
    builder_kwargs = {"parametrization": args.parametrization}
    if not args.covariate:
        return None, builder_kwargs
    from ..models.regression import build_regression_model

    builder_kwargs["covariates"] = list(args.covariate)
    return build_regression_model, builder_kwargs


def _shown_quantities(result) -> list[str]:
    """Return the key quantities, then the per-level and per-coefficient rows of a regression
    (names with an element in brackets, such as ``sensitivity[modality=MRI]``)."""
    available = list(dict.fromkeys(result.table["quantity"]))
    elements = [name for name in available if "[" in name]
    return [name for name in CLI_QUANTITIES if name in available] + elements


def _write_outputs(out: Path, result) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / TABLE_FILE, index=False)
    result.flags.to_csv(out / FLAGS_FILE, index=False)
    figure = result.plot()
    figure.savefig(out / FIGURE_FILE, dpi=150, bbox_inches="tight")
    plt.close(figure)


def format_sensitivity(result, table, elapsed: float) -> str:
    """Return the sweep as an aligned text table, one block per quantity, then the flags."""
    percent = f"{100 * result.prob:g}%"
    width = max(len(name) for name in result.prior_sets) + 2
    lines = [
        f"prior sensitivity: {table.source} ({table.n_studies} tables), "
        f"{len(result.prior_sets)} prior sets, reference {result.reference!r}",
        f"{result.compilations} model compilation(s), {result.cache_loads} compiled model(s) "
        f"loaded from the disk cache, {elapsed:.1f} s in all",
        "",
    ]
    rows = result.table.set_index(["quantity", "prior_set"])
    for quantity in _shown_quantities(result):
        label = rows.loc[quantity]["label"].iloc[0]
        lines.append(label)
        lines.append(
            f"  {'prior set':<{width}} {'median':>8}  {percent + ' interval':>20}  {'shift':>7}"
        )
        for name in result.prior_sets:
            row = rows.loc[(quantity, name)]
            mark = "  *" if row["flagged"] else ""
            lines.append(
                f"  {name:<{width}} {row['median']:>8.3f}  "
                f"{row['lower']:>9.3f} to {row['upper']:<7.3f}  {row['shift']:>+7.3f}{mark}"
            )
        lines.append("")
    lines += _flag_lines(result)
    lines += _convergence_lines(result)
    return "\n".join(lines).rstrip()


def _flag_lines(result) -> list[str]:
    if result.flags.empty:
        return [
            "no flags: no median moved by more than the threshold, and no interval changed "
            "side of a decision value"
        ]
    lines = [f"{len(result.flags)} change(s) flagged (*):"]
    for flag in result.flags.itertuples():
        lines.append(f"  {flag.prior_set}, {flag.quantity}: {flag.message}")
    return lines


def _convergence_lines(result) -> list[str]:
    failed = [name for name, messages in result.convergence.items() if messages]
    if not failed:
        return ["", "convergence: every fit passed the R-hat, ESS and divergence checks"]
    return [
        "",
        f"convergence: checks failed for {', '.join(failed)}; see the warnings above, and "
        "treat small differences for these sets as Monte Carlo error",
    ]
