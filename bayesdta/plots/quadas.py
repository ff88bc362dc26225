"""QUADAS-2 plots: the summary bar chart per domain and the per-study traffic-light table."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from ..quadas import DOMAINS, RATINGS

__all__ = ["RATING_COLORS", "RATING_SYMBOLS", "plot_quadas_summary", "plot_quadas_traffic_light"]

#: Fill colour of each rating, in the green / amber / red / grey convention of QUADAS-2
#: figures.
RATING_COLORS = {"low": "#2E9E44", "moderate": "#F0B323", "high": "#C8102E", "unclear": "#9E9E9E"}
#: Symbol drawn inside each traffic light, so that the table reads without colour too.
RATING_SYMBOLS = {"low": "+", "moderate": "~", "high": "-", "unclear": "?"}

_LABELS = {d.key: d.label for d in DOMAINS}
_KIND_TITLES = {"risk_of_bias": "Risk of bias", "applicability": "Applicability concerns"}


def _present_ratings(ratings) -> list[str]:
    return [r for r in RATINGS if (ratings.ratings == r).any().any()]


def plot_quadas_summary(ratings, ax=None, **kwargs):
    """Draw the share of studies rated low, high and unclear in each QUADAS-2 domain.

    One horizontal stacked bar per domain, risk-of-bias domains above applicability
    domains, each bar summing to 100% of the studies. A ``moderate`` category appears when
    the ratings carry it.

    Parameters
    ----------
    ratings : QuadasRatings
        From :func:`bayesdta.quadas.read_quadas`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.barh`, for example ``height``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    summary = ratings.summary()
    keys = list(summary.index)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.45 * len(keys) + 1.6))
    positions = np.arange(len(keys))[::-1]

    left = np.zeros(len(keys))
    for rating in (r for r in RATINGS if f"share_{r}" in summary):
        share = 100.0 * summary[f"share_{rating}"].to_numpy()
        ax.barh(positions, share, left=left, color=RATING_COLORS[rating], label=rating,
                **({"height": 0.7, "edgecolor": "white"} | kwargs))
        left += share

    labels = [
        f"{_KIND_TITLES[summary.loc[key, 'kind']]}: {_LABELS[key].replace(' (applicability)', '')}"
        for key in keys
    ]
    ax.set_yticks(positions, labels)
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"Share of studies (%), n = {len(ratings.ratings)}")
    ax.set_title("QUADAS-2 summary")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18 - 0.1 / max(len(keys), 1)),
              ncol=4, frameon=False)
    return ax


def plot_quadas_traffic_light(ratings, fig=None, **kwargs):
    """Draw one coloured circle per study and domain, with the rating's symbol inside.

    Parameters
    ----------
    ratings : QuadasRatings
        From :func:`bayesdta.quadas.read_quadas`.
    fig : matplotlib.figure.Figure, optional
        Figure to draw on; one Axes is added. By default a new figure is made, tall
        enough for one row per study.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.scatter` for the circles, for example ``s``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = ratings.ratings
    n_studies, n_domains = table.shape
    if fig is None:
        fig = plt.figure(figsize=(1.0 + 0.75 * n_domains + 2.5, 0.22 * n_studies + 2.2))
    ax = fig.add_subplot()

    rows = np.arange(n_studies)
    for column, key in enumerate(table.columns):
        values = table[key].to_numpy()
        colors = [RATING_COLORS[value] for value in values]
        ax.scatter(np.full(n_studies, column), rows, c=colors,
                   **({"s": 90, "edgecolors": "white", "linewidths": 0.5} | kwargs))
        for row, value in zip(rows, values, strict=True):
            ax.text(column, row, RATING_SYMBOLS[value], ha="center", va="center",
                    color="white", fontsize=7, fontweight="bold")

    n_risk = sum(1 for key in table.columns if key in _LABELS and "applicability" not in key)
    if 0 < n_risk < n_domains:
        ax.axvline(n_risk - 0.5, color="black", linewidth=0.8)
    ax.set_xticks(range(n_domains), [_LABELS[key] for key in table.columns], rotation=45,
                  ha="left", fontsize="small")
    ax.xaxis.tick_top()
    ax.set_yticks(rows, [str(study) for study in table.index], fontsize="x-small")
    ax.set_xlim(-0.6, n_domains - 0.4)
    ax.set_ylim(n_studies - 0.5, -0.5)
    for side in ("right", "bottom"):
        ax.spines[side].set_visible(False)

    handles = [Patch(color=RATING_COLORS[r], label=f"{RATING_SYMBOLS[r]} {r}")
               for r in _present_ratings(ratings)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              fontsize="small", title="rating")
    fig.tight_layout()
    return fig
