"""Posteriors piled against a boundary, separated margins, and models for very few studies.

Frequentist fits of the bivariate model often end with a correlation of exactly -1 or +1 or
a between-study SD of 0 and report it without comment (lme4 calls such a fit singular). In
a Bayesian fit the same lack of information shows as posterior mass piled against the
boundary. :func:`boundary_findings` reports each case and what it means.

With 2 or 3 studies the correlation of the logits cannot be estimated: its posterior is the
prior. :func:`build_few_studies_model` then fixes the correlation, or fits each margin as
its own random-effects model, instead of reporting a meaningless correlation.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from scipy.stats import beta as beta_distribution

from .errors import BayesDTAWarning
from .models.base import MEASURES, DTAModel
from .models.bivariate import (
    PARAMETRIZATIONS,
    add_random_effects,
    build_bivariate_model,
    choose_parametrization,
)
from .models.components import add_likelihood, prior_variable
from .priors import Prior, resolve_priors
from .studytable import read_studies
from .trace import read_spec

__all__ = [
    "BoundaryFinding",
    "boundary_findings",
    "separated_margins",
    "build_few_studies_model",
    "FEW_STUDIES_MODES",
    "FEW_STUDIES_MAX",
]

logger = logging.getLogger(__name__)

#: Options of :func:`build_few_studies_model`.
FEW_STUDIES_MODES = ("auto", "full", "fix-correlation", "margins")
#: With at most this many studies, ``few_studies="auto"`` fixes the correlation.
FEW_STUDIES_MAX = 3
#: Below this many studies the between-study parameters rest mostly on the prior.
FEW_STUDIES_WARN = 5
#: A correlation is piled against +-1 when at least this share of draws lies beyond +-0.9.
RHO_PILED_SHARE = 0.25
RHO_EDGE = 0.9
#: A correlation is pushed towards +-1 when at least this share of draws lies beyond +-0.9
#: and that share is at least this many times the prior's.
RHO_TOWARD_SHARE = 0.05
RHO_TOWARD_RATIO = 5.0
#: An SD is piled at 0 when at least this share of draws lies below 0.1 on the logit scale
#: (a spread of study sensitivities of about +-0.04 around a pooled 0.75).
TAU_PILED_SHARE = 0.25
TAU_EDGE = 0.1


@dataclass(frozen=True)
class BoundaryFinding:
    """One boundary or identification problem: a short name, the parameter, and an
    explanation in plain words of what it means and what to do."""

    check: str
    parameter: str
    message: str


def separated_margins(tp, n_diseased, tn, n_healthy) -> dict[str, str]:
    """Return the margins where every informative study sits at 0 or 1.

    Returns
    -------
    dict
        ``{"sensitivity": "1"}`` when every study with diseased participants has fn = 0,
        and likewise ``"0"`` and the specificity margin. Empty when no margin is separated.
    """
    separated = {}
    pairs = {
        "sensitivity": (np.asarray(tp), np.asarray(n_diseased)),
        "specificity": (np.asarray(tn), np.asarray(n_healthy)),
    }
    for measure, (successes, totals) in pairs.items():
        informative = totals > 0
        if not informative.any():
            continue
        if np.all(successes[informative] == totals[informative]):
            separated[measure] = "1"
        elif np.all(successes[informative] == 0):
            separated[measure] = "0"
    return separated


def boundary_findings(trace: xr.DataTree) -> list[BoundaryFinding]:
    """Report separation, few studies, and posteriors piled at a boundary.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`.

    Returns
    -------
    list of BoundaryFinding
        Empty when nothing needs the user's attention.
    """
    findings = _separation_findings(trace)
    n_studies = int(trace["observed_data"].sizes["study"])
    if n_studies < FEW_STUDIES_WARN:
        findings.append(
            BoundaryFinding(
                "few_studies",
                "tau, rho",
                f"only {n_studies} studies: the between-study SDs and the correlation rest "
                "mostly on the prior. Report the priors and compare prior sets.",
            )
        )
    findings += _correlation_findings(trace)
    findings += _sd_findings(trace)
    for finding in findings:
        logger.info("%s: %s", finding.check, finding.message)
    return findings


def _separation_findings(trace: xr.DataTree) -> list[BoundaryFinding]:
    observed = trace["observed_data"]
    constant = trace["constant_data"]
    separated = separated_margins(
        observed["tp"].values,
        constant["n_diseased"].values,
        observed["tn"].values,
        constant["n_healthy"].values,
    )
    posterior = trace["posterior"]
    findings = []
    for measure, value in separated.items():
        other = "specificity" if measure == "sensitivity" else "sensitivity"
        pooled = 1.0 / (1.0 + np.exp(-posterior["mu"].sel(measure=measure).values))
        lower = float(np.quantile(pooled, 0.025))
        upper = float(np.quantile(pooled, 0.975))
        word = "high" if value == "1" else "low"
        bound = (
            f"the data say only that it is above about {lower:.2f}"
            if value == "1"
            else f"the data say only that it is below about {upper:.2f}"
        )
        findings.append(
            BoundaryFinding(
                "separation",
                measure,
                f"every study has {measure} {value}: pooled {measure} is not identified from "
                f"the data beyond '{word}', and its posterior ({lower:.2f} to {upper:.2f}) "
                f"rests on the priors of mu and tau; {bound}. Report it as such, not as a point "
                f"estimate. The {other} margin is estimated from the data as usual.",
            )
        )
    return findings


def _prior_share_beyond(trace: xr.DataTree, sign: int) -> float | None:
    """Return the prior probability that rho lies beyond ``sign * RHO_EDGE``, or ``None``
    when the trace does not record an LKJ or Uniform prior for rho."""
    try:
        prior = read_spec(trace)["priors"]["rho"]
    except (ValueError, KeyError):
        return None
    if prior.get("dist") == "LKJ":
        # (rho + 1) / 2 ~ Beta(eta, eta), symmetric about 0.
        eta = float(prior["eta"])
        return float(beta_distribution.cdf((1.0 - RHO_EDGE) / 2.0, eta, eta))
    if prior.get("dist") == "Uniform":
        lower, upper = float(prior["lower"]), float(prior["upper"])
        if sign > 0:
            return float(np.clip((upper - RHO_EDGE) / (upper - lower), 0.0, 1.0))
        return float(np.clip((-RHO_EDGE - lower) / (upper - lower), 0.0, 1.0))
    return None


def _correlation_findings(trace: xr.DataTree) -> list[BoundaryFinding]:
    posterior = trace["posterior"]
    if "rho" not in posterior or _fixed(posterior["rho"]):
        return []
    rho = posterior["rho"].values.ravel()
    findings = []
    for sign, share in ((+1, np.mean(rho > RHO_EDGE)), (-1, np.mean(rho < -RHO_EDGE))):
        prior_share = _prior_share_beyond(trace, sign)
        if share >= RHO_PILED_SHARE:
            findings.append(
                BoundaryFinding(
                    "correlation_at_boundary",
                    "rho",
                    f"{100 * share:.0f}% of the posterior of the correlation lies beyond "
                    f"{sign * RHO_EDGE:+.1f}: the correlation is piled against {sign:+d}. The "
                    "data cannot separate the between-study variation of sensitivity from that "
                    "of specificity (a frequentist fit would report a singular correlation of "
                    f"{sign:+d}). Treat the SROC curve and the prediction region with caution, "
                    "and compare with a fit that fixes the correlation (few_studies="
                    "'fix-correlation').",
                )
            )
        elif (
            prior_share is not None
            and share >= RHO_TOWARD_SHARE
            and share >= RHO_TOWARD_RATIO * prior_share
        ):
            findings.append(
                BoundaryFinding(
                    "correlation_toward_boundary",
                    "rho",
                    f"{100 * share:.0f}% of the posterior of the correlation lies beyond "
                    f"{sign * RHO_EDGE:+.1f}, against {100 * prior_share:.1f}% of its prior: the "
                    f"data push the correlation towards {sign:+d}, and the prior keeps it from "
                    "the boundary (a maximum-likelihood fit would likely be singular there). Its "
                    "value, the SROC curve and the prediction region depend on the prior; "
                    "compare prior sets.",
                )
            )
    return findings


def _sd_findings(trace: xr.DataTree) -> list[BoundaryFinding]:
    posterior = trace["posterior"]
    if "tau" not in posterior:
        return []
    findings = []
    for measure in MEASURES:
        tau = posterior["tau"].sel(measure=measure).values.ravel()
        share = float(np.mean(tau < TAU_EDGE))
        if share < TAU_PILED_SHARE:
            continue
        findings.append(
            BoundaryFinding(
                "sd_at_zero",
                f"tau[{measure}]",
                f"{100 * share:.0f}% of the posterior of the between-study SD of logit "
                f"{measure} lies below {TAU_EDGE}: the studies agree on {measure} as far as "
                "their sizes can tell, and the SD is piled at 0. Its upper credible bound "
                "rests on the prior; the correlation, which needs variation in both margins, "
                "is then not identified.",
            )
        )
    return findings


def _fixed(values: xr.DataArray) -> bool:
    flat = values.values.ravel()
    return bool(np.all(flat == flat[0]))


def build_few_studies_model(
    data,
    priors: Mapping[str, Prior | Mapping] | None = None,
    parametrization: str = "auto",
    few_studies: str = "auto",
    fixed_rho: float = 0.0,
) -> DTAModel:
    """Build the bivariate model with a choice of what to do when there are very few studies.

    Parameters
    ----------
    data : StudyTable, DataFrame, path or dataset name
    priors : mapping, optional
        As for :func:`bayesdta.build_bivariate_model`. The ``rho`` prior is unused unless
        ``few_studies="full"``.
    parametrization : {"auto", "centered", "noncentered"}, default "auto"
    few_studies : {"auto", "full", "fix-correlation", "margins"}, default "auto"
        ``"full"``: the bivariate model with a prior on the correlation.
        ``"fix-correlation"``: the correlation is held at ``fixed_rho``; the SDs and means
        are estimated.
        ``"margins"``: each margin is its own univariate random-effects model (logit-normal
        with a binomial likelihood). With independent priors this is the same posterior as
        ``"fix-correlation"`` with ``fixed_rho=0``; the trace records that no correlation
        was estimated.
        ``"auto"``: ``"fix-correlation"`` at ``fixed_rho`` with at most
        :data:`FEW_STUDIES_MAX` studies, with a warning, and ``"full"`` otherwise.
    fixed_rho : float, default 0.0
        Correlation used by ``"fix-correlation"``, in (-1, 1).

    Returns
    -------
    DTAModel
        ``kind="few_studies"`` for the fixed-correlation and per-margin models (``rho`` in
        the posterior is then the constant used), otherwise the bivariate model.

    Raises
    ------
    ValueError
        For an unknown ``few_studies`` or ``parametrization``, or ``fixed_rho`` outside
        (-1, 1).

    Examples
    --------
    >>> built = build_few_studies_model(three_study_frame)  # doctest: +SKIP
    >>> built.options  # doctest: +SKIP
    {'few_studies': 'fix-correlation'}
    """
    if few_studies not in FEW_STUDIES_MODES:
        raise ValueError(
            f"few_studies {few_studies!r} is not valid; choose one of {FEW_STUDIES_MODES}"
        )
    if not -1.0 < fixed_rho < 1.0:
        raise ValueError(f"fixed_rho must lie in (-1, 1), got {fixed_rho!r}")
    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(
            f"parametrization {parametrization!r} is not valid; choose one of {PARAMETRIZATIONS}"
        )
    table = read_studies(data)
    mode = _resolve_mode(few_studies, table.n_studies, fixed_rho)
    if mode == "full":
        return build_bivariate_model(table, priors=priors, parametrization=parametrization)

    resolved = resolve_priors(priors)
    if parametrization == "auto":
        parametrization = choose_parametrization(table)
    rho_value = 0.0 if mode == "margins" else float(fixed_rho)
    coords = {"study": table.study_ids, "measure": list(MEASURES)}
    with pm.Model(coords=coords) as model:
        mu_sens = prior_variable("mu_sens", resolved["mu_sens"])
        mu_spec = prior_variable("mu_spec", resolved["mu_spec"])
        mu = pm.Deterministic("mu", pt.stack([mu_sens, mu_spec]), dims="measure")
        tau_sens = prior_variable("tau_sens", resolved["tau_sens"])
        tau_spec = prior_variable("tau_spec", resolved["tau_spec"])
        tau = pm.Deterministic("tau", pt.stack([tau_sens, tau_spec]), dims="measure")
        # Held in pm.Data so that a refit at another fixed value reuses the compiled model.
        rho = pm.Deterministic("rho", pm.Data("fixed_rho", np.float64(rho_value)))
        study_logit = add_random_effects(mu, tau, rho, parametrization)
        add_likelihood(study_logit, table)

    # The fixed value is not an option of the structure: it is data, and the posterior's
    # constant ``rho`` records it.
    options = {"few_studies": mode}
    return DTAModel(model, table, resolved, parametrization, kind="few_studies", options=options)


def _resolve_mode(few_studies: str, n_studies: int, fixed_rho: float) -> str:
    if few_studies != "auto":
        return few_studies
    if n_studies > FEW_STUDIES_MAX:
        return "full"
    warnings.warn(
        f"only {n_studies} studies: the correlation of logit sensitivity and logit "
        f"specificity cannot be estimated, so it is fixed at {fixed_rho:g}. To fit each "
        "margin alone pass few_studies='margins' (--few-studies margins on the command "
        "line); to estimate it from its prior anyway, few_studies='full' (--few-studies full).",
        BayesDTAWarning,
        stacklevel=3,
    )
    return "fix-correlation"
