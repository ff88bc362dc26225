"""Posterior predictive checks per study: tail probabilities, outlier flags, the table and
the plot."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from scipy.stats import binom

from bayesdta.plots.diagnostics import plot_ppc
from bayesdta.ppc import OUTLIER_ALPHA, ppc_table, replicate_counts, tail_probabilities

from .diagnostics_fits import N_SIMULATED, OUTLIER_STUDY, simulated_fit


def test_tail_probability_closed_form():
    """Source: closed form. Replicates uniform on 0..10 and an observed 0 give the mid-p
    value P(rep < 0) + P(rep = 0) / 2 = 1/22, so the two-sided value is 1/11; an observed 5
    sits in the middle, two-sided 1."""
    replicated = xr.DataArray(
        np.tile(np.arange(11), (1, 10, 1)).reshape(1, 110, 1), dims=("chain", "draw", "study")
    )
    low = tail_probabilities(replicated, xr.DataArray([0], dims="study"))
    middle = tail_probabilities(replicated, xr.DataArray([5], dims="study"))
    assert float(low[0]) == pytest.approx(1 / 11)
    assert float(middle[0]) == pytest.approx(1.0)


def test_replicates_have_observed_sizes():
    _, trace = simulated_fit(False)
    replicated = replicate_counts(trace, seed=1)
    n_diseased = trace["constant_data"]["n_diseased"]
    assert replicated["tp"].dims == ("chain", "draw", "study")
    assert bool((replicated["tp"] <= n_diseased).all())
    assert bool((replicated["tp"] >= 0).all())
    with pytest.raises(ValueError, match="not valid"):
        replicate_counts(trace, kind="prior")


def test_mixed_replicates_match_model_moments():
    """Source: simulation with known truth. The mean of mixed replicated sensitivities is
    E[expit(A)] with A ~ N(mu, tau^2), averaged over the posterior. A direct Monte Carlo of
    that expectation must agree within 0.02 (Monte Carlo and binomial noise)."""
    _, trace = simulated_fit(False)
    replicated = replicate_counts(trace, seed=2)
    n_diseased = trace["constant_data"]["n_diseased"]
    mean_replicated = float((replicated["tp"] / n_diseased).mean())
    posterior = trace["posterior"]
    rng = np.random.default_rng(3)
    mu = posterior["mu"].sel(measure="sensitivity").values.ravel()
    tau = posterior["tau"].sel(measure="sensitivity").values.ravel()
    direct = np.mean(
        1 / (1 + np.exp(-(mu[:, None] + tau[:, None] * rng.standard_normal((mu.size, 200)))))
    )
    assert mean_replicated == pytest.approx(direct, abs=0.02)


def test_planted_outlier_is_flagged():
    """The study planted at sensitivity 0.25 among studies around 0.85 (n1 60-120) is
    flagged, with a sensitivity tail probability below the threshold."""
    _, trace = simulated_fit(True)
    table = ppc_table(trace, seed=1)
    assert bool(table.loc[OUTLIER_STUDY, "outlier"])
    assert table.loc[OUTLIER_STUDY, "ppc_p_sensitivity"] < OUTLIER_ALPHA
    assert table["ppc_p_sensitivity"].idxmin() == OUTLIER_STUDY


def test_clean_data_flags_no_more_than_chance():
    """Source: simulation with known truth. With 30 studies from the model itself, each
    study is flagged with probability at most about 2% (two margins at 1%), so 4 or more
    flags would happen with probability below 0.4% (binomial tail)."""
    _, trace = simulated_fit(False)
    table = ppc_table(trace, seed=1)
    assert binom.sf(3, N_SIMULATED, 2 * OUTLIER_ALPHA) < 0.004
    assert int(table["outlier"].sum()) <= 3


def test_conditional_replicates_hide_the_outlier():
    """Replicating from the study's own fitted logits reproduces its data, so its tail
    probability is far less extreme than with mixed replicates."""
    _, trace = simulated_fit(True)
    mixed = ppc_table(trace, seed=1)
    conditional = ppc_table(trace, seed=1, kind="conditional")
    assert (
        conditional.loc[OUTLIER_STUDY, "ppc_p_sensitivity"]
        > mixed.loc[OUTLIER_STUDY, "ppc_p_sensitivity"]
    )
    assert conditional.attrs["kind"] == "conditional"


def test_ppc_table_columns_and_ranges():
    _, trace = simulated_fit(False)
    table = ppc_table(trace, prob=0.9, seed=1)
    observed = trace["observed_data"]["tp"].values / trace["constant_data"]["n_diseased"].values
    np.testing.assert_allclose(table["observed_sensitivity"].to_numpy(), observed)
    for measure in ("sensitivity", "specificity"):
        assert (table[f"predicted_{measure}_lower"] <= table[f"predicted_{measure}"]).all()
        assert (table[f"predicted_{measure}"] <= table[f"predicted_{measure}_upper"]).all()
        assert table[f"ppc_p_{measure}"].between(0, 1).all()
    assert table.attrs["prob"] == 0.9
    with pytest.raises(ValueError, match="prob"):
        ppc_table(trace, prob=1.5)


def test_plot_ppc_returns_figure():
    _, trace = simulated_fit(True)
    figure = plot_ppc(ppc_table(trace, seed=1))
    assert len(figure.axes) == 2
    assert figure.axes[0].get_xlabel() == "Sensitivity"
    plt.close("all")
