"""Power-scaling sensitivity of one fit to its prior and its likelihood.

Power-scaling raises the prior (or the likelihood) to a power alpha near 1 and measures, by
Pareto-smoothed importance sampling, how much each posterior quantity moves, so no refit is
needed (Kallioinen N, Paananen T, Buerkner PC, Vehtari A. Detecting and diagnosing prior and
likelihood sensitivity with power-scaling. Stat Comput 2024;34:57). ArviZ's
:func:`arviz.psense_summary` computes it from two groups of the trace:

- ``log_likelihood``: variable ``table``, the per-study binomial log-likelihood conditional on
  the study effects, which :func:`bayesdta.fit` stores. Other variables of that group, such
  as ``table_marginal`` (study effects integrated out), are left out, because adding them
  would count the data twice;
- ``log_prior``: the log density of the priors of the model parameters, which
  :func:`add_log_prior` adds.

Only the priors a user chooses are power-scaled: the pooled logit means, the between-study
SDs, the correlation and any regression coefficients. The bivariate normal distribution of the
study effects is part of the model's structure and is left out, as are a new study's
auxiliary draws. Each prior density is taken on the scale the prior is stated on (for example
the precision of a ``GammaPrecision`` prior, ``p`` of a ``Beta`` prior on a pooled
probability), without Jacobian terms, because that is the density the user wrote down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pandas as pd
import xarray as xr

__all__ = ["prior_terms", "add_log_prior", "power_scaling_summary"]

logger = logging.getLogger(__name__)

#: Variable of the ``log_likelihood`` group whose power is scaled.
LIKELIHOOD_VARIABLE = "table"

#: Quantities of a bivariate fit checked by default.
DEFAULT_QUANTITIES = ("sensitivity", "specificity", "tau_sens", "tau_spec", "rho")


def prior_terms(built) -> list[str]:
    """Return the free variables of a built model that carry a user-chosen prior.

    These are the free random variables without a ``study`` dimension, except a new study's
    standard-normal draws (names starting with ``new_study``).
    """
    model = built.model
    terms = []
    for variable in model.free_RVs:
        dims = model.named_vars_to_dims.get(variable.name) or ()
        if "study" in dims or variable.name.startswith("new_study"):
            continue
        terms.append(variable.name)
    return terms


def add_log_prior(trace: xr.DataTree, built=None) -> xr.DataTree:
    """Add a ``log_prior`` group with the log prior density of every prior term, per draw.

    PyMC evaluates the densities (:func:`pymc.stats.compute_log_prior`) on the model that
    produced the trace, with its hyperparameter values.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`; changed in place and returned.
    built : DTAModel, optional
        The model the trace was fitted with. When omitted, a bivariate model is rebuilt from
        the specification and data stored in the trace.

    Returns
    -------
    xarray.DataTree
        ``trace``, with group ``log_prior``: one variable per name of :func:`prior_terms`,
        dims ``(chain, draw)`` plus the variable's own dims.
    """
    import pymc as pm

    built = _model_of(trace) if built is None else built
    terms = prior_terms(built)
    log_prior = pm.stats.compute_log_prior(
        trace,
        var_names=terms,
        model=built.model,
        extend_inferencedata=False,
        progressbar=False,
        compile_kwargs={"mode": "FAST_COMPILE"},
    )
    trace["log_prior"] = log_prior
    logger.info("added log_prior with terms %s", ", ".join(terms))
    return trace


def _model_of(trace: xr.DataTree):
    from .models import build_bivariate_model
    from .studytable import read_studies
    from .trace import read_spec

    spec = read_spec(trace)
    if spec["kind"] != "bivariate":
        raise ValueError(
            f"this trace is of a {spec['kind']!r} model; pass the built model as "
            "add_log_prior(trace, built) to compute its log prior"
        )
    observed = trace["observed_data"]
    constant = trace["constant_data"]
    frame = pd.DataFrame(
        {
            "study": constant["study_label"].values,
            "tp": observed["tp"].values,
            "fp": constant["fp"].values,
            "fn": constant["fn"].values,
            "tn": observed["tn"].values,
        }
    )
    table = read_studies(frame, keep_duplicates=True)
    return build_bivariate_model(
        table, priors=spec["priors"], parametrization=spec["parametrization"]
    )


def power_scaling_summary(
    trace: xr.DataTree,
    built=None,
    quantities: Iterable[str] | None = None,
    threshold: float = 0.05,
) -> pd.DataFrame:
    """Compute prior and likelihood power-scaling sensitivity of the key quantities.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`. A ``log_prior`` group is added when missing (see
        :func:`add_log_prior`).
    built : DTAModel, optional
        The model of the trace; needed for models other than the bivariate one when the
        trace has no ``log_prior`` group yet.
    quantities : iterable of str, optional
        Names of :func:`bayesdta.derived.pooled_draws` for a bivariate trace, or posterior
        variables otherwise; :data:`DEFAULT_QUANTITIES` by default.
    threshold : float, default 0.05
        Sensitivity above which ArviZ reports a potential problem (its default).

    Returns
    -------
    pandas.DataFrame
        Index quantity; columns ``prior`` and ``likelihood`` (cumulative Jensen-Shannon
        distance per unit change of log alpha) and ``diagnosis``: "potential prior-data
        conflict", "potential strong prior / weak likelihood", or a check mark.
    """
    import arviz as az

    if "log_prior" not in trace.children:
        add_log_prior(trace, built)
    quantities = list(DEFAULT_QUANTITIES if quantities is None else quantities)
    posterior = _quantity_draws(trace, quantities)
    tree = xr.DataTree.from_dict(
        {
            "posterior": posterior,
            "log_prior": trace["log_prior"].to_dataset(),
            "log_likelihood": trace["log_likelihood"].to_dataset()[[LIKELIHOOD_VARIABLE]],
        }
    )
    return az.psense_summary(tree, threshold=threshold)


def _quantity_draws(trace: xr.DataTree, quantities: list[str]) -> xr.Dataset:
    from .derived import pooled_draws

    posterior = trace["posterior"]
    if posterior["mu"].dims == ("chain", "draw", "measure"):
        available = pooled_draws(trace)
    else:
        available = posterior.to_dataset()
    missing = sorted(set(quantities) - set(available.data_vars))
    if missing:
        raise ValueError(
            f"quantities {missing} are not available; choose from {sorted(available.data_vars)}"
        )
    return available[quantities]
