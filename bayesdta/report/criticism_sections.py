"""Report sections that criticise a fit: prior sensitivity (refits under other prior sets and
power-scaling) and diagnostics (heterogeneity, PSIS-LOO, posterior predictive checks,
Deeks' test for small-study effects)."""

from __future__ import annotations

import logging

import pandas as pd
import xarray as xr
from matplotlib.figure import Figure as MatplotlibFigure

from ..spec import AnalysisSpec
from ..trace import read_spec
from .content import Facts, Paragraph, Section, Table, figure_from_matplotlib
from .sections import study_frame

__all__ = ["prior_sensitivity_section", "diagnostics_section"]

logger = logging.getLogger(__name__)


def _is_bivariate(trace: xr.DataTree) -> bool:
    return read_spec(trace).get("kind") == "bivariate"


def prior_sensitivity_section(trace: xr.DataTree, spec: AnalysisSpec) -> Section:
    """Refit the model of ``spec`` under each prior set of ``spec.report.prior_sensitivity``.

    The refits use the sampler settings of ``spec``; sets with the families of the main fit
    reuse its compiled model. For the bivariate model the section adds ArviZ power-scaling
    sensitivity of the main fit (:func:`bayesdta.power_scaling.power_scaling_summary`).
    """
    from ..plots.priors import plot_prior_sensitivity
    from ..sensitivity import sensitivity_analysis
    from .analysis import builder_of, read_table

    settings = spec.sampler
    builder, builder_kwargs = builder_of(spec)
    result = sensitivity_analysis(
        read_table(spec),
        list(spec.report.prior_sensitivity),
        builder=builder,
        builder_kwargs=builder_kwargs,
        prob=spec.report.prob,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        seed=settings.seed,
        sampler=settings.sampler,
        target_accept=settings.target_accept,
        progressbar=False,
        keep_traces=False,
    )
    percent = f"{100 * result.prob:g}%"
    display = _sensitivity_display(result.table)
    flagged = len(result.flags)
    blocks = [
        Paragraph(
            f"The model was refitted under {len(result.prior_sets)} prior sets, compared with "
            f"{result.reference!r}: {', '.join(result.prior_sets)}. "
            + (
                f"{flagged} posterior median(s) moved by more than the threshold; they are "
                "marked as flagged below."
                if flagged
                else "No posterior median moved by more than the threshold."
            ),
            kind="note" if flagged else "text",
        ),
        Table(
            "prior_sensitivity",
            f"Posterior medians and {percent} intervals under each prior set",
            display,
            result.table,
        ),
    ]
    fig = plot_prior_sensitivity(result, fig=MatplotlibFigure(figsize=(9, 5)))
    blocks.append(
        figure_from_matplotlib(
            fig,
            "prior_sensitivity",
            f"Posterior medians with {percent} intervals of the key quantities under each "
            "prior set.",
        )
    )
    if _is_bivariate(trace):
        blocks += _power_scaling_blocks(trace)
    return Section("prior-sensitivity", "Prior sensitivity", blocks)


#: Quantities shown in the prior sensitivity table of the report, with the per-level
#: sensitivity and specificity of a meta-regression; the CSV contains them all.
SENSITIVITY_QUANTITIES = (
    "sensitivity",
    "specificity",
    "tau_sens",
    "tau_spec",
    "rho",
    "predictive_sensitivity",
    "predictive_specificity",
)


def _sensitivity_display(table: pd.DataFrame) -> pd.DataFrame:
    quantity = table["quantity"].astype(str)
    per_level = quantity.str.startswith(("sensitivity[", "specificity["))
    rows = table[quantity.isin(SENSITIVITY_QUANTITIES) | per_level]
    names = rows["label"] if "label" in rows else rows["quantity"]
    return pd.DataFrame(
        {
            "prior set": rows["prior_set"].to_numpy(),
            "quantity": names.to_numpy(),
            "median": [f"{value:.3f}" for value in rows["median"]],
            "interval": [
                f"{lower:.3f} to {upper:.3f}"
                for lower, upper in zip(rows["lower"], rows["upper"], strict=True)
            ],
            "shift": [f"{value:+.3f}" for value in rows["shift"]],
            "flagged": ["yes" if value else "" for value in rows["flagged"]],
        }
    )


def _power_scaling_blocks(trace: xr.DataTree) -> list:
    from ..power_scaling import power_scaling_summary

    # power_scaling_summary adds a log_prior group; keep the caller's trace unchanged.
    summary = power_scaling_summary(trace.copy(deep=False))
    display = summary.rename_axis("quantity").reset_index()
    for column in ("prior", "likelihood"):
        display[column] = display[column].map(lambda value: f"{value:.3f}")
    return [
        Paragraph(
            "Power-scaling sensitivity (ArviZ psense): how much each quantity moves when the "
            "prior or the likelihood is raised to a power near 1. A value above 0.05 for the "
            "prior with a low value for the likelihood points to a prior that dominates."
        ),
        Table("power_scaling", "Power-scaling sensitivity of the main fit", display, summary),
    ]


def diagnostics_section(trace: xr.DataTree, prob: float = 0.95) -> Section:
    """Build the diagnostics section.

    For every model: PSIS-LOO with the Pareto k of each study (leave-one-study-out), and
    Deeks' funnel-plot asymmetry test. For the bivariate model also the bivariate I-squared
    with the between-study spread in words, and posterior predictive checks per study.
    """
    blocks = []
    if _is_bivariate(trace):
        blocks += _heterogeneity_blocks(trace, prob)
    blocks += _loo_blocks(trace)
    if _is_bivariate(trace):
        blocks += _ppc_blocks(trace, prob)
    # NOTE: heterogeneity and posterior predictive checks are shown for the bivariate model
    # only, because their functions read the pooled mu and tau of a bivariate trace.
    blocks += _deeks_blocks(trace)
    return Section("diagnostics", "Diagnostics", blocks)


def _heterogeneity_blocks(trace: xr.DataTree, prob: float) -> list:
    from ..heterogeneity import heterogeneity_summary

    summary = heterogeneity_summary(trace, prob=prob)
    percent = f"{100 * prob:g}%"

    def interval(name: str) -> str:
        values = summary[name]
        return (
            f"{values['median']:.2f} ({percent} CrI {values['lower']:.2f} to {values['upper']:.2f})"
        )

    facts = Facts(
        (
            ("I-squared, sensitivity", interval("i2_sensitivity")),
            ("I-squared, specificity", interval("i2_specificity")),
            ("Bivariate I-squared", interval("i2_bivariate")),
        )
    )
    sentences = [
        Paragraph(text[:1].upper() + text[1:]) for text in summary["between_study_sd"].values()
    ]
    return [
        Paragraph(
            "Heterogeneity: the share of the variation on the logit scale that lies between "
            "studies, after Zhou & Dendukuri (Stat Med 2014;33:2701)."
        ),
        facts,
        *sentences,
    ]


def _loo_blocks(trace: xr.DataTree) -> list:
    from ..influence import PARETO_K_MAX, psis_loo

    loo = psis_loo(trace)
    pareto_k = loo.pareto_k.to_pandas()
    labels = trace["constant_data"]["study_label"].to_pandas()
    high = pareto_k[pareto_k > PARETO_K_MAX]
    table = pd.DataFrame(
        {"study": labels.reindex(pareto_k.index).to_numpy(), "pareto_k": pareto_k.to_numpy()}
    )
    text = (
        f"PSIS-LOO with one observation per study: elpd_loo {loo.elpd:.1f} (SE {loo.se:.1f}), "
        f"effective number of parameters {loo.p:.1f}. "
    )
    if len(high):
        names = ", ".join(labels.reindex(high.index).astype(str))
        text += (
            f"Studies with Pareto k above {PARETO_K_MAX} ({len(high)}): {names}. Leaving one "
            "of them out changes the posterior more than importance sampling can follow. "
            "Refit without each of them (bayesdta.influence.leave_one_study_out) to see "
            "their influence."
        )
    else:
        text += f"Every study has Pareto k at most {PARETO_K_MAX}."
    return [
        Paragraph(text, kind="note" if len(high) else "text"),
        Table("pareto_k", "Pareto k of each study (PSIS-LOO)", table.round(3)),
    ]


def _ppc_blocks(trace: xr.DataTree, prob: float) -> list:
    from ..ppc import ppc_table

    table = ppc_table(trace, prob=prob)
    outliers = table[table["outlier"]]
    alpha = table.attrs.get("alpha")
    text = (
        "Posterior predictive check per study: the observed sensitivity and specificity "
        "against replicated data of a study like it. "
    )
    if len(outliers):
        names = ", ".join(map(str, outliers.index))
        text += f"Studies with a tail probability below {alpha} ({len(outliers)}): {names}."
    else:
        text += f"No study has a tail probability below {alpha}."
    columns = [
        "observed_sensitivity",
        "predicted_sensitivity_lower",
        "predicted_sensitivity_upper",
        "observed_specificity",
        "predicted_specificity_lower",
        "predicted_specificity_upper",
        "outlier",
    ]
    display = table[columns].reset_index()
    return [
        Paragraph(text, kind="note" if len(outliers) else "text"),
        Table(
            "ppc", "Observed values against posterior predictive intervals", display.round(3), table
        ),
    ]


def _deeks_blocks(trace: xr.DataTree) -> list:
    from ..deeks import deeks_test
    from ..plots.deeks import plot_deeks_funnel
    from ..studytable import read_studies

    counts = study_frame(trace)[["study", "tp", "fp", "fn", "tn"]]
    result = deeks_test(read_studies(counts, keep_duplicates=True))
    fig = MatplotlibFigure(figsize=(6, 5), layout="constrained")
    plot_deeks_funnel(result, ax=fig.add_subplot())
    text = (
        f"Deeks' funnel-plot asymmetry test: slope {result.slope:.2f} (SE {result.slope_se:.2f}), "
        f"p = {result.p_value:.3f} on {result.n_studies - 2} degrees of freedom. A small p-value "
        "suggests small-study effects; the test has low power with few studies."
    )
    return [
        Paragraph(text),
        figure_from_matplotlib(
            fig,
            "deeks_funnel",
            "Deeks' funnel plot: log diagnostic odds ratio against 1 / sqrt(effective sample "
            "size), with the weighted regression line.",
        ),
    ]
