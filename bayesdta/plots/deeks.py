"""Deeks' funnel plot: log diagnostic odds ratio against 1 / sqrt(effective sample size)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_deeks_funnel"]


def plot_deeks_funnel(result, ax=None, *, annotate: bool = True, **kwargs):
    """Draw Deeks' funnel plot with the fitted regression line.

    Each study is a point at its diagnostic odds ratio (log x axis) and ``1 / sqrt(ESS)``
    (y axis, inverted so that large studies sit at the top). The line is the weighted
    regression of :func:`bayesdta.deeks.deeks_test`; a vertical line means no asymmetry.
    Tables that needed the 0.5 continuity correction are drawn as open circles.

    Parameters
    ----------
    result : DeeksResult
        From :func:`bayesdta.deeks.deeks_test`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    annotate : bool, default True
        Write the slope and its p-value in the legend.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.scatter` for the study points.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    data = result.data
    exact = ~data["corrected"].to_numpy()

    point_style = {"s": 30, "color": "C0", "zorder": 3} | kwargs
    ax.scatter(np.exp(data["log_dor"][exact]), data["inv_sqrt_ess"][exact], label="study",
               **point_style)
    if (~exact).any():
        open_style = point_style | {"facecolors": "none", "edgecolors": point_style["color"]}
        open_style.pop("color")
        ax.scatter(np.exp(data["log_dor"][~exact]), data["inv_sqrt_ess"][~exact],
                   label="study with 0.5 added to each cell", **open_style)

    y = np.linspace(0.0, data["inv_sqrt_ess"].max() * 1.05, 50)
    label = "weighted regression"
    if annotate:
        label += f" (slope {result.slope:.2f}, p = {result.p_value:.3f})"
    ax.plot(np.exp(result.intercept + result.slope * y), y, color="C3", label=label)

    ax.set_xscale("log")
    ax.set_ylim(y[-1], 0.0)
    ax.set_xlabel("Diagnostic odds ratio (log scale)")
    ax.set_ylabel("1 / sqrt(effective sample size)")
    ax.set_title("Deeks' funnel plot asymmetry test")
    ax.legend(loc="lower left", fontsize="small", frameon=False)
    return ax
