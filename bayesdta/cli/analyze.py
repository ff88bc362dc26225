"""``bayesdta analyze``: fit the bivariate model to one dataset and print the summary."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from .common import (
    add_few_studies_options,
    add_sampler_options,
    check_output_options,
    sampler_kwargs,
    stdout_to_stderr,
)
from .subgroup_output import add_covariate_options

__all__ = ["add_parser", "run", "analysis_json", "format_summary"]


def add_parser(subparsers) -> None:
    """Register the ``analyze`` subcommand."""
    parser = subparsers.add_parser(
        "analyze",
        help="pool sensitivity and specificity with the bivariate model",
        description=(
            "Fit the bivariate binomial-normal model to one 2x2 table per study and print "
            "pooled sensitivity, specificity, likelihood ratios, heterogeneity and the "
            "predictive accuracy of a new study."
        ),
    )
    parser.add_argument("data", help="CSV or Excel file, or the name of a bundled dataset")
    add_sampler_options(parser)
    parser.add_argument("--prob", type=float, default=0.95, help="interval probability (0.95)")
    parser.add_argument(
        "--out",
        type=Path,
        help="write summary.csv, trace.nc and the SROC and forest plots (PNG, SVG) to this folder",
    )
    parser.add_argument(
        "--prevalence",
        help="comma-separated pre-test probabilities for post-test probabilities, e.g. "
        "0.1,0.3 (default: the median prevalence of the studies and 0.05, 0.1, 0.2, 0.5)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout, nothing else"
    )
    parser.add_argument(
        "--keep-duplicates",
        action="store_true",
        help="keep rows that repeat another row exactly (an error by default)",
    )
    add_few_studies_options(parser)
    add_covariate_options(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    """Run ``bayesdta analyze``."""
    from ..clinical import parse_prevalences, post_test_json
    from ..deeks import deeks_json
    from ..plots import write_analysis_figures
    from ..plots.clinical import write_review_figures
    from ..sroc import sroc_json
    from ..studytable import read_studies

    check_output_options(args)
    table = read_studies(args.data, keep_duplicates=args.keep_duplicates)
    prevalences = parse_prevalences(args.prevalence) if args.prevalence else None
    started = time.perf_counter()
    with stdout_to_stderr(args.json):
        from ..sampling import fit
        from ..summary import summarize
        from . import subgroup_output

        built = subgroup_output.build_from_options(table, args)
        trace = fit(built, **sampler_kwargs(args))
        summary = summarize(trace, prob=args.prob)
        regression = None
        if args.covariate:
            regression = subgroup_output.regression_results(
                trace, built, args, sampler_kwargs(args)
            )
    elapsed = time.perf_counter() - started

    if args.out is not None:
        _write_outputs(args.out, summary, trace)
        write_analysis_figures(trace, args.out, args.prob)
        review_figures = write_review_figures(
            table, trace, args.out, prevalences[0] if prevalences else None, args.prob
        )
        if regression is not None:
            subgroup_output.write_level_figures(trace, args.out, args.prob)
    if args.json:
        output = analysis_json(trace, summary)
        output.update(sroc_json(trace, args.prob))
        output["deeks"] = deeks_json(table)
        output["post_test"] = post_test_json(trace, prevalences, args.prob)
        if regression is not None:
            output.update(subgroup_output.regression_json(trace, regression, args.prob))
        print(json.dumps(_finite_or_null(output), indent=2, allow_nan=False))
    else:
        print(format_summary(summary, trace, table, elapsed))
        if regression is not None:
            print("\n" + subgroup_output.format_regression(trace, regression))
        print("\n" + format_review_measures(table, trace, prevalences, args.prob))
        if args.out is not None:
            print(
                f"\nwrote summary.csv, trace.nc, sroc.png, sroc.svg, forest.png and forest.svg "
                f"to {args.out}"
            )
            print("wrote " + ", ".join(path.name for path in review_figures) + f" to {args.out}")
    return 0


def _finite_or_null(value):
    """Replace NaN and infinite floats by None, so that the output is strict JSON."""
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_null(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_review_measures(table, trace, prevalences, prob: float) -> str:
    """Return Deeks' test and the post-test probabilities as text."""
    from ..clinical import format_post_test, post_test_table
    from ..deeks import deeks_test, format_deeks

    try:
        deeks = format_deeks(deeks_test(table))
    except ValueError as error:
        deeks = f"Deeks' funnel plot asymmetry test not computed: {error}"
    return deeks + "\n\n" + format_post_test(post_test_table(trace, prevalences, prob))


def _write_outputs(out: Path, summary, trace) -> None:
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "summary.csv")
    trace.to_netcdf(out / "trace.nc")


def analysis_json(trace, summary) -> dict:
    """Return the ``--json`` object: pooled, predictive, heterogeneity and diagnostics."""
    from ..convergence import convergence_numbers
    from ..intervals import interval_from_row

    def interval(name):
        return interval_from_row(summary.loc[name])

    numbers = convergence_numbers(trace)
    return {
        "n_studies": int(trace["observed_data"].sizes["study"]),
        "pooled": {
            "sensitivity": interval("sensitivity"),
            "specificity": interval("specificity"),
            "false_positive_rate": interval("false_positive_rate"),
            "dor": interval("dor"),
            "lr_positive": interval("lr_positive"),
            "lr_negative": interval("lr_negative"),
        },
        "predictive": {
            "sensitivity": interval("predictive_sensitivity"),
            "specificity": interval("predictive_specificity"),
        },
        "heterogeneity": {
            "tau_sensitivity": interval("tau_sens"),
            "tau_specificity": interval("tau_spec"),
            "rho": interval("rho"),
        },
        "diagnostics": {
            "max_rhat": numbers.max_rhat,
            "min_ess_bulk": numbers.min_ess_bulk,
            "min_ess_tail": numbers.min_ess_tail,
            "divergences": numbers.divergences,
        },
    }


def format_summary(summary, trace, table, elapsed: float) -> str:
    """Return the summary as an aligned text table with a header and a convergence line."""
    from ..convergence import convergence_numbers

    prob = summary.attrs.get("prob", 0.95)
    percent = f"{100 * prob:g}%"
    spec = json.loads(trace.attrs["bayesdta_spec"])
    sampler = spec["sampler"]
    model = "bivariate binomial-normal model"
    if spec["kind"] == "regression":
        model = "bivariate binomial-normal meta-regression (reference profile below)"
    lines = [
        f"bayesdta {trace.attrs['bayesdta_version']}: {model}",
        f"data: {table.source} ({table.n_studies} tables)",
        f"sampler: {sampler['sampler']}, {sampler['chains']} chains x {sampler['draws']} draws "
        f"after {sampler['tune']} warm-up, {spec['parametrization']} form, {elapsed:.1f} s",
        "",
        f"{'quantity':<56} {'median':>8}  {percent + ' CrI (equal-tailed)':>22}  "
        f"{percent + ' HDI':>18}  {'R-hat':>5}  {'ESS':>5}",
    ]
    for row in summary.itertuples():
        lines.append(
            f"{row.label:<56} {_number(row.median):>8}  "
            f"{_pair(row.eti_lower, row.eti_upper):>22}  "
            f"{_pair(row.hdi_lower, row.hdi_upper):>18}  "
            f"{row.r_hat:>5.3f}  {row.ess_bulk:>5.0f}"
        )
    numbers = convergence_numbers(trace)
    verdict = "converged" if (
        numbers.divergences == 0 and numbers.max_rhat <= 1.01 and numbers.min_ess_bulk >= 400
    ) else "see the warnings above"
    lines += [
        "",
        f"convergence: max R-hat {numbers.max_rhat:.3f}, min bulk ESS {numbers.min_ess_bulk:.0f}, "
        f"{numbers.divergences} divergences ({verdict})",
        "Pooled values are expit of the mean logits (the median study), not mean study values.",
    ]
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def _pair(lower: float, upper: float) -> str:
    return f"{_number(lower)} to {_number(upper)}"


