"""Report sections that need only the trace: data, model and priors, convergence, pooled
and predictive results, and the reproducibility block."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import xarray as xr

from ..trace import read_spec
from .content import (
    Facts,
    Figure,
    Paragraph,
    Preformatted,
    Section,
    Table,
    figure_from_matplotlib,
)
from .prior_text import prior_table

__all__ = [
    "study_frame",
    "data_section",
    "model_section",
    "convergence_section",
    "results_section",
    "reproducibility_section",
]

logger = logging.getLogger(__name__)


def study_frame(trace: xr.DataTree) -> pd.DataFrame:
    """Return the 2x2 table of every study with observed sensitivity and specificity.

    Observed sensitivity is ``tp / (tp + fn)`` and specificity ``tn / (tn + fp)``; a margin
    with no participants gives NaN. Covariate columns follow, named without their
    ``covariate_`` prefix.
    """
    observed = trace["observed_data"]
    constant = trace["constant_data"]
    tp = observed["tp"].values
    tn = observed["tn"].values
    n1 = constant["n_diseased"].values
    n0 = constant["n_healthy"].values
    with np.errstate(invalid="ignore", divide="ignore"):
        frame = pd.DataFrame(
            {
                "study": constant["study_label"].values.astype(str),
                "tp": tp,
                "fp": constant["fp"].values,
                "fn": constant["fn"].values,
                "tn": tn,
                "sensitivity": np.where(n1 > 0, tp / np.maximum(n1, 1), np.nan),
                "specificity": np.where(n0 > 0, tn / np.maximum(n0, 1), np.nan),
            }
        )
    for name in constant.data_vars:
        if name.startswith("covariate_"):
            frame[name.removeprefix("covariate_")] = constant[name].values
    return frame


def data_section(trace: xr.DataTree, covariates: list[str] | None = None) -> Section:
    """Build the data section: source, study count and the 2x2 table of every study.

    ``covariates`` limits the covariate columns shown (all by default), so that the table
    of a dataset with many quality ratings stays readable; the CSV contains every column.
    """
    spec = read_spec(trace)
    frame = study_frame(trace)
    shown = frame
    if covariates is not None:
        fixed = ["study", "tp", "fp", "fn", "tn", "sensitivity", "specificity"]
        shown = frame[fixed + [name for name in covariates if name in frame]]
    display = shown.copy()
    for column in ("sensitivity", "specificity"):
        display[column] = display[column].map(lambda v: "–" if np.isnan(v) else f"{v:.3f}")

    n_diseased = int(trace["constant_data"]["n_diseased"].sum())
    n_healthy = int(trace["constant_data"]["n_healthy"].sum())
    text = (
        f"{len(frame)} 2x2 tables from {spec['data']['source']}: {n_diseased} participants with "
        f"the target condition and {n_healthy} without. Sensitivity and specificity below are "
        "the observed proportions of each study, before any pooling."
    )
    return Section(
        "data",
        "Data",
        [
            Paragraph(text),
            Table("studies", "2x2 table and observed accuracy of each study", display, frame),
        ],
    )


def model_section(trace: xr.DataTree, prob: float = 0.95) -> Section:
    """Build the model section: the model in words and a table of the priors."""
    spec = read_spec(trace)
    covariate_text = _covariate_text(spec)
    model_text = (
        "Bivariate binomial-normal random-effects model (Chu & Cole 2006; Reitsma et al. "
        "2005). Each study's true positives follow a binomial distribution given its diseased "
        "participants and its sensitivity, and its true negatives a binomial distribution given "
        "its non-diseased participants and its specificity; no continuity correction is used. "
        "The logits of study sensitivity and specificity follow a bivariate normal distribution "
        "with means mu, between-study standard deviations tau and correlation rho. "
        f"{covariate_text}The study effects use the {spec['parametrization']} form."
    )
    priors = prior_table(spec["priors"], prob=prob)
    return Section(
        "model",
        "Model and priors",
        [
            Paragraph(model_text),
            Paragraph(
                "Pooled sensitivity and specificity are expit of the mean logits: the median "
                "study, not the mean of study values. Predictive values describe the accuracy "
                "to expect in a new study, including between-study heterogeneity."
            ),
            Table("priors", "Prior distributions and the values they allow", priors),
        ],
    )


_MARGIN_WORDS = {"both": "both logits", "sens": "logit sensitivity", "spec": "logit specificity"}


def _covariate_text(spec: dict) -> str:
    """Describe the covariates of a meta-regression in one or two sentences."""
    options = spec.get("options") or {}
    covariates = options.get("covariates") or []
    if not covariates:
        return ""
    parts = []
    for covariate in covariates:
        if not isinstance(covariate, dict):
            parts.append(str(covariate))
            continue
        margin = _MARGIN_WORDS.get(covariate.get("margin"), covariate.get("margin"))
        if covariate.get("kind") == "categorical":
            levels = ", ".join(str(level) for level in covariate.get("levels") or [])
            parts.append(
                f"{covariate['name']} (categorical; levels {levels}; reference "
                f"{covariate.get('reference')}) on {margin}"
            )
        else:
            parts.append(
                f"{covariate['name']} (continuous, centred at {covariate.get('center')}) "
                f"on {margin}"
            )
    grouping = options.get("separate_covariance")
    covariance = (
        f"Each level of {grouping} has its own between-study covariance."
        if grouping
        else "One between-study covariance is shared by all studies."
    )
    return f"Meta-regression: the means depend on {'; '.join(parts)}. {covariance} "


def convergence_section(trace: xr.DataTree) -> Section:
    """Build the convergence section: verdict, sampler settings, R-hat, ESS, divergences,
    E-BFMI and tree depth (:func:`bayesdta.convergence.convergence_report`), and rank plots."""
    from ..convergence import convergence_report

    settings = read_spec(trace)["sampler"]
    checked = convergence_report(trace)
    numbers = checked.numbers
    bfmi = "not recorded" if np.isnan(numbers.min_bfmi) else f"{numbers.min_bfmi:.2f}"
    facts = Facts(
        (
            (
                "Sampler",
                f"{settings['sampler']} (NUTS), target acceptance {settings['target_accept']}",
            ),
            (
                "Chains x draws",
                f"{settings['chains']} x {settings['draws']} after {settings['tune']} warm-up",
            ),
            ("Largest R-hat", f"{numbers.max_rhat:.3f}"),
            (
                "Smallest bulk and tail ESS",
                f"{numbers.min_ess_bulk:.0f} and {numbers.min_ess_tail:.0f}",
            ),
            ("Divergent transitions", f"{numbers.divergences} of {numbers.n_draws} draws"),
            ("Smallest E-BFMI", bfmi),
            ("Draws at the maximum tree depth", f"{100 * numbers.treedepth_saturation:.1f}%"),
        )
    )
    table = checked.table.reset_index()
    return Section(
        "convergence",
        "Convergence",
        [
            Paragraph(checked.verdict, kind="text" if checked.converged else "note"),
            facts,
            Table("convergence", "R-hat and effective sample sizes of the hyperparameters", table),
            _rank_figure(trace),
        ],
    )


def _rank_figure(trace: xr.DataTree) -> Figure:
    import arviz_plots as azp

    from ..convergence import key_variables

    plots = azp.plot_rank(trace, var_names=key_variables(trace), backend="matplotlib")
    first = next(iter(plots.viz["plot"].to_dataset().data_vars.values()))
    fig = np.ravel(first.values)[0].figure
    rows = int(plots.viz["row_index"].to_dataset().max().to_array().max()) + 1
    fig.set_size_inches(10, 3.2 * rows)
    fig.set_layout_engine("constrained")
    for ax in fig.axes:
        ax.title.set_fontsize(8)
    return figure_from_matplotlib(
        fig,
        "rank_plot",
        "Rank plots of each chain for the hyperparameters: chains that sample the same "
        "distribution give curves that overlap near zero.",
    )


def results_section(trace: xr.DataTree, prob: float = 0.95) -> Section:
    """Build the pooled and predictive results: a sentence per headline number and a table."""
    from ..summary import summarize

    summary = summarize(trace, prob=prob)
    percent = f"{100 * prob:g}%"

    def sentence(name: str) -> str:
        row = summary.loc[name]
        return (
            f"{row['median']:.3f} ({percent} CrI {row['eti_lower']:.3f} to {row['eti_upper']:.3f})"
        )

    text = (
        f"Pooled sensitivity {sentence('sensitivity')} and specificity {sentence('specificity')}."
    )
    if read_spec(trace).get("kind") == "regression":
        text = (
            "These values are for the reference profile, with every covariate at its "
            "reference level; the subgroups section gives each level. " + text
        )
    if "predictive_sensitivity" in summary.index:
        text += (
            f" In a new study, sensitivity is expected to lie near "
            f"{sentence('predictive_sensitivity')} and specificity near "
            f"{sentence('predictive_specificity')}; these predictive intervals include "
            "between-study heterogeneity."
        )
    display = pd.DataFrame(
        {
            "quantity": summary["label"],
            "median": summary["median"].map(_number),
            f"{percent} CrI (equal-tailed)": [
                f"{_number(lo)} to {_number(hi)}"
                for lo, hi in zip(summary["eti_lower"], summary["eti_upper"], strict=True)
            ],
            f"{percent} HDI": [
                f"{_number(lo)} to {_number(hi)}"
                for lo, hi in zip(summary["hdi_lower"], summary["hdi_upper"], strict=True)
            ],
        }
    )
    return Section(
        "results",
        "Pooled and predictive results",
        [
            Paragraph(text),
            Table("summary", "Posterior summaries", display.reset_index(drop=True), summary),
        ],
    )


def _number(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def reproducibility_section(
    trace: xr.DataTree,
    spec_sha256: str | None = None,
    spec_path: str | None = None,
    spec_text: str | None = None,
) -> Section:
    """Build the reproducibility block: versions, seed, data and specification hashes, dates.

    ``spec_text`` (the TOML analysis specification) is shown verbatim when given; otherwise
    the specification recorded in the trace is shown as JSON.
    """
    recorded = read_spec(trace)
    attrs = trace.attrs
    settings = recorded["sampler"]
    items = [
        ("bayesdta", str(attrs.get("bayesdta_version", "unknown"))),
        ("PyMC", str(attrs.get("pymc_version", "unknown"))),
        ("ArviZ", str(attrs.get("arviz_version", "unknown"))),
        ("Python", str(attrs.get("python_version", "unknown"))),
        ("Sampler and seed", f"{settings['sampler']}, seed {settings['seed']}"),
        ("Data", f"{recorded['data']['source']}"),
        ("Data SHA-256", recorded["data"]["sha256"]),
    ]
    if spec_path is not None:
        items.append(("Specification", spec_path))
    if spec_sha256 is not None:
        items.append(("Specification SHA-256", spec_sha256))
    items += [
        ("Fitted at", str(attrs.get("created_at", "unknown"))),
        ("Report written at", datetime.now(UTC).isoformat(timespec="seconds")),
    ]
    return Section(
        "reproducibility",
        "Reproducibility",
        [
            Facts(tuple(items)),
            Preformatted(spec_text or json.dumps(recorded, sort_keys=True, indent=2)),
        ],
    )
