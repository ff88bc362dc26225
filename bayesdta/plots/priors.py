"""Plots about priors: the prior predictive check in ROC space, and key quantities across
prior sets from a sensitivity analysis."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_prior_predictive", "plot_prior_sensitivity"]

#: Short panel titles of the quantities of a sensitivity analysis.
PANEL_TITLES = {
    "sensitivity": "Pooled sensitivity",
    "specificity": "Pooled specificity",
    "false_positive_rate": "Pooled false-positive rate",
    "tau_sens": "SD of logit sensitivity",
    "tau_spec": "SD of logit specificity",
    "rho": "Correlation of the logits",
    "predictive_sensitivity": "Sensitivity of a new study",
    "predictive_specificity": "Specificity of a new study",
}


def plot_prior_predictive(check, ax=None, max_points: int = 2000, seed: int = 0, **kwargs):
    """Draw a prior predictive check in ROC space next to the observed studies.

    Three layers, x = false-positive rate, y = sensitivity: simulated study points
    (``fp / n0``, ``tp / n1`` of data simulated from the prior with the observed study sizes),
    draws of the pooled point ``(1 - expit(mu_spec), expit(mu_sens))``, and the observed
    studies.

    Parameters
    ----------
    check : PriorPredictiveCheck
        From :func:`bayesdta.prior_predictive.prior_predictive_check`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    max_points : int, default 2000
        Largest number of simulated points of each layer drawn (a random subset, for speed).
    seed : int, default 0
        Seed of that subset.
    **kwargs
        Passed to the ``scatter`` of the simulated study points.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    rng = np.random.default_rng(seed)
    studies = check.simulated_studies
    pooled = check.pooled

    simulated_style = {"s": 4, "alpha": 0.15, "color": "tab:blue", "linewidths": 0}
    simulated_style.update(kwargs)
    subset = _subset(len(studies), max_points, rng)
    ax.scatter(
        studies["false_positive_rate"].to_numpy()[subset],
        studies["sensitivity"].to_numpy()[subset],
        label="simulated studies (prior predictive)",
        **simulated_style,
    )
    subset = _subset(len(pooled), max_points, rng)
    ax.scatter(
        pooled["false_positive_rate"].to_numpy()[subset],
        pooled["sensitivity"].to_numpy()[subset],
        s=4,
        alpha=0.3,
        color="tab:orange",
        linewidths=0,
        label="pooled point (prior draws)",
    )
    observed = check.observed
    ax.scatter(
        observed["false_positive_rate"],
        observed["sensitivity"],
        s=30,
        facecolors="none",
        edgecolors="black",
        label="observed studies",
    )

    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("False-positive rate (1 - specificity)")
    ax.set_ylabel("Sensitivity")
    ax.set_title(f"Prior predictive check ({check.prior_set})")
    ax.legend(loc="lower right", fontsize="small", markerscale=2)
    return ax


def _subset(size: int, max_points: int, rng) -> np.ndarray:
    if size <= max_points:
        return np.arange(size)
    return rng.choice(size, size=max_points, replace=False)


def plot_prior_sensitivity(result, quantities=None, fig=None, **kwargs):
    """Draw the median and interval of each quantity under each prior set, one panel each.

    Prior sets run down the vertical axis, the reference set first. A dotted line marks the
    reference median, a dashed red line the decision value of a quantity, and flagged rows
    are drawn in red.

    Parameters
    ----------
    result : SensitivityResult
        From :func:`bayesdta.sensitivity.sensitivity_analysis`.
    quantities : sequence of str, optional
        Quantities to draw. By default, those of :data:`bayesdta.sensitivity.KEY_QUANTITIES`
        that the result contains.
    fig : matplotlib.figure.Figure, optional
        Figure to draw in; a new one is made when omitted. Its axes are replaced.
    **kwargs
        Passed to ``Axes.errorbar`` of every panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from ..sensitivity import KEY_QUANTITIES

    table = result.table
    available = list(dict.fromkeys(table["quantity"]))
    if quantities is None:
        quantities = [name for name in KEY_QUANTITIES if name in available] or available[:5]
    missing = sorted(set(quantities) - set(available))
    if missing:
        raise ValueError(f"quantities {missing} are not in the result; available: {available}")

    names = list(result.prior_sets)
    if fig is None:
        fig = plt.figure(figsize=(3.2 * len(quantities), 0.45 * len(names) + 1.6))
    fig.clear()
    axes = fig.subplots(1, len(quantities), sharey=True, squeeze=False)[0]
    for ax, quantity in zip(axes, quantities, strict=True):
        _draw_quantity(ax, table[table["quantity"] == quantity], names, result, quantity, kwargs)
    axes[0].set_yticks(range(len(names)), names)
    axes[0].invert_yaxis()
    percent = f"{100 * result.prob:g}%"
    fig.suptitle(f"Posterior median and {percent} interval under each prior set")
    fig.tight_layout()
    return fig


def _draw_quantity(ax, rows, names, result, quantity, kwargs) -> None:
    rows = rows.set_index("prior_set").loc[names]
    positions = np.arange(len(names))
    colors = np.where(rows["flagged"].to_numpy(), "tab:red", "black")
    style = {"fmt": "o", "capsize": 3, "markersize": 4}
    style.update(kwargs)
    for position, (_, row), color in zip(positions, rows.iterrows(), colors, strict=True):
        ax.errorbar(
            row["median"],
            position,
            xerr=[[row["median"] - row["lower"]], [row["upper"] - row["median"]]],
            color=color,
            **style,
        )
    ax.axvline(rows.loc[result.reference, "median"], color="grey", linestyle=":", linewidth=1)
    if quantity in result.decision_values:
        ax.axvline(result.decision_values[quantity], color="tab:red", linestyle="--", linewidth=1)
    ax.set_title(PANEL_TITLES.get(quantity, quantity), fontsize="small")
    ax.grid(axis="x", alpha=0.3)
