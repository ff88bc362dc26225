"""The SROC plot: study points, summary point, credible and prediction regions, SROC curve.

:func:`plot_sroc` draws one fit. Its layers come from :func:`draw_sroc_layers`, which takes
quantities already computed from draws (a curve band, two regions, a summary point), so a
plot with one SROC per covariate level can call it once per level with its own colour.
"""

from __future__ import annotations

import logging

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from ..regions import Region, sroc_regions
from ..sroc import SROC_METHODS, sroc_band, sroc_draws

__all__ = [
    "plot_sroc",
    "draw_sroc_layers",
    "format_sroc_axes",
    "study_points",
    "marker_areas",
    "summary_point",
    "FPR_LABEL",
    "SENSITIVITY_LABEL",
]

logger = logging.getLogger(__name__)

FPR_LABEL = "1 - specificity (false-positive rate)"
SENSITIVITY_LABEL = "Sensitivity"

# Largest study marker area in points^2, and the floor that keeps small studies visible.
_MAX_MARKER_AREA = 300.0
_MIN_MARKER_AREA = 6.0


def study_points(trace: xr.DataTree) -> pd.DataFrame:
    """Return each study's observed FPR, sensitivity and size, from a trace's data groups.

    Returns
    -------
    pandas.DataFrame
        Index ``study``; columns ``label``, ``fpr`` (fp / (fp + tn)), ``sensitivity``
        (tp / (tp + fn)) and ``n`` (all participants). A study without diseased (or
        non-diseased) participants has NaN sensitivity (or FPR).
    """
    observed = trace["observed_data"]
    constant = trace["constant_data"]
    n_diseased = constant["n_diseased"].values.astype(float)
    n_healthy = constant["n_healthy"].values.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        sensitivity = np.where(n_diseased > 0, observed["tp"].values / n_diseased, np.nan)
        fpr = np.where(n_healthy > 0, constant["fp"].values / n_healthy, np.nan)
    return pd.DataFrame(
        {
            "label": constant["study_label"].values,
            "fpr": fpr,
            "sensitivity": sensitivity,
            "n": n_diseased + n_healthy,
        },
        index=pd.Index(constant["study"].values, name="study"),
    )


def summary_point(logit_sens, logit_spec) -> tuple[float, float]:
    """Return the posterior medians ``(FPR, sensitivity)`` of the summary point.

    The median commutes with ``expit``, so these are ``expit`` of the median logits.
    """
    return float(expit(-np.median(logit_spec))), float(expit(np.median(logit_sens)))


def marker_areas(sizes, largest: float | None = None) -> np.ndarray:
    """Return marker areas in points^2 proportional to ``sizes``, at least 6 points^2.

    ``largest`` is the size drawn with the largest area (300 points^2); default the maximum
    of ``sizes``. Pass a common value to compare marker sizes across several calls.
    """
    sizes = np.asarray(sizes, dtype=float)
    largest = float(np.nanmax(sizes)) if largest is None else float(largest)
    return np.maximum(_MAX_MARKER_AREA * sizes / largest, _MIN_MARKER_AREA)


def format_sroc_axes(ax, legend: bool = True, legend_title: str | None = None):
    """Label the axes of ROC space, fix both to [0, 1] with equal aspect, add the legend below."""
    ax.set_xlabel(FPR_LABEL)
    ax.set_ylabel(SENSITIVITY_LABEL)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_aspect("equal")
    ax.grid(True, color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    if legend:
        # Below the axes, so that the legend hides no study and no region.
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.12),
            ncol=2,
            fontsize="small",
            title=legend_title,
            frameon=False,
        )
    return ax


def draw_sroc_layers(
    ax,
    *,
    studies: pd.DataFrame | None = None,
    band: xr.Dataset | None = None,
    credible: Region | None = None,
    prediction: Region | None = None,
    point: tuple[float, float] | None = None,
    color="C0",
    label: str | None = None,
    scale_points: bool = True,
    largest_study: float | None = None,
    show_band: bool = True,
    **kwargs,
):
    """Draw the layers of one SROC fit on ``ax``; every layer is optional.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    studies : pandas.DataFrame, optional
        From :func:`study_points`: open circles at each study's (FPR, sensitivity).
    band : xarray.Dataset, optional
        From :func:`bayesdta.sroc.sroc_band`: the median curve as a line and the pointwise
        interval as a shaded band.
    credible, prediction : Region, optional
        From :mod:`bayesdta.regions`: the credible region as a dashed line and the
        prediction region as a dotted line.
    point : (float, float), optional
        Summary point ``(FPR, sensitivity)``, a filled circle.
    color : matplotlib colour, default "C0"
        Colour of every layer.
    label : str, optional
        When given, only the curve (or the summary point when there is no curve) gets a
        legend entry, with this text: the colour then identifies a fit, as in a plot with
        one curve per covariate level. By default every layer gets a descriptive entry.
    scale_points : bool, default True
        Marker area proportional to study size; otherwise one size.
    largest_study : float, optional
        Study size drawn with the largest marker, see :func:`marker_areas`.
    show_band : bool, default True
        Shade the pointwise interval of the curve.
    **kwargs
        Passed to ``ax.plot`` for the median curve (for example ``linewidth``, ``linestyle``).

    Returns
    -------
    matplotlib.axes.Axes
    """

    def entry(text: str, is_main: bool = False):
        if label is None:
            return text
        return label if is_main else None

    if studies is not None:
        _draw_studies(ax, studies, color, entry, scale_points, largest_study)

    if band is not None:
        percent = f"{100 * band.attrs.get('prob', 0.95):g}%"
        name = SROC_METHODS.get(band.attrs.get("method", ""), "SROC curve")
        fpr = band["fpr"].values
        if show_band:
            ax.fill_between(
                fpr,
                band["lower"].values,
                band["upper"].values,
                color=color,
                alpha=0.18,
                linewidth=0,
                label=entry(f"{percent} credible band of the curve"),
            )
        line_style = {"color": color, "linewidth": 2.0} | kwargs
        ax.plot(fpr, band["median"].values, label=entry(f"{name} (median)", True), **line_style)

    for region, style, text in (
        (credible, "--", "credible region (summary point)"),
        (prediction, ":", "prediction region (new study)"),
    ):
        if region is None:
            continue
        for index, path in enumerate(region.paths):
            ax.plot(
                path[:, 0],
                path[:, 1],
                linestyle=style,
                color=color,
                linewidth=1.4,
                label=entry(f"{region.prob:.0%} {text}") if index == 0 else None,
            )

    if point is not None:
        ax.plot(
            *point,
            marker="o",
            markersize=8,
            color=color,
            markeredgecolor="black",
            linestyle="none",
            zorder=5,
            label=entry("Summary point (posterior median)", band is None),
        )
    return ax


def _draw_studies(ax, studies, color, entry, scale_points, largest_study):
    drawable = studies.dropna(subset=["fpr", "sensitivity"])
    skipped = len(studies) - len(drawable)
    if skipped:
        logger.info(
            "%d studies lack diseased or non-diseased participants and are not drawn", skipped
        )
    areas = marker_areas(drawable["n"], largest_study) if scale_points else 25.0
    text = "Studies (area proportional to size)" if scale_points else "Studies"
    ax.scatter(
        drawable["fpr"],
        drawable["sensitivity"],
        s=areas,
        facecolors="none",
        edgecolors=color,
        linewidths=0.9,
        alpha=0.65,
        label=entry(text),
        clip_on=False,
    )


def plot_sroc(
    trace: xr.DataTree,
    ax=None,
    *,
    method: str = "hsroc",
    prob: float = 0.95,
    region_method: str = "hdr",
    extrapolate: bool = False,
    show_studies: bool = True,
    scale_points: bool = True,
    show_curve: bool = True,
    show_band: bool = True,
    show_credible: bool = True,
    show_prediction: bool = True,
    legend: bool = True,
    color="C0",
    **kwargs,
):
    """Plot the SROC of a bivariate-model fit in ROC space.

    Draws the studies, the summary point with its credible region, the prediction region of
    a new study, and the SROC curve with its pointwise credible band, all from the draws.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure by default.
    method : str, default "hsroc"
        SROC curve definition, one of :data:`bayesdta.sroc.SROC_METHODS`.
    prob : float, default 0.95
        Probability of the band and of both regions.
    region_method : {"hdr", "ellipse"}
        Highest-density contours or normal ellipses on the logit scale.
    extrapolate : bool, default False
        Draw the curve over (0, 1) instead of the observed range of study FPRs.
    show_studies, show_curve, show_band, show_credible, show_prediction : bool
        Switch each layer on or off.
    scale_points : bool, default True
        Study marker area proportional to study size.
    legend : bool, default True
        Add a legend.
    color : matplotlib colour, default "C0"
    **kwargs
        Passed to ``ax.plot`` for the median curve.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import bayesdta
    >>> from bayesdta.plots import plot_sroc
    >>> trace = bayesdta.fit(bayesdta.build_bivariate_model("auditc"), seed=1)  # doctest: +SKIP
    >>> ax = plot_sroc(trace)  # doctest: +SKIP
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 6.0))

    band = None
    if show_curve:
        band = sroc_band(sroc_draws(trace, method=method, extrapolate=extrapolate), prob=prob)
    credible = prediction = None
    if show_credible or show_prediction:
        credible, prediction = sroc_regions(trace, prob=prob, method=region_method)
    mu = trace["posterior"]["mu"]

    draw_sroc_layers(
        ax,
        studies=study_points(trace) if show_studies else None,
        band=band,
        credible=credible if show_credible else None,
        prediction=prediction if show_prediction else None,
        point=summary_point(mu.sel(measure="sensitivity"), mu.sel(measure="specificity")),
        color=color,
        scale_points=scale_points,
        show_band=show_band,
        **kwargs,
    )
    return format_sroc_axes(ax, legend=legend)
