"""SROC curves, their band and the AUC.

Closed forms come from the curve definitions (module docstring of ``bayesdta.sroc``) and from
Walter (Stat Med 2002;21:1237) for the area under a symmetric curve. One small seeded fit of
the five-study narrow-FPR example checks the behaviour on real draws.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.integrate import quad
from scipy.special import expit, logit

from bayesdta import BayesDTAWarning
from bayesdta.hsroc import hsroc_parameters
from bayesdta.sroc import (
    FPR_EDGE,
    auc_draws,
    fpr_grid,
    pooled_parameters,
    sroc_auc,
    sroc_band,
    sroc_coefficients,
    sroc_curve,
    sroc_draws,
    sroc_json,
)

MEASURES = ["sensitivity", "specificity"]

# Five studies whose false-positive rates all lie between 0.02 and 0.08.
NARROW_STUDIES = pd.DataFrame(
    {
        "study": ["S1", "S2", "S3", "S4", "S5"],
        "tp": [40, 35, 45, 30, 42],
        "fp": [2, 4, 3, 8, 5],
        "fn": [10, 15, 5, 20, 8],
        "tn": [98, 96, 97, 92, 95],
    }
)


def by_measure(sens, spec, extra_dims=()):
    values = np.stack(np.broadcast_arrays(np.asarray(sens, float), np.asarray(spec, float)), -1)
    return xr.DataArray(values, dims=(*extra_dims, "measure"), coords={"measure": MEASURES})


def random_draws(seed=0, shape=(2, 300)):
    rng = np.random.default_rng(seed)
    dims = ("chain", "draw")
    mu = by_measure(rng.normal(1.5, 0.3, shape), rng.normal(2.0, 0.3, shape), dims)
    tau = by_measure(rng.uniform(0.3, 1.5, shape), rng.uniform(0.3, 1.5, shape), dims)
    rho = xr.DataArray(rng.uniform(-0.9, 0.9, shape), dims=dims)
    return mu, tau, rho


@pytest.fixture(scope="module")
def narrow_trace():
    # Non-centered: the centered form diverges on these five large studies. The same model
    # structure as the other five-study fits of the suite, so one compilation serves all.
    import bayesdta

    built = bayesdta.build_bivariate_model(NARROW_STUDIES, parametrization="noncentered")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesDTAWarning)
        return bayesdta.fit(
            built, draws=1000, tune=500, chains=2, seed=11, target_accept=0.9, progressbar=False
        )


def test_grid_never_reaches_zero_or_one():
    observed = [0.0, 0.2, 0.5, 1.0]

    extrapolated = fpr_grid(extrapolate=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spanning = fpr_grid(observed)

    for grid in (extrapolated, spanning):
        assert grid.min() == pytest.approx(FPR_EDGE)
        assert grid.max() == pytest.approx(1.0 - FPR_EDGE)
        assert np.all(np.diff(grid) > 0)


def test_curve_finite_at_grid_ends():
    # Extreme but valid parameters: sensitivity near 1, a steep curve (s_A / s_B = 20),
    # and a flat one (s_A / s_B = 0.05).
    mu = by_measure([8.0, 8.0, -6.0], [7.0, -5.0, 9.0], ("draw",))
    tau = by_measure([2.0, 0.1, 3.0], [0.1, 2.0, 0.2], ("draw",))
    rho = xr.DataArray([0.9, -0.9, 0.01], dims="draw")
    grid = fpr_grid(extrapolate=True)

    for method in ("hsroc", "sens_on_fpr", "fpr_on_sens"):
        curve = sroc_curve(mu, tau, rho, grid, method)
        assert np.isfinite(curve).all(), method
        assert ((curve >= 0) & (curve <= 1)).all(), method


def test_hsroc_curve_matches_rutter_gatsonis_form():
    # logit(sens) = Lambda exp(-beta / 2) + exp(-beta) logit(FPR), Rutter & Gatsonis 2001 with
    # the Harbord 2007 mapping; two routes to the same number, tolerance is rounding.
    mu, tau, rho = random_draws(1)
    grid = np.array([0.01, 0.1, 0.5, 0.9])
    hsroc = hsroc_parameters(mu, tau, rho)
    logit_fpr = xr.DataArray(logit(grid), dims="fpr", coords={"fpr": grid})
    expected = expit(
        hsroc["lambda"] * np.exp(-hsroc["beta"] / 2) + np.exp(-hsroc["beta"]) * logit_fpr
    )

    curve = sroc_curve(mu, tau, rho, grid)

    np.testing.assert_allclose(curve.transpose(*expected.dims), expected, rtol=1e-10)


def test_regression_curve_is_conditional_mean():
    # E[A | logit FPR = x] of the bivariate normal, from Sigma directly: A and X = -B have
    # covariance -s_AB, so E[A | X = x] = mu_A + (-s_AB / s_B^2) (x + mu_B).
    mu_a, mu_b, s_a, s_b, rho = 1.0, 2.5, 0.9, 1.4, -0.6
    mean = np.array([mu_a, -mu_b])
    cov = np.array([[s_a**2, -rho * s_a * s_b], [-rho * s_a * s_b, s_b**2]])
    x = logit(np.array([0.05, 0.2, 0.6]))
    expected = expit(mean[0] + cov[0, 1] / cov[1, 1] * (x - mean[1]))

    curve = sroc_curve(
        by_measure(mu_a, mu_b), by_measure(s_a, s_b), xr.DataArray(rho), expit(x), "sens_on_fpr"
    )

    np.testing.assert_allclose(curve.values, expected, rtol=1e-10)


def test_unknown_method_lists_valid_ones():
    mu, tau, rho = random_draws()
    with pytest.raises(ValueError, match="valid methods.*fpr_on_sens.*hsroc.*sens_on_fpr"):
        sroc_curve(mu, tau, rho, [0.5], method="moses")


def test_band_is_ordered():
    mu, tau, rho = random_draws(2)
    curves = sroc_curve(mu, tau, rho, fpr_grid(extrapolate=True))

    band = sroc_band(curves, prob=0.9)

    assert (band["lower"] <= band["median"]).all()
    assert (band["median"] <= band["upper"]).all()
    assert band.attrs["prob"] == 0.9
    assert np.isfinite(band.to_array()).all()


def test_symmetric_auc_matches_walter_closed_form():
    # s_A = s_B gives slope 1: sens = D t / (1 - t + D t) with D = exp(mu_A + mu_B). Walter
    # (2002): AUC = D ((D - 1) - ln D) / (D - 1)^2. Simpson's rule in logit(FPR) over
    # [-40, 40] with 4001 points is exact to far below the 1e-7 tolerance.
    mu = by_measure([0.5, 2.0, 3.0], [0.3, 1.0, 2.5], ("draw",))
    tau = by_measure([0.7, 1.1, 0.4], [0.7, 1.1, 0.4], ("draw",))
    rho = xr.DataArray([-0.3, 0.2, -0.8], dims="draw")
    dor = np.exp(mu.sum("measure").values)
    expected = dor * ((dor - 1) - np.log(dor)) / (dor - 1) ** 2

    area = sroc_auc(mu, tau, rho)

    np.testing.assert_allclose(area.values, expected, atol=1e-7)


def test_symmetric_partial_auc_matches_closed_form():
    # Integral of D t / (1 + (D - 1) t) over [lo, hi] is
    # D / (D - 1) * ((hi - lo) - ln((1 + (D - 1) hi) / (1 + (D - 1) lo)) / (D - 1)).
    mu = by_measure([1.0], [1.5], ("draw",))
    tau = by_measure([0.8], [0.8], ("draw",))
    rho = xr.DataArray([-0.5], dims="draw")
    dor = np.exp(2.5)
    for low, high in [(0.02, 0.08), (0.0, 0.4), (0.3, 1.0)]:
        log_term = np.log((1 + (dor - 1) * high) / (1 + (dor - 1) * low))
        expected = dor / (dor - 1) * ((high - low) - log_term / (dor - 1))

        area = sroc_auc(mu, tau, rho, fpr_range=(low, high))

        assert float(area[0]) == pytest.approx(expected, abs=1e-7), (low, high)


@pytest.mark.parametrize("method", ["hsroc", "sens_on_fpr", "fpr_on_sens"])
def test_auc_matches_adaptive_quadrature(method):
    # An independent integrator (scipy quad over FPR) on asymmetric curves. Simpson's rule
    # with step 0.02 in logit(FPR) is good to 1e-9 for moderate slopes; a slope near 80
    # (fpr_on_sens with rho near 0, draw 1 here) makes the curve a near step, where its error
    # grows to about 1e-5, so that draw gets a 1e-4 tolerance.
    mu, tau, rho = random_draws(5, shape=(1, 4))
    intercept, slope = sroc_coefficients(mu, tau, rho, method)
    area = sroc_auc(mu, tau, rho, method)

    for draw in range(4):
        a = float(intercept[0, draw])
        b = float(slope[0, draw])
        expected = quad(lambda t, a=a, b=b: expit(a + b * logit(t)), 0.0, 1.0, limit=200)[0]
        tolerance = 1e-6 if abs(b) < 10 else 1e-4
        assert float(area[0, draw]) == pytest.approx(expected, abs=tolerance), (draw, b)


def test_auc_rejects_bad_range():
    mu, tau, rho = random_draws()
    with pytest.raises(ValueError, match="0 <= low < high <= 1"):
        sroc_auc(mu, tau, rho, fpr_range=(0.5, 0.2))


def test_narrow_fpr_range_warns_and_stays_inside(narrow_trace):
    observed = NARROW_STUDIES["fp"] / (NARROW_STUDIES["fp"] + NARROW_STUDIES["tn"])

    with pytest.warns(BayesDTAWarning, match="span only 0.02 to 0.08"):
        curves = sroc_draws(narrow_trace)

    assert float(curves["fpr"].min()) == pytest.approx(observed.min())
    assert float(curves["fpr"].max()) == pytest.approx(observed.max())
    assert np.isfinite(curves).all()


def test_few_distinct_fprs_warn():
    with pytest.warns(BayesDTAWarning, match="2 distinct values"):
        grid = fpr_grid([0.1, 0.5, 0.1, 0.5])
    assert grid.min() == pytest.approx(0.1)
    assert grid.max() == pytest.approx(0.5)


def test_auc_intervals_inside_unit_interval(narrow_trace):
    result = sroc_json(narrow_trace)

    for key in ("auc", "partial_auc"):
        interval = result[key]
        assert 0.0 <= interval["lower"] <= interval["median"] <= interval["upper"] <= 1.0, key
    normalized = result["partial_auc"]["normalized"]
    assert 0.0 <= normalized["lower"] <= normalized["median"] <= normalized["upper"] <= 1.0
    assert result["partial_auc"]["fpr_range"] == pytest.approx([0.02, 0.08])
    assert set(result["hsroc"]) == {"lambda", "theta", "beta", "sigma_alpha", "sigma_theta"}


def test_partial_auc_below_range_width(narrow_trace):
    # sens <= 1, so the partial AUC over [0.02, 0.08] is at most 0.06.
    areas = auc_draws(narrow_trace)

    assert float(areas["partial_auc"].max()) <= 0.06 + 1e-12
    assert float(areas["auc"].min()) >= 0.0
    assert float(areas["auc"].max()) <= 1.0


def test_trace_with_level_dim_is_rejected():
    # A posterior with one mu per covariate level must not be pooled silently across levels.
    dims = ("chain", "draw", "level")
    rng = np.random.default_rng(8)
    posterior = xr.Dataset(
        {
            "mu": by_measure(rng.normal(1, 0.1, (2, 20, 3)), rng.normal(2, 0.1, (2, 20, 3)), dims),
            "tau": by_measure(0.5, 0.7, ()),
            "rho": xr.DataArray(0.1),
        }
    )
    trace = xr.DataTree.from_dict({"posterior": posterior})

    with pytest.raises(ValueError, match="'mu' has dimensions \\['level'\\]"):
        pooled_parameters(trace)


def test_curve_definitions_coincide_at_rho_minus_one():
    # Slopes s_A / s_B, -rho s_A / s_B and -s_A / (rho s_B) are equal exactly when rho = -1.
    mu = by_measure(1.0, 2.0)
    tau = by_measure(0.6, 1.2)
    grid = [0.05, 0.3, 0.7]
    methods = ("hsroc", "sens_on_fpr", "fpr_on_sens")

    perfect = [sroc_curve(mu, tau, xr.DataArray(-1.0), grid, m).values for m in methods]
    partial = [sroc_curve(mu, tau, xr.DataArray(-0.5), grid, m).values for m in methods]

    np.testing.assert_allclose(perfect[1], perfect[0], rtol=1e-12)
    np.testing.assert_allclose(perfect[2], perfect[0], rtol=1e-12)
    assert np.abs(partial[1] - partial[0]).max() > 0.01
    assert np.abs(partial[2] - partial[0]).max() > 0.01


def test_partial_auc_beyond_logit_cut():
    # Ranges whose bounds lie beyond logit(FPR) = +-25 (FPR below about 1.4e-11 or above
    # 1 - 1.4e-11), against scipy quad over FPR.
    mu = by_measure([1.0], [1.5], ("draw",))
    tau = by_measure([0.8], [0.8], ("draw",))
    rho = xr.DataArray([-0.5], dims="draw")
    intercept, slope = sroc_coefficients(mu, tau, rho, "hsroc")
    a, b = float(intercept[0]), float(slope[0])
    for low, high in [(0.0, 1e-12), (1e-20, 1e-15), (1.0 - 1e-12, 1.0), (1e-300, 0.5)]:
        expected = quad(
            lambda t: expit(a + b * logit(t)), low, high, epsabs=0.0, epsrel=1e-10, limit=200
        )[0]

        area = float(sroc_auc(mu, tau, rho, fpr_range=(low, high))[0])

        assert area == pytest.approx(expected, rel=1e-6), (low, high)
