"""Prior predictive check: what the priors imply before any study is seen.

Draws come from PyMC's ancestral sampler on the built model, so the check uses exactly the
priors and likelihood that a fit would use. Three things are compared with the data:

- the implied prior of the pooled sensitivity and specificity, ``expit(mu_sens)`` and
  ``expit(mu_spec)``, with the between-study SDs and the correlation;
- the implied accuracy of a new study, ``expit`` of ``new_study_logit``;
- simulated studies: 2x2 tables drawn with each observed study's numbers of diseased and
  non-diseased participants, shown as ``tp / n1`` and ``fp / n0`` in ROC space.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from .plots.priors import plot_prior_predictive

__all__ = [
    "PriorPredictiveCheck",
    "prior_predictive_check",
    "prior_predictive_table",
    "plot_prior_predictive",
]

logger = logging.getLogger(__name__)

#: Rows of :func:`prior_predictive_table` and their labels.
TABLE_LABELS = {
    "sensitivity": "Pooled sensitivity",
    "specificity": "Pooled specificity",
    "tau_sens": "Between-study SD of logit sensitivity",
    "tau_spec": "Between-study SD of logit specificity",
    "rho": "Correlation of the logits",
    "predictive_sensitivity": "Sensitivity of a new study",
    "predictive_specificity": "Specificity of a new study",
    "study_sensitivity": "Simulated study sensitivity, tp / (tp + fn)",
    "study_specificity": "Simulated study specificity, tn / (tn + fp)",
}


@dataclass
class PriorPredictiveCheck:
    """Draws from the prior and prior predictive distribution, next to the observed studies.

    Attributes
    ----------
    prior_set : str
        Label of the priors (a set name, or ``"custom priors"``).
    pooled : pandas.DataFrame
        One row per draw: ``sensitivity``, ``specificity``, ``false_positive_rate``,
        ``tau_sens``, ``tau_spec``, ``rho``, ``predictive_sensitivity``,
        ``predictive_specificity``.
    simulated_studies : pandas.DataFrame
        One row per draw and study: ``draw``, ``study``, ``tp``, ``tn``, ``n_diseased``,
        ``n_healthy``, ``sensitivity``, ``specificity``, ``false_positive_rate``. Proportions
        of a margin with no participants are NaN.
    observed : pandas.DataFrame
        One row per study: the same proportions from the data.
    prior : xarray.DataTree
        PyMC's output, groups ``prior`` and ``prior_predictive``.
    """

    prior_set: str
    pooled: pd.DataFrame
    simulated_studies: pd.DataFrame
    observed: pd.DataFrame
    prior: xr.DataTree

    def table(self, prob: float = 0.95) -> pd.DataFrame:
        """Return :func:`prior_predictive_table` of this check."""
        return prior_predictive_table(self, prob=prob)

    def plot(self, ax=None, **kwargs):
        """Draw the check in ROC space; see :func:`plot_prior_predictive`."""
        return plot_prior_predictive(self, ax=ax, **kwargs)


def prior_predictive_check(
    data,
    priors=None,
    *,
    builder=None,
    builder_kwargs=None,
    draws: int = 2000,
    seed: int | None = None,
) -> PriorPredictiveCheck:
    """Draw the priors and simulated studies of a model, without fitting it.

    Parameters
    ----------
    data : DTAModel, StudyTable, DataFrame, path or dataset name
        A built model is used as it is, and ``priors`` must then be omitted. Anything else is
        passed to ``builder`` with ``priors``.
    priors : mapping, str or PriorSet, optional
        As for :func:`bayesdta.priors.resolve_priors`; the default priors when omitted.
    builder : callable, optional
        Model builder; :func:`bayesdta.build_bivariate_model` by default.
    builder_kwargs : mapping, optional
        Further arguments of ``builder``.
    draws : int, default 2000
        Number of prior draws.
    seed : int, optional

    Returns
    -------
    PriorPredictiveCheck

    Examples
    --------
    >>> from bayesdta.prior_predictive import prior_predictive_check
    >>> check = prior_predictive_check("auditc", "cochrane-vague", seed=1)  # doctest: +SKIP
    >>> check.table()  # doctest: +SKIP
    """
    import pymc as pm

    from .models import DTAModel, build_bivariate_model

    if isinstance(data, DTAModel):
        if priors is not None or builder is not None:
            raise ValueError("give priors and builder only with data, not with a built model")
        built = data
    else:
        builder = builder or build_bivariate_model
        built = builder(data, priors=priors, **dict(builder_kwargs or {}))
    if int(draws) != draws or draws < 1:
        raise ValueError(f"draws must be a positive whole number, got {draws!r}")

    # FAST_COMPILE skips the C compilation, which takes longer than the draws themselves.
    prior = pm.sample_prior_predictive(
        draws=int(draws),
        model=built.model,
        random_seed=seed,
        compile_kwargs={"mode": "FAST_COMPILE"},
    )
    label = priors if isinstance(priors, str) else getattr(priors, "name", "custom priors")
    if priors is None:
        label = "default priors"
    return PriorPredictiveCheck(
        prior_set=label,
        pooled=_pooled_frame(prior["prior"]),
        simulated_studies=_simulated_frame(prior["prior_predictive"], built.table),
        observed=_observed_frame(built.table),
        prior=prior,
    )


def _pooled_frame(prior) -> pd.DataFrame:
    mu = prior["mu"].values.reshape(-1, 2)
    tau = prior["tau"].values.reshape(-1, 2)
    frame = pd.DataFrame(
        {
            "sensitivity": expit(mu[:, 0]),
            "specificity": expit(mu[:, 1]),
            "false_positive_rate": 1.0 - expit(mu[:, 1]),
            "tau_sens": tau[:, 0],
            "tau_spec": tau[:, 1],
            "rho": prior["rho"].values.ravel(),
        }
    )
    if "new_study_logit" in prior:
        new = prior["new_study_logit"].values.reshape(-1, 2)
        frame["predictive_sensitivity"] = expit(new[:, 0])
        frame["predictive_specificity"] = expit(new[:, 1])
    return frame


def _proportion(successes: np.ndarray, totals: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(totals > 0, successes / np.where(totals > 0, totals, 1), np.nan)


def _simulated_frame(predictive, table) -> pd.DataFrame:
    tp = predictive["tp"].values.reshape(-1, table.n_studies)
    tn = predictive["tn"].values.reshape(-1, table.n_studies)
    n_draws = tp.shape[0]
    n1 = np.broadcast_to(table.n_diseased, tp.shape)
    n0 = np.broadcast_to(table.n_healthy, tn.shape)
    specificity = _proportion(tn, n0).ravel()
    return pd.DataFrame(
        {
            "draw": np.repeat(np.arange(n_draws), table.n_studies),
            "study": np.tile(np.asarray(table.study_ids, dtype=object), n_draws),
            "tp": tp.ravel(),
            "tn": tn.ravel(),
            "n_diseased": n1.ravel(),
            "n_healthy": n0.ravel(),
            "sensitivity": _proportion(tp, n1).ravel(),
            "specificity": specificity,
            "false_positive_rate": 1.0 - specificity,
        }
    )


def _observed_frame(table) -> pd.DataFrame:
    specificity = _proportion(table.counts("tn"), table.n_healthy)
    return pd.DataFrame(
        {
            "study": table.study_ids,
            "sensitivity": _proportion(table.counts("tp"), table.n_diseased),
            "specificity": specificity,
            "false_positive_rate": 1.0 - specificity,
        }
    )


def prior_predictive_table(check: PriorPredictiveCheck, prob: float = 0.95) -> pd.DataFrame:
    """Summarise a prior predictive check: prior median and interval next to the data.

    Parameters
    ----------
    check : PriorPredictiveCheck
    prob : float, default 0.95
        Probability of the equal-tailed prior intervals.

    Returns
    -------
    pandas.DataFrame
        Index ``quantity`` (see :data:`TABLE_LABELS`); columns ``label``, ``median``,
        ``lower``, ``upper`` (prior draws), and for the simulated study proportions
        ``observed_median``, ``observed_min``, ``observed_max`` of the observed studies and
        ``observed_inside``, the share of observed proportions inside the prior interval.
        A share well below ``prob`` means the priors put little mass where the data are.
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob!r}")
    tail = (1.0 - prob) / 2.0
    rows = []
    for quantity in [name for name in TABLE_LABELS if name in check.pooled]:
        rows.append(_row(quantity, check.pooled[quantity].to_numpy(), tail))
    for measure in ("sensitivity", "specificity"):
        simulated = check.simulated_studies[measure].to_numpy()
        row = _row(f"study_{measure}", simulated, tail)
        observed = check.observed[measure].dropna().to_numpy()
        row.update(
            {
                "observed_median": float(np.median(observed)),
                "observed_min": float(observed.min()),
                "observed_max": float(observed.max()),
                "observed_inside": float(
                    np.mean((observed >= row["lower"]) & (observed <= row["upper"]))
                ),
            }
        )
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("quantity")
    frame.attrs["prob"] = prob
    return frame


def _row(quantity: str, values: np.ndarray, tail: float) -> dict:
    values = values[np.isfinite(values)]
    lower, median, upper = np.quantile(values, [tail, 0.5, 1.0 - tail])
    return {
        "quantity": quantity,
        "label": TABLE_LABELS[quantity],
        "median": float(median),
        "lower": float(lower),
        "upper": float(upper),
    }
