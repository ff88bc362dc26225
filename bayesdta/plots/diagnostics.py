"""Diagnostic plots: observed against predicted study accuracy, Pareto k, study influence
and I-squared.

Each function takes the table that :func:`bayesdta.ppc.ppc_table` or
:func:`bayesdta.influence.leave_one_study_out` returns (or the I-squared draws), so that a
plot never reruns a computation.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = [
    "plot_ppc",
    "plot_pareto_k",
    "plot_influence",
    "plot_i_squared",
    "diagnostics_figure_height",
]

logger = logging.getLogger(__name__)

_MEASURES = ("sensitivity", "specificity")
_ROW_HEIGHT = 0.2  # inches per study row
_OUTLIER_COLOR = "tab:red"


def diagnostics_figure_height(n_studies: int) -> float:
    """Return a figure height in inches that fits one row per study."""
    return max(3.0, 1.2 + _ROW_HEIGHT * n_studies)


def _new_figure(fig: Figure | None, n_studies: int) -> Figure:
    if fig is not None:
        return fig
    return Figure(figsize=(8.0, diagnostics_figure_height(n_studies)), layout="constrained")


def plot_ppc(table: pd.DataFrame, fig: Figure | None = None, **kwargs) -> Figure:
    """Plot each study's observed sensitivity and specificity against its predictive interval.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`bayesdta.ppc.ppc_table`.
    fig : matplotlib.figure.Figure, optional
        Figure to draw on (two panels are added); a new one by default.
    **kwargs
        Passed to the ``errorbar`` call of the predictive intervals.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _new_figure(fig, len(table))
    axes = fig.subplots(1, 2, sharey=True)
    positions = np.arange(len(table))[::-1]
    prob = table.attrs.get("prob", 0.95)
    alpha = table.attrs.get("alpha", 0.01)
    for ax, measure in zip(axes, _MEASURES, strict=True):
        # Mark the margin whose tail probability flagged the study, not both margins.
        outlier = (table[f"ppc_p_{measure}"] < alpha).to_numpy(dtype=bool)
        predicted = table[f"predicted_{measure}"].to_numpy()
        errors = np.vstack(
            [
                predicted - table[f"predicted_{measure}_lower"].to_numpy(),
                table[f"predicted_{measure}_upper"].to_numpy() - predicted,
            ]
        )
        style = {"fmt": "none", "ecolor": "0.6", "elinewidth": 2, **kwargs}
        ax.errorbar(predicted, positions, xerr=errors, **style)
        observed = table[f"observed_{measure}"].to_numpy()
        ax.scatter(
            observed[~outlier], positions[~outlier], color="black", s=14, zorder=3, label="observed"
        )
        ax.scatter(
            observed[outlier],
            positions[outlier],
            color=_OUTLIER_COLOR,
            marker="D",
            s=22,
            zorder=4,
            label=f"tail probability below {alpha:g}",
        )
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel(measure.capitalize())
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(positions, table.index.astype(str), fontsize="small")
    axes[0].set_ylim(-1, len(table))
    axes[1].legend(loc="lower left", fontsize="small")
    fig.suptitle(
        f"Observed study accuracy and {100 * prob:g}% posterior predictive interval "
        f"({table.attrs.get('kind', 'mixed')} replicates)",
        fontsize="medium",
    )
    return fig


def plot_pareto_k(table: pd.DataFrame, ax=None, **kwargs):
    """Plot the Pareto k of each study with the threshold for exact refits.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`bayesdta.influence.leave_one_study_out`.
    ax : matplotlib.axes.Axes, optional
    **kwargs
        Passed to ``scatter``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        ax = Figure(figsize=(7.0, 3.2), layout="constrained").add_subplot()
    k_max = table.attrs.get("k_max", 0.7)
    k = table["pareto_k"].to_numpy()
    colors = np.where(k > k_max, _OUTLIER_COLOR, "black")
    ax.scatter(np.arange(len(table)), k, c=colors, s=16, **kwargs)
    ax.axhline(k_max, color=_OUTLIER_COLOR, linestyle="--", linewidth=1, label=f"k = {k_max:g}")
    ax.set_xticks(np.arange(len(table)), table.index.astype(str), rotation=90, fontsize="x-small")
    ax.set_ylabel("Pareto k")
    ax.set_title(
        "PSIS leave-one-study-out: studies above the line were refitted", fontsize="medium"
    )
    ax.legend(fontsize="small")
    return ax


def plot_influence(table: pd.DataFrame, fig: Figure | None = None, **kwargs) -> Figure:
    """Plot the shift of pooled sensitivity and specificity when each study is left out.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`bayesdta.influence.leave_one_study_out`.
    fig : matplotlib.figure.Figure, optional
    **kwargs
        Passed to ``barh``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _new_figure(fig, len(table))
    axes = fig.subplots(1, 2, sharey=True)
    positions = np.arange(len(table))[::-1]
    refitted = (table["method"] == "refit").to_numpy()
    for ax, measure in zip(axes, _MEASURES, strict=True):
        shift = table[f"influence_{measure}"].to_numpy()
        colors = np.where(refitted, "tab:orange", "tab:blue")
        ax.barh(positions, shift, color=colors, **kwargs)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_xlabel(f"Change of pooled {measure} without the study")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(positions, table.index.astype(str), fontsize="small")
    axes[0].set_ylim(-1, len(table))
    fig.suptitle(
        "Influence of each study (orange: exact refit, blue: PSIS weights)", fontsize="medium"
    )
    return fig


def plot_i_squared(draws, ax=None, **kwargs):
    """Plot the posterior distributions of the I-squared measures as histograms.

    Parameters
    ----------
    draws : xarray.Dataset
        From :func:`bayesdta.heterogeneity.i_squared_draws`.
    ax : matplotlib.axes.Axes, optional
    **kwargs
        Passed to ``hist``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        ax = Figure(figsize=(6.0, 3.2), layout="constrained").add_subplot()
    style = {"bins": 40, "range": (0.0, 1.0), "histtype": "step", "density": True, **kwargs}
    for name in draws.data_vars:
        label = name.removeprefix("i2_")
        ax.hist(draws[name].values.ravel(), label=label, **style)
    ax.set_xlabel("I-squared (share of variance between studies)")
    ax.set_ylabel("Posterior density")
    ax.legend(fontsize="small")
    return ax
