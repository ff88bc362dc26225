"""Subgroup, contrast and LOO output of ``bayesdta analyze --covariate ...``."""

from __future__ import annotations

import logging

__all__ = [
    "add_covariate_options",
    "covariate_requests",
    "build_from_options",
    "regression_results",
    "format_regression",
    "reference_profile",
    "format_coefficients",
    "format_subgroups",
    "format_contrasts",
    "format_loo",
    "regression_json",
    "loo_json",
    "write_level_figures",
]

logger = logging.getLogger(__name__)


def add_covariate_options(parser) -> None:
    """Add --covariate, --reference, --separate-covariance, --drop-missing and --loo."""
    group = parser.add_argument_group("meta-regression")
    group.add_argument(
        "--covariate",
        action="append",
        metavar="NAME[:sens|:spec|:both]",
        help="study-level column to model, acting on logit sensitivity, specificity or both "
        "(both by default); repeat for several covariates. Numeric columns are continuous "
        "(centred at their mean, effect per unit of the column), others categorical",
    )
    group.add_argument(
        "--reference",
        action="append",
        metavar="NAME=LEVEL",
        help="reference level of a categorical covariate (default: the first level in sorted "
        "order); repeat for several covariates",
    )
    group.add_argument(
        "--separate-covariance",
        metavar="NAME",
        help="give each level of this categorical covariate its own between-study SDs and "
        "correlation (default: one covariance shared by all studies)",
    )
    group.add_argument(
        "--drop-missing",
        action="store_true",
        help="drop tables with a missing covariate value (an error by default)",
    )
    group.add_argument(
        "--loo",
        action="store_true",
        help="refit without each covariate and compare by PSIS-LOO (one extra fit each)",
    )


def covariate_requests(args) -> list:
    """Return the covariate requests of the parsed options, with reference levels applied.

    Raises
    ------
    ValueError
        For a ``--reference`` without ``=`` or naming a covariate not given with
        ``--covariate``.
    """
    from dataclasses import replace

    from ..covariates import parse_covariate

    requests = [parse_covariate(text) for text in args.covariate]
    references = {}
    for text in args.reference or []:
        name, equals, level = text.partition("=")
        if not equals or not name.strip() or not level.strip():
            raise ValueError(f"--reference {text!r} is not valid; write NAME=LEVEL")
        references[name.strip()] = level.strip()
    unknown = sorted(set(references) - {request.name for request in requests})
    if unknown:
        raise ValueError(
            f"--reference names {unknown}, which are not given with --covariate "
            f"(covariates: {[request.name for request in requests]})"
        )
    return [replace(r, reference=references.get(r.name, r.reference)) for r in requests]


def build_from_options(table, args):
    """Build the regression model when ``--covariate`` is given, else the bivariate model,
    which with 2 or 3 studies follows ``--few-studies`` as ``bayesdta diagnose`` does."""
    from ..boundary import build_few_studies_model
    from ..models import build_regression_model

    if not args.covariate:
        if args.separate_covariance or args.reference or args.loo or args.drop_missing:
            raise ValueError(
                "--separate-covariance, --reference, --loo and --drop-missing need at least "
                "one --covariate"
            )
        return build_few_studies_model(
            table,
            parametrization=args.parametrization,
            few_studies=getattr(args, "few_studies", "auto"),
            fixed_rho=getattr(args, "fixed_rho", 0.0),
        )
    return build_regression_model(
        table,
        covariate_requests(args),
        separate_covariance=args.separate_covariance,
        parametrization=args.parametrization,
        drop_missing=args.drop_missing,
    )


def regression_results(trace, built, args, fit_kwargs: dict) -> dict:
    """Compute the subgroup table, the contrasts and, with ``--loo``, the LOO comparisons."""
    from ..subgroups import coefficient_summary, contrasts, loo_without, subgroup_summary

    results = {
        "coefficients": coefficient_summary(trace, prob=args.prob),
        "summary": subgroup_summary(trace, prob=args.prob),
        "contrasts": contrasts(trace, prob=args.prob),
        "comparisons": {},
    }
    if args.loo:
        for spec in built.options["covariates"]:
            results["comparisons"][spec["name"]] = loo_without(
                trace, spec["name"], built.table, **fit_kwargs
            )
    return results


def format_regression(trace, results) -> str:
    """Return the reference-profile note, subgroup tables, contrasts and LOO lines."""
    profile = ", ".join(f"{name} = {value}" for name, value in reference_profile(trace).items())
    parts = [
        f"Meta-regression: the pooled rows above are the reference profile ({profile}); "
        "continuous covariates sit at their mean. Each level below holds the other "
        "covariates at that profile.",
        format_coefficients(results["coefficients"]),
    ]
    if len(results["summary"]):
        parts.append(format_subgroups(results["summary"]))
        parts.append(format_contrasts(results["contrasts"]))
    if results["comparisons"]:
        parts.append(format_loo(results["comparisons"]))
    return "\n\n".join(parts)


def reference_profile(trace) -> dict:
    """Return the value each covariate takes in the reference profile (``mu`` and pooled)."""
    from ..subgroups import regression_specs

    profile = {}
    for spec in regression_specs(trace):
        profile[spec.name] = spec.reference if spec.kind == "categorical" else spec.center
    return profile


def _interval_text(median: float, lower: float, upper: float) -> str:
    def number(value):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"

    return f"{number(median)} ({number(lower)} to {number(upper)})"


def format_coefficients(table) -> str:
    """Return the coefficient table of :func:`bayesdta.subgroups.coefficient_summary`."""
    percent = f"{100 * table.attrs.get('prob', 0.95):g}%"
    lines = [
        "Coefficients on the logit scale: level minus reference level, or change per unit of "
        f"a continuous covariate; medians with {percent} credible intervals",
        f"{'coefficient':<48} {'estimate':<28} {'P(> 0)':>6}  {'R-hat':>5}  {'ESS':>5}",
    ]
    for name, row in table.iterrows():
        lines.append(
            f"{name:<48} {_interval_text(row['median'], row['eti_lower'], row['eti_upper']):<28} "
            f"{row['probability_positive']:>6.3f}  {row['r_hat']:>5.3f}  {row['ess_bulk']:>5.0f}"
        )
    return "\n".join(lines)


def format_subgroups(summary) -> str:
    """Return the per-level table of :func:`bayesdta.subgroups.subgroup_summary` as text."""
    percent = f"{100 * summary.attrs.get('prob', 0.95):g}%"
    lines = []
    columns = ("sensitivity", "specificity", "dor", "auc")
    titles = ("sensitivity", "specificity", "diagnostic odds ratio", "SROC AUC")
    for covariate in summary.index.get_level_values("covariate").unique():
        part = summary.loc[covariate]
        reference = part["reference"].iloc[0]
        lines += [
            f"Subgroups by {covariate} (reference level {reference!r}); medians with "
            f"{percent} equal-tailed credible intervals",
            f"{'level':<24} {'tables':>6}  " + "  ".join(f"{t:<26}" for t in titles).rstrip(),
        ]
        for level in part.index.get_level_values("level").unique():
            rows = part.loc[level]
            cells = [
                _interval_text(*rows.loc[name, ["median", "eti_lower", "eti_upper"]])
                for name in columns
            ]
            lines.append(
                f"{str(level):<24} {int(rows['n_studies'].iloc[0]):>6}  "
                + "  ".join(f"{cell:<26}" for cell in cells).rstrip()
            )
        lines.append("")
    return "\n".join(lines).rstrip()


def format_contrasts(table) -> str:
    """Return the rows of :func:`bayesdta.subgroups.contrasts` as text."""
    percent = f"{100 * table.attrs.get('prob', 0.95):g}%"
    lines = [
        f"Contrasts, level against reference: sensitivity and specificity as differences on "
        f"the probability scale, DOR as a ratio; medians with {percent} credible intervals",
        f"{'covariate':<22} {'level':<20} {'reference':<20} {'measure':<12} "
        f"{'estimate':<28} P(level > reference)",
    ]
    for row in table.itertuples(index=False):
        measure = "DOR ratio" if row.statistic == "ratio" else row.measure
        lines.append(
            f"{row.covariate:<22} {row.level:<20} {row.reference:<20} {measure:<12} "
            f"{_interval_text(row.median, row.lower, row.upper):<28} "
            f"{row.probability_greater:.3f}"
        )
    return "\n".join(lines)


def format_loo(comparisons: dict) -> str:
    """Return one line per covariate: the elpd difference of the LOO comparison."""
    lines = ["PSIS-LOO, model with against without each covariate (leave one table out)"]
    for covariate, table in comparisons.items():
        worse = table.index[-1]
        row = table.loc[worse]
        better = table.index[0]
        flag = f", {int(table['n_high_pareto_k'].max())} tables with high Pareto k" if (
            table["n_high_pareto_k"].max() > 0
        ) else ""
        lines.append(
            f"{covariate}: the model {better} predicts better, elpd difference "
            f"{-row['elpd_diff']:.1f} (SE {row['dse']:.1f}; log-likelihood "
            f"{table.attrs.get('var_name')}{flag})"
        )
    return "\n".join(lines)


def loo_json(comparisons: dict) -> dict:
    """Return ``{covariate: {"better", "elpd_difference", "se", ...}}`` for the JSON output.

    ``elpd_difference`` is the elpd of the better model minus that of the other (>= 0) and
    ``se`` its standard error.
    """
    result = {}
    for covariate, table in comparisons.items():
        worse = table.index[-1]
        result[covariate] = {
            "better": str(table.index[0]),
            "elpd_difference": float(-table.loc[worse, "elpd_diff"]),
            "se": float(table.loc[worse, "dse"]),
            "elpd": {str(name): float(value) for name, value in table["elpd"].items()},
            "n_high_pareto_k": {
                str(name): int(value) for name, value in table["n_high_pareto_k"].items()
            },
            "log_likelihood": table.attrs.get("var_name"),
        }
    return result


def regression_json(trace, results: dict, prob: float) -> dict:
    """Return the ``reference_profile``, ``coefficients`` (logit scale), ``subgroups``,
    ``contrasts`` (and ``loo``) entries of the JSON output."""
    from ..subgroups import contrasts_json, subgroups_json

    coefficients = {}
    for name, row in results["coefficients"].iterrows():
        coefficients[name] = {
            "median": float(row["median"]),
            "lower": float(row["eti_lower"]),
            "upper": float(row["eti_upper"]),
            "probability_positive": float(row["probability_positive"]),
        }
    output = {
        "reference_profile": reference_profile(trace),
        "coefficients": coefficients,
        "subgroups": subgroups_json(trace, prob),
        "contrasts": contrasts_json(results["contrasts"]),
    }
    if results["comparisons"]:
        output["loo"] = loo_json(results["comparisons"])
    return output


def write_level_figures(trace, out, prob: float = 0.95) -> list:
    """Write ``sroc_by_<covariate>.png`` and ``.svg`` for each categorical covariate."""
    from pathlib import Path

    from matplotlib.figure import Figure

    from ..plots.subgroups import plot_sroc_by_level
    from ..subgroups import regression_specs

    written = []
    for spec in regression_specs(trace):
        if spec.kind != "categorical":
            continue
        figure = Figure(figsize=(6.6, 8.0), layout="constrained")
        ax = plot_sroc_by_level(trace, spec.name, ax=figure.add_subplot(), prob=prob)
        ax.set_title(f"SROC by {spec.name}", fontsize="medium")
        for suffix in ("png", "svg"):
            path = Path(out) / f"sroc_by_{spec.name}.{suffix}"
            figure.savefig(path, dpi=150, bbox_inches="tight")
            written.append(path)
    logger.info("wrote %s", ", ".join(str(path) for path in written))
    return written
