"""Tidy posterior summaries: one row per quantity, intervals from ArviZ."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from .derived import QUANTITY_LABELS, pooled_draws

__all__ = ["summarize", "summarize_draws", "SUMMARY_COLUMNS"]

SUMMARY_COLUMNS = [
    "label",
    "mean",
    "median",
    "sd",
    "eti_lower",
    "eti_upper",
    "hdi_lower",
    "hdi_upper",
    "ess_bulk",
    "ess_tail",
    "r_hat",
]


def summarize_draws(
    draws: xr.Dataset, prob: float = 0.95, labels: dict[str, str] | None = None
) -> pd.DataFrame:
    """Summarise scalar quantities given per draw (dims ``chain, draw``).

    Parameters
    ----------
    draws : xarray.Dataset
        One variable per quantity, each with dims ``(chain, draw)`` only.
    prob : float, default 0.95
        Probability mass of the equal-tailed interval and the highest-density interval.
    labels : dict, optional
        Readable label of each quantity.

    Returns
    -------
    pandas.DataFrame
        Index ``quantity``; columns :data:`SUMMARY_COLUMNS`; ``attrs["prob"]`` is ``prob``.
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob!r}")
    labels = labels or {}
    eti = az.eti(draws, prob=prob)
    hdi = az.hdi(draws, prob=prob)
    # A quantity held constant (a fixed correlation) has no ESS or R-hat, so both are NaN.
    with np.errstate(invalid="ignore", divide="ignore"):
        ess_bulk = az.ess(draws, method="bulk")
        ess_tail = az.ess(draws, method="tail")
        rhat = az.rhat(draws)

    rows = []
    for name in draws.data_vars:
        values = draws[name].values
        rows.append(
            {
                "quantity": name,
                "label": labels.get(name, name),
                "mean": float(np.mean(values)),
                "median": float(np.median(values)),
                "sd": float(np.std(values, ddof=1)),
                "eti_lower": float(eti[name].sel(ci_bound="lower")),
                "eti_upper": float(eti[name].sel(ci_bound="upper")),
                "hdi_lower": float(hdi[name].sel(ci_bound="lower")),
                "hdi_upper": float(hdi[name].sel(ci_bound="upper")),
                "ess_bulk": float(ess_bulk[name]),
                "ess_tail": float(ess_tail[name]),
                "r_hat": float(rhat[name]),
            }
        )
    table = pd.DataFrame(rows).set_index("quantity")[SUMMARY_COLUMNS]
    table.attrs["prob"] = prob
    return table


def summarize(trace: xr.DataTree, prob: float = 0.95) -> pd.DataFrame:
    """Summarise a bivariate-model trace: pooled accuracy, heterogeneity and a new study.

    Rows: pooled sensitivity, specificity, false-positive rate, DOR, LR+, LR-, the two logit
    means, the two between-study SDs, the correlation, and the predictive sensitivity and
    specificity of a new study (from draws of a new study's logits). Pooled values are
    ``expit`` of the mean logits, the median of the study-level distribution.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`.
    prob : float, default 0.95
        Probability of the equal-tailed (``eti_*``) and highest-density (``hdi_*``) intervals.

    Returns
    -------
    pandas.DataFrame
        One row per quantity, see :data:`SUMMARY_COLUMNS`.

    Examples
    --------
    >>> import bayesdta
    >>> trace = bayesdta.fit(bayesdta.build_bivariate_model("auditc"), seed=1)  # doctest: +SKIP
    >>> bayesdta.summarize(trace).loc["sensitivity", "median"]  # doctest: +SKIP
    0.92...
    """
    return summarize_draws(pooled_draws(trace), prob=prob, labels=QUANTITY_LABELS)
