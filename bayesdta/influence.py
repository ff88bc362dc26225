"""Leave-one-study-out: PSIS-LOO by study, exact refits where PSIS fails, and the influence
of each study on pooled sensitivity and specificity.

PSIS-LOO (Vehtari, Gelman & Gabry 2017, Practical Bayesian model evaluation using
leave-one-out cross-validation and WAIC, Statistics and Computing 27:1413-1432) runs on the
marginal per-study log-likelihood ``log_likelihood["table_marginal"]``, in which each
study's random effects are integrated out (:mod:`bayesdta.marginal_likelihood`). A Pareto k
above 0.7 means the importance weights are unreliable for that study, so the study is then
left out for real. Its four counts are set to 0, which removes it from the likelihood
without changing any shape, so the refit reuses the compiled model.

The influence of a study is the pooled value without it minus the pooled value with all
studies, on the probability scale, from posterior means of ``expit(mu)``.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Sequence

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from scipy.special import expit, logsumexp

from .errors import BayesDTAWarning
from .marginal_likelihood import add_marginal_log_likelihood, marginal_log_likelihood, study_means
from .models.base import DTAModel
from .refit import RefitOutcome, starting_points, warm_draws, warm_refit
from .studytable import StudyTable
from .trace import read_spec, study_log_likelihood

__all__ = ["leave_one_study_out", "psis_loo", "zero_study_counts", "PARETO_K_MAX"]

logger = logging.getLogger(__name__)

#: Pareto k above which PSIS is unreliable and the study is refitted exactly.
PARETO_K_MAX = 0.7
_COUNT_DATA = ("n_diseased", "n_healthy", "tp_observed", "tn_observed")
_MEASURES = ("sensitivity", "specificity")


def psis_loo(trace: xr.DataTree):
    """Run ArviZ PSIS-LOO on the per-study log-likelihood, one observation per study.

    Adds ``table_marginal`` to the trace when the model allows it and uses it. Otherwise it
    uses the conditional ``table`` and warns, because PSIS on the conditional log-likelihood
    gives high Pareto k for nearly every study.

    Returns
    -------
    arviz.ELPDData
        Pointwise, with ``pareto_k``, ``elpd_i`` and ``log_weights`` on the ``study`` dim.
    """
    var_name = "table_marginal"
    add_marginal_log_likelihood(trace)
    if var_name not in trace["log_likelihood"]:
        warnings.warn(
            "this trace has no marginal per-study log-likelihood ('table_marginal'); PSIS-LOO "
            "uses the log-likelihood conditional on each study's random effects, whose "
            "Pareto k values are mostly above 0.7. Refit with this version of bayesdta.",
            BayesDTAWarning,
            stacklevel=2,
        )
        var_name = "table"
    return az.loo(trace, pointwise=True, var_name=var_name)


def zero_study_counts(table: StudyTable, study: str) -> StudyTable:
    """Return a copy of ``table`` with the four counts of one study set to 0.

    The row stays, so shapes and the compiled model are unchanged, but it contributes
    log(1) = 0 to the likelihood. Such a table bypasses input validation (which rejects
    empty tables) and is meant only for refits.
    """
    if study not in table.study_ids:
        raise ValueError(f"study {study!r} is not in the table; studies are {table.study_ids}")
    frame = table.frame.copy()
    position = table.study_ids.index(study)
    frame.loc[frame.index[position], ["tp", "fp", "fn", "tn"]] = 0
    return dataclasses.replace(table, frame=frame, source=f"{table.source} without {study}")


def _pooled(posterior: xr.Dataset) -> dict[str, np.ndarray]:
    mu = posterior["mu"]
    return {m: expit(mu.sel(measure=m).values).ravel() for m in _MEASURES}


def _refit_without(
    built: DTAModel,
    study: str,
    settings: dict,
    points: np.ndarray | None,
    draws: int | None,
) -> RefitOutcome:
    zeroed = zero_study_counts(built.table, study)
    original = {name: np.asarray(built.model[name].get_value()) for name in _COUNT_DATA}
    replacement = {
        "n_diseased": zeroed.n_diseased,
        "n_healthy": zeroed.n_healthy,
        "tp_observed": zeroed.counts("tp"),
        "tn_observed": zeroed.counts("tn"),
    }
    try:
        pm.set_data(replacement, model=built.model)
        changed = dataclasses.replace(built, table=zeroed)
        label = f"refit without {study}"
        return warm_refit(
            changed, settings, points, warm_draws=draws, label=label, posterior_only=True
        )
    finally:
        pm.set_data(original, model=built.model)


def _exact_elpd(refit: xr.DataTree, table: StudyTable, position: int, kind: str) -> float:
    """Return log p(y_i | y_-i) from a refit without study i, by averaging the marginal
    likelihood of study i's original counts over the refit's draws."""
    posterior = refit["posterior"]
    means = study_means(posterior, kind)
    if means is None:
        # In the refit the left-out study's logits follow the between-study distribution,
        # so averaging its conditional likelihood over them is also an unbiased estimate.
        log_lik = study_log_likelihood(posterior["study_logit"], table).isel(study=position)
        values = log_lik.values.ravel()
        return float(logsumexp(values) - np.log(values.size))
    mean = means.isel(study=position) if "study" in means.dims else means
    tau = (
        posterior["study_tau"].isel(study=position)
        if "study_tau" in posterior
        else posterior["tau"]
    )
    rho = (
        posterior["study_rho"].isel(study=position)
        if "study_rho" in posterior
        else posterior["rho"]
    )
    measures = list(_MEASURES)
    log_lik = marginal_log_likelihood(
        table.counts("tp")[position],
        table.n_diseased[position],
        table.counts("tn")[position],
        table.n_healthy[position],
        mean.sel(measure=measures).transpose("chain", "draw", "measure").values,
        tau.sel(measure=measures).transpose("chain", "draw", "measure").values,
        rho.transpose("chain", "draw").values,
    ).ravel()
    return float(logsumexp(log_lik) - np.log(log_lik.size))


def _refit_settings(trace: xr.DataTree, fit_kwargs: dict | None) -> dict:
    try:
        sampler = dict(read_spec(trace).get("sampler", {}))
    except ValueError:
        sampler = {}
    settings = {
        key: sampler[key]
        for key in ("draws", "tune", "chains", "seed", "sampler", "target_accept")
        if key in sampler
    }
    settings.update({"progressbar": False, "check": False})
    settings.update(fit_kwargs or {})
    return settings


def _warm_draws(trace: xr.DataTree, settings: dict, fit_kwargs: dict | None) -> int | None:
    """Return the kept draws per chain of a warm-started refit: None, so the settings' draws,
    when ``fit_kwargs`` gives them, otherwise :func:`bayesdta.refit.warm_draws`."""
    if "draws" in (fit_kwargs or {}):
        return None
    return warm_draws(trace, int(settings.get("draws", 1000)))


def leave_one_study_out(
    trace: xr.DataTree,
    built: DTAModel | None = None,
    k_max: float = PARETO_K_MAX,
    refit: bool = True,
    fit_kwargs: dict | None = None,
    force_refit: Sequence[str] = (),
    warm_start: bool = True,
) -> pd.DataFrame:
    """Estimate each study's leave-one-out predictive density and its influence.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`.
    built : DTAModel, optional
        The model the trace was fitted from; needed for exact refits. Its data are changed
        during each refit and restored afterwards.
    k_max : float, default 0.7
        Studies with a Pareto k above this are refitted exactly.
    refit : bool, default True
        Refit the studies with high k. Without refits (or without ``built``) their rows
        keep the PSIS values and ``method`` is ``"psis (unreliable)"``.
    fit_kwargs : dict, optional
        Arguments of :func:`bayesdta.fit` for the refits; by default the sampler settings
        recorded in the trace, without progress bar or convergence warnings. A ``tune``
        here turns the warm start off, so every refit runs that warm-up.
    force_refit : sequence of str, default ()
        Studies to refit exactly whatever their Pareto k (needs ``built``).
    warm_start : bool, default True
        Start each refit's chains at draws of ``trace`` (see :mod:`bayesdta.refit`) and
        run :data:`bayesdta.refit.WARM_TUNE` warm-up iterations. The kept draws per chain
        are ``fit_kwargs["draws"]`` when given, otherwise enough for 2.5 times the bulk ESS
        that the check needs at the ESS per draw of ``trace``, at most the trace's draws
        (:func:`bayesdta.refit.warm_draws`).
        A warm-started refit that fails the checks of :func:`bayesdta.refit.refit_problems`
        is run again cold with the trace's settings, and a warning is logged. False runs
        every refit cold with the trace's settings. Only the nutpie sampler is warm-started.

    Returns
    -------
    pandas.DataFrame
        Index ``study``; columns ``pareto_k``, ``elpd_loo`` (log predictive density of the
        study's table given the other studies), ``method`` (``"psis"``, ``"refit"`` or
        ``"psis (unreliable)"``), ``sensitivity_without`` and ``specificity_without``
        (pooled values without the study), ``influence_sensitivity`` and
        ``influence_specificity`` (those minus the values with all studies).
        ``attrs["pooled"]`` holds the all-study posterior means, ``attrs["elpd_loo"]`` the
        sum of ``elpd_loo``, ``attrs["warm_refits"]`` the studies whose accepted refit was
        warm-started and ``attrs["refit_fallbacks"]`` those whose warm-started refit failed
        its checks and was run again cold.
    """
    loo = psis_loo(trace)
    studies = [str(study) for study in trace["observed_data"]["study"].values]
    pareto_k = loo.pareto_k.sel(study=studies).values
    log_weights = loo.log_weights.transpose("study", "chain", "draw").values
    log_weights = log_weights.reshape(len(studies), -1)
    weights = np.exp(log_weights - logsumexp(log_weights, axis=1, keepdims=True))

    pooled = _pooled(trace["posterior"])
    full = {m: float(np.mean(pooled[m])) for m in _MEASURES}
    table = pd.DataFrame(
        {
            "pareto_k": pareto_k,
            "elpd_loo": loo.elpd_i.sel(study=studies).values,
            "method": "psis",
            **{f"{m}_without": weights @ pooled[m] for m in _MEASURES},
        },
        index=pd.Index(studies, name="study"),
    )

    high = table.index[(table["pareto_k"] > k_max) | table.index.isin(list(force_refit))]
    if len(high) and (not refit or built is None):
        table.loc[high, "method"] = "psis (unreliable)"
        warnings.warn(
            f"{len(high)} studies have Pareto k above {k_max}: {', '.join(high)}. Their "
            "leave-one-out values are unreliable; pass the built model to refit them exactly.",
            BayesDTAWarning,
            stacklevel=2,
        )
    elif len(high):
        table = _refit_studies(table, high, trace, built, fit_kwargs, warm_start)

    for m in _MEASURES:
        table[f"influence_{m}"] = table[f"{m}_without"] - full[m]
    table.attrs.update({"pooled": full, "elpd_loo": float(table["elpd_loo"].sum()), "k_max": k_max})
    table.attrs.setdefault("warm_refits", [])
    table.attrs.setdefault("refit_fallbacks", [])
    return table


def _refit_studies(table, high, trace, built, fit_kwargs, warm_start) -> pd.DataFrame:
    settings = _refit_settings(trace, fit_kwargs)
    points = None
    warm = warm_start and settings.get("sampler", "nutpie") == "nutpie"
    if warm and "tune" not in (fit_kwargs or {}):
        points = starting_points(trace, built, seed=settings.get("seed"))
    draws = _warm_draws(trace, settings, fit_kwargs) if points is not None else None
    logger.info(
        "refitting %d studies with Pareto k above the threshold (%s)",
        len(high),
        "warm-started" if points is not None else "cold",
    )

    warm_refits, fallbacks = [], []
    for study in high:
        outcome = _refit_without(built, study, settings, points, draws)
        if outcome.warm_start:
            warm_refits.append(study)
        elif outcome.fell_back:
            fallbacks.append(study)
        pooled = _pooled(outcome.trace["posterior"])
        position = built.table.study_ids.index(study)
        table.loc[study, "elpd_loo"] = _exact_elpd(outcome.trace, built.table, position, built.kind)
        for m in _MEASURES:
            table.loc[study, f"{m}_without"] = float(np.mean(pooled[m]))
        table.loc[study, "method"] = "refit"
    table.attrs.update({"warm_refits": warm_refits, "refit_fallbacks": fallbacks})
    return table
