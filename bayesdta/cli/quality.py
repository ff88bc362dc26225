"""``bayesdta quality``: QUADAS-2 summary, plots, and analyses restricted by risk of bias."""

from __future__ import annotations

import json
from pathlib import Path

from .common import add_sampler_options, sampler_kwargs, stdout_to_stderr

__all__ = ["add_parser", "run", "quality_json", "format_quality"]

#: File names of the two figures written to ``--out``.
SUMMARY_FIGURE = "quadas_summary.png"
TRAFFIC_LIGHT_FIGURE = "quadas_traffic_light.png"


def add_parser(subparsers) -> None:
    """Register the ``quality`` subcommand."""
    parser = subparsers.add_parser(
        "quality",
        help="summarise QUADAS-2 ratings and refit by risk of bias",
        description=(
            "Read the QUADAS-2 ratings of every study, count them per domain, draw the "
            "summary bar chart and the traffic-light table, refit pooled sensitivity and "
            "specificity on the studies at low risk of bias, and fit a meta-regression on "
            "'high risk in any domain'."
        ),
    )
    parser.add_argument("data", help="CSV or Excel file, or the name of a bundled dataset")
    parser.add_argument(
        "--domains",
        help=(
            "comma-separated domains that define 'low risk' and 'high risk in any domain', "
            "as keys (patient_selection, index_test, reference_standard, flow_and_timing, "
            "..._applicability), labels or column names; 'all' for all seven "
            "(default: the four risk-of-bias domains)"
        ),
    )
    parser.add_argument(
        "--moderate",
        choices=["keep", "high", "unclear"],
        default="keep",
        help="what to do with 'moderate' ratings, which QUADAS-2 does not define (keep)",
    )
    parser.add_argument(
        "--per-domain", action="store_true",
        help="also refit on the studies at low risk in each domain separately",
    )
    parser.add_argument(
        "--no-regression", action="store_true",
        help="skip the meta-regression on 'high risk in any domain'",
    )
    add_sampler_options(parser)
    parser.add_argument("--prob", type=float, default=0.95, help="interval probability (0.95)")
    parser.add_argument("--out", type=Path, help=f"write {SUMMARY_FIGURE}, "
                        f"{TRAFFIC_LIGHT_FIGURE} and restricted.csv to this folder")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout, nothing else"
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Run ``bayesdta quality``."""
    from ..quadas import read_quadas, resolve_domains

    ratings = read_quadas(args.data, moderate=args.moderate)
    domains = None if args.domains is None else [d.strip() for d in args.domains.split(",")]
    resolve_domains(domains, ratings.domains)
    if args.out is not None:
        _write_figures(args.out, ratings)

    with stdout_to_stderr(args.json):
        from ..restricted import restricted_analyses

        result = restricted_analyses(
            ratings.table, domains, ratings=ratings, per_domain=args.per_domain,
            regression=not args.no_regression, prob=args.prob, **sampler_kwargs(args),
        )

    if args.out is not None:
        result.estimates.to_csv(args.out / "restricted.csv", index=False)
    if args.json:
        print(json.dumps(quality_json(ratings, result), indent=2))
    else:
        print(format_quality(ratings, result))
        if args.out is not None:
            print(f"\nwrote {args.out / SUMMARY_FIGURE}, {args.out / TRAFFIC_LIGHT_FIGURE} and "
                  f"{args.out / 'restricted.csv'}")
    return 0


def _write_figures(out: Path, ratings) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plots.quadas import plot_quadas_summary, plot_quadas_traffic_light

    out.mkdir(parents=True, exist_ok=True)
    ax = plot_quadas_summary(ratings)
    ax.figure.savefig(out / SUMMARY_FIGURE, dpi=150, bbox_inches="tight")
    figure = plot_quadas_traffic_light(ratings)
    figure.savefig(out / TRAFFIC_LIGHT_FIGURE, dpi=150, bbox_inches="tight")
    plt.close("all")


def quality_json(ratings, result) -> dict:
    """Return the ``--json`` object: ``domains`` (counts per rating), ``restricted``,
    ``regression``, and ``columns`` (the source column of each domain)."""
    summary = ratings.summary()
    rating_columns = [c for c in ("low", "high", "unclear", "moderate") if c in summary]
    domains = {
        key: {rating: int(summary.loc[key, rating]) for rating in rating_columns}
        for key in summary.index
    }
    return {
        "n_studies": len(ratings.ratings),
        "columns": ratings.columns,
        "moderate": {"handling": ratings.moderate, "count": ratings.n_moderate},
        "domains": domains,
        **result.to_json(),
    }


def format_quality(ratings, result) -> str:
    """Return the rating counts and the restricted analyses as aligned text."""
    from ..restricted import MIN_STUDIES

    summary = ratings.summary()
    rating_columns = [c for c in ("low", "moderate", "high", "unclear") if c in summary]
    lines = [f"QUADAS-2 ratings of {len(ratings.ratings)} studies", ""]
    lines.append(f"{'domain':<36}" + "".join(f"{c:>10}" for c in rating_columns))
    for row in summary.to_dict("records"):
        counts = "".join(f"{int(row[c]):>10}" for c in rating_columns)
        lines.append(f"{row['label']:<36}{counts}")
    if any(ratings.n_moderate.values()):
        lines.append(f"'moderate' is not a QUADAS-2 level; handling: {ratings.moderate}")

    prob = result.estimates.attrs.get("prob", 0.95)
    lines += ["", f"Restricted analyses (posterior median and {100 * prob:g}% interval)", ""]
    width = max(len(subset) for subset in result.estimates["subset"])
    lines.append(f"{'subset':<{width}} {'n':>3}  {'sensitivity':>24}  {'specificity':>24}")
    for row in result.estimates.to_dict("records"):
        if row["fitted"]:
            sensitivity = _interval_text(row, "sensitivity")
            specificity = _interval_text(row, "specificity")
            lines.append(f"{row['subset']:<{width}} {row['n_studies']:>3}  {sensitivity:>24}  "
                         f"{specificity:>24}")
        else:
            lines.append(f"{row['subset']:<{width}} {row['n_studies']:>3}  not fitted: fewer than "
                         f"{MIN_STUDIES} studies")
    lines += _regression_lines(result.regression)
    return "\n".join(lines)


def _interval_text(row: dict, measure: str) -> str:
    return f"{row[measure]:.3f} ({row[measure + '_lower']:.3f}-{row[measure + '_upper']:.3f})"


def _regression_lines(regression: dict | None) -> list[str]:
    if regression is None:
        return []
    lines = ["", "Meta-regression on high risk of bias in any of: " + ", ".join(
        regression["domains"])]
    if "message" in regression:
        return lines + [regression["message"]]
    lines.append(f"({regression['n_high']} studies high, {regression['n_not_high']} not high; "
                 f"built with {regression['builder']})")
    for name, title in (("not_high", "not high risk"), ("high", "high risk"),
                        ("difference", "difference (high - not high)")):
        parts = []
        for measure in ("sensitivity", "specificity"):
            value = regression[name][measure]
            parts.append(f"{measure} {value['median']:+.3f} ({value['lower']:+.3f} to "
                         f"{value['upper']:+.3f})" if name == "difference" else
                         f"{measure} {value['median']:.3f} ({value['lower']:.3f}-"
                         f"{value['upper']:.3f})")
        lines.append(f"  {title:<30} " + ", ".join(parts))
    return lines
