"""Accuracy measures computed per posterior draw from the model parameters.

Formulas, with ``A = logit(sensitivity)`` and ``B = logit(specificity)`` (Reitsma et al.
2005; Zwinderman & Bossuyt 2008, Stat Med 27:687-697 for the likelihood ratios):
``sens = expit(mu_A)``, ``spec = expit(mu_B)``, ``FPR = 1 - spec``, ``DOR = exp(mu_A + mu_B)``,
``LR+ = sens / (1 - spec)``, ``LR- = (1 - sens) / spec``.

``expit(mu)`` is the median of the study-level distribution of sensitivity, which is what
the bivariate model pools; it is not the mean of the study sensitivities.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.special import expit

__all__ = ["accuracy_measures", "pooled_draws", "QUANTITY_LABELS"]

#: Human-readable label of every quantity that :func:`pooled_draws` returns, in table order.
QUANTITY_LABELS: dict[str, str] = {
    "sensitivity": "Pooled sensitivity",
    "specificity": "Pooled specificity",
    "false_positive_rate": "Pooled false-positive rate (1 - specificity)",
    "dor": "Diagnostic odds ratio",
    "lr_positive": "Positive likelihood ratio (LR+)",
    "lr_negative": "Negative likelihood ratio (LR-)",
    "mu_sens": "Mean logit sensitivity",
    "mu_spec": "Mean logit specificity",
    "tau_sens": "Between-study SD of logit sensitivity",
    "tau_spec": "Between-study SD of logit specificity",
    "rho": "Correlation of logit sensitivity and logit specificity",
    "predictive_sensitivity": "Sensitivity of a new study (predictive)",
    "predictive_specificity": "Specificity of a new study (predictive)",
}


def accuracy_measures(logit_sens, logit_spec) -> dict[str, xr.DataArray]:
    """Return sensitivity, specificity, FPR, DOR, LR+ and LR- from the two logits.

    Works element-wise on arrays or DataArrays of any shape. Ratios are computed on the log
    scale, so that probabilities that round to 0 or 1 in float64 still give finite values.
    """
    sens = expit(logit_sens)
    spec = expit(logit_spec)
    log_sens = -np.logaddexp(0.0, -logit_sens)
    log_one_minus_sens = -np.logaddexp(0.0, logit_sens)
    log_spec = -np.logaddexp(0.0, -logit_spec)
    log_one_minus_spec = -np.logaddexp(0.0, logit_spec)
    return {
        "sensitivity": sens,
        "specificity": spec,
        "false_positive_rate": 1.0 - spec,
        "dor": np.exp(logit_sens + logit_spec),
        "lr_positive": np.exp(log_sens - log_one_minus_spec),
        "lr_negative": np.exp(log_one_minus_sens - log_spec),
    }


def pooled_draws(trace: xr.DataTree) -> xr.Dataset:
    """Return every quantity of :data:`QUANTITY_LABELS` per draw, dims ``(chain, draw)``.

    Parameters
    ----------
    trace : xarray.DataTree
        A bivariate-model trace from :func:`bayesdta.fit`.
    """
    posterior = trace["posterior"]
    mu = posterior["mu"]
    tau = posterior["tau"]
    logit_sens = mu.sel(measure="sensitivity", drop=True)
    logit_spec = mu.sel(measure="specificity", drop=True)
    quantities = accuracy_measures(logit_sens, logit_spec)
    quantities.update(
        {
            "mu_sens": logit_sens,
            "mu_spec": logit_spec,
            "tau_sens": tau.sel(measure="sensitivity", drop=True),
            "tau_spec": tau.sel(measure="specificity", drop=True),
            "rho": posterior["rho"],
        }
    )
    if "new_study_logit" in posterior:
        new = posterior["new_study_logit"]
        quantities["predictive_sensitivity"] = expit(new.sel(measure="sensitivity", drop=True))
        quantities["predictive_specificity"] = expit(new.sel(measure="specificity", drop=True))
    return xr.Dataset({name: xr.DataArray(value) for name, value in quantities.items()})
