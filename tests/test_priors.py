"""User priors: probability-scale priors, accepted forms, and rejection of bad names and values.

Distribution checks draw from the built PyMC model (no fit) and compare with closed forms.
With 4000 independent draws the standard error of a sample quantile of a probability near
the centre is below 0.01. Quantiles are therefore compared with a tolerance of 0.03 (more
than 3 standard errors), and Kolmogorov-Smirnov tests use a p-value floor of 0.001.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from scipy import stats
from scipy.special import expit

from bayesdta import Prior, build_bivariate_model
from bayesdta.priors import (
    DEFAULT_PRIORS,
    PARAMETERS,
    implied_probability_prior,
    priors_from_json,
    priors_to_json,
    resolve_priors,
)

pytestmark = pytest.mark.filterwarnings("ignore::bayesdta.BayesDTAWarning")

N_DRAWS = 4000


def draw_pooled_sensitivity(priors, seed=1) -> np.ndarray:
    built = build_bivariate_model("auditc", priors=priors)
    logit = pm.draw(built.model["mu_sens"], draws=N_DRAWS, random_seed=seed, mode="FAST_COMPILE")
    return expit(logit)


def test_beta_prior_on_sensitivity_is_that_beta():
    """A Beta(8, 2) prior given on the probability scale must make expit(mu_sens) exactly
    Beta(8, 2) distributed: the model draws p ~ Beta and sets mu_sens = logit(p)."""
    draws = draw_pooled_sensitivity({"sensitivity": Prior("Beta", alpha=8, beta=2)})
    result = stats.kstest(draws, stats.beta(8, 2).cdf)
    assert result.pvalue > 0.001
    assert abs(np.median(draws) - stats.beta(8, 2).median()) < 0.03


def test_probability_alias_equals_logit_name():
    by_alias = resolve_priors({"specificity": {"dist": "Beta", "alpha": 3, "beta": 1}})
    by_name = resolve_priors({"mu_spec": {"dist": "Beta", "alpha": 3, "beta": 1}})
    assert by_alias == by_name


def test_normal_logit_prior_gives_logit_normal_quantiles():
    """Quantiles survive a monotone map: the q-quantile of expit(mu) is expit of the
    q-quantile of Normal(1, 0.5)."""
    draws = draw_pooled_sensitivity({"mu_sens": Prior("Normal", mu=1.0, sigma=0.5)})
    for q in (0.025, 0.5, 0.975):
        expected = expit(stats.norm(1.0, 0.5).ppf(q))
        assert abs(np.quantile(draws, q) - expected) < 0.03, q


def test_implied_probability_prior_matches_closed_forms():
    beta = implied_probability_prior(Prior("Beta", alpha=2, beta=5), draws=N_DRAWS, seed=2)
    assert stats.kstest(beta, stats.beta(2, 5).cdf).pvalue > 0.001
    normal = implied_probability_prior({"dist": "Normal", "mu": 0, "sigma": 2}, N_DRAWS, seed=3)
    assert abs(np.quantile(normal, 0.975) - expit(1.959964 * 2)) < 0.03
    assert abs(np.median(normal) - 0.5) < 0.03


def test_unknown_parameter_names_listed_with_valid_ones():
    with pytest.raises(ValueError) as error:
        resolve_priors({"tau": Prior("HalfNormal", sigma=1), "correlation": Prior("LKJ", eta=2)})
    message = str(error.value)
    assert "['correlation', 'tau']" in message
    for name in PARAMETERS:
        assert name in message


def test_every_problem_reported_in_one_error():
    bad = {
        "mu_sens": {"dist": "Normal", "mu": 0, "scale": 1},
        "tau_spec": {"dist": "Normal", "mu": 0, "sigma": 1},
        "rho": {"dist": "LKJ", "eta": -1},
        "sensitivity_prior": {"dist": "Beta", "alpha": 1, "beta": 1},
    }
    with pytest.raises(ValueError) as error:
        resolve_priors(bad)
    message = str(error.value)
    assert "mu_sens: Normal takes hyperparameters ['mu', 'sigma'], got ['mu', 'scale']" in message
    assert "tau_spec: family 'Normal' is not available" in message
    assert "rho: LKJ hyperparameter eta=-1 must be > 0" in message
    assert "['sensitivity_prior']" in message


def test_probability_alias_rejects_non_beta_and_duplicates():
    with pytest.raises(ValueError, match="probability-scale prior must be 'Beta'"):
        resolve_priors({"sensitivity": Prior("Normal", mu=0, sigma=1)})
    with pytest.raises(ValueError, match="both 'sensitivity' and 'mu_sens'"):
        resolve_priors(
            {
                "sensitivity": Prior("Beta", alpha=1, beta=1),
                "mu_sens": Prior("Beta", alpha=2, beta=2),
            }
        )


def test_non_numeric_hyperparameter_named():
    with pytest.raises(ValueError, match=r"prior for 'tau_sens'.*\{'sigma': 'wide'\}"):
        resolve_priors({"tau_sens": {"dist": "HalfNormal", "sigma": "wide"}})


class ForeignPrior:
    """The public attributes of ``pymc_extras.prior.Prior``, which cannot be installed next to
    PyMC 6.4 (pymc-extras 0.15.1 requires pymc<6.4)."""

    def __init__(self, distribution, dims=None, centered=True, transform=None, **parameters):
        self.distribution = distribution
        self.parameters = parameters
        self.dims = dims
        self.centered = centered
        self.transform = transform


def test_pymc_extras_style_priors_accepted():
    resolved = resolve_priors(
        {
            "tau_sens": ForeignPrior("HalfNormal", sigma=0.7),
            "rho": {"dist": "LKJ", "kwargs": {"eta": 3}},
        }
    )
    assert resolved["tau_sens"] == Prior("HalfNormal", sigma=0.7)
    assert resolved["rho"] == Prior("LKJ", eta=3)


def test_pymc_extras_options_rejected():
    with pytest.raises(ValueError, match="sets \\{'dims': 'study'\\}"):
        resolve_priors({"tau_sens": ForeignPrior("HalfNormal", sigma=1, dims="study")})
    with pytest.raises(ValueError, match="'centered': False"):
        resolve_priors({"mu_sens": ForeignPrior("Normal", mu=0, sigma=1, centered=False)})
    nested = ForeignPrior("Normal", mu=0, sigma=ForeignPrior("HalfNormal", sigma=1))
    with pytest.raises(ValueError, match="nested priors are not supported"):
        resolve_priors({"mu_sens": nested})


def test_caller_mapping_not_modified():
    given = {"tau_sens": {"dist": "HalfNormal", "sigma": 1.0}}
    resolve_priors(given)
    assert given == {"tau_sens": {"dist": "HalfNormal", "sigma": 1.0}}


def test_prior_set_name_accepted_by_builder():
    built = build_bivariate_model("auditc", priors="metabayesdta")
    assert built.priors["tau_sens"] == Prior("HalfNormal", sigma=1.0)
    assert built.model["prior_tau_sens_sigma"].get_value() == 1.0


def test_priors_recorded_in_spec_round_trip():
    built = build_bivariate_model("auditc", priors={"sensitivity": Prior("Beta", alpha=8, beta=2)})
    recorded = built.spec()["priors"]
    assert recorded["mu_sens"] == {"dist": "Beta", "alpha": 8.0, "beta": 2.0}
    assert priors_from_json(priors_to_json(built.priors)) == built.priors


def test_defaults_unchanged_when_no_priors():
    assert resolve_priors(None) == DEFAULT_PRIORS
