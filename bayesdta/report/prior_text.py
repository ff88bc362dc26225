"""Priors in words: what each prior implies on the scale a reader thinks in."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

__all__ = ["prior_table", "PARAMETER_MEANINGS"]

#: Description of each parameter of the bivariate model, in words.
PARAMETER_MEANINGS = {
    "mu_sens": "pooled sensitivity (expit of the mean logit)",
    "mu_spec": "pooled specificity (expit of the mean logit)",
    "tau_sens": "between-study SD of logit sensitivity",
    "tau_spec": "between-study SD of logit specificity",
    "rho": "correlation of logit sensitivity and logit specificity",
    "beta": "meta-regression coefficients on the logit scale (every covariate)",
}


def _meaning(name: str) -> str:
    if name.startswith("beta_"):
        return f"meta-regression coefficients of {name.removeprefix('beta_')} on the logit scale"
    return PARAMETER_MEANINGS.get(name, name)


def _central_interval(dist: str, params: dict, prob: float) -> tuple[float, float]:
    """Return the central ``prob`` interval of the prior on the model scale.

    Half distributions are folded at 0, so their quantile q is the (1 + q) / 2 quantile of the
    unfolded distribution. ``GammaPrecision`` puts Gamma(alpha, rate beta) on 1 / tau^2, so the
    lower tau quantile comes from the upper precision quantile. ``LKJ(eta)`` on a 2x2
    correlation matrix gives (rho + 1) / 2 ~ Beta(eta, eta).
    """
    low, high = (1 - prob) / 2, (1 + prob) / 2
    quantiles = np.array([low, high])
    if dist == "Normal":
        values = stats.norm(params["mu"], params["sigma"]).ppf(quantiles)
    elif dist == "StudentT":
        values = stats.t(params["nu"], params["mu"], params["sigma"]).ppf(quantiles)
    elif dist == "Beta":
        values = stats.beta(params["alpha"], params["beta"]).ppf(quantiles)
    elif dist == "HalfNormal":
        values = stats.norm(0, params["sigma"]).ppf((1 + quantiles) / 2)
    elif dist == "HalfStudentT":
        values = stats.t(params["nu"], 0, params["sigma"]).ppf((1 + quantiles) / 2)
    elif dist == "HalfCauchy":
        values = stats.cauchy(0, params["beta"]).ppf((1 + quantiles) / 2)
    elif dist == "Exponential":
        values = stats.expon(scale=1 / params["lam"]).ppf(quantiles)
    elif dist == "GammaPrecision":
        precision = stats.gamma(params["alpha"], scale=1 / params["beta"]).ppf(quantiles[::-1])
        values = precision**-0.5
    elif dist == "LKJ":
        values = 2 * stats.beta(params["eta"], params["eta"]).ppf(quantiles) - 1
    elif dist == "Uniform":
        width = params["upper"] - params["lower"]
        values = params["lower"] + width * quantiles
    else:
        raise ValueError(f"no interval rule for the prior family {dist!r}")
    return float(values[0]), float(values[1])


def prior_table(priors: dict[str, dict], prob: float = 0.95) -> pd.DataFrame:
    """Return one row per parameter: the prior, its meaning and its central ``prob`` interval.

    Priors on the mean logits are also shown on the probability scale (a Beta prior is
    already on it), so that, for example, the table shows that Normal(0, 2) puts 95% of its mass on
    pooled sensitivities from 0.02 to 0.98.

    Parameters
    ----------
    priors : dict
        Parameter name to ``{"dist": family, <hyperparameters>}``, as recorded in a trace.
    prob : float, default 0.95
    """
    rows = []
    percent = f"{100 * prob:g}%"
    for name, prior in priors.items():
        params = {key: float(value) for key, value in prior.items() if key != "dist"}
        inner = ", ".join(f"{key}={value:g}" for key, value in params.items())
        lower, upper = _central_interval(prior["dist"], params, prob)
        if name.startswith("mu_"):
            if prior["dist"] != "Beta":
                lower, upper = expit(lower), expit(upper)
            implied = f"{lower:.3f} to {upper:.3f} on the probability scale"
        else:
            implied = f"{lower:.3g} to {upper:.3g}"
        rows.append(
            {
                "parameter": name,
                "meaning": _meaning(name),
                "prior": f"{prior['dist']}({inner})",
                f"central {percent} prior interval": implied,
            }
        )
    return pd.DataFrame(rows)
