"""SROC plot with one curve, summary point and pair of regions per covariate level."""

from __future__ import annotations

import logging

import matplotlib.pyplot as plt
import numpy as np

from ..regions import credible_region, prediction_region
from ..sroc import fpr_grid, sroc_band, sroc_curve
from ..subgroups import level_covariance, level_logits, level_predictive_logits
from .sroc import draw_sroc_layers, format_sroc_axes, study_points, summary_point

__all__ = ["plot_sroc_by_level"]

logger = logging.getLogger(__name__)


def escape_math(text: str) -> str:
    """Escape dollar signs so that Matplotlib draws a level name as text, not math."""
    return text.replace("$", r"\$")


def _study_levels(trace, covariate: str) -> np.ndarray:
    from ..covariates import level_values

    return np.asarray(level_values(trace["constant_data"][f"covariate_{covariate}"].values))


def plot_sroc_by_level(
    trace,
    covariate: str,
    ax=None,
    *,
    method: str = "hsroc",
    prob: float = 0.95,
    region_method: str = "hdr",
    extrapolate: bool = False,
    show_studies: bool = True,
    show_band: bool = True,
    show_credible: bool = True,
    show_prediction: bool = True,
    legend: bool = True,
    colors=None,
    **kwargs,
):
    """Plot one SROC per level of a categorical covariate, coloured by level.

    Each level gets its studies, its SROC curve with the pointwise credible band (over the
    FPR range of its own studies), its summary point with the credible region, and the
    prediction region of a new study of that level, all in the level's colour. The other
    covariates are held at their reference, see :mod:`bayesdta.subgroups`.

    Parameters
    ----------
    trace : xarray.DataTree
        A fit of :func:`bayesdta.models.build_regression_model`.
    covariate : str
        A categorical covariate of the model.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure by default.
    method : str, default "hsroc"
        SROC curve definition, one of :data:`bayesdta.sroc.SROC_METHODS`.
    prob : float, default 0.95
        Probability of the bands and regions.
    region_method : {"hdr", "ellipse"}
        Highest-density contours or normal ellipses on the logit scale.
    extrapolate : bool, default False
        Draw each curve over (0, 1) instead of its level's observed FPR range.
    show_studies, show_band, show_credible, show_prediction : bool
        Switch each layer on or off.
    legend : bool, default True
        Add a legend with one entry per level, titled with the covariate name.
    colors : sequence of matplotlib colours, optional
        One per level, in the level order of the model; default the colour cycle C0, C1, ...
    **kwargs
        Passed to ``ax.plot`` for each median curve.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from bayesdta.plots.subgroups import plot_sroc_by_level
    >>> ax = plot_sroc_by_level(trace, "modality")  # doctest: +SKIP
    """
    logits = level_logits(trace, covariate)
    levels = [str(level) for level in logits["level"].values]
    colors = list(colors) if colors is not None else [f"C{i % 10}" for i in range(len(levels))]
    if len(colors) < len(levels):
        raise ValueError(f"{len(levels)} levels need {len(levels)} colors, got {len(colors)}")

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 7.5))
    tau, rho = level_covariance(trace, covariate)
    new = level_predictive_logits(trace, covariate)
    studies = study_points(trace)
    study_levels = _study_levels(trace, covariate)
    largest = float(np.nanmax(studies["n"]))

    for level, color in zip(levels, colors, strict=False):
        mine = studies[study_levels == level]
        mu = logits.sel(level=level, drop=True)
        band = None
        fpr_values = mine["fpr"].dropna().to_numpy()
        if extrapolate or fpr_values.size:
            fpr = fpr_grid(fpr_values, extrapolate=extrapolate)
            curves = sroc_curve(
                mu, tau.sel(level=level, drop=True), rho.sel(level=level, drop=True), fpr, method
            )
            band = sroc_band(curves, prob=prob)
        sens, spec = mu.sel(measure="sensitivity"), mu.sel(measure="specificity")
        credible = prediction = None
        if show_credible or show_prediction:
            credible = credible_region(sens, spec, prob, region_method)
            level_new = new.sel(level=level, drop=True)
            prediction = prediction_region(
                level_new.sel(measure="sensitivity"),
                level_new.sel(measure="specificity"),
                prob,
                region_method,
                credible,
            )
        draw_sroc_layers(
            ax,
            studies=mine if show_studies else None,
            band=band,
            credible=credible if show_credible else None,
            prediction=prediction if show_prediction else None,
            point=summary_point(sens, spec),
            color=color,
            label=escape_math(f"{level} ({len(mine)} tables)"),
            largest_study=largest,
            show_band=show_band,
            **kwargs,
        )
    # Level entries name colours only; grey proxies explain the two line styles once.
    percent = f"{100 * prob:g}%"
    if show_credible:
        ax.plot([], [], linestyle="--", color="0.4", label=f"{percent} credible region")
    if show_prediction:
        ax.plot([], [], linestyle=":", color="0.4", label=f"{percent} prediction region")
    logger.info("drew SROC curves for %d levels of %s", len(levels), covariate)
    return format_sroc_axes(ax, legend=legend, legend_title=covariate)
