"""``bayesdta diagnose``: fit a model and criticise it: convergence, boundaries, posterior
predictive checks, leave-one-study-out influence and heterogeneity."""

from __future__ import annotations

import json
import math
from pathlib import Path

from .common import add_few_studies_options, add_sampler_options, sampler_kwargs, stdout_to_stderr

__all__ = ["add_parser", "run", "diagnosis_json", "format_diagnosis", "diagnose"]

def add_parser(subparsers) -> None:
    """Register the ``diagnose`` subcommand."""
    parser = subparsers.add_parser(
        "diagnose",
        help="check convergence, outlying and influential studies, and heterogeneity",
        description=(
            "Fit the bivariate model (or the meta-regression model with --covariate) and "
            "report convergence with remedies, correlations or SDs piled at a boundary, "
            "posterior predictive checks per study, leave-one-study-out influence with "
            "Pareto k and exact refits, and I-squared."
        ),
    )
    parser.add_argument("data", help="CSV or Excel file, or the name of a bundled dataset")
    parser.add_argument(
        "--covariate",
        action="append",
        default=[],
        metavar="NAME[:sens|:spec|:both]",
        help="fit the meta-regression model with this covariate; repeat for several",
    )
    add_few_studies_options(parser)
    add_sampler_options(parser)
    parser.add_argument("--prob", type=float, default=0.95, help="interval probability (0.95)")
    parser.add_argument(
        "--no-refit",
        action="store_true",
        help="do not refit studies with Pareto k above 0.7 (their values are then unreliable)",
    )
    parser.add_argument("--out", type=Path, help="write the tables and plots to this folder")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout, nothing else"
    )
    parser.set_defaults(run=run)


def diagnose(built, trace, prob: float = 0.95, refit: bool = True, seed=None) -> dict:
    """Run every check on a fitted model and return the results as Python objects.

    Returns
    -------
    dict
        ``convergence`` (ConvergenceReport), ``boundary`` (list of BoundaryFinding),
        ``ppc`` and ``influence`` (DataFrames indexed by study), ``heterogeneity`` (dict)
        and ``i_squared`` (Dataset of draws).
    """
    from ..boundary import boundary_findings
    from ..convergence import convergence_report
    from ..heterogeneity import heterogeneity_summary, i_squared_draws
    from ..influence import leave_one_study_out
    from ..ppc import ppc_table

    return {
        "convergence": convergence_report(trace),
        "boundary": boundary_findings(trace),
        "ppc": ppc_table(trace, prob=prob, seed=seed),
        "influence": leave_one_study_out(trace, built, refit=refit),
        "heterogeneity": heterogeneity_summary(trace, prob=prob),
        "i_squared": i_squared_draws(trace),
    }


def _build(args, table):
    if args.covariate:
        from ..models.regression import build_regression_model

        return build_regression_model(
            table, covariates=list(args.covariate), parametrization=args.parametrization
        )
    from ..boundary import build_few_studies_model

    return build_few_studies_model(
        table,
        parametrization=args.parametrization,
        few_studies=args.few_studies,
        fixed_rho=args.fixed_rho,
    )


def run(args) -> int:
    """Run ``bayesdta diagnose``."""
    from ..studytable import read_studies

    table = read_studies(args.data)
    with stdout_to_stderr(args.json):
        from ..sampling import fit

        built = _build(args, table)
        trace = fit(built, **sampler_kwargs(args))
        results = diagnose(built, trace, prob=args.prob, refit=not args.no_refit, seed=args.seed)

    written = _write_outputs(args.out, results) if args.out is not None else []
    if args.json:
        print(json.dumps(diagnosis_json(results), indent=2))
    else:
        print(format_diagnosis(results, table, built))
        if written:
            print(f"\nwrote {len(written)} files to {args.out}")
    return 0


def _number(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def study_rows(results: dict) -> list[dict]:
    """Return one JSON-able record per study: Pareto k, influence, tail probabilities."""
    ppc = results["ppc"]
    influence = results["influence"]
    rows = []
    for study in ppc.index:
        rows.append(
            {
                "study": str(study),
                "pareto_k": _number(influence.loc[study, "pareto_k"]),
                "loo_method": str(influence.loc[study, "method"]),
                "influence_sensitivity": _number(influence.loc[study, "influence_sensitivity"]),
                "influence_specificity": _number(influence.loc[study, "influence_specificity"]),
                "ppc_p_sensitivity": _number(ppc.loc[study, "ppc_p_sensitivity"]),
                "ppc_p_specificity": _number(ppc.loc[study, "ppc_p_specificity"]),
                "outlier": bool(ppc.loc[study, "outlier"]),
            }
        )
    return rows


def diagnosis_json(results: dict) -> dict:
    """Return the ``--json`` object: ``convergence``, ``boundary``, ``studies``,
    ``heterogeneity``."""
    heterogeneity = results["heterogeneity"]
    return {
        "convergence": results["convergence"].to_dict(),
        "boundary": [
            {"check": f.check, "parameter": f.parameter, "message": f.message}
            for f in results["boundary"]
        ],
        "studies": study_rows(results),
        "heterogeneity": {
            "i2_sensitivity": heterogeneity["i2_sensitivity"],
            "i2_specificity": heterogeneity["i2_specificity"],
            "i2_bivariate": heterogeneity["i2_bivariate"],
            "between_study_sd": heterogeneity["between_study_sd"],
        },
    }


def format_diagnosis(results: dict, table, built) -> str:
    """Return the readable report: verdict, findings, heterogeneity and the study table."""
    report = results["convergence"]
    lines = [
        f"bayesdta diagnose: {table.source} ({table.n_studies} tables), {built.kind} model, "
        f"{built.parametrization} form",
        "",
        "Convergence",
        f"  {report.verdict}",
        "",
        report.table.to_string(float_format=lambda v: f"{v:.3f}"),
        "",
        "Boundaries and identification",
    ]
    findings = results["boundary"]
    lines += [f"  - {f.message}" for f in findings] or ["  nothing piled at a boundary"]
    lines += ["", "Heterogeneity"] + _heterogeneity_lines(results["heterogeneity"])
    lines += ["", "Studies"] + _study_lines(results)
    if built.kind == "regression":
        lines.append(
            "  With covariates, pooled values and their changes refer to the reference profile "
            "(every covariate at its reference level or centre)."
        )
    return "\n".join(lines)


def _heterogeneity_lines(heterogeneity: dict) -> list[str]:
    lines = []
    for name, label in (
        ("i2_sensitivity", "I-squared, sensitivity"),
        ("i2_specificity", "I-squared, specificity"),
        ("i2_bivariate", "I-squared, bivariate (Zhou & Dendukuri)"),
    ):
        value = heterogeneity[name]
        lines.append(
            f"  {label:<42} {100 * value['median']:5.1f}% "
            f"({100 * value['lower']:.1f}% to {100 * value['upper']:.1f}%)"
        )
    lines += [f"  {sentence}" for sentence in heterogeneity["between_study_sd"].values()]
    return lines


def _study_lines(results: dict) -> list[str]:
    rows = study_rows(results)
    width = max(12, *(len(row["study"]) for row in rows))
    header = (
        f"  {'study':<{width}} {'pareto k':>8} {'loo':>6} {'d sens':>7} {'d spec':>7} "
        f"{'p sens':>7} {'p spec':>7}  outlier"
    )
    lines = [header]
    for row in rows:
        lines.append(
            f"  {row['study']:<{width}} {_show(row['pareto_k'], 2):>8} "
            f"{row['loo_method'].split()[0]:>6} {_show(row['influence_sensitivity'], 3, True):>7} "
            f"{_show(row['influence_specificity'], 3, True):>7} "
            f"{_show(row['ppc_p_sensitivity'], 3):>7} {_show(row['ppc_p_specificity'], 3):>7}  "
            f"{'yes' if row['outlier'] else ''}"
        )
    flagged = [row["study"] for row in rows if row["outlier"]]
    alpha = results["ppc"].attrs.get("alpha", 0.01)
    lines += [
        "",
        "  d sens, d spec: change of pooled sensitivity and specificity when the study is left "
        "out.",
        f"  p sens, p spec: two-sided posterior predictive tail probabilities; outlier: either "
        f"below {alpha:g}.",
        f"  flagged: {', '.join(flagged) if flagged else 'none'}",
    ]
    return lines


def _show(value, digits: int, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _write_outputs(out: Path, results: dict) -> list[Path]:
    from ..plots.diagnostics import plot_i_squared, plot_influence, plot_pareto_k, plot_ppc

    out.mkdir(parents=True, exist_ok=True)
    written = []
    tables = {
        "convergence.csv": results["convergence"].table,
        "ppc.csv": results["ppc"],
        "influence.csv": results["influence"],
    }
    for name, frame in tables.items():
        frame.to_csv(out / name)
        written.append(out / name)
    path = out / "diagnosis.json"
    path.write_text(json.dumps(diagnosis_json(results), indent=2))
    written.append(path)

    figures = {
        "ppc.png": plot_ppc(results["ppc"]),
        "influence.png": plot_influence(results["influence"]),
        "pareto_k.png": plot_pareto_k(results["influence"]).figure,
        "i_squared.png": plot_i_squared(results["i_squared"]).figure,
    }
    for name, figure in figures.items():
        figure.savefig(out / name, dpi=150, bbox_inches="tight")
        written.append(out / name)
    return written
