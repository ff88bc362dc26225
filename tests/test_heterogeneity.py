"""I-squared per margin and bivariate (Zhou & Dendukuri 2014), and the between-study SDs
in words."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr

from bayesdta.heterogeneity import (
    heterogeneity_summary,
    i_squared_draws,
    typical_within_variance,
    within_study_variances,
)
from bayesdta.plots.diagnostics import plot_i_squared

from .diagnostics_fits import simulated_fit

MEASURES = ["sensitivity", "specificity"]


def equal_study_trace(tau: tuple[float, float], rho: float, k: int = 6) -> xr.DataTree:
    """Return a trace of k identical studies (tp 40 of 50, tn 80 of 100) whose posterior
    contains the given tau and rho in every one of 2 x 50 draws."""
    shape = (2, 50)
    posterior = xr.Dataset(
        {
            "mu": (("chain", "draw", "measure"), np.full((*shape, 2), 1.5)),
            "tau": (("chain", "draw", "measure"), np.broadcast_to(tau, (*shape, 2)).copy()),
            "rho": (("chain", "draw"), np.full(shape, rho)),
        },
        coords={"measure": MEASURES},
    )
    studies = {"study": [f"s{i}" for i in range(k)]}
    observed = xr.Dataset({"tp": ("study", [40] * k), "tn": ("study", [80] * k)}, coords=studies)
    constant = xr.Dataset(
        {"n_diseased": ("study", [50] * k), "n_healthy": ("study", [100] * k)}, coords=studies
    )
    return xr.DataTree.from_dict(
        {"posterior": posterior, "observed_data": observed, "constant_data": constant}
    )


def test_typical_variance_closed_forms():
    """Source: Higgins & Thompson (2002) eq. 9. Equal variances v give v; variances 1, 2, 4
    (weights 1, 0.5, 0.25) give 2 * 1.75 / (1.75^2 - 1.3125) = 2.0."""
    assert typical_within_variance([0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.3)
    assert typical_within_variance([1.0, 2.0, 4.0]) == pytest.approx(2.0)
    assert typical_within_variance([1.0, np.nan, 1.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2"):
        typical_within_variance([1.0])


def test_within_variances_follow_continuity_rule():
    """Source: the delta method, 1/x + 1/(n - x). Without zero cells no correction; with
    any zero cell 0.5 is added to every cell of every study (mada's default)."""
    clean = within_study_variances([40, 10], [50, 20], [80, 30], [100, 40])
    assert clean["sensitivity"][0] == pytest.approx(1 / 40 + 1 / 10)
    assert clean["specificity"][1] == pytest.approx(1 / 30 + 1 / 10)
    corrected = within_study_variances([40, 20], [50, 20], [80, 30], [100, 40])
    assert corrected["sensitivity"][0] == pytest.approx(1 / 40.5 + 1 / 10.5)
    assert corrected["sensitivity"][1] == pytest.approx(1 / 20.5 + 1 / 0.5)
    margin_only = within_study_variances([5, 6], [10, 0], [8, 7], [10, 9])
    assert np.isnan(margin_only["sensitivity"][1])


def test_i_squared_known_value_at_half():
    """Source: closed form. With tau^2 equal to the typical within-study variance of each
    margin (1/40 + 1/10 = 0.125 and 1/80 + 1/20 = 0.0625) and rho = 0, every I-squared is
    0.5 exactly; with rho = 0.6 the bivariate one is 0.8 / (0.8 + 1) because
    sqrt(det Sigma) shrinks by sqrt(1 - 0.36)."""
    tau = (np.sqrt(0.125), np.sqrt(0.0625))
    draws = i_squared_draws(equal_study_trace(tau, 0.0))
    for name in ("i2_sensitivity", "i2_specificity", "i2_bivariate"):
        np.testing.assert_allclose(draws[name].values, 0.5, rtol=1e-12)
    correlated = i_squared_draws(equal_study_trace(tau, 0.6))
    np.testing.assert_allclose(correlated["i2_bivariate"].values, 0.8 / 1.8, rtol=1e-12)
    np.testing.assert_allclose(correlated["i2_sensitivity"].values, 0.5, rtol=1e-12)


def test_summary_of_fit():
    """Source: simulation with known truth. The data were simulated with tau = 0.35 on both
    margins, so the true I-squared of a margin is 0.35^2 / (0.35^2 + s^2) with s^2 the
    typical within-study variance of those same studies (about 0.6 here). The seeded 95%
    interval must contain it."""
    _, trace = simulated_fit(False)
    summary = heterogeneity_summary(trace)
    for name in ("i2_sensitivity", "i2_specificity", "i2_bivariate"):
        interval = summary[name]
        assert 0.0 <= interval["lower"] <= interval["median"] <= interval["upper"] <= 1.0
    for measure in MEASURES:
        typical = summary["typical_within_variance"][measure]
        truth = 0.35**2 / (0.35**2 + typical)
        interval = summary[f"i2_{measure}"]
        assert interval["lower"] < truth < interval["upper"]
    assert "middle 95% of studies" in summary["between_study_sd"]["sensitivity"]


def test_plot_i_squared():
    _, trace = simulated_fit(False)
    ax = plot_i_squared(i_squared_draws(trace))
    assert len(ax.get_legend().get_texts()) == 3
    plt.close("all")
