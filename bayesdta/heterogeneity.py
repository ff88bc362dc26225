"""Heterogeneity of a bivariate fit: I-squared per margin and bivariate, per posterior draw,
and the between-study SDs translated to the probability scale.

Per margin, I-squared is the share of the total variance of the study logits that lies
between studies, ``I2_m = tau_m^2 / (tau_m^2 + s_m^2)``, where ``s_m^2`` is the typical
within-study variance of Higgins & Thompson (2002, Quantifying heterogeneity in a
meta-analysis, Stat Med 21:1539-1558, eq. 9):
``s^2 = (k - 1) sum(w) / ((sum w)^2 - sum(w^2))`` with ``w_i = 1 / v_i``.

The within-study variance of an empirical logit is ``v_i = 1 / x_i + 1 / (n_i - x_i)``, the
delta-method variance that R mada's ``reitsma`` uses. As there, 0.5 is added to every cell
of every study when any cell of the data is 0. The correction enters these typical
variances only, never the likelihood.

The bivariate I-squared of Zhou & Dendukuri (2014, Statistics for quantifying heterogeneity
in univariate and bivariate meta-analyses of binary data: the case of meta-analyses of
diagnostic accuracy, Stat Med 33:2701-2717) compares generalised variances (determinants):
``I2_B = sqrt(det Sigma) / (sqrt(det Sigma) + sqrt(det S))`` with ``Sigma`` the
between-study covariance of the logits and ``S = diag(s_sens^2, s_spec^2)`` the typical
within-study covariance (sensitivity and specificity come from different participants, so
their within-study covariance is 0).
"""

# NOTE: the within-study variances and the continuity rule match R mada's reitsma.R as of
# its cran mirror commit 3f2a2e8, which predates mada's I-squared output. The bivariate
# formula has not been compared with that output, so a difference in its definition of the
# typical within-study covariance is possible.

from __future__ import annotations

import logging

import numpy as np
import xarray as xr
from scipy.special import expit

from .intervals import interval_object
from .trace import read_spec

__all__ = [
    "typical_within_variance",
    "within_study_variances",
    "i_squared_draws",
    "heterogeneity_summary",
    "describe_between_study_sd",
]

logger = logging.getLogger(__name__)

_MEASURES = ("sensitivity", "specificity")
_Z95 = 1.959963984540054


def within_study_variances(tp, n_diseased, tn, n_healthy) -> dict[str, np.ndarray]:
    """Return the delta-method variances ``1/x + 1/(n - x)`` of each study's empirical logits.

    0.5 is added to every cell of every study when any cell is 0 (mada's default
    ``correction.control = "all"``). Studies without participants in a margin get NaN
    in that margin.

    Returns
    -------
    dict
        ``{"sensitivity": array (study,), "specificity": array (study,)}``.
    """
    tp, n_diseased, tn, n_healthy = (
        np.asarray(v, dtype=float) for v in (tp, n_diseased, tn, n_healthy)
    )
    fn = n_diseased - tp
    fp = n_healthy - tn
    cells = np.stack([tp, fn, fp, tn])
    correction = 0.5 if np.any(cells == 0) else 0.0
    tp, fn, fp, tn = cells + correction
    with np.errstate(divide="ignore", invalid="ignore"):
        sens = np.where(n_diseased > 0, 1.0 / tp + 1.0 / fn, np.nan)
        spec = np.where(n_healthy > 0, 1.0 / tn + 1.0 / fp, np.nan)
    return {"sensitivity": sens, "specificity": spec}


def typical_within_variance(variances) -> float:
    """Return the typical within-study variance of Higgins & Thompson (2002, eq. 9).

    ``s^2 = (k - 1) sum(w) / ((sum w)^2 - sum(w^2))`` with ``w = 1 / v`` over the studies
    with a finite variance. With equal variances ``v`` it equals ``v``.
    """
    variances = np.asarray(variances, dtype=float)
    weights = 1.0 / variances[np.isfinite(variances)]
    k = weights.size
    if k < 2:
        raise ValueError(f"the typical within-study variance needs at least 2 studies, got {k}")
    return float((k - 1) * weights.sum() / (weights.sum() ** 2 - np.sum(weights**2)))


def i_squared_draws(trace: xr.DataTree) -> xr.Dataset:
    """Return I-squared per posterior draw: per margin and bivariate (Zhou & Dendukuri).

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`, with ``tau`` (measure) and ``rho`` in the posterior.

    Returns
    -------
    xarray.Dataset
        ``i2_sensitivity``, ``i2_specificity``, ``i2_bivariate``, dims ``(chain, draw)``,
        values in [0, 1]. ``attrs`` contains the typical within-study variances.
    """
    observed = trace["observed_data"]
    constant = trace["constant_data"]
    variances = within_study_variances(
        observed["tp"].values,
        constant["n_diseased"].values,
        observed["tn"].values,
        constant["n_healthy"].values,
    )
    typical = {m: typical_within_variance(variances[m]) for m in _MEASURES}

    posterior = trace["posterior"]
    tau = {m: posterior["tau"].sel(measure=m, drop=True) for m in _MEASURES}
    rho = posterior["rho"]
    draws = {f"i2_{m}": tau[m] ** 2 / (tau[m] ** 2 + typical[m]) for m in _MEASURES}
    between = tau["sensitivity"] * tau["specificity"] * np.sqrt(1.0 - rho**2)
    within = np.sqrt(typical["sensitivity"] * typical["specificity"])
    draws["i2_bivariate"] = between / (between + within)
    result = xr.Dataset({name: value.reset_coords(drop=True) for name, value in draws.items()})
    result.attrs.update({f"typical_within_variance_{m}": typical[m] for m in _MEASURES})
    return result


def describe_between_study_sd(trace: xr.DataTree, prob: float = 0.95) -> dict[str, str]:
    """Explain each between-study SD in words, on the probability scale.

    For each margin: the range expected to hold the middle 95% of study values,
    ``expit(mu -+ 1.96 tau)``, computed per draw and summarised by its posterior median.

    Returns
    -------
    dict
        One sentence per measure.
    """
    posterior = trace["posterior"]
    regression = _model_kind(trace) == "regression"
    centre = "the reference profile's" if regression else "a pooled"
    spread = "residual between-study SD" if regression else "between-study SD"
    sentences = {}
    for measure in _MEASURES:
        mu = posterior["mu"].sel(measure=measure).values.ravel()
        tau = posterior["tau"].sel(measure=measure).values.ravel()
        tau_interval = interval_object(tau, prob)
        low = float(np.median(expit(mu - _Z95 * tau)))
        high = float(np.median(expit(mu + _Z95 * tau)))
        pooled = float(np.median(expit(mu)))
        sentences[measure] = (
            f"{spread} of logit {measure} {tau_interval['median']:.2f} "
            f"({100 * prob:g}% CrI {tau_interval['lower']:.2f} to {tau_interval['upper']:.2f}): "
            f"around {centre} {measure} of {pooled:.2f}, the middle 95% of studies are "
            f"expected to have {measure} between {low:.2f} and {high:.2f}."
        )
    return sentences


def _model_kind(trace: xr.DataTree) -> str:
    try:
        return read_spec(trace)["kind"]
    except (ValueError, KeyError):
        return "bivariate"


def heterogeneity_summary(trace: xr.DataTree, prob: float = 0.95) -> dict:
    """Return I-squared interval objects and the between-study SDs explained in words.

    Returns
    -------
    dict
        ``i2_sensitivity``, ``i2_specificity``, ``i2_bivariate``: interval objects
        ``{"median", "lower", "upper"}`` (equal-tailed, probability ``prob``);
        ``typical_within_variance``: per measure; ``between_study_sd``: sentences per
        measure.
    """
    draws = i_squared_draws(trace)
    summary = {name: interval_object(draws[name].values, prob) for name in draws.data_vars}
    summary["typical_within_variance"] = {
        m: draws.attrs[f"typical_within_variance_{m}"] for m in _MEASURES
    }
    summary["between_study_sd"] = describe_between_study_sd(trace, prob)
    return summary
