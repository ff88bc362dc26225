"""HSROC parameters from the bivariate parameters (Harbord et al., Biostatistics 2007;8:239).

No fit is needed: the mapping is checked on known parameter values.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayesdta.hsroc import HSROC_LABELS, hsroc_draws, hsroc_parameters, summarize_hsroc

MEASURES = ["sensitivity", "specificity"]


def by_measure(sens, spec, extra_dims=()):
    values = np.stack([np.asarray(sens, dtype=float), np.asarray(spec, dtype=float)], axis=-1)
    return xr.DataArray(values, dims=(*extra_dims, "measure"), coords={"measure": MEASURES})


def test_mapping_matches_hand_computed_values():
    # mu = (1, 2), s_A = s_B = 1, rho = 0.5, by hand from the closed forms: beta = log 1 = 0,
    # Lambda = 1 + 2 = 3, Theta = (1 - 2) / 2 = -0.5, sigma_alpha^2 = 2 (1 + 0.5) = 3,
    # sigma_theta^2 = 0.5 (1 - 0.5) = 0.25. Exact arithmetic, so the tolerance is rounding.
    hsroc = hsroc_parameters(by_measure(1.0, 2.0), by_measure(1.0, 1.0), xr.DataArray(0.5))

    assert float(hsroc["beta"]) == pytest.approx(0.0, abs=1e-12)
    assert float(hsroc["lambda"]) == pytest.approx(3.0, rel=1e-12)
    assert float(hsroc["theta"]) == pytest.approx(-0.5, rel=1e-12)
    assert float(hsroc["sigma_alpha"]) == pytest.approx(np.sqrt(3.0), rel=1e-12)
    assert float(hsroc["sigma_theta"]) == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize(
    ("mu_a", "mu_b", "s_a", "s_b", "rho"),
    [(1.2, 2.1, 0.8, 1.3, -0.4), (-0.5, 3.0, 1.7, 0.4, 0.6), (2.0, 0.3, 0.5, 0.5, -0.95)],
)
def test_mapping_reproduces_the_hsroc_model(mu_a, mu_b, s_a, s_b, rho):
    """Check the mapping against the HSROC model's own definition.

    The model defines ``A = (theta + alpha / 2) exp(-beta / 2)`` and
    ``logit FPR = -B = (theta - alpha / 2) exp(beta / 2)``, so ``(alpha, theta)`` is a linear
    map ``T`` of ``(A, B)``: its mean ``T mu`` must be ``(Lambda, Theta)`` and its covariance
    ``T Sigma T'`` must be diagonal with ``sigma_alpha^2`` and ``sigma_theta^2``. Linear
    algebra only, so the tolerance is rounding (1e-10).
    """
    hsroc = hsroc_parameters(by_measure(mu_a, mu_b), by_measure(s_a, s_b), xr.DataArray(rho))
    half = np.exp(float(hsroc["beta"]) / 2.0)
    transform = np.array([[half, 1.0 / half], [half / 2.0, -1.0 / (2.0 * half)]])
    sigma = np.array([[s_a**2, rho * s_a * s_b], [rho * s_a * s_b, s_b**2]])

    mean = transform @ np.array([mu_a, mu_b])
    covariance = transform @ sigma @ transform.T

    assert mean[0] == pytest.approx(float(hsroc["lambda"]), abs=1e-10)
    assert mean[1] == pytest.approx(float(hsroc["theta"]), abs=1e-10)
    assert covariance[0, 1] == pytest.approx(0.0, abs=1e-10)
    assert np.sqrt(covariance[0, 0]) == pytest.approx(float(hsroc["sigma_alpha"]), abs=1e-10)
    assert np.sqrt(covariance[1, 1]) == pytest.approx(float(hsroc["sigma_theta"]), abs=1e-10)
    # Inverting the map recovers the study logits from (alpha, theta).
    a_from_hsroc = (mean[1] + mean[0] / 2.0) / half
    fpr_logit_from_hsroc = (mean[1] - mean[0] / 2.0) * half
    assert a_from_hsroc == pytest.approx(mu_a, abs=1e-10)
    assert fpr_logit_from_hsroc == pytest.approx(-mu_b, abs=1e-10)


def test_mapping_keeps_draw_and_level_dims():
    rng = np.random.default_rng(3)
    dims = ("chain", "draw", "level")
    mu = by_measure(rng.normal(1, 0.1, (2, 50, 3)), rng.normal(2, 0.1, (2, 50, 3)), dims)
    tau = by_measure(rng.uniform(0.5, 1, (2, 50, 3)), rng.uniform(0.5, 1, (2, 50, 3)), dims)
    rho = xr.DataArray(rng.uniform(-0.9, 0.9, (2, 50, 3)), dims=dims)

    hsroc = hsroc_parameters(mu, tau, rho)

    assert set(hsroc.data_vars) == set(HSROC_LABELS)
    for name in hsroc.data_vars:
        assert hsroc[name].dims == dims
        assert np.isfinite(hsroc[name]).all()


def test_summary_has_one_row_per_parameter():
    rng = np.random.default_rng(4)
    dims = ("chain", "draw")
    posterior = xr.Dataset(
        {
            "mu": by_measure(rng.normal(1, 0.2, (2, 200)), rng.normal(2, 0.2, (2, 200)), dims),
            "tau": by_measure(rng.uniform(0.5, 1, (2, 200)), rng.uniform(0.5, 1, (2, 200)), dims),
            "rho": xr.DataArray(rng.uniform(-0.5, 0.5, (2, 200)), dims=dims),
        }
    )
    trace = xr.DataTree.from_dict({"posterior": posterior})

    table = summarize_hsroc(trace)

    assert list(table.index) == list(HSROC_LABELS)
    assert (table["eti_lower"] <= table["median"]).all()
    assert (table["median"] <= table["eti_upper"]).all()
    # The summary's median is the median of the per-draw mapping.
    expected = float(hsroc_draws(trace)["lambda"].median())
    assert table.loc["lambda", "median"] == pytest.approx(expected, rel=1e-12)
