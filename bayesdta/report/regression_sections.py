"""Report sections of a fit: SROC and forest plots, and for a meta-regression the results per
covariate level with the contrasts between levels."""

from __future__ import annotations

import pandas as pd
import xarray as xr

from ..trace import read_spec
from .content import Paragraph, Section, Table
from .figures import forest_figures, sroc_figure

__all__ = ["sroc_section", "forest_section", "subgroups_section", "is_regression"]

#: Rows of the per-level table, in this order.
LEVEL_QUANTITIES = (
    "sensitivity",
    "specificity",
    "dor",
    "predictive_sensitivity",
    "predictive_specificity",
)


def is_regression(trace: xr.DataTree) -> bool:
    """Return True for a trace of :func:`bayesdta.models.build_regression_model`."""
    return read_spec(trace).get("kind") == "regression"


def sroc_section(trace: xr.DataTree, prob: float = 0.95) -> Section | None:
    """Build the SROC section, or return None when the fit has no summary point to draw."""
    figure = sroc_figure(trace, prob=prob)
    if figure is None:
        return None
    blocks = [figure, _auc_table(trace, prob)]
    return Section("sroc", "Summary ROC", blocks)


AUC_LABELS = {
    "auc": "AUC over false-positive rates from 0 to 1",
    "partial_auc": "partial AUC over the observed false-positive rates",
    "partial_auc_normalized": "partial AUC divided by the width of that range",
}


def _auc_table(trace: xr.DataTree, prob: float) -> Table:
    """Summarise the AUC of the HSROC curve, per level for a regression."""
    from ..sroc import auc_draws
    from ..summary import summarize_draws
    from .figures import categorical_covariate, covariate_levels, level_trace

    covariate = categorical_covariate(trace)
    if covariate is None:
        parts = {"": trace}
    else:
        parts = {
            level: level_trace(trace, covariate, level)
            for level in covariate_levels(trace, covariate)
        }
    frames = []
    for level, part in parts.items():
        draws = auc_draws(part)
        low, high = draws.attrs["fpr_range"]
        table = summarize_draws(draws, prob=prob, labels=AUC_LABELS)
        table.insert(0, "level", level)
        table.insert(1, "fpr_range", f"{low:.3f} to {high:.3f}")
        frames.append(table)
    summary = pd.concat(frames)
    display = pd.DataFrame(
        {
            "quantity": summary["label"],
            "observed FPR range": summary["fpr_range"],
            "median": summary["median"].map(lambda value: f"{value:.3f}"),
            f"{100 * prob:g}% CrI": [
                f"{lower:.3f} to {upper:.3f}"
                for lower, upper in zip(summary["eti_lower"], summary["eti_upper"], strict=True)
            ],
        }
    )
    if covariate is not None:
        display.insert(0, covariate, summary["level"].to_numpy())
    return Table("auc", "Area under the HSROC curve", display.reset_index(drop=True), summary)


def forest_section(trace: xr.DataTree, prob: float = 0.95) -> Section | None:
    """Build the forest plot section, or return None when there is no plot to draw."""
    figures = forest_figures(trace, prob=prob)
    if not figures:
        return None
    return Section("forest", "Forest plot", list(figures))


def subgroups_section(trace: xr.DataTree, prob: float = 0.95) -> Section:
    """Build the subgroups section: accuracy per level of each categorical covariate and the
    contrasts of each level against the reference level.
    """
    from ..subgroups import contrasts, subgroup_summary

    percent = f"{100 * prob:g}%"
    summary = subgroup_summary(trace, prob=prob)
    rows = []
    for (covariate, level, quantity), row in summary.iterrows():
        if quantity not in LEVEL_QUANTITIES:
            continue
        reference = " (reference)" if level == row["reference"] else ""
        rows.append(
            {
                "covariate": covariate,
                "level": f"{level}{reference}",
                "studies": int(row["n_studies"]),
                "quantity": row["label"],
                "median": f"{row['median']:.3f}",
                f"{percent} CrI": f"{row['eti_lower']:.3f} to {row['eti_upper']:.3f}",
            }
        )
    compared = contrasts(trace, prob=prob)
    blocks = [
        Paragraph(
            "Each level's values come from the meta-regression, with every other covariate "
            "at its reference level. Predictive values are for a new study of that level."
        ),
        Table(
            "subgroups", "Accuracy by covariate level", pd.DataFrame(rows), summary.reset_index()
        ),
        Paragraph(
            "Contrasts: differences of sensitivity and specificity on the probability scale "
            "and the ratio of diagnostic odds ratios, with the posterior probability that "
            "the first level's value is greater."
        ),
        Table("contrasts", "Contrasts between levels", _contrast_display(compared), compared),
    ]
    return Section("subgroups", "Subgroups and contrasts", blocks)


def _contrast_display(table: pd.DataFrame) -> pd.DataFrame:
    display = table.copy()
    for column in display.columns:
        if display[column].dtype.kind == "f":
            display[column] = display[column].map(lambda value: f"{value:.3f}")
    return display
