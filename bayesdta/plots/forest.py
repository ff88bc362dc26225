"""The paired forest plot: sensitivity and specificity of every study, pooled and predicted."""

from __future__ import annotations

import logging

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.patches import Polygon
from scipy.special import expit
from scipy.stats import binomtest

from ..intervals import interval_object

__all__ = ["plot_forest", "forest_figure_size", "study_intervals", "STUDY_INTERVAL_METHODS"]

logger = logging.getLogger(__name__)

#: Study interval methods: name to the ``method`` of ``scipy.stats.BinomTestResult.proportion_ci``.
STUDY_INTERVAL_METHODS = {"clopper-pearson": "exact", "wilson": "wilson"}

_ROW_HEIGHT = 0.22  # inches per row
_PANEL_WIDTH = 2.6  # inches per panel
_COUNT_COLUMNS = ("tp", "fp", "fn", "tn")


def study_intervals(
    successes, trials, prob: float = 0.95, method: str = "clopper-pearson"
) -> pd.DataFrame:
    """Return each study's proportion with its binomial confidence interval.

    Parameters
    ----------
    successes, trials : array-like of int
        For sensitivity ``tp`` and ``tp + fn``; for specificity ``tn`` and ``tn + fp``.
    prob : float, default 0.95
        Confidence level.
    method : {"clopper-pearson", "wilson"}
        The exact interval (Clopper & Pearson, Biometrika 1934;26:404) or the Wilson score
        interval without continuity correction (Wilson, JASA 1927;22:209).

    Returns
    -------
    pandas.DataFrame
        Columns ``estimate``, ``lower``, ``upper``; NaN where ``trials`` is 0.
    """
    if method not in STUDY_INTERVAL_METHODS:
        raise ValueError(
            f"unknown study interval method {method!r}; valid methods: "
            f"{sorted(STUDY_INTERVAL_METHODS)}"
        )
    rows = []
    for k, n in zip(np.asarray(successes, dtype=int), np.asarray(trials, dtype=int), strict=True):
        if n == 0:
            rows.append((np.nan, np.nan, np.nan))
            continue
        interval = binomtest(int(k), int(n)).proportion_ci(
            confidence_level=prob, method=STUDY_INTERVAL_METHODS[method]
        )
        rows.append((k / n, interval.low, interval.high))
    return pd.DataFrame(rows, columns=["estimate", "lower", "upper"])


def _pooled_rows(trace: xr.DataTree, measure: str, prob: float) -> dict[str, dict[str, float]]:
    posterior = trace["posterior"]
    pooled = expit(posterior["mu"].sel(measure=measure).values)
    rows = {"pooled": interval_object(pooled, prob)}
    if "new_study_logit" in posterior:
        new = expit(posterior["new_study_logit"].sel(measure=measure).values)
        rows["new"] = interval_object(new, prob)
    return rows


def _counts_table(trace: xr.DataTree) -> pd.DataFrame:
    observed = trace["observed_data"]
    constant = trace["constant_data"]
    return pd.DataFrame(
        {
            "tp": observed["tp"].values,
            "fp": constant["fp"].values,
            "fn": constant["fn"].values,
            "tn": observed["tn"].values,
        },
        index=pd.Index(constant["study"].values, name="study"),
    )


def _draw_panel(ax, studies, pooled_rows, positions, prob, color, title, **kwargs):
    y = positions["studies"]
    ax.errorbar(
        studies["estimate"],
        y,
        xerr=[studies["estimate"] - studies["lower"], studies["upper"] - studies["estimate"]],
        fmt="s",
        color="black",
        markersize=3.5,
        elinewidth=0.9,
        capsize=0,
        clip_on=False,
        **kwargs,
    )

    pooled = pooled_rows["pooled"]
    half = 0.32
    diamond = Polygon(
        [
            (pooled["lower"], positions["pooled"]),
            (pooled["median"], positions["pooled"] + half),
            (pooled["upper"], positions["pooled"]),
            (pooled["median"], positions["pooled"] - half),
        ],
        closed=True,
        facecolor=color,
        edgecolor=color,
    )
    ax.add_patch(diamond)
    ax.axvline(pooled["median"], color=color, linestyle="--", linewidth=0.8, alpha=0.7, zorder=0)

    if "new" in pooled_rows:
        new = pooled_rows["new"]
        ax.plot([new["lower"], new["upper"]], [positions["new"]] * 2, color=color, linewidth=2.2)
        ax.plot(
            new["median"],
            positions["new"],
            marker="D",
            markersize=6,
            color="white",
            markeredgecolor=color,
            markeredgewidth=1.5,
        )

    ax.set_xlim(0.0, 1.0)
    ax.set_xticks([0.0, 0.25, 0.5, 0.75, 1.0], ["0", "0.25", "0.5", "0.75", "1"])
    ax.set_ylim(positions["bottom"], positions["top"])
    ax.set_yticks([])
    ax.set_xlabel(title)
    ax.set_title(
        f"{title}: {pooled['median']:.2f} ({pooled['lower']:.2f}-{pooled['upper']:.2f})",
        fontsize="medium",
    )
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def _draw_labels(ax, counts, positions, prob, show_new, count_x):
    percent = f"{100 * prob:g}%"
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(positions["bottom"], positions["top"])
    ax.axis("off")

    header_y = positions["top"] - 0.4
    ax.text(0.0, header_y, "Study", fontweight="bold", va="center")
    for x, name in zip(count_x, _COUNT_COLUMNS, strict=True):
        ax.text(x, header_y, name.upper(), fontweight="bold", ha="right", va="center")

    for y, (study, row) in zip(positions["studies"], counts.iterrows(), strict=True):
        # parse_math=False: a study label such as "$100 test" is text, not math.
        ax.text(0.0, y, str(study), va="center", fontsize="small", parse_math=False)
        for x, name in zip(count_x, _COUNT_COLUMNS, strict=True):
            ax.text(x, y, f"{row[name]:d}", ha="right", va="center", fontsize="small")

    ax.text(
        0.0,
        positions["pooled"],
        f"Pooled (posterior median, {percent} CrI)",
        va="center",
        fontweight="bold",
        fontsize="small",
    )
    if show_new:
        ax.text(
            0.0,
            positions["new"],
            f"New study ({percent} prediction interval)",
            va="center",
            fontweight="bold",
            fontsize="small",
        )


def _row_positions(n_studies: int) -> dict:
    # Studies from the top in table order, a gap, then the pooled and the new-study rows.
    studies = np.arange(n_studies, 0, -1, dtype=float) + 2.5
    return {
        "studies": studies,
        "pooled": 1.5,
        "new": 0.5,
        "bottom": -0.2,
        "top": n_studies + 4.0,
    }


def _layout(counts: pd.DataFrame):
    # Widths in inches: the study labels (small font, about 0.07 in per character, and at
    # least as wide as the pooled-row labels), four count columns, two panels.
    label_width = max(2.6, 0.07 * max(len(str(study)) for study in counts.index) + 0.2)
    count_width = 0.18 + 0.08 * len(str(int(counts.to_numpy().max())))
    widths = [label_width + count_width * len(_COUNT_COLUMNS), _PANEL_WIDTH, _PANEL_WIDTH]
    count_x = (label_width + count_width * np.arange(1, len(_COUNT_COLUMNS) + 1)) / widths[0]
    size = (sum(widths) + 1.0, 1.4 + _ROW_HEIGHT * (len(counts) + 4))
    return widths, count_x, size


def forest_figure_size(trace: xr.DataTree) -> tuple[float, float]:
    """Return the (width, height) in inches that :func:`plot_forest` gives a new figure."""
    return _layout(_counts_table(trace))[2]


def plot_forest(
    trace: xr.DataTree,
    fig=None,
    *,
    prob: float = 0.95,
    interval: str = "clopper-pearson",
    color="C0",
    **kwargs,
):
    """Plot sensitivity and specificity of each study side by side, with the pooled rows.

    Each study row shows its observed proportion with a binomial confidence interval and
    its counts. Below them, the pooled value (posterior median of ``expit(mu)`` with its
    equal-tailed credible interval, drawn as a diamond) and a new study's value (posterior
    predictive median and interval, an open diamond on a line).

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`.
    fig : matplotlib.figure.Figure, optional
        Figure to draw on (it should be empty); a new one sized to the number of studies by
        default.
    prob : float, default 0.95
        Level of the study intervals and probability of the credible and prediction
        intervals.
    interval : {"clopper-pearson", "wilson"}
        Study interval method, see :func:`study_intervals`.
    color : matplotlib colour, default "C0"
        Colour of the pooled and new-study rows.
    **kwargs
        Passed to ``Axes.errorbar`` for the study rows.

    Returns
    -------
    matplotlib.figure.Figure
        With three Axes: the labels and counts, sensitivity, specificity.
    """
    counts = _counts_table(trace)
    widths, count_x, size = _layout(counts)
    if fig is None:
        fig = plt.figure(figsize=size)
    height = fig.get_figheight()
    panels = fig.add_gridspec(
        1, 3, width_ratios=widths, wspace=0.12, bottom=0.8 / height, top=1.0 - 0.5 / height
    )
    label_ax = fig.add_subplot(panels[0])
    sens_ax = fig.add_subplot(panels[1])
    spec_ax = fig.add_subplot(panels[2])
    positions = _row_positions(len(counts))

    sensitivity = study_intervals(counts["tp"], counts["tp"] + counts["fn"], prob, interval)
    specificity = study_intervals(counts["tn"], counts["tn"] + counts["fp"], prob, interval)
    sens_rows = _pooled_rows(trace, "sensitivity", prob)
    spec_rows = _pooled_rows(trace, "specificity", prob)

    _draw_labels(label_ax, counts, positions, prob, "new" in sens_rows, count_x)
    _draw_panel(sens_ax, sensitivity, sens_rows, positions, prob, color, "Sensitivity", **kwargs)
    _draw_panel(spec_ax, specificity, spec_rows, positions, prob, color, "Specificity", **kwargs)
    method_name = "Clopper-Pearson" if interval == "clopper-pearson" else "Wilson"
    fig.text(
        0.01,
        0.005,
        f"Study intervals: {100 * prob:g}% {method_name}. Pooled values are the median study "
        f"(expit of the mean logit).",
        ha="left",
        va="bottom",
        fontsize="x-small",
        color="0.35",
    )
    return fig
