"""Named prior sets: their stated distributions, shared model structures and varied copies.

The distribution checks draw from the built PyMC model (no fit) and compare sample quantiles
with closed forms. With 4000 independent draws the relative standard error of a central
quantile of these distributions is below 3%, so the tolerance is 10% relative.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from scipy import stats

from bayesdta import build_bivariate_model
from bayesdta.prior_sets import (
    DEFAULT_PRIOR_SET,
    PRIOR_SETS,
    PriorSet,
    as_prior_set,
    get_prior_set,
    prior_set_names,
    vary_prior_set,
)
from bayesdta.priors import DEFAULT_PRIORS, Prior

pytestmark = pytest.mark.filterwarnings("ignore::bayesdta.BayesDTAWarning")

N_DRAWS = 4000


def draw(built, name: str, seed: int = 5) -> np.ndarray:
    # FAST_COMPILE skips the C compilation, which costs more than the draws.
    return pm.draw(built.model[name], draws=N_DRAWS, random_seed=seed, mode="FAST_COMPILE")


def test_required_sets_exist_with_sources():
    required = {"weakly-informative", "cochrane-vague", "metabayesdta"}
    assert required <= set(prior_set_names())
    assert len(PRIOR_SETS) >= 4
    for prior_set in PRIOR_SETS.values():
        assert prior_set.description, prior_set.name
        assert prior_set.source, prior_set.name
        assert set(prior_set.priors) == set(DEFAULT_PRIORS), prior_set.name


def test_weakly_informative_is_the_default():
    assert DEFAULT_PRIOR_SET == "weakly-informative"
    assert get_prior_set("weakly-informative").priors == DEFAULT_PRIORS


def test_cochrane_vague_implies_its_stated_distributions():
    """Logit means with variance 100 (SD 10), precision 1 / tau^2 ~ Gamma(shape 2, rate 0.5),
    so the median of tau is gamma.ppf(0.5, 2, scale=2) ** -0.5, and rho ~ Uniform(-1, 1)."""
    built = build_bivariate_model("auditc", priors="cochrane-vague")
    mu = draw(built, "mu_sens")
    tau = draw(built, "tau_spec")
    rho = draw(built, "rho")
    assert np.std(mu) == pytest.approx(10.0, rel=0.1)
    expected_tau_median = stats.gamma(2, scale=2).ppf(0.5) ** -0.5
    assert np.median(tau) == pytest.approx(expected_tau_median, rel=0.1)
    assert stats.kstest(rho, stats.uniform(-1, 2).cdf).pvalue > 0.001


def test_metabayesdta_implies_its_stated_distributions():
    """N(0, 1.5) logit means; half-normal(1) SDs, whose median is norm.ppf(0.75); LKJ(2),
    whose correlation satisfies (rho + 1) / 2 ~ Beta(2, 2)."""
    built = build_bivariate_model("auditc", priors="metabayesdta")
    assert np.std(draw(built, "mu_spec")) == pytest.approx(1.5, rel=0.1)
    assert np.median(draw(built, "tau_sens")) == pytest.approx(stats.norm.ppf(0.75), rel=0.1)
    unit = (draw(built, "rho") + 1.0) / 2.0
    assert stats.kstest(unit, stats.beta(2, 2).cdf).pvalue > 0.001


def test_sceptical_set_shrinks_heterogeneity_against_default():
    sceptical = build_bivariate_model("auditc", priors="sceptical-heterogeneity")
    default = build_bivariate_model("auditc")
    assert np.quantile(draw(sceptical, "tau_sens"), 0.95) < np.quantile(
        draw(default, "tau_sens"), 0.95
    )
    # HalfNormal(0.5): 95% quantile 0.5 * norm.ppf(0.975) = 0.98 on the logit scale.
    assert np.quantile(draw(sceptical, "tau_sens"), 0.95) == pytest.approx(0.98, rel=0.1)


def test_same_family_sets_share_one_structure():
    keys = {
        name: build_bivariate_model("auditc", priors=name).structure_key()
        for name in ("weakly-informative", "metabayesdta", "sceptical-heterogeneity")
    }
    assert len(set(keys.values())) == 1
    vague = build_bivariate_model("auditc", priors="cochrane-vague").structure_key()
    assert vague not in keys.values()


def test_unknown_set_lists_valid_names():
    with pytest.raises(ValueError) as error:
        get_prior_set("vague")
    for name in PRIOR_SETS:
        assert name in str(error.value)


def test_vary_prior_set_keeps_families():
    sets = vary_prior_set("metabayesdta", ("tau_sens", "tau_spec"), "sigma", [0.25, 0.5, 2.0])
    assert [s.priors["tau_spec"] for s in sets] == [
        Prior("HalfNormal", sigma=value) for value in (0.25, 0.5, 2.0)
    ]
    assert all(s.families() == get_prior_set("metabayesdta").families() for s in sets)
    assert len({s.name for s in sets}) == 3


def test_vary_prior_set_rejects_wrong_hyperparameter():
    with pytest.raises(ValueError, match="'scale' is not a hyperparameter"):
        vary_prior_set("weakly-informative", "tau_sens", "scale", [1.0])


def test_as_prior_set_forms():
    assert as_prior_set("metabayesdta") is PRIOR_SETS["metabayesdta"]
    custom = as_prior_set({"rho": {"dist": "LKJ", "eta": 5}}, name="strong correlation prior")
    assert custom.priors["rho"] == Prior("LKJ", eta=5)
    assert custom.priors["tau_sens"] == DEFAULT_PRIORS["tau_sens"]
    with pytest.raises(ValueError, match="needs a name"):
        as_prior_set({"rho": {"dist": "LKJ", "eta": 5}})


def test_prior_set_checks_its_priors():
    with pytest.raises(ValueError, match="unknown parameter name"):
        PriorSet(name="broken", priors={"sigma": Prior("HalfNormal", sigma=1)})
