"""Leave-one-study-out: the marginal per-study log-likelihood, PSIS-LOO, exact refits that
reuse the compiled model, and the influence of each study."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logsumexp
from scipy.stats import binom

from bayesdta import sampling
from bayesdta.influence import leave_one_study_out, zero_study_counts
from bayesdta.marginal_likelihood import add_marginal_log_likelihood, marginal_log_likelihood

from .diagnostics_fits import OUTLIER_STUDY, simulated_fit

# (tp, n1, tn, n0, mu, tau, rho): a typical study, a large one, a one-margin table, an
# all-positive margin with wide heterogeneity, and a strong correlation.
CASES = [
    (30, 40, 70, 90, (1.5, 2.0), (0.6, 0.5), -0.3),
    (180, 200, 410, 450, (2.0, 2.5), (0.3, 0.4), 0.5),
    (7, 10, 0, 0, (0.5, 1.0), (1.0, 1.0), 0.0),
    (12, 12, 40, 45, (3.0, 1.8), (1.5, 0.5), 0.3),
    (5, 50, 95, 100, (-1.0, 2.0), (0.8, 0.9), -0.9),
]


@pytest.mark.parametrize("case", CASES)
def test_marginal_likelihood_matches_monte_carlo(case):
    """Source: brute-force Monte Carlo of the same integral with 400,000 draws of the study
    logits. Tolerance: 4 Monte Carlo standard errors of the log (delta method) plus 1e-4,
    the quadrature error of 12 x 12 adaptive Gauss-Hermite nodes."""
    tp, n1, tn, n0, mu, tau, rho = case
    quadrature = marginal_log_likelihood(tp, n1, tn, n0, np.array(mu), np.array(tau), rho)

    rng = np.random.default_rng(0)
    covariance = [[tau[0] ** 2, rho * tau[0] * tau[1]], [rho * tau[0] * tau[1], tau[1] ** 2]]
    logits = rng.multivariate_normal(mu, covariance, size=400_000)
    likelihood = binom.pmf(tp, n1, expit(logits[:, 0])) * binom.pmf(tn, n0, expit(logits[:, 1]))
    estimate = np.log(likelihood.mean())
    standard_error = likelihood.std() / likelihood.mean() / np.sqrt(likelihood.size)

    assert abs(quadrature - estimate) < 4 * standard_error + 1e-4


def test_marginal_likelihood_broadcasts_study_means():
    """A mean per study (meta-regression) gives, study by study, the scalar results."""
    mu = np.array([[[1.0, 2.0], [0.0, 1.5], [2.0, 3.0]]])  # (draw, study, measure)
    tau = np.array([[0.5, 0.7]])
    rho = np.array([0.2])
    tp, n1, tn, n0 = (
        np.array([8, 5, 19]),
        np.array([10, 10, 20]),
        np.array([30, 20, 40]),
        np.array([35, 30, 41]),
    )
    together = marginal_log_likelihood(tp, n1, tn, n0, mu, tau[:, None, :], rho[:, None])
    for i in range(3):
        alone = marginal_log_likelihood(tp[i], n1[i], tn[i], n0[i], mu[0, i], tau[0], rho[0])
        assert together[0, i] == pytest.approx(alone, abs=1e-12)


def test_trace_gains_marginal_log_likelihood():
    _, trace = simulated_fit(False)
    group = add_marginal_log_likelihood(trace)["log_likelihood"]
    assert "table_marginal" in group
    assert group["table_marginal"].dims == ("chain", "draw", "study")
    # The marginal density integrates the study effects out, so it is below the
    # conditional density at the study's own fitted logits on average.
    assert float(group["table_marginal"].mean()) < float(group["table"].mean())


def test_marginal_loo_keeps_pareto_k_low():
    """With study effects integrated out, PSIS works for most of 30 clean studies, while the
    conditional log-likelihood gives k above 0.7 for many of them."""
    import arviz as az

    _, trace = simulated_fit(False)
    add_marginal_log_likelihood(trace)
    marginal = az.loo(trace, pointwise=True, var_name="table_marginal").pareto_k.values
    conditional = az.loo(trace, pointwise=True, var_name="table").pareto_k.values
    assert np.mean(marginal > 0.7) <= 0.1
    assert np.mean(marginal > 0.7) < np.mean(conditional > 0.7)


def test_zero_study_counts_removes_one_study():
    built, _ = simulated_fit(False)
    zeroed = zero_study_counts(built.table, "sim03")
    assert zeroed.n_studies == built.table.n_studies
    assert zeroed.n_diseased[2] == 0
    assert zeroed.n_healthy[2] == 0
    assert zeroed.counts("tp")[3] == built.table.counts("tp")[3]
    with pytest.raises(ValueError, match="not in the table"):
        zero_study_counts(built.table, "no such study")


@pytest.fixture(scope="module")
def outlier_influence():
    built, trace = simulated_fit(True)
    compiled_before = sampling.COMPILE_COUNT["nutpie"]
    k = leave_one_study_out(trace, refit=False)["pareto_k"]
    lowest_k = str(k.idxmin())
    table = leave_one_study_out(trace, built, force_refit=[lowest_k])
    return built, trace, table, lowest_k, sampling.COMPILE_COUNT["nutpie"] - compiled_before


def test_refits_reuse_compiled_model(outlier_influence):
    built, _, table, lowest_k, compiled = outlier_influence
    assert compiled == 0
    assert table.loc[lowest_k, "method"] == "refit"
    refitted = set(table.index[table["method"] == "refit"])
    assert refitted == {lowest_k} | set(table.index[table["pareto_k"] > 0.7])
    # The model's data are restored after the refits.
    assert np.array_equal(built.model["tp_observed"].get_value(), built.table.counts("tp"))


def test_exact_refit_agrees_with_psis_where_psis_works(outlier_influence):
    """Source: for a study with a low Pareto k, PSIS and an exact refit estimate the same
    leave-one-out quantities. Tolerance: 0.15 on the log density and 0.01 on the pooled
    probabilities, a few Monte Carlo errors of 800 draws."""
    _, trace, table, lowest_k, _ = outlier_influence
    psis = leave_one_study_out(trace, refit=False)
    assert table.loc[lowest_k, "elpd_loo"] == pytest.approx(
        psis.loc[lowest_k, "elpd_loo"], abs=0.15
    )
    for measure in ("sensitivity", "specificity"):
        column = f"influence_{measure}"
        assert table.loc[lowest_k, column] == pytest.approx(psis.loc[lowest_k, column], abs=0.01)


def test_planted_outlier_is_most_influential(outlier_influence):
    """Leaving out the study planted at sensitivity 0.25 (others around 0.85) must raise the
    pooled sensitivity more than leaving out any other study."""
    _, _, table, _, _ = outlier_influence
    shift = table["influence_sensitivity"]
    assert shift.idxmax() == OUTLIER_STUDY
    assert shift[OUTLIER_STUDY] > 0.005
    assert table.attrs["elpd_loo"] == pytest.approx(table["elpd_loo"].sum())
    assert np.isfinite(logsumexp(table["elpd_loo"]))


def test_high_k_without_model_is_marked_unreliable():
    _, trace = simulated_fit(True)
    with pytest.warns(UserWarning, match="Pareto k above"):
        table = leave_one_study_out(trace, k_max=-1.0)
    assert set(table["method"]) == {"psis (unreliable)"}


def test_marginal_uses_study_means_and_covariances():
    """A meta-regression posterior with ``study_mean``, ``study_tau`` and ``study_rho`` gives,
    study by study, the scalar marginal likelihood at that study's own parameters."""
    import xarray as xr

    from bayesdta.marginal_likelihood import marginal_study_log_likelihood, study_means

    built, _ = simulated_fit(False)
    table = built.table
    rng = np.random.default_rng(4)
    n = table.n_studies
    dims = ("chain", "draw", "study")
    posterior = xr.Dataset(
        {
            "mu": (("chain", "draw", "measure"), np.zeros((1, 2, 2))),
            "study_mean": ((*dims, "measure"), rng.normal(1.5, 0.5, (1, 2, n, 2))),
            "study_tau": ((*dims, "measure"), rng.uniform(0.2, 1.0, (1, 2, n, 2))),
            "study_rho": (dims, rng.uniform(-0.8, 0.8, (1, 2, n))),
        },
        coords={"measure": ["sensitivity", "specificity"]},
    )
    means = study_means(posterior, "regression")
    assert means is not None
    values = marginal_study_log_likelihood(posterior, table, mu=means)
    assert values.dims == dims
    for i in (0, n - 1):
        alone = marginal_log_likelihood(
            table.counts("tp")[i],
            table.n_diseased[i],
            table.counts("tn")[i],
            table.n_healthy[i],
            posterior["study_mean"].values[0, 1, i],
            posterior["study_tau"].values[0, 1, i],
            posterior["study_rho"].values[0, 1, i],
        )
        assert float(values[0, 1, i]) == pytest.approx(float(alone), abs=1e-12)
    assert study_means(posterior.drop_vars(["study_tau", "study_rho"]), "regression") is None


def test_influence_plots(outlier_influence):
    import matplotlib.pyplot as plt

    from bayesdta.plots.diagnostics import plot_influence, plot_pareto_k

    _, _, table, _, _ = outlier_influence
    figure = plot_influence(table)
    assert len(figure.axes) == 2
    assert figure.axes[0].get_xlabel() == "Change of pooled sensitivity without the study"
    ax = plot_pareto_k(table)
    assert ax.get_ylabel() == "Pareto k"
    assert len(ax.get_xticks()) == len(table)
    plt.close("all")
