"""HSROC parameters computed per posterior draw from the bivariate parameters.

With ``A = logit(sensitivity)``, ``B = logit(specificity)``, between-study SDs ``s_A``, ``s_B``
and covariance ``s_AB = rho * s_A * s_B``, the hierarchical SROC model of Rutter & Gatsonis
(Stat Med 2001;20:2865) is the same model as the bivariate one, with (Harbord et al.,
Biostatistics 2007;8:239-251, section 2.3):

- ``beta = log(s_B / s_A)`` (shape of the curve),
- ``Theta = 0.5 * (sqrt(s_B / s_A) * mu_A - sqrt(s_A / s_B) * mu_B)`` (mean threshold),
- ``Lambda = sqrt(s_B / s_A) * mu_A + sqrt(s_A / s_B) * mu_B`` (mean accuracy),
- ``sigma_theta^2 = 0.5 * (s_A * s_B - s_AB)``,
- ``sigma_alpha^2 = 2 * (s_A * s_B + s_AB)``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["HSROC_LABELS", "hsroc_parameters", "hsroc_draws", "summarize_hsroc"]

logger = logging.getLogger(__name__)

#: Readable label of every HSROC parameter, in table order.
HSROC_LABELS: dict[str, str] = {
    "lambda": "HSROC accuracy (Lambda)",
    "theta": "HSROC threshold (Theta)",
    "beta": "HSROC shape (beta = log of tau_spec / tau_sens)",
    "sigma_alpha": "Between-study SD of accuracy (sigma_alpha)",
    "sigma_theta": "Between-study SD of threshold (sigma_theta)",
}


def hsroc_parameters(mu: xr.DataArray, tau: xr.DataArray, rho: xr.DataArray) -> xr.Dataset:
    """Map bivariate parameters to HSROC parameters, element-wise per draw.

    Parameters
    ----------
    mu : xarray.DataArray
        Mean logits with a ``measure`` dimension holding ``"sensitivity"`` (``mu_A``) and
        ``"specificity"`` (``mu_B``); any other dimensions (``chain``, ``draw``, a covariate
        level) are kept.
    tau : xarray.DataArray
        Between-study SDs of the logits, same ``measure`` dimension, positive.
    rho : xarray.DataArray
        Correlation of the two logits, in (-1, 1).

    Returns
    -------
    xarray.Dataset
        Variables ``lambda``, ``theta``, ``beta``, ``sigma_alpha``, ``sigma_theta`` with the
        dimensions of the inputs other than ``measure``.

    References
    ----------
    Harbord RM, Deeks JJ, Egger M, Whiting P, Sterne JAC. A unification of models for
    meta-analysis of diagnostic accuracy studies. Biostatistics 2007;8:239-251.

    Examples
    --------
    >>> import xarray as xr
    >>> mu = xr.DataArray([1.0, 2.0], dims="measure",
    ...                   coords={"measure": ["sensitivity", "specificity"]})
    >>> tau = xr.DataArray([0.5, 0.5], dims="measure", coords=mu.coords)
    >>> float(hsroc_parameters(mu, tau, xr.DataArray(0.0))["lambda"])
    3.0
    """
    mu_a = mu.sel(measure="sensitivity", drop=True)
    mu_b = mu.sel(measure="specificity", drop=True)
    s_a = tau.sel(measure="sensitivity", drop=True)
    s_b = tau.sel(measure="specificity", drop=True)
    s_ab = rho * s_a * s_b

    ratio = np.sqrt(s_b / s_a)
    return xr.Dataset(
        {
            "lambda": ratio * mu_a + mu_b / ratio,
            "theta": 0.5 * (ratio * mu_a - mu_b / ratio),
            "beta": np.log(s_b / s_a),
            "sigma_alpha": np.sqrt(2.0 * (s_a * s_b + s_ab)),
            "sigma_theta": np.sqrt(0.5 * (s_a * s_b - s_ab)),
        }
    )


def hsroc_draws(trace: xr.DataTree) -> xr.Dataset:
    """Return the HSROC parameters per posterior draw of a bivariate-model trace.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`, with ``mu``, ``tau`` and ``rho`` in its posterior.

    Returns
    -------
    xarray.Dataset
        See :func:`hsroc_parameters`; dims ``(chain, draw)``.
    """
    posterior = trace["posterior"]
    return hsroc_parameters(posterior["mu"], posterior["tau"], posterior["rho"])


def summarize_hsroc(trace: xr.DataTree, prob: float = 0.95) -> pd.DataFrame:
    """Summarise the HSROC parameters like :func:`bayesdta.summarize` does the others.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`.
    prob : float, default 0.95
        Probability of the equal-tailed and highest-density intervals.

    Returns
    -------
    pandas.DataFrame
        One row per parameter of :data:`HSROC_LABELS`, columns of
        :data:`bayesdta.summary.SUMMARY_COLUMNS`.
    """
    from .summary import summarize_draws

    return summarize_draws(hsroc_draws(trace), prob=prob, labels=HSROC_LABELS)
