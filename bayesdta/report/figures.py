"""Figures of the report: SROC and forest plots, for the bivariate model and per level of a
meta-regression covariate."""

from __future__ import annotations

import logging

import xarray as xr
from matplotlib.figure import Figure as MatplotlibFigure
from matplotlib.lines import Line2D

from ..trace import read_spec
from .content import Figure, figure_from_matplotlib

__all__ = [
    "level_trace",
    "categorical_covariate",
    "covariate_levels",
    "sroc_figure",
    "forest_figures",
]

logger = logging.getLogger(__name__)


def level_trace(trace: xr.DataTree, covariate: str, level: str) -> xr.DataTree:
    """Return a bivariate-shaped trace of one level of a categorical regression covariate.

    The posterior holds the level's mean logits as ``mu``, a new study of that level as
    ``new_study_logit`` and the level's between-study ``tau`` and ``rho`` (shared or
    separate, as fitted), with the other covariates at their reference levels. The data
    groups keep the studies of that level only. The bivariate plots then draw the level as
    they draw a whole fit.
    """
    from ..subgroups import level_covariance, level_logits, level_predictive_logits

    mu = level_logits(trace, covariate).sel(level=level, drop=True)
    new = level_predictive_logits(trace, covariate).sel(level=level, drop=True)
    tau, rho = level_covariance(trace, covariate)
    if "level" in tau.dims:
        tau = tau.sel(level=level, drop=True)
    if "level" in rho.dims:
        rho = rho.sel(level=level, drop=True)
    posterior = xr.Dataset({"mu": mu, "new_study_logit": new, "tau": tau, "rho": rho})

    constant = trace["constant_data"].to_dataset()
    in_level = constant[f"covariate_{covariate}"].astype(str) == level
    groups = {
        "posterior": posterior,
        "observed_data": trace["observed_data"].to_dataset().isel(study=in_level.values),
        "constant_data": constant.isel(study=in_level.values),
    }
    subset = xr.DataTree.from_dict(groups)
    subset.attrs.update(trace.attrs)
    return subset


def categorical_covariate(trace: xr.DataTree) -> str | None:
    """Return the first categorical covariate of a regression trace, or None."""
    if read_spec(trace).get("kind") != "regression":
        return None
    from ..subgroups import regression_specs

    names = [spec.name for spec in regression_specs(trace) if spec.kind == "categorical"]
    return names[0] if names else None


def covariate_levels(trace: xr.DataTree, covariate: str) -> list[str]:
    """Return the levels of a categorical covariate of a regression trace, in report order."""
    from ..subgroups import regression_specs

    spec = next(spec for spec in regression_specs(trace) if spec.name == covariate)
    return list(spec.levels)


def sroc_figure(trace: xr.DataTree, prob: float = 0.95) -> Figure | None:
    """Render the SROC plot: one fit, or one curve, summary point and regions per level.

    Returns None for a regression with continuous covariates only, where no level has a
    summary point.
    """
    from ..plots import plot_sroc

    percent = f"{100 * prob:g}%"
    fig = MatplotlibFigure(figsize=(6.4, 6.8), layout="constrained")
    ax = fig.add_subplot()
    covariate = categorical_covariate(trace)
    if covariate is None and read_spec(trace).get("kind") == "regression":
        return None

    if covariate is None:
        plot_sroc(trace, ax=ax, prob=prob)
        caption = (
            f"SROC plot: studies (area proportional to size), the HSROC curve with its pointwise "
            f"{percent} credible band, the summary point with its {percent} credible region "
            f"(dashed) and the {percent} prediction region of a new study (dotted)."
        )
    else:
        handles = []
        for position, level in enumerate(covariate_levels(trace, covariate)):
            color = f"C{position}"
            plot_sroc(
                level_trace(trace, covariate, level), ax=ax, prob=prob, color=color, legend=False
            )
            handles.append(Line2D([], [], color=color, marker="o", label=level))
        ax.legend(handles=handles, title=covariate, loc="lower right")
        caption = (
            f"SROC plot by {covariate}: for each level, its studies, its HSROC curve with the "
            f"pointwise {percent} credible band, its summary point with the {percent} "
            f"credible region (dashed) and the {percent} prediction region (dotted), with "
            "any other covariate at its reference level."
        )
    return figure_from_matplotlib(fig, "sroc", caption)


def forest_figures(trace: xr.DataTree, prob: float = 0.95) -> list[Figure]:
    """Render the forest plot: one for a bivariate fit, one per level of a regression."""
    from ..plots.forest import forest_figure_size, plot_forest

    percent = f"{100 * prob:g}%"
    covariate = categorical_covariate(trace)
    if covariate is None:
        if read_spec(trace).get("kind") == "regression":
            return []
        fig = plot_forest(trace, fig=MatplotlibFigure(figsize=forest_figure_size(trace)), prob=prob)
        caption = (
            f"Forest plot: observed sensitivity and specificity of each study with "
            f"{percent} Clopper-Pearson intervals, the pooled values with {percent} credible "
            f"intervals and a new study's values with {percent} prediction intervals."
        )
        return [figure_from_matplotlib(fig, "forest", caption)]

    figures = []
    for level in covariate_levels(trace, covariate):
        subset = level_trace(trace, covariate, level)
        fig = plot_forest(
            subset, fig=MatplotlibFigure(figsize=forest_figure_size(subset)), prob=prob
        )
        caption = (
            f"Forest plot of the studies with {covariate} = {level}: observed values with "
            f"{percent} Clopper-Pearson intervals, the level's pooled values and a new study "
            "of that level, from the meta-regression."
        )
        figures.append(figure_from_matplotlib(fig, f"forest_{_file_stem(level)}", caption))
    return figures


def _file_stem(text: str) -> str:
    return "".join(character if character.isalnum() else "_" for character in text).strip("_")
