"""Clinical-utility plots: Fagan's nomogram and post-test against pre-test probability."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import logit

from ..clinical import default_prevalences, likelihood_ratio_draws, post_test_probability

logger = logging.getLogger(__name__)

__all__ = ["plot_fagan_nomogram", "plot_post_test_curve", "write_review_figures"]

#: File names written by :func:`write_review_figures`.
REVIEW_FIGURES = ("deeks_funnel.png", "fagan.png", "post_test.png")

_PROBABILITY_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7,
                      0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999)
_RATIO_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100,
                200, 500, 1000)


def _ratio_interval(draws, prob: float) -> tuple[float, float, float]:
    tail = (1.0 - prob) / 2.0
    lower, median, upper = np.quantile(np.ravel(draws), [tail, 0.5, 1.0 - tail])
    return float(median), float(lower), float(upper)


def _draw_scales(ax) -> None:
    # Fagan's construction: the pre-test axis at x = -1 carries -logit(p), the LR axis at
    # x = 0 carries log(LR) / 2, and the post-test axis at x = 1 carries logit(p'). A straight
    # line through the first two then meets the third at logit(p) + log(LR), the post-test
    # log odds.
    for x in (-1.0, 0.0, 1.0):
        ax.axvline(x, color="black", linewidth=1.0)
    for p in _PROBABILITY_TICKS:
        label = f"{100 * p:g}"
        ax.plot([-1.0, -0.97], [-logit(p)] * 2, color="black", linewidth=0.8)
        ax.text(-1.03, -logit(p), label, ha="right", va="center", fontsize="x-small")
        ax.plot([0.97, 1.0], [logit(p)] * 2, color="black", linewidth=0.8)
        ax.text(1.03, logit(p), label, ha="left", va="center", fontsize="x-small")
    for ratio in _RATIO_TICKS:
        y = np.log(ratio) / 2.0
        ax.plot([-0.015, 0.015], [y, y], color="black", linewidth=0.8)
        ax.text(0.03, y, f"{ratio:g}", ha="left", va="center", fontsize="x-small")


def _draw_ratio_line(ax, pretest, ratios, color, name) -> None:
    median, lower, upper = ratios
    start = -logit(pretest)
    band_x = [-1.0, 1.0, 1.0]
    band_y = [start, logit(pretest) + np.log(lower), logit(pretest) + np.log(upper)]
    ax.fill(band_x, band_y, color=color, alpha=0.2, linewidth=0)
    post = post_test_probability(pretest, median)
    ax.plot([-1.0, 1.0], [start, logit(pretest) + np.log(median)], color=color,
            label=f"{name} {median:.2f}: post-test {100 * post:.1f}%")


def plot_fagan_nomogram(trace, pretest: float, ax=None, *, prob: float = 0.95,
                        which: str = "pooled", **kwargs):
    """Draw Fagan's nomogram for one pre-test probability, with bands from the posterior.

    A line from the pre-test probability (left scale) through the likelihood ratio (middle
    scale) meets the post-test probability (right scale). One line per result: LR+ (red)
    and LR- (blue) at their posterior medians, each with a shaded fan between the ends of
    its equal-tailed ``prob`` interval.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`.
    pretest : float
        Pre-test probability, in (0, 1).
    ax : matplotlib.axes.Axes, optional
    prob : float, default 0.95
        Probability of the bands.
    which : {"pooled", "predictive"}, default "pooled"
        Likelihood ratios of the pooled estimate or of a new study, see
        :func:`bayesdta.clinical.likelihood_ratio_draws`.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.set`, for example ``title``.

    Returns
    -------
    matplotlib.axes.Axes

    References
    ----------
    Fagan TJ. Nomogram for Bayes's theorem. N Engl J Med 1975;293:257.
    """
    if not 0.0 < pretest < 1.0:
        raise ValueError(f"pretest must lie strictly between 0 and 1, got {pretest!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 6.5))
    ratios = likelihood_ratio_draws(trace, which)

    _draw_scales(ax)
    _draw_ratio_line(ax, pretest, _ratio_interval(ratios["lr_positive"].values, prob), "C3",
                     "LR+")
    _draw_ratio_line(ax, pretest, _ratio_interval(ratios["lr_negative"].values, prob), "C0",
                     "LR-")

    limit = logit(_PROBABILITY_TICKS[-1]) * 1.02
    ax.set_ylim(-limit, limit)
    ax.set_xlim(-1.35, 1.35)
    ax.set_xticks([-1.0, 0.0, 1.0], ["Pre-test\nprobability (%)", "Likelihood\nratio",
                                     "Post-test\nprobability (%)"])
    ax.set_yticks([])
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize="small", frameon=False,
              title=f"pre-test {100 * pretest:g}%, {100 * prob:g}% bands")
    ax.set(**({"title": "Fagan nomogram"} | kwargs))
    return ax


def plot_post_test_curve(trace, ax=None, *, prob: float = 0.95, which: str = "pooled",
                         n_points: int = 199, **kwargs):
    """Plot post-test against pre-test probability after a positive and a negative result.

    Lines are posterior medians and bands equal-tailed ``prob`` intervals, from the draws of
    LR+ and LR-. The diagonal is a test without information (LR = 1).

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`.
    ax : matplotlib.axes.Axes, optional
    prob : float, default 0.95
    which : {"pooled", "predictive"}, default "pooled"
    n_points : int, default 199
        Pre-test probabilities on an even grid strictly inside (0, 1).
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.plot` for the two median lines.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    grid = np.linspace(0.0, 1.0, n_points + 2)[1:-1]
    ratios = likelihood_ratio_draws(trace, which)
    tail = (1.0 - prob) / 2.0

    results = (("lr_positive", "C3", "positive result"), ("lr_negative", "C0", "negative result"))
    for name, color, label in results:
        draws = np.ravel(ratios[name].values)
        curves = post_test_probability(grid[None, :], draws[:, None])
        lower, median, upper = np.quantile(curves, [tail, 0.5, 1.0 - tail], axis=0)
        ax.fill_between(grid, lower, upper, color=color, alpha=0.2, linewidth=0)
        ax.plot(grid, median, **({"color": color, "label": label} | kwargs))

    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="no information")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Pre-test probability")
    ax.set_ylabel("Post-test probability")
    ax.legend(loc="upper left", fontsize="small", frameon=False,
              title=f"median, {100 * prob:g}% band")
    return ax


def write_review_figures(table, trace, out, prevalence: float | None = None,
                         prob: float = 0.95) -> list[Path]:
    """Write Deeks' funnel plot, the Fagan nomogram and the post-test curve as PNG files.

    Parameters
    ----------
    table : StudyTable
        The studies of the fit, for Deeks' test.
    trace : xarray.DataTree
        From :func:`bayesdta.fit`.
    out : path
        Existing folder; the files of :data:`REVIEW_FIGURES` are written there, replacing
        files of those names. The funnel plot is left out when Deeks' test cannot be computed
        (fewer than 3 tables with both margins).
    prevalence : float, optional
        Pre-test probability of the nomogram; default the median prevalence of the studies.
    prob : float, default 0.95
        Probability of the bands.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from matplotlib.figure import Figure

    from ..deeks import deeks_test
    from .deeks import plot_deeks_funnel

    if prevalence is None:
        prevalence = default_prevalences(trace)[0]
    figures = {}
    try:
        with warnings.catch_warnings():
            # analyze reports Deeks' test and its warnings once, beside the JSON or text.
            warnings.simplefilter("ignore")
            result = deeks_test(table)
    except ValueError as error:
        logger.info("no funnel plot: %s", error)
    else:
        figures["deeks_funnel.png"] = plot_deeks_funnel(
            result, ax=Figure(figsize=(5.5, 4.5), layout="constrained").add_subplot()).figure
    figures["fagan.png"] = plot_fagan_nomogram(
        trace, prevalence, ax=Figure(figsize=(4.5, 7.0), layout="constrained").add_subplot(),
        prob=prob).figure
    figures["post_test.png"] = plot_post_test_curve(
        trace, ax=Figure(figsize=(5, 5), layout="constrained").add_subplot(), prob=prob).figure

    written = []
    for name, figure in figures.items():
        path = Path(out) / name
        figure.savefig(path, dpi=150, bbox_inches="tight")
        written.append(path)
    logger.info("wrote %s", ", ".join(str(path) for path in written))
    return written
