"""Warm-started refits: agreement with cold refits within Monte Carlo error, the cold fallback
when a warm-started refit fails its checks, prior sweeps, and no extra compilation.

The leave-one-study-out tests refit the session fit of dick_melanoma_cad (70 studies,
centered, 4 chains x 1000 draws, seed 1), which test_reference.py shares. That fit mixes
well enough for warm-started refits to pass their checks. The 30-study simulated fit of
``tests/diagnostics_fits.py`` does not: its own draws fail the same checks (R-hat 1.017,
bulk ESS 139 of 200), and the fallback test uses it for that reason.
"""

from __future__ import annotations

import logging
import warnings

import arviz as az
import numpy as np
import pytest
from scipy.special import expit

import bayesdta
from bayesdta import cache, influence, refit, sampling
from bayesdta.influence import leave_one_study_out
from bayesdta.marginal_likelihood import marginal_log_likelihood
from bayesdta.prior_sets import vary_prior_set
from bayesdta.sensitivity import sensitivity_analysis

from .diagnostics_fits import simulated_fit

pytestmark = pytest.mark.filterwarnings("ignore::bayesdta.BayesDTAWarning")

DATASET = "dick_melanoma_cad"

#: Three studies of DATASET to leave out.
STUDIES = ["Amoabedini 2018", "Ascierto 2010", "Barata 2015b"]

#: Settings of the cold full-length reference refits.
COLD = {"draws": 1000, "tune": 1000, "chains": 4}

MEASURES = ("sensitivity", "specificity")


def _mcse_mean(draws: np.ndarray) -> float:
    """Return ArviZ's Monte Carlo standard error of the mean of ``(chain, draw)`` draws."""
    return float(az.mcse(np.asarray(draws), method="mean", chain_axis=0, draw_axis=1))


def _loo_estimates(trace, table, study: str) -> dict[str, tuple[float, float]]:
    """Return each leave-one-out quantity of a refit without ``study`` with its Monte Carlo
    standard error: the pooled probabilities, and log p(y_i | y_-i) with the error of the
    mean likelihood carried to the log by the delta method."""
    posterior = trace["posterior"]
    position = table.study_ids.index(study)
    estimates = {}
    for measure in MEASURES:
        draws = expit(posterior["mu"].sel(measure=measure).values)
        estimates[f"{measure}_without"] = (float(draws.mean()), _mcse_mean(draws))

    log_likelihood = marginal_log_likelihood(
        table.counts("tp")[position],
        table.n_diseased[position],
        table.counts("tn")[position],
        table.n_healthy[position],
        posterior["mu"].sel(measure=list(MEASURES)).transpose("chain", "draw", "measure").values,
        posterior["tau"].sel(measure=list(MEASURES)).transpose("chain", "draw", "measure").values,
        posterior["rho"].transpose("chain", "draw").values,
    )
    likelihood = np.exp(log_likelihood - log_likelihood.max())
    elpd = float(np.log(likelihood.mean()) + log_likelihood.max())
    estimates["elpd_loo"] = (elpd, _mcse_mean(likelihood) / float(likelihood.mean()))
    return estimates


def _run_recording(trace, built, **kwargs):
    """Run leave_one_study_out for STUDIES and return the table and each study's accepted
    refit trace, recorded by wrapping the refit function that influence.py calls."""
    outcomes = {}

    def recording_refit(changed, settings, points, **refit_kwargs):
        outcome = refit.warm_refit(changed, settings, points, **refit_kwargs)
        outcomes[refit_kwargs["label"].removeprefix("refit without ")] = outcome
        return outcome

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(influence, "warm_refit", recording_refit)
        table = leave_one_study_out(trace, built, force_refit=STUDIES, **kwargs)
    return table, outcomes


@pytest.fixture(scope="module")
def warm_and_cold(fit_dataset):
    trace = fit_dataset(DATASET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesdta.BayesDTAWarning)
        built = bayesdta.build_bivariate_model(DATASET)
    compiled_before = sampling.COMPILE_COUNT["nutpie"]
    loads_before = cache.CACHE_STATS["hits"]
    warm = _run_recording(trace, built)
    counts = {
        "compilations": sampling.COMPILE_COUNT["nutpie"] - compiled_before,
        "cache_loads": cache.CACHE_STATS["hits"] - loads_before,
    }
    cold = _run_recording(trace, built, warm_start=False, fit_kwargs=COLD)
    return built, trace, warm, cold, counts


def test_warm_refits_are_warm_started(warm_and_cold):
    _, trace, (table, outcomes), _, _ = warm_and_cold
    assert table.attrs["warm_refits"] == STUDIES
    assert table.attrs["refit_fallbacks"] == []
    draws = refit.warm_draws(trace, 1000)
    assert refit.WARM_DRAWS_MIN <= draws < 1000
    for study in STUDIES:
        assert table.loc[study, "method"] == "refit"
        assert outcomes[study].warm_start
        assert outcomes[study].trace["posterior"].sizes["draw"] == draws


def test_cold_refits_are_cold(warm_and_cold):
    _, _, _, (table, outcomes), _ = warm_and_cold
    assert table.attrs["warm_refits"] == []
    assert table.attrs["refit_fallbacks"] == []
    for study in STUDIES:
        assert not outcomes[study].warm_start
        assert outcomes[study].trace["posterior"].sizes["chain"] == COLD["chains"]
        assert outcomes[study].trace["posterior"].sizes["draw"] == COLD["draws"]


def test_table_matches_recorded_refits(warm_and_cold):
    """The table's values are those of the recorded refit traces, so the Monte Carlo errors
    computed from those traces apply to them."""
    built, _, warm, cold, _ = warm_and_cold
    for table, outcomes in (warm, cold):
        for study in STUDIES:
            estimates = _loo_estimates(outcomes[study].trace, built.table, study)
            for column, (value, _) in estimates.items():
                assert table.loc[study, column] == pytest.approx(value, abs=1e-9), column


def test_warm_refits_agree_with_cold(warm_and_cold):
    """Source: cold refits with the default starting point and 4 chains x (1000 warm-up +
    1000 draws). Tolerance: 4 combined Monte Carlo standard errors, sqrt(se_warm^2 +
    se_cold^2), each from ArviZ's MCSE of the mean on that refit's own draws (the log
    density's through the delta method). Both refits estimate the same posterior, so only
    Monte Carlo error separates them."""
    built, _, (_, warm), (_, cold), _ = warm_and_cold
    for study in STUDIES:
        warm_estimates = _loo_estimates(warm[study].trace, built.table, study)
        cold_estimates = _loo_estimates(cold[study].trace, built.table, study)
        for column, (warm_value, warm_error) in warm_estimates.items():
            cold_value, cold_error = cold_estimates[column]
            tolerance = 4 * np.hypot(warm_error, cold_error)
            assert abs(warm_value - cold_value) < tolerance, (study, column, tolerance)


def test_warm_refits_compile_nothing(warm_and_cold):
    _, _, _, _, counts = warm_and_cold
    assert counts["compilations"] == 0
    assert counts["cache_loads"] == 0


def test_model_data_restored_after_refits(warm_and_cold):
    built, _, _, _, _ = warm_and_cold
    assert np.array_equal(built.model["tp_observed"].get_value(), built.table.counts("tp"))
    assert np.array_equal(built.model["n_healthy"].get_value(), built.table.n_healthy)


def test_failed_check_falls_back_to_cold(warm_and_cold, monkeypatch, caplog):
    """A warm-started refit that fails its checks is replaced by the cold refit with the
    trace's settings, which gives the draws of warm_start=False exactly, and a warning is
    logged."""
    built, trace, _, _, _ = warm_and_cold
    study = STUDIES[1]
    cold = leave_one_study_out(trace, built, force_refit=[study], warm_start=False)

    monkeypatch.setattr(refit, "refit_problems", lambda trace: ["forced failure"])
    with caplog.at_level(logging.WARNING, logger="bayesdta.refit"):
        table = leave_one_study_out(trace, built, force_refit=[study])

    assert table.attrs["refit_fallbacks"] == [study]
    assert table.attrs["warm_refits"] == []
    assert table.loc[study, "elpd_loo"] == cold.loc[study, "elpd_loo"]
    assert table.loc[study, "sensitivity_without"] == cold.loc[study, "sensitivity_without"]
    messages = [record.getMessage() for record in caplog.records]
    assert any(f"refit without {study}" in message for message in messages)
    assert any("forced failure" in message for message in messages)


def test_short_warm_up_fails_checks_and_falls_back():
    """Two warm-up iterations and 30 draws per chain cannot give a bulk ESS of 100 per chain,
    so the real checks reject the run and the cold fit replaces it."""
    built, trace = simulated_fit(True)
    points = refit.starting_points(trace, built, seed=3)
    settings = {"draws": 200, "tune": 200, "chains": 2, "seed": 3, "progressbar": False}
    outcome = refit.warm_refit(
        built, {**settings, "check": False}, points, warm_tune=2, warm_draws=30
    )
    assert outcome.fell_back
    assert not outcome.warm_start
    assert any("bulk ESS" in problem for problem in outcome.problems)
    assert outcome.trace["posterior"].sizes["draw"] == 200
    assert "log_likelihood" in outcome.trace


def test_tune_in_fit_kwargs_turns_warm_start_off(warm_and_cold):
    built, trace, _, _, _ = warm_and_cold
    table = leave_one_study_out(
        trace, built, force_refit=[STUDIES[2]], fit_kwargs={"tune": 100, "draws": 100}
    )
    assert table.attrs["warm_refits"] == []
    assert table.attrs["refit_fallbacks"] == []


def test_starting_points_reproduce_posterior_draws():
    """Each starting point maps back to a posterior draw: the SDs through exp of their log
    transform, and the unconstrained vector has nutpie's length."""
    built, trace = simulated_fit(False)
    points = refit.starting_points(trace, built, count=20, seed=1)
    compiled = sampling.compiled_model(built)
    assert points.shape == (20, compiled.n_dim)
    names = [built.model.rvs_to_values[variable].name for variable in built.model.free_RVs]
    position = 0
    for name in names:
        size = int(np.prod(compiled.shapes[name]))
        if name == "tau_sens_log__":
            tau = trace["posterior"]["tau_sens"].values.ravel()
            matches = np.isclose(np.exp(points[:, position])[:, None], tau[None, :])
            assert matches.any(axis=1).all()
        position += size
    assert position == compiled.n_dim


def test_starting_points_none_without_variable():
    built, trace = simulated_fit(False)
    reduced = trace.copy()
    reduced["posterior"] = reduced["posterior"].to_dataset().drop_vars("tau_sens")
    assert refit.starting_points(reduced, built) is None


def test_initial_points_reject_wrong_shape():
    built, _ = simulated_fit(False)
    with pytest.raises(ValueError, match="must have shape"):
        bayesdta.fit(built, draws=10, tune=10, chains=1, initial_points=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="needs sampler='nutpie'"):
        bayesdta.fit(built, sampler="pymc", initial_points=np.zeros((2, 3)))


def test_sample_posterior_matches_fit():
    """The posterior-only path gives the draws of fit with the same starting points."""
    built, trace = simulated_fit(False)
    points = refit.starting_points(trace, built, seed=2)
    settings = {"draws": 50, "tune": 50, "chains": 2, "seed": 4, "target_accept": 0.8}
    light = refit.sample_posterior(built, settings, points)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesdta.BayesDTAWarning)
        full = bayesdta.fit(
            built, progressbar=False, check=False, initial_points=points, **settings
        )
    assert set(light["posterior"].data_vars) == set(full["posterior"].data_vars)
    for name in light["posterior"].data_vars:
        np.testing.assert_array_equal(light["posterior"][name], full["posterior"][name])
    np.testing.assert_array_equal(
        light["sample_stats"]["diverging"], full["sample_stats"]["diverging"]
    )
    assert list(light["posterior"]["study"].values) == list(built.table.study_ids)


def test_warm_draws_follow_ess_per_draw():
    """The simulated fit's bulk ESS per draw (about 0.17) needs more than 400 draws per chain
    for the target ESS. So a cap of 400 is returned as it is, and a cap of 5000 gives a count
    between the two."""
    _, trace = simulated_fit(True)
    assert refit.warm_draws(trace, 400) == 400
    assert refit.warm_draws(trace, 5000) < 5000
    assert refit.warm_draws(trace, 5000) > 400


SWEEP_DATASET = "glas_telomerase"
SWEEP_SETS = vary_prior_set("weakly-informative", ("tau_sens", "tau_spec"), "sigma", [1.0, 0.7])
SWEEP_SAMPLER = {"draws": 1000, "chains": 2, "seed": 7}
SWEEP_QUANTITIES = {
    "sensitivity": lambda posterior: expit(posterior["mu"].sel(measure="sensitivity")),
    "specificity": lambda posterior: expit(posterior["mu"].sel(measure="specificity")),
    "tau_sens": lambda posterior: posterior["tau"].sel(measure="sensitivity"),
    "tau_spec": lambda posterior: posterior["tau"].sel(measure="specificity"),
    "rho": lambda posterior: posterior["rho"],
}


@pytest.fixture(scope="module")
def sweeps():
    cold = sensitivity_analysis(
        SWEEP_DATASET, SWEEP_SETS, progressbar=False, tune=1000, **SWEEP_SAMPLER
    )
    warm = sensitivity_analysis(SWEEP_DATASET, SWEEP_SETS, progressbar=False, **SWEEP_SAMPLER)
    return cold, warm


def test_sweep_warm_starts_later_sets(sweeps):
    cold, warm = sweeps
    names = [prior_set.name for prior_set in SWEEP_SETS]
    assert warm.warm_starts == names[1:]
    assert warm.fallbacks == []
    assert cold.warm_starts == []
    assert warm.compilations == 0
    assert warm.cache_loads == 0


def test_sweep_first_set_equals_cold(sweeps):
    """The first set runs the default 1000 warm-up iterations from the default starting
    point in both sweeps, so its draws are identical."""
    cold, warm = sweeps
    first = SWEEP_SETS[0].name
    np.testing.assert_array_equal(
        warm.traces[first]["posterior"]["mu"], cold.traces[first]["posterior"]["mu"]
    )


def test_sweep_summaries_agree_with_cold(sweeps):
    """Source: the same sweep with every set fitted cold (1000 warm-up iterations).
    Tolerance: 4 combined Monte Carlo standard errors of each median and interval bound
    (ArviZ's MCSE of the 0.5, 0.025 and 0.975 quantiles on each fit's own draws)."""
    cold, warm = sweeps
    name = SWEEP_SETS[1].name
    warm_rows = warm.table[warm.table["prior_set"] == name].set_index("quantity")
    cold_rows = cold.table[cold.table["prior_set"] == name].set_index("quantity")
    for quantity, draws_of in SWEEP_QUANTITIES.items():
        warm_draws = draws_of(warm.traces[name]["posterior"]).values
        cold_draws = draws_of(cold.traces[name]["posterior"]).values
        for column, prob in (("median", 0.5), ("lower", 0.025), ("upper", 0.975)):
            errors = [
                float(az.mcse(draws, method="quantile", prob=prob, chain_axis=0, draw_axis=1))
                for draws in (warm_draws, cold_draws)
            ]
            tolerance = 4 * np.hypot(*errors)
            difference = warm_rows.loc[quantity, column] - cold_rows.loc[quantity, column]
            assert abs(difference) < tolerance, (quantity, column, tolerance)


def test_sweep_with_tune_is_cold():
    result = sensitivity_analysis(
        SWEEP_DATASET, SWEEP_SETS, progressbar=False, draws=100, tune=100, chains=2, seed=1
    )
    assert result.warm_starts == []
    assert result.fallbacks == []


def test_sweep_warm_start_off_is_cold():
    result = sensitivity_analysis(
        SWEEP_DATASET, SWEEP_SETS, progressbar=False, draws=100, chains=2, seed=1,
        warm_start=False,
    )  # fmt: skip
    assert result.warm_starts == []
    for trace in result.traces.values():
        assert bayesdta.trace.read_spec(trace)["sampler"]["tune"] == 1000
