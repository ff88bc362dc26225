"""The bivariate model with one study-level covariate: small-study effects and binary flags.

:func:`build_small_study_model` is the Bayesian counterpart of Deeks' funnel plot test: the
bivariate binomial-normal model (Chu & Cole 2006) with ``x_i = 1 / sqrt(ESS_i)``, centred at
its mean, shifting the log diagnostic odds ratio ``A_i + B_i`` by ``slope * x_i``::

    (A_i, B_i) ~ N((mu_sens + slope x_i / 2, mu_spec + slope x_i / 2), Sigma)

The shift is split equally between the two logits, so it moves the log DOR only and leaves
the threshold axis ``A_i - B_i`` alone. ``slope`` is on the scale of Deeks' regression
(change in log DOR per unit of 1 / sqrt(ESS)). ``mu`` is the pooled logit pair at the mean
of x.

:func:`build_indicator_model` puts a 0/1 study flag (for example "high risk of bias in any
QUADAS-2 domain") on both logits, with a shared between-study covariance.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..priors import Prior, resolve_priors
from ..studytable import read_studies
from .base import MEASURES, DTAModel
from .bivariate import (
    PARAMETRIZATIONS,
    add_covariance_priors,
    add_random_effects,
    choose_parametrization,
)
from .components import add_likelihood, add_new_study, prior_variable

__all__ = ["build_small_study_model", "build_indicator_model", "SLOPE_PRIOR_SD_PER_SD"]

logger = logging.getLogger(__name__)

#: Prior SD of the change in log DOR per one standard deviation of 1 / sqrt(ESS). A value
#: of 2 puts 95% prior mass on shifts below a factor of about 50 in the DOR across one SD
#: of study precision, weak against any real asymmetry.
SLOPE_PRIOR_SD_PER_SD = 2.0
#: Prior SD of the difference in logit sensitivity or specificity between flagged and
#: unflagged studies: 95% mass on odds ratios between about 1/50 and 50.
INDICATOR_PRIOR_SD = 2.0


def _check_parametrization(parametrization: str, table) -> str:
    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(
            f"parametrization {parametrization!r} is not valid; choose one of {PARAMETRIZATIONS}"
        )
    if parametrization == "auto":
        return choose_parametrization(table)
    return parametrization


def build_small_study_model(
    data,
    priors: Mapping[str, Prior | Mapping] | None = None,
    parametrization: str = "auto",
    slope_prior: Prior | None = None,
) -> DTAModel:
    """Build the bivariate model with ``1 / sqrt(ESS)`` as a covariate on the log DOR.

    Parameters
    ----------
    data : StudyTable, DataFrame, path or dataset name
        Every table needs diseased and non-diseased participants, because ESS is 0 for a
        table with an empty margin.
    priors : mapping, optional
        Priors of the bivariate parameters, as for :func:`bayesdta.build_bivariate_model`.
    parametrization : {"auto", "centered", "noncentered"}, default "auto"
    slope_prior : Prior, optional
        A ``Normal`` prior of the slope. The default is ``Normal(0, s)`` with
        ``s = SLOPE_PRIOR_SD_PER_SD / sd(x)``, scaled to the spread of x in the data.

    Returns
    -------
    DTAModel
        ``kind="small_study"``; the posterior contains ``slope`` (scalar) besides the bivariate
        variables. The centred covariate is the ``pm.Data`` ``inv_sqrt_ess_centred``.

    Raises
    ------
    ValueError
        If a table has no diseased or no non-diseased participants, naming them.

    References
    ----------
    Deeks JJ, Macaskill P, Irwig L. J Clin Epidemiol 2005;58:882-893 (the covariate).
    Chu H, Cole SR. J Clin Epidemiol 2006;59:1331-1332 (the bivariate model).
    """
    from ..deeks import effective_sample_size

    table = read_studies(data)
    empty = (table.n_diseased == 0) | (table.n_healthy == 0)
    if empty.any():
        names = np.asarray(table.study_ids, dtype=object)[empty].tolist()
        raise ValueError(
            f"the small-study model needs diseased and non-diseased participants in every "
            f"table, because ESS is 0 otherwise; these tables have an empty margin: {names}. "
            "Leave them out with StudyTable.subset"
        )
    x = 1.0 / np.sqrt(effective_sample_size(table.n_diseased, table.n_healthy))
    centred = x - x.mean()
    if slope_prior is None:
        slope_prior = Prior("Normal", mu=0.0, sigma=SLOPE_PRIOR_SD_PER_SD / float(np.std(x)))
    if slope_prior.dist != "Normal":
        raise ValueError(f"slope_prior must be a Normal prior, got {slope_prior.describe()}")

    resolved = resolve_priors(priors)
    parametrization = _check_parametrization(parametrization, table)
    coords = {"study": table.study_ids, "measure": list(MEASURES)}
    with pm.Model(coords=coords) as model:
        mu_sens = prior_variable("mu_sens", resolved["mu_sens"])
        mu_spec = prior_variable("mu_spec", resolved["mu_spec"])
        mu = pm.Deterministic("mu", pt.stack([mu_sens, mu_spec]), dims="measure")
        slope = prior_variable("slope", slope_prior)
        covariate = pm.Data("inv_sqrt_ess_centred", centred, dims="study")
        shift = 0.5 * slope * covariate
        study_mean = mu[None, :] + shift[:, None]

        tau, rho = add_covariance_priors(resolved)
        study_logit = add_random_effects(study_mean, tau, rho, parametrization)
        add_new_study(mu, tau, rho)
        add_likelihood(study_logit, table)

    all_priors = dict(resolved) | {"slope": slope_prior}
    logger.info("built the small-study model on %d tables, slope prior %s", table.n_studies,
                slope_prior.describe())
    return DTAModel(model, table, all_priors, parametrization, kind="small_study",
                    options={"covariate": "inv_sqrt_ess", "target": "log_dor"},
                    key_variables=("slope",))


def build_indicator_model(
    data,
    indicator,
    name: str = "flag",
    priors: Mapping[str, Prior | Mapping] | None = None,
    parametrization: str = "auto",
    effect_prior: Prior | None = None,
) -> DTAModel:
    """Build the bivariate model with a 0/1 study flag on both logits.

    ``A_i = mu_sens + effect_sens * flag_i + u_i``, ``B_i = mu_spec + effect_spec * flag_i +
    v_i``, with ``(u_i, v_i)`` bivariate normal with one covariance for all studies. So
    ``mu`` is the pooled logit pair of the unflagged studies and ``mu + effect`` that of
    the flagged ones.

    Parameters
    ----------
    data : StudyTable, DataFrame, path or dataset name
    indicator : array of bool, shape (study,)
        The flag of each table; both values must occur.
    name : str, default "flag"
        Recorded in the model options.
    priors : mapping, optional
        Priors of the bivariate parameters.
    parametrization : {"auto", "centered", "noncentered"}, default "auto"
    effect_prior : Prior, optional
        ``Normal`` prior of each logit difference; default ``Normal(0, 2)``.

    Returns
    -------
    DTAModel
        ``kind="indicator"``; the posterior contains ``effect`` (dims ``measure``) and
        ``mu_flagged`` (dims ``measure``).
    """
    table = read_studies(data)
    flag = np.asarray(indicator, dtype=bool)
    if flag.shape != (table.n_studies,):
        raise ValueError(
            f"indicator has shape {flag.shape}; expected one value per table ({table.n_studies})"
        )
    if flag.all() or not flag.any():
        raise ValueError(f"indicator {name!r} takes one value only; it needs both 0 and 1")
    effect_prior = effect_prior or Prior("Normal", mu=0.0, sigma=INDICATOR_PRIOR_SD)

    resolved = resolve_priors(priors)
    parametrization = _check_parametrization(parametrization, table)
    coords = {"study": table.study_ids, "measure": list(MEASURES)}
    with pm.Model(coords=coords) as model:
        mu_sens = prior_variable("mu_sens", resolved["mu_sens"])
        mu_spec = prior_variable("mu_spec", resolved["mu_spec"])
        mu = pm.Deterministic("mu", pt.stack([mu_sens, mu_spec]), dims="measure")
        effect_sens = prior_variable("effect_sens", effect_prior)
        effect_spec = prior_variable("effect_spec", effect_prior)
        effect = pm.Deterministic("effect", pt.stack([effect_sens, effect_spec]), dims="measure")
        pm.Deterministic("mu_flagged", mu + effect, dims="measure")
        flag_data = pm.Data(f"covariate_{name}", flag.astype(np.float64), dims="study")
        study_mean = mu[None, :] + flag_data[:, None] * effect[None, :]

        tau, rho = add_covariance_priors(resolved)
        study_logit = add_random_effects(study_mean, tau, rho, parametrization)
        add_new_study(mu, tau, rho)
        add_likelihood(study_logit, table)

    all_priors = dict(resolved) | {"effect_sens": effect_prior, "effect_spec": effect_prior}
    return DTAModel(model, table, all_priors, parametrization, kind="indicator",
                    options={"indicator": name}, key_variables=("effect",))
