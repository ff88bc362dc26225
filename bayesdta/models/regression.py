"""Bivariate meta-regression: study-level covariates on logit sensitivity and specificity.

For study i with covariate row ``x_i`` (dummy-coded categorical levels, centred continuous
values)::

    (A_i, B_i) ~ N(mu + x_i @ beta, Sigma_g(i))
    tp_i ~ Binomial(n1_i, expit(A_i))        tn_i ~ Binomial(n0_i, expit(B_i))

``mu`` holds the logits of the reference profile (every categorical covariate at its
reference level, every continuous covariate at its centre), ``beta`` has one row per
covariate term and one column per measure, zero where a covariate does not act on that
measure. ``Sigma`` is one shared between-study covariance, or one per level ``g`` of a
grouping covariate (the subgroup model).

References
----------
Reitsma JB et al. Bivariate analysis of sensitivity and specificity produces informative
summary measures in diagnostic reviews. J Clin Epidemiol 2005;58:982-990 (covariates in the
bivariate model).
Chu H, Cole SR. Bivariate meta-analysis of sensitivity and specificity with sparse data:
a generalized linear mixed model approach. J Clin Epidemiol 2006;59:1331-1332.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..covariates import Covariate, CovariateSpec, design_matrix, level_values, resolve_covariates
from ..priors import FAMILIES, PARAMETERS, Prior, resolve_priors
from ..studytable import StudyTable, read_studies
from .base import MEASURES, DTAModel
from .bivariate import (
    PARAMETRIZATIONS,
    add_covariance_priors,
    add_random_effects,
    choose_parametrization,
)
from .components import (
    add_likelihood,
    add_new_study,
    add_study_effects,
    hyperparameter_name,
    prior_variable,
)

__all__ = ["build_regression_model", "DEFAULT_COEFFICIENT_PRIOR", "coefficient_labels"]

logger = logging.getLogger(__name__)

#: Default prior of every regression coefficient (a difference of logits between a level and
#: the reference level, or a change of logit per unit of a continuous covariate). A
#: difference of 4 on the logit scale turns a sensitivity of 0.5 into 0.98, so 95% prior
#: mass within about +-4 is weak. Continuous covariates measured in large units need a
#: narrower prior, given as ``priors={"beta_<name>": ...}``.
DEFAULT_COEFFICIENT_PRIOR = Prior("Normal", mu=0.0, sigma=2.0)

_COEFFICIENT_FAMILIES = ("Normal", "StudentT")
_MEASURE_INDEX = {measure: index for index, measure in enumerate(MEASURES)}


def coefficient_labels(specs: Sequence[CovariateSpec]) -> list[tuple[str, str]]:
    """Return ``(term, measure)`` of every free coefficient, in model order."""
    return [(term, measure) for spec in specs for term in spec.terms for measure in spec.measures]


def _coefficient_priors(
    priors: Mapping[str, Prior | Mapping], specs: Sequence[CovariateSpec]
) -> dict[str, Prior]:
    """Resolve ``beta`` (all coefficients) and ``beta_<name>`` (one covariate) priors."""
    resolved = {"beta": _as_prior(priors.get("beta", DEFAULT_COEFFICIENT_PRIOR))}
    problems = []
    for spec in specs:
        key = f"beta_{spec.name}"
        resolved[key] = _as_prior(priors.get(key, resolved["beta"]))
    for key, prior in resolved.items():
        problems += _check_coefficient_prior(key, prior)
    families = {prior.dist for prior in resolved.values()}
    if len(families) > 1:
        problems.append(
            f"all coefficient priors must share one family, got {sorted(families)}; give "
            "every beta prior as Normal, or every one as StudentT"
        )
    if problems:
        raise ValueError("invalid priors:\n  - " + "\n  - ".join(problems))
    return resolved


def _as_prior(value: Prior | Mapping) -> Prior:
    if isinstance(value, Prior):
        return value
    params = dict(value)
    return Prior(params.pop("dist", "<missing dist>"), **params)


def _check_coefficient_prior(key: str, prior: Prior) -> list[str]:
    if prior.dist not in _COEFFICIENT_FAMILIES:
        return [f"{key}: family {prior.dist!r} is not available; choose one of "
                f"{list(_COEFFICIENT_FAMILIES)}"]
    expected = set(FAMILIES[prior.dist])
    if set(prior.params) != expected:
        return [f"{key}: {prior.dist} takes hyperparameters {sorted(expected)}, got "
                f"{sorted(prior.params)}"]
    return [
        f"{key}: {prior.dist} hyperparameter {name}={value:g} must be > 0"
        for name, value in prior.params.items()
        if name in ("sigma", "nu") and not value > 0
    ]


def _split_priors(
    priors: Mapping[str, Prior | Mapping] | None, specs: Sequence[CovariateSpec]
) -> dict[str, Prior]:
    priors = dict(priors or {})
    coefficient_keys = {"beta"} | {f"beta_{spec.name}" for spec in specs}
    unknown = sorted(set(priors) - set(PARAMETERS) - coefficient_keys)
    if unknown:
        raise ValueError(
            f"unknown prior name(s) {unknown}; valid names are "
            f"{sorted(set(PARAMETERS) | coefficient_keys)}"
        )
    resolved = resolve_priors({k: v for k, v in priors.items() if k in PARAMETERS})
    coefficient = {k: v for k, v in priors.items() if k in coefficient_keys}
    resolved.update(_coefficient_priors(coefficient, specs))
    return resolved


def _add_coefficients(specs: Sequence[CovariateSpec], priors: Mapping[str, Prior]):
    """Add the free ``beta_free`` vector (dim ``coefficient``) and the ``beta`` matrix.

    ``beta`` has dims ``(covariate_level, measure)`` and is 0 where a covariate does not
    act on a measure.

    Hyperparameters are ``pm.Data`` vectors ``prior_beta_<hyper>`` with one entry per
    coefficient, so refits with other coefficient priors of the same family reuse the
    compiled model.
    """
    labels = coefficient_labels(specs)
    by_term = {term: spec for spec in specs for term in spec.terms}
    family = priors["beta"].dist
    hyper = {}
    for key in FAMILIES[family]:
        values = [priors[f"beta_{by_term[term].name}"].params[key] for term, _ in labels]
        hyper[key] = pm.Data(hyperparameter_name("beta", key), np.asarray(values, dtype=float),
                             dims="coefficient")
    coefficient = getattr(pm, family)("beta_free", **hyper, dims="coefficient")

    terms = [term for spec in specs for term in spec.terms]
    rows = np.array([terms.index(term) for term, _ in labels], dtype=int)
    columns = np.array([_MEASURE_INDEX[measure] for _, measure in labels], dtype=int)
    beta = pt.set_subtensor(pt.zeros((len(terms), len(MEASURES)))[rows, columns], coefficient)
    return pm.Deterministic("beta", beta, dims=("covariate_level", "measure"))


def _add_separate_random_effects(
    study_mean, mu, group_index: np.ndarray, reference: int, priors, parametrization: str
):
    """Add one covariance per group and the study effects; return the study logits.

    ``tau`` and ``rho`` (and ``tau_sens``, ``tau_spec``) are those of the reference group,
    so that the reference profile reads like a bivariate model; ``tau_by_group`` and
    ``rho_by_group`` hold every group, ``study_tau`` and ``study_rho`` each study's group
    (for the marginal likelihood of each study).
    """
    tau_sens = prior_variable("group_tau_sens", priors["tau_sens"], dims="covariance_group")
    tau_spec = prior_variable("group_tau_spec", priors["tau_spec"], dims="covariance_group")
    rho_by_group = prior_variable("group_rho", priors["rho"], dims="covariance_group")
    tau_by_group = pm.Deterministic(
        "tau_by_group", pt.stack([tau_sens, tau_spec], axis=1), dims=("covariance_group", "measure")
    )
    pm.Deterministic("rho_by_group", rho_by_group, dims="covariance_group")
    pm.Deterministic("tau", tau_by_group[reference], dims="measure")
    pm.Deterministic("tau_sens", tau_sens[reference])
    pm.Deterministic("tau_spec", tau_spec[reference])
    pm.Deterministic("rho", rho_by_group[reference])

    index = pm.Data("covariance_group_index", group_index, dims="study")
    study_tau = pm.Deterministic("study_tau", tau_by_group[index], dims=("study", "measure"))
    study_rho = pm.Deterministic("study_rho", rho_by_group[index], dims="study")
    study_logit = add_study_effects(study_mean, study_tau, study_rho, parametrization)
    add_new_study(mu, tau_by_group[reference], rho_by_group[reference])
    return study_logit


def build_regression_model(
    data,
    covariates: Sequence[str | Covariate],
    separate_covariance: str | None = None,
    priors: Mapping[str, Prior | Mapping] | None = None,
    parametrization: str = "auto",
    drop_missing: bool = False,
) -> DTAModel:
    """Build the bivariate meta-regression model.

    Parameters
    ----------
    data : StudyTable, DataFrame, path or dataset name
        Anything :func:`bayesdta.read_studies` accepts.
    covariates : sequence of str or Covariate
        Covariate columns, as ``"NAME"``, ``"NAME:sens"``, ``"NAME:spec"``, ``"NAME:both"``
        (the default margin) or :class:`bayesdta.covariates.Covariate` objects, which also
        set the kind and the reference level.
    separate_covariance : str, optional
        A categorical covariate among ``covariates`` whose levels each get their own
        between-study SDs and correlation. By default one covariance is shared.
    priors : mapping, optional
        ``mu_sens``, ``mu_spec`` (logits of the reference profile), ``tau_sens``,
        ``tau_spec``, ``rho`` (as in :mod:`bayesdta.priors`; with a separate covariance,
        each level gets the same prior), ``beta`` (every coefficient, Normal or StudentT,
        default :data:`DEFAULT_COEFFICIENT_PRIOR`) and ``beta_<name>`` (the coefficients of
        one covariate).
    parametrization : {"auto", "centered", "noncentered"}, default "auto"
    drop_missing : bool, default False
        Drop tables with a missing covariate value, with a warning, instead of raising.

    Returns
    -------
    DTAModel
        ``kind`` is ``"regression"``; ``options["covariates"]`` holds the checked
        covariate specs (levels, reference, centre). Posterior variables: ``mu`` (measure,
        the reference profile), ``beta_free`` (coefficient), ``beta`` (covariate_level,
        measure), ``study_mean`` (study, measure), ``tau``, ``rho``, ``study_logit``,
        ``new_study_logit`` (a new study of the reference profile) and, with a separate
        covariance, ``tau_by_group`` (covariance_group, measure), ``rho_by_group``
        (covariance_group), ``study_tau`` and ``study_rho``.

    Raises
    ------
    StudyDataError
        For every invalid covariate request or value (see
        :func:`bayesdta.covariates.resolve_covariates`).
    ValueError
        For invalid priors or parametrization.

    See Also
    --------
    bayesdta.subgroups.level_logits : posterior logits of each level of a covariate.

    Examples
    --------
    >>> from bayesdta.models import build_regression_model
    >>> built = build_regression_model("scheidler_lymph_nodes", ["modality"])
    >>> built.model.coords["covariate_level"]
    ('modality[LAG]', 'modality[MRI]')
    """
    table = read_studies(data)
    table, specs = resolve_covariates(table, covariates, separate_covariance, drop_missing)
    resolved = _split_priors(priors, specs)
    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(
            f"parametrization {parametrization!r} is not valid; choose one of {PARAMETRIZATIONS}"
        )
    if parametrization == "auto":
        parametrization = choose_parametrization(table)

    matrix, terms = design_matrix(table, specs)
    labels = coefficient_labels(specs)
    coords = {
        "study": table.study_ids,
        "measure": list(MEASURES),
        "covariate_level": terms,
        "coefficient": [f"{term} on {measure}" for term, measure in labels],
    }
    group_spec = next((s for s in specs if s.name == separate_covariance), None)
    if group_spec is not None:
        coords["covariance_group"] = list(group_spec.levels)

    with pm.Model(coords=coords) as model:
        model_graph(table, specs, resolved, parametrization, matrix, group_spec)

    options = {
        "covariates": [spec.to_dict() for spec in specs],
        "separate_covariance": separate_covariance,
        "drop_missing": bool(drop_missing),
    }
    key_variables = ("beta_free",)
    if group_spec is not None:
        key_variables += ("tau_by_group", "rho_by_group")
    logger.info(
        "regression model: %d coefficients, %s covariance",
        len(labels),
        f"separate by {separate_covariance}" if group_spec else "shared",
    )
    return DTAModel(model, table, resolved, parametrization, "regression", options, key_variables)


def model_graph(
    table: StudyTable,
    specs: Sequence[CovariateSpec],
    priors: Mapping[str, Prior],
    parametrization: str,
    matrix: np.ndarray,
    group_spec: CovariateSpec | None,
) -> None:
    """Add the variables of the regression model to the model on the context stack."""
    mu_sens = prior_variable("mu_sens", priors["mu_sens"])
    mu_spec = prior_variable("mu_spec", priors["mu_spec"])
    mu = pm.Deterministic("mu", pt.stack([mu_sens, mu_spec]), dims="measure")
    beta = _add_coefficients(specs, priors)
    design = pm.Data("design", matrix, dims=("study", "covariate_level"))
    study_mean = pm.Deterministic("study_mean", mu + design @ beta, dims=("study", "measure"))

    if group_spec is None:
        tau, rho = add_covariance_priors(priors)
        study_logit = add_random_effects(study_mean, tau, rho, parametrization)
        add_new_study(mu, tau, rho)
    else:
        levels = list(group_spec.levels)
        group_index = np.array(
            [levels.index(level) for level in level_values(table.frame[group_spec.name])],
            dtype=np.int64,
        )
        study_logit = _add_separate_random_effects(
            study_mean, mu, group_index, levels.index(group_spec.reference), priors,
            parametrization,
        )
    add_likelihood(study_logit, table)
