"""The bivariate logit-normal (binomial-normal) model of Chu & Cole (2006).

For study i with n1_i diseased and n0_i non-diseased participants::

    tp_i ~ Binomial(n1_i, expit(A_i))        tn_i ~ Binomial(n0_i, expit(B_i))
    (A_i, B_i) ~ N((mu_sens, mu_spec), Sigma),
    Sigma = [[tau_sens^2, rho tau_sens tau_spec], [rho tau_sens tau_spec, tau_spec^2]]

References
----------
Chu H, Cole SR. Bivariate meta-analysis of sensitivity and specificity with sparse data:
a generalized linear mixed model approach. J Clin Epidemiol 2006;59:1331-1332.
Reitsma JB et al. Bivariate analysis of sensitivity and specificity produces informative
summary measures in diagnostic reviews. J Clin Epidemiol 2005;58:982-990.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..priors import Prior, resolve_priors
from ..studytable import StudyTable, read_studies
from .base import MEASURES, DTAModel
from .components import add_likelihood, add_new_study, add_study_effects, prior_variable

__all__ = ["build_bivariate_model", "choose_parametrization", "add_random_effects"]

logger = logging.getLogger(__name__)

PARAMETRIZATIONS = ("auto", "centered", "noncentered")

#: Median approximate within-study SD of the logits below which the centered form is chosen.
CENTERED_WITHIN_SD = 0.6

#: Fewest studies for which the centered form is chosen. On three 10-study datasets the
#: centered form had 7.5 to 52 divergences per 4000 draws (mean of two seeds) and the
#: non-centered form 0.5 to 7 (``benchmarks/parametrization.py``, ``benchmarks/RESULTS.md``).
MIN_STUDIES_CENTERED = 11


def choose_parametrization(table: StudyTable) -> str:
    """Pick the centered or non-centered form from how informative the studies are.

    With large studies the data pin each study's logits down, and the centered form samples
    better; with small studies or few of them the non-centered form avoids the funnel
    between study effects and the SDs. The decision uses the median of the approximate
    within-study SDs of the logits, ``sqrt(1 / (x + 0.5) + 1 / (n - x + 0.5))`` over both
    margins. The 0.5 enters this heuristic only; the likelihood uses the exact counts.

    Returns
    -------
    {"centered", "noncentered"}
    """
    median_sd = within_study_logit_sd(table)
    # NOTE: the within-study SD alone does not decide every dataset. A simulated set of 52
    # studies with median SD 0.48 diverged centered and sampled 4x better non-centered,
    # while catheter_segment_culture (SD 0.45) sampled 3x better centered.
    informative = median_sd < CENTERED_WITHIN_SD
    enough_studies = table.n_studies >= MIN_STUDIES_CENTERED
    choice = "centered" if informative and enough_studies else "noncentered"
    logger.info(
        "parametrization %s: median within-study logit SD %.2f (threshold %.2f), %d studies",
        choice,
        median_sd,
        CENTERED_WITHIN_SD,
        table.n_studies,
    )
    return choice


def within_study_logit_sd(table: StudyTable) -> float:
    """Return the median approximate within-study SD of the logits over both margins.

    Each margin with at least one participant contributes
    ``sqrt(1 / (x + 0.5) + 1 / (n - x + 0.5))``, with x the true positives (or true
    negatives) out of n diseased (or non-diseased) participants.
    """
    pairs = [
        (table.counts("tp"), table.n_diseased),
        (table.counts("tn"), table.n_healthy),
    ]
    sds = []
    for successes, totals in pairs:
        informative = totals > 0
        x, n = successes[informative], totals[informative]
        sds.append(np.sqrt(1.0 / (x + 0.5) + 1.0 / (n - x + 0.5)))
    return float(np.median(np.concatenate(sds)))


def add_random_effects(
    mu: pt.TensorVariable,
    tau: pt.TensorVariable,
    rho: pt.TensorVariable,
    parametrization: str,
) -> pt.TensorVariable:
    """Add study effects and a new study's effects around ``mu`` (dims ``study, measure``).

    ``mu`` may have shape (2,) or (study, 2), as in meta-regression. Returns the study
    logits (see :func:`~bayesdta.models.components.add_study_effects`);
    ``new_study_logit`` is added as a deterministic of shape (2,) when ``mu`` has shape (2,).
    """
    study_logit = add_study_effects(mu, tau, rho, parametrization)
    if mu.ndim == 1:
        add_new_study(mu, tau, rho)
    return study_logit


def add_covariance_priors(priors: Mapping[str, Prior]) -> tuple[pt.TensorVariable, pt.TensorVariable]:
    """Add ``tau_sens``, ``tau_spec`` and ``rho`` and return ``(tau, rho)``."""
    tau_sens = prior_variable("tau_sens", priors["tau_sens"])
    tau_spec = prior_variable("tau_spec", priors["tau_spec"])
    tau = pm.Deterministic("tau", pt.stack([tau_sens, tau_spec]), dims="measure")
    rho = prior_variable("rho", priors["rho"])
    return tau, rho


def build_bivariate_model(
    data,
    priors: Mapping[str, Prior | Mapping] | None = None,
    parametrization: str = "auto",
) -> DTAModel:
    """Build the bivariate binomial-normal model of Chu & Cole (2006).

    Parameters
    ----------
    data : StudyTable, DataFrame, path or dataset name
        Anything :func:`bayesdta.read_studies` accepts.
    priors : mapping, optional
        Priors by parameter name (``mu_sens``, ``mu_spec``, ``tau_sens``, ``tau_spec``,
        ``rho``); see :mod:`bayesdta.priors`. Unnamed parameters keep the defaults.
    parametrization : {"auto", "centered", "noncentered"}, default "auto"
        Form of the study effects. Both give the same posterior; ``"auto"`` uses
        :func:`choose_parametrization`.

    Returns
    -------
    DTAModel

    Examples
    --------
    >>> from bayesdta import build_bivariate_model
    >>> built = build_bivariate_model("auditc")
    >>> sorted(built.model.coords)
    ['measure', 'study']
    """
    table = read_studies(data)
    resolved = resolve_priors(priors)
    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(
            f"parametrization {parametrization!r} is not valid; choose one of {PARAMETRIZATIONS}"
        )
    if parametrization == "auto":
        parametrization = choose_parametrization(table)

    coords = {"study": table.study_ids, "measure": list(MEASURES)}
    with pm.Model(coords=coords) as model:
        mu_sens = prior_variable("mu_sens", resolved["mu_sens"])
        mu_spec = prior_variable("mu_spec", resolved["mu_spec"])
        mu = pm.Deterministic("mu", pt.stack([mu_sens, mu_spec]), dims="measure")
        tau, rho = add_covariance_priors(resolved)
        study_logit = add_random_effects(mu, tau, rho, parametrization)
        add_likelihood(study_logit, table)

    return DTAModel(model, table, resolved, parametrization, kind="bivariate")
