"""Posterior predictive checks per study: replicated 2x2 counts, observed against predicted
sensitivity and specificity, tail probabilities and outlier flags.

A replicate drawn from a study's own fitted logits (``kind="conditional"``) resembles the
observed table by construction, because that study's data pulled its logits towards it.
The default ``kind="mixed"`` draws a new pair of logits for each study from the
between-study distribution N(mu_i, Sigma) of each posterior draw, then the counts. This is
the mixed predictive check of Marshall & Spiegelhalter (2007), Identifying outliers in
Bayesian hierarchical models: a simulation-based approach, Bayesian Analysis 2:409-444,
which approximates cross-validation without refitting.

The tail probability of a margin is the mid-p value ``P(rep < obs) + P(rep = obs) / 2``,
reported two-sided as ``2 * min(p, 1 - p)``. A study is flagged as an outlier when either
margin's two-sided value is below ``alpha``.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from .errors import BayesDTAWarning
from .marginal_likelihood import study_means
from .trace import read_spec

__all__ = ["replicate_counts", "tail_probabilities", "ppc_table", "PPC_KINDS", "OUTLIER_ALPHA"]

logger = logging.getLogger(__name__)

PPC_KINDS = ("mixed", "conditional")
#: Two-sided tail probability below which a margin marks its study as an outlier. With
#: clean data about 2% of studies get flagged by chance (two margins at 1% each), fewer
#: in practice because posterior predictive p-values are conservative.
OUTLIER_ALPHA = 0.01


def _study_logits(trace: xr.DataTree, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Return logits of shape (chain, draw, study, 2) to replicate from."""
    posterior = trace["posterior"]
    if kind == "conditional":
        return posterior["study_logit"].transpose("chain", "draw", "study", "measure").values

    means = study_means(posterior, _model_kind(trace))
    if means is None:
        warnings.warn(
            "the study means of this model are not stored in the trace, so the posterior "
            "predictive check replicates from each study's own fitted logits "
            "(kind='conditional'), which hides outliers.",
            BayesDTAWarning,
            stacklevel=3,
        )
        return _study_logits(trace, "conditional", rng)

    n_studies = posterior.sizes["study"]
    measures = ["sensitivity", "specificity"]
    mean = means.sel(measure=measures)
    if "study" not in mean.dims:
        mean = mean.expand_dims(study=n_studies)
    mean = mean.transpose("chain", "draw", "study", "measure").values
    tau_name, rho_name = ("study_tau", "study_rho") if "study_tau" in posterior else ("tau", "rho")
    tau = posterior[tau_name].sel(measure=measures)
    if "study" not in tau.dims:
        tau = tau.expand_dims(study=n_studies)
    tau = tau.transpose("chain", "draw", "study", "measure").values
    rho = posterior[rho_name]
    if "study" not in rho.dims:
        rho = rho.expand_dims(study=n_studies)
    rho = rho.transpose("chain", "draw", "study").values

    z = rng.standard_normal(mean.shape)
    logits = np.empty_like(mean)
    logits[..., 0] = mean[..., 0] + tau[..., 0] * z[..., 0]
    logits[..., 1] = mean[..., 1] + tau[..., 1] * (
        rho * z[..., 0] + np.sqrt(1.0 - rho**2) * z[..., 1]
    )
    return logits


def _model_kind(trace: xr.DataTree) -> str:
    try:
        return read_spec(trace)["kind"]
    except ValueError:
        return "bivariate"


def replicate_counts(trace: xr.DataTree, kind: str = "mixed", seed=None) -> xr.Dataset:
    """Draw one replicated 2x2 table per study for every posterior draw.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`.
    kind : {"mixed", "conditional"}, default "mixed"
        Replicate from new study logits drawn from the between-study distribution
        (``"mixed"``), or from each study's own posterior logits (``"conditional"``).
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    xarray.Dataset
        ``tp`` and ``tn`` with dims ``(chain, draw, study)``: replicated counts out of the
        observed ``n_diseased`` and ``n_healthy``.
    """
    if kind not in PPC_KINDS:
        raise ValueError(f"kind {kind!r} is not valid; choose one of {PPC_KINDS}")
    rng = np.random.default_rng(seed)
    logits = _study_logits(trace, kind, rng)
    constant = trace["constant_data"]
    n_diseased = constant["n_diseased"].values
    n_healthy = constant["n_healthy"].values
    tp = rng.binomial(n_diseased, expit(logits[..., 0]))
    tn = rng.binomial(n_healthy, expit(logits[..., 1]))
    posterior = trace["posterior"]
    coords = {
        "chain": posterior["chain"].values,
        "draw": posterior["draw"].values,
        "study": constant["study"].values,
    }
    dims = ("chain", "draw", "study")
    return xr.Dataset({"tp": (dims, tp), "tn": (dims, tn)}, coords=coords, attrs={"kind": kind})


def tail_probabilities(replicated: xr.DataArray, observed: xr.DataArray) -> xr.DataArray:
    """Return the two-sided mid-p tail probability of each observed count.

    Parameters
    ----------
    replicated : xarray.DataArray
        Dims ``(chain, draw, study)``.
    observed : xarray.DataArray
        Dims ``(study,)``.

    Returns
    -------
    xarray.DataArray
        Dims ``(study,)``, values in [0, 1]: ``2 * min(p, 1 - p)`` with
        ``p = P(rep < obs) + P(rep = obs) / 2``.
    """
    below = (replicated < observed).mean(("chain", "draw"))
    equal = (replicated == observed).mean(("chain", "draw"))
    lower = below + 0.5 * equal
    return np.minimum(1.0, 2.0 * np.minimum(lower, 1.0 - lower))


def ppc_table(
    trace: xr.DataTree,
    prob: float = 0.95,
    kind: str = "mixed",
    alpha: float = OUTLIER_ALPHA,
    seed=None,
) -> pd.DataFrame:
    """Compare each study's observed sensitivity and specificity with their predictions.

    Parameters
    ----------
    trace : xarray.DataTree
    prob : float, default 0.95
        Probability of the equal-tailed predictive interval.
    kind : {"mixed", "conditional"}, default "mixed"
        See :func:`replicate_counts`.
    alpha : float, default 0.01
        Two-sided tail probability below which a margin flags its study.
    seed : int, optional

    Returns
    -------
    pandas.DataFrame
        Index ``study``. For ``m`` in ``sensitivity`` and ``specificity``: ``observed_m``
        (the study's proportion, NaN when the margin has no participants),
        ``predicted_m``, ``predicted_m_lower``, ``predicted_m_upper`` (median and interval
        of the replicated proportion), ``fitted_m`` (posterior median of the study's own
        value), ``ppc_p_m`` (two-sided tail probability); and ``outlier``. ``attrs`` holds
        ``kind``, ``prob`` and ``alpha``.
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    replicated = replicate_counts(trace, kind=kind, seed=seed)
    observed = trace["observed_data"]
    constant = trace["constant_data"]
    study_logit = trace["posterior"]["study_logit"]
    tail = (1.0 - prob) / 2.0

    columns = {}
    margins = {
        "sensitivity": ("tp", constant["n_diseased"]),
        "specificity": ("tn", constant["n_healthy"]),
    }
    for measure, (cell, totals) in margins.items():
        informative = totals.values > 0
        safe_totals = xr.where(totals > 0, totals, 1)
        proportion = replicated[cell] / safe_totals
        quantiles = proportion.quantile([tail, 0.5, 1.0 - tail], dim=("chain", "draw")).values
        p_values = tail_probabilities(replicated[cell], observed[cell]).values
        fitted = expit(study_logit.sel(measure=measure)).median(("chain", "draw")).values
        columns[f"observed_{measure}"] = np.where(
            informative, observed[cell].values / safe_totals.values, np.nan
        )
        columns[f"predicted_{measure}"] = np.where(informative, quantiles[1], np.nan)
        columns[f"predicted_{measure}_lower"] = np.where(informative, quantiles[0], np.nan)
        columns[f"predicted_{measure}_upper"] = np.where(informative, quantiles[2], np.nan)
        columns[f"fitted_{measure}"] = fitted
        columns[f"ppc_p_{measure}"] = np.where(informative, p_values, np.nan)

    table = pd.DataFrame(columns, index=pd.Index(constant["study"].values, name="study"))
    p_values = table[["ppc_p_sensitivity", "ppc_p_specificity"]]
    table["outlier"] = (p_values < alpha).any(axis=1)
    table.attrs.update({"kind": kind, "prob": prob, "alpha": alpha})
    logger.info(
        "posterior predictive check (%s): %d of %d studies flagged at alpha %g",
        kind,
        int(table["outlier"].sum()),
        len(table),
        alpha,
    )
    return table
