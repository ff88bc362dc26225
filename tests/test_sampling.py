"""fit(): the returned DataTree, reproducibility, compiled-model reuse, convergence warnings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binom

import bayesdta
from bayesdta import sampling
from bayesdta.convergence import check_convergence
from bayesdta.errors import ConvergenceWarning
from bayesdta.trace import read_spec

pytestmark = pytest.mark.filterwarnings("ignore::bayesdta.BayesDTAWarning")


@pytest.fixture(scope="module")
def small_fit():
    built = bayesdta.build_bivariate_model("auditc")
    return built, bayesdta.fit(built, draws=200, tune=200, chains=2, seed=11,
                               progressbar=False, check=False)


def test_trace_groups_and_dims(small_fit):
    _, trace = small_fit
    for group in ["posterior", "sample_stats", "log_likelihood", "observed_data", "constant_data"]:
        assert group in trace.children, group
    assert trace["log_likelihood"]["table"].dims == ("chain", "draw", "study")
    assert trace["posterior"]["study_logit"].dims == ("chain", "draw", "study", "measure")
    assert trace["posterior"].sizes["chain"] == 2
    assert trace["posterior"].sizes["draw"] == 200


def test_attrs_hold_versions_and_spec(small_fit):
    built, trace = small_fit
    assert trace.attrs["bayesdta_version"] == bayesdta.__version__
    assert trace.attrs["pymc_version"]
    spec = read_spec(trace)
    assert spec["kind"] == "bivariate"
    assert spec["priors"]["tau_sens"] == {"dist": "HalfNormal", "sigma": 1.5}
    assert spec["sampler"]["seed"] == 11
    assert spec["data"]["sha256"] == built.table.fingerprint()
    json.dumps(spec)


def test_log_likelihood_matches_scipy(small_fit):
    """Per-study log-likelihood against scipy.stats.binom summed over both margins."""
    built, trace = small_fit
    table = built.table
    logits = trace["posterior"]["study_logit"].isel(chain=0, draw=5).values
    expected = binom.logpmf(table.counts("tp"), table.n_diseased, 1 / (1 + np.exp(-logits[:, 0])))
    expected += binom.logpmf(table.counts("tn"), table.n_healthy, 1 / (1 + np.exp(-logits[:, 1])))
    actual = trace["log_likelihood"]["table"].isel(chain=0, draw=5).values
    np.testing.assert_allclose(actual, expected, rtol=1e-10)


def test_same_seed_same_draws(small_fit):
    built, trace = small_fit
    again = bayesdta.fit(built, draws=200, tune=200, chains=2, seed=11, progressbar=False,
                         check=False)
    np.testing.assert_array_equal(trace["posterior"]["mu"].values, again["posterior"]["mu"].values)


def test_refit_with_new_hyperparameters_reuses_compiled_model(small_fit):
    built, _ = small_fit
    before = sampling.COMPILE_COUNT["nutpie"]
    tight = bayesdta.build_bivariate_model(
        "auditc", priors={"mu_sens": {"dist": "Normal", "mu": 0.0, "sigma": 0.01}},
        parametrization=built.parametrization,
    )
    trace = bayesdta.fit(tight, draws=200, tune=200, chains=2, seed=11, progressbar=False,
                         check=False)
    assert sampling.COMPILE_COUNT["nutpie"] == before
    # The tight prior must have reached the sampler: mu_sens pinned near 0.
    assert abs(float(trace["posterior"]["mu_sens"].mean())) < 0.05


def test_pymc_sampler_returns_same_layout():
    built = bayesdta.build_bivariate_model("auditc")
    trace = bayesdta.fit(built, draws=100, tune=100, chains=2, seed=3, sampler="pymc",
                         progressbar=False, check=False)
    assert trace["log_likelihood"]["table"].sizes["study"] == 14
    assert read_spec(trace)["sampler"]["sampler"] == "pymc"


def test_short_run_warns_with_remedy():
    built = bayesdta.build_bivariate_model("auditc")
    with pytest.warns(ConvergenceWarning, match="Run more"):
        bayesdta.fit(built, draws=30, tune=10, chains=2, seed=5, progressbar=False)


def test_converged_run_has_no_messages(small_fit):
    built, _ = small_fit
    trace = bayesdta.fit(built, draws=1000, tune=1000, chains=4, seed=2, progressbar=False,
                         check=False)
    assert check_convergence(trace, warn=False) == []


@pytest.mark.parametrize("bad", [{"sampler": "stan"}, {"draws": 0}, {"target_accept": 1.5}])
def test_bad_settings_rejected(small_fit, bad):
    built, _ = small_fit
    with pytest.raises(ValueError):
        bayesdta.fit(built, **bad)


def test_trace_round_trips_through_netcdf(small_fit, tmp_path):
    import xarray as xr

    _, trace = small_fit
    path = tmp_path / "trace.nc"
    trace.to_netcdf(path)
    loaded = xr.open_datatree(path)
    assert read_spec(loaded) == read_spec(trace)
    summary = bayesdta.summarize(loaded)
    assert summary.loc["sensitivity", "median"] == pytest.approx(
        bayesdta.summarize(trace).loc["sensitivity", "median"]
    )
