"""Credible and prediction regions from draws.

Most tests use draws simulated from a known normal model, so the truth is known exactly; one
small seeded fit of simulated studies checks the regions on real posterior draws.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from scipy.stats import chi2

from bayesdta import BayesDTAWarning
from bayesdta.regions import Region, credible_region, prediction_region, sroc_regions

# A known bivariate model on (logit sensitivity, logit specificity).
TRUE_MU = np.array([1.5, 2.0])
TRUE_SIGMA = np.array([[0.6**2, -0.4 * 0.6 * 0.8], [-0.4 * 0.6 * 0.8, 0.8**2]])


def normal_draws(rng, mean, cov, size):
    return rng.multivariate_normal(mean, cov, size=size)


def test_hdr_holds_prob_of_its_draws():
    # The level is the (1 - prob) quantile of the density at the draws (Hyndman 1996), so
    # the fraction of draws inside is prob up to ties: 1 / n = 2.5e-4 here.
    rng = np.random.default_rng(1)
    draws = normal_draws(rng, TRUE_MU, TRUE_SIGMA / 10, 4000)

    for prob in (0.5, 0.8, 0.95):
        region = credible_region(draws[:, 0], draws[:, 1], prob=prob)
        inside = region.contains_logit(draws[:, 0], draws[:, 1]).mean()
        assert inside == pytest.approx(prob, abs=1e-3), prob


def test_hdr_of_normal_draws_holds_prob_of_truth():
    # For normal draws the HDR estimates the true ellipse: its probability under the true
    # distribution, measured on 20000 fresh points, is prob within 0.015 (the kernel
    # smoothing and 4000 draws; the Monte Carlo SE of the check itself is 0.0015).
    rng = np.random.default_rng(2)
    draws = normal_draws(rng, TRUE_MU, TRUE_SIGMA, 4000)
    fresh = normal_draws(rng, TRUE_MU, TRUE_SIGMA, 20000)

    region = credible_region(draws[:, 0], draws[:, 1], prob=0.95)

    assert region.contains_logit(fresh[:, 0], fresh[:, 1]).mean() == pytest.approx(0.95, abs=0.015)


def test_ellipse_is_the_mahalanobis_ball():
    # The ellipse option contains exactly the points with squared Mahalanobis distance (from
    # the draws' mean and covariance) below chi2_2.ppf(prob).
    rng = np.random.default_rng(3)
    draws = normal_draws(rng, TRUE_MU, TRUE_SIGMA, 3000)
    points = normal_draws(rng, TRUE_MU, 2 * TRUE_SIGMA, 2000)
    offset = points - draws.mean(axis=0)
    distance = np.einsum("ij,jk,ik->i", offset, np.linalg.inv(np.cov(draws.T)), offset)

    region = credible_region(draws[:, 0], draws[:, 1], prob=0.9, method="ellipse")

    np.testing.assert_array_equal(
        region.contains_logit(points[:, 0], points[:, 1]), distance <= chi2.ppf(0.9, 2)
    )
    boundary = region.logit_paths[0] - draws.mean(axis=0)
    on_boundary = np.einsum("ij,jk,ik->i", boundary, np.linalg.inv(np.cov(draws.T)), boundary)
    np.testing.assert_allclose(on_boundary, chi2.ppf(0.9, 2), rtol=1e-9)


def test_paths_lie_in_roc_space():
    rng = np.random.default_rng(4)
    draws = normal_draws(rng, TRUE_MU, TRUE_SIGMA, 2000)

    for method in ("hdr", "ellipse"):
        region = credible_region(draws[:, 0], draws[:, 1], method=method)
        assert len(region.paths) >= 1
        for path in region.paths:
            assert path.shape[1] == 2
            assert np.all((path > 0) & (path < 1))
            np.testing.assert_allclose(path[0], path[-1])
        # The ROC-space test agrees with the logit-scale test.
        fpr, sens = expit(-draws[:, 1]), expit(draws[:, 0])
        np.testing.assert_array_equal(
            region.contains(fpr, sens), region.contains_logit(draws[:, 0], draws[:, 1])
        )


def test_points_on_roc_edges_are_outside():
    rng = np.random.default_rng(5)
    draws = normal_draws(rng, TRUE_MU, TRUE_SIGMA, 2000)
    region = credible_region(draws[:, 0], draws[:, 1], method="ellipse")

    assert not region.contains([0.0, 1.0, 0.1], [0.8, 0.8, 1.0]).any()


def test_bad_draws_raise():
    rng = np.random.default_rng(6)
    good = rng.normal(size=100)
    with pytest.raises(ValueError, match="not finite"):
        credible_region(np.append(good, np.nan), np.append(good, 0.0))
    with pytest.raises(ValueError, match="all equal"):
        credible_region(np.zeros(100), good)
    with pytest.raises(ValueError, match="valid methods: \\['ellipse', 'hdr'\\]"):
        credible_region(good, good[::-1], method="box")
    with pytest.raises(ValueError, match="prob must lie in"):
        credible_region(good, good[::-1], prob=95)


def simulated_posterior(rng, n_draws, n_studies=20):
    """Draw a calibrated posterior of a known model, without fitting.

    With Sigma known and a flat prior on mu, an estimate ``mu_hat ~ N(mu, Sigma / k)`` gives the
    posterior ``mu ~ N(mu_hat, Sigma / k)``, and a new study's draws add ``N(0, Sigma)``. Then
    ``z_new - mu_hat ~ N(0, Sigma + Sigma / k)``, exactly the posterior predictive, so the 95%
    prediction region covers 95% of new studies drawn from the true model, averaged over
    replications.
    """
    spread = TRUE_SIGMA / n_studies
    estimate = rng.multivariate_normal(TRUE_MU, spread)
    mu = rng.multivariate_normal(estimate, spread, size=n_draws)
    new = mu + rng.multivariate_normal([0.0, 0.0], TRUE_SIGMA, size=n_draws)
    return mu, new


@pytest.mark.parametrize("method", ["hdr", "ellipse"])
def test_prediction_region_coverage_simulation(method):
    # 30 replications x 2000 true new studies: the Monte Carlo SE of the mean coverage is
    # about 0.002, and the kernel smoothing of the HDR widens the region slightly, so the
    # tolerance is 0.015 (measured: 0.950 for hdr, 0.952 for ellipse). The credible region,
    # which leaves out the between-study covariance, covers about 0.13 of new studies.
    rng = np.random.default_rng(7)
    prediction_coverage, credible_coverage = [], []
    for _ in range(30):
        mu, new = simulated_posterior(rng, 3000)
        truth = rng.multivariate_normal(TRUE_MU, TRUE_SIGMA, size=2000)

        credible = credible_region(mu[:, 0], mu[:, 1], method=method)
        with warnings.catch_warnings():
            warnings.simplefilter("error", BayesDTAWarning)
            prediction = prediction_region(new[:, 0], new[:, 1], method=method, credible=credible)

        prediction_coverage.append(prediction.contains_logit(truth[:, 0], truth[:, 1]).mean())
        credible_coverage.append(credible.contains_logit(truth[:, 0], truth[:, 1]).mean())

    assert np.mean(prediction_coverage) == pytest.approx(0.95, abs=0.015)
    assert np.mean(credible_coverage) < 0.5


def test_prediction_region_contains_credible_region():
    rng = np.random.default_rng(8)
    mu, new = simulated_posterior(rng, 4000)

    for method in ("hdr", "ellipse"):
        credible = credible_region(mu[:, 0], mu[:, 1], method=method)
        prediction = prediction_region(new[:, 0], new[:, 1], method=method, credible=credible)
        boundary = np.vstack(credible.logit_paths)
        assert prediction.contains_logit(boundary[:, 0], boundary[:, 1]).all(), method
        assert prediction.contains_logit(mu[:, 0], mu[:, 1]).mean() > 0.999, method


def test_prediction_region_widened_to_cover_credible():
    # Predictive draws narrower than the summary point's, which no valid model produces:
    # the prediction region must become the union, with a warning.
    rng = np.random.default_rng(9)
    mu = normal_draws(rng, TRUE_MU, TRUE_SIGMA / 10, 3000)
    new = TRUE_MU + 0.5 * (normal_draws(rng, TRUE_MU, TRUE_SIGMA / 10, 3000) - TRUE_MU)
    credible = credible_region(mu[:, 0], mu[:, 1])
    alone = prediction_region(new[:, 0], new[:, 1])

    with pytest.warns(BayesDTAWarning, match="union"):
        prediction = prediction_region(new[:, 0], new[:, 1], credible=credible)

    boundary = np.vstack(credible.logit_paths)
    assert not alone.contains_logit(boundary[:, 0], boundary[:, 1]).all()
    inner = np.vstack(credible.logit_paths)
    centre = inner.mean(axis=0)
    # Points just inside the credible boundary, and the predictive draws the HDR kept.
    shrunk = centre + 0.98 * (inner - centre)
    assert prediction.contains_logit(shrunk[:, 0], shrunk[:, 1]).all()
    kept = alone.contains_logit(new[:, 0], new[:, 1])
    assert prediction.contains_logit(new[kept, 0], new[kept, 1]).all()
    assert isinstance(prediction, Region)
    assert prediction.kind == "prediction"


def simulate_studies(rng, n_studies, n_per_group):
    logits = rng.multivariate_normal(TRUE_MU, TRUE_SIGMA, size=n_studies)
    tp = rng.binomial(n_per_group, expit(logits[:, 0]))
    tn = rng.binomial(n_per_group, expit(logits[:, 1]))
    return pd.DataFrame(
        {
            "study": [f"sim{i + 1}" for i in range(n_studies)],
            "tp": tp,
            "fp": n_per_group - tn,
            "fn": n_per_group - tp,
            "tn": tn,
        }
    )


@pytest.fixture(scope="module")
def simulated_fit():
    # Five studies, the same model structure as the other test files' five-study fits, so
    # that the compiled model is shared within a test session.
    import bayesdta

    table = simulate_studies(np.random.default_rng(12), n_studies=5, n_per_group=150)
    built = bayesdta.build_bivariate_model(table, parametrization="noncentered")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesDTAWarning)
        return bayesdta.fit(
            built, draws=1000, tune=500, chains=2, seed=12, target_accept=0.9, progressbar=False
        )


def test_regions_of_real_fit(simulated_fit):
    """Coverage and containment on real posterior draws of five simulated studies.

    With one dataset the coverage of true new studies varies with how well five studies
    estimate the between-study covariance. With five, the prior widens the predictive
    distribution, so coverage sits at or above 0.95 (0.978 with these seeds). The lower
    bound 0.85 catches a region that misses the between-study variance: the credible region
    covers 0.54 of these new studies.
    """
    rng = np.random.default_rng(13)
    truth = rng.multivariate_normal(TRUE_MU, TRUE_SIGMA, size=5000)

    credible, prediction = sroc_regions(simulated_fit, prob=0.95)

    coverage = prediction.contains_logit(truth[:, 0], truth[:, 1]).mean()
    assert 0.85 <= coverage <= 1.0
    assert credible.contains_logit(truth[:, 0], truth[:, 1]).mean() < coverage - 0.2
    boundary = np.vstack(credible.logit_paths)
    assert prediction.contains_logit(boundary[:, 0], boundary[:, 1]).all()
    # The credible region covers the pooled logits it was built from.
    mu = simulated_fit["posterior"]["mu"]
    pooled = mu.median(("chain", "draw")).values
    assert credible.contains_logit(pooled[0], pooled[1])
