"""Prior predictive check: implied pooled accuracy, simulated studies, table and plot.

Two checks share one module-scoped draw of 2000 prior draws on glas_telomerase. Sample
quantiles of a probability from 2000 independent draws have standard errors below 0.015
near the centre, so closed-form quantiles are compared within 0.05.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

from bayesdta import Prior, build_bivariate_model
from bayesdta.prior_predictive import prior_predictive_check, prior_predictive_table

pytestmark = pytest.mark.filterwarnings("ignore::bayesdta.BayesDTAWarning")


@pytest.fixture(scope="module")
def default_check():
    return prior_predictive_check("glas_telomerase", "weakly-informative", draws=2000, seed=4)


def test_pooled_prior_matches_logit_normal(default_check):
    """mu ~ N(0, 2): the quantiles of expit(mu) are expit of the normal quantiles."""
    table = default_check.table(prob=0.95)
    row = table.loc["sensitivity"]
    assert row["median"] == pytest.approx(0.5, abs=0.05)
    assert row["upper"] == pytest.approx(expit(2 * stats.norm.ppf(0.975)), abs=0.05)
    assert row["lower"] == pytest.approx(expit(-2 * stats.norm.ppf(0.975)), abs=0.05)


def test_simulated_studies_respect_study_sizes(default_check):
    studies = default_check.simulated_studies
    built = build_bivariate_model("glas_telomerase")
    assert len(studies) == 2000 * built.table.n_studies
    assert (studies["tp"] >= 0).all()
    assert (studies["tp"] <= studies["n_diseased"]).all()
    assert (studies["tn"] >= 0).all()
    assert (studies["tn"] <= studies["n_healthy"]).all()
    first_draw = studies[studies["draw"] == 0]
    np.testing.assert_array_equal(first_draw["n_diseased"], built.table.n_diseased)


def test_table_reports_observed_range(default_check):
    table = prior_predictive_table(default_check)
    observed = default_check.observed
    row = table.loc["study_sensitivity"]
    assert row["observed_min"] == pytest.approx(observed["sensitivity"].min())
    assert row["observed_max"] == pytest.approx(observed["sensitivity"].max())
    assert 0.0 <= row["observed_inside"] <= 1.0
    for quantity in ["tau_sens", "tau_spec", "rho", "predictive_sensitivity"]:
        assert table.loc[quantity, "lower"] <= table.loc[quantity, "upper"], quantity


def test_beta_prior_on_sensitivity_by_sampling():
    """A Beta(20, 5) prior on the pooled sensitivity gives prior draws of expit(mu_sens) that
    follow Beta(20, 5) (Kolmogorov-Smirnov p-value floor 0.001)."""
    check = prior_predictive_check(
        "glas_telomerase", {"sensitivity": Prior("Beta", alpha=20, beta=5)}, draws=2000, seed=6
    )
    draws = check.pooled["sensitivity"].to_numpy()
    assert stats.kstest(draws, stats.beta(20, 5).cdf).pvalue > 0.001
    assert check.prior_set == "custom priors"


def test_plot_draws_three_layers(default_check):
    fig, ax = plt.subplots()
    returned = default_check.plot(ax=ax, color="tab:green")
    assert returned is ax
    assert len(ax.collections) == 3
    assert ax.get_xlabel().startswith("False-positive rate")


def test_built_model_with_priors_rejected():
    built = build_bivariate_model("glas_telomerase")
    with pytest.raises(ValueError, match="not with a built model"):
        prior_predictive_check(built, priors="metabayesdta")
