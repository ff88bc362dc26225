"""The meta-regression model: graph, priors, reference fits and recovery of simulated values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit

from bayesdta import Prior, summarize
from bayesdta.convergence import key_variables
from bayesdta.covariates import Covariate
from bayesdta.datasets import make_simulated_mvi as simulation
from bayesdta.marginal_likelihood import add_marginal_log_likelihood
from bayesdta.models import build_regression_model
from bayesdta.subgroups import level_covariance, level_logits

from .conftest import reference_row
from .regression_fits import regression_fit

pytestmark = pytest.mark.filterwarnings("ignore::bayesdta.BayesDTAWarning")


@pytest.mark.parametrize("parametrization", ["centered", "noncentered"])
def test_separate_covariance_logp_finite(parametrization):
    # Compiling a logp costs 10-50 s, so only the separate-covariance graphs are checked
    # here. The shared-covariance graph reuses the bivariate random effects, and the
    # reference tests below sample it.
    built = build_regression_model(
        "dick_melanoma_cad",
        ["test_set_independent", "cad_method:sens"],
        separate_covariance="test_set_independent",
        parametrization=parametrization,
    )
    point = built.model.initial_point()
    assert np.isfinite(built.model.compile_logp()(point))
    assert np.all(np.isfinite(built.model.compile_dlogp()(point)))


def test_coefficient_dims_and_margins():
    built = build_regression_model("dick_melanoma_cad", ["test_set_independent", "cad_method:sens"])
    coords = built.model.coords
    assert coords["covariate_level"] == (
        "test_set_independent[yes]",
        "cad_method[deep_learning]",
        "cad_method[hardware_based]",
    )
    assert built.model.named_vars_to_dims["beta"] == ("covariate_level", "measure")
    # cad_method acts on sensitivity only, so it has no specificity coefficients.
    assert coords["coefficient"] == (
        "test_set_independent[yes] on sensitivity",
        "test_set_independent[yes] on specificity",
        "cad_method[deep_learning] on sensitivity",
        "cad_method[hardware_based] on sensitivity",
    )
    assert built.kind == "regression"
    assert built.key_variables == ("beta_free",)


def test_margin_restricted_beta_is_zero():
    built = build_regression_model("dick_melanoma_cad", ["cad_method:spec"])
    free = np.array([0.7, -0.3])
    beta = built.model["beta"].eval({built.model["beta_free"]: free})
    np.testing.assert_array_equal(beta[:, 0], [0.0, 0.0])
    np.testing.assert_array_equal(beta[:, 1], free)


def test_continuous_covariate_is_centred():
    built = build_regression_model("catheter_segment_culture", ["prevalence"])
    design = built.model["design"].get_value()[:, 0]
    assert abs(design.mean()) < 1e-12
    center = built.options["covariates"][0]["center"]
    raw = built.table.frame["prevalence"].to_numpy(dtype=float)
    np.testing.assert_allclose(design, raw - center)


def test_separate_covariance_adds_group_variables():
    built = build_regression_model(
        "simulated_mvi_52", ["validation"], separate_covariance="validation"
    )
    assert built.model.coords["covariance_group"] == ("external", "internal")
    assert built.model.named_vars_to_dims["tau_by_group"] == ("covariance_group", "measure")
    assert set(built.key_variables) == {"beta_free", "tau_by_group", "rho_by_group"}


def test_coefficient_priors_in_pm_data():
    built = build_regression_model(
        "simulated_mvi_52",
        ["modality", "validation"],
        priors={"beta": Prior("Normal", mu=0, sigma=1.5), "beta_validation": {"dist": "Normal",
                                                                              "mu": 0, "sigma": 1}},
    )
    sigma = built.model["prior_beta_sigma"].get_value()
    labels = built.model.coords["coefficient"]
    for label, value in zip(labels, sigma, strict=True):
        expected = 1.0 if label.startswith("validation") else 1.5
        assert value == expected, label


def test_unknown_prior_lists_valid_names():
    with pytest.raises(ValueError, match="beta_modality"):
        build_regression_model("simulated_mvi_52", ["modality"], priors={"beta_typo": {}})


def test_coefficient_prior_family_checked():
    with pytest.raises(ValueError, match="HalfNormal"):
        build_regression_model(
            "simulated_mvi_52", ["modality"], priors={"beta": Prior("HalfNormal", sigma=1)}
        )


def test_reference_profile_summary_and_trace_contract():
    _, trace = regression_fit("scheidler_lymph_nodes", ("modality",))
    summary = summarize(trace)
    assert {"sensitivity", "specificity", "predictive_sensitivity"} <= set(summary.index)
    assert trace["log_likelihood"]["table"].dims == ("chain", "draw", "study")
    # study_mean lets each study's effects be integrated out for leave-one-study-out.
    assert trace["posterior"]["study_mean"].dims[-2:] == ("study", "measure")
    assert "table_marginal" in add_marginal_log_likelihood(trace)["log_likelihood"]
    assert "beta_free" in key_variables(trace)
    assert trace["posterior"]["beta"].dims[-2:] == ("covariate_level", "measure")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dataset", "covariate", "tolerance"),
    [
        # 44 tables, three modalities of 10 to 17 tables each.
        ("scheidler_lymph_nodes", "modality", 0.03),
        # 33 tables in two levels of 14 and 19.
        ("catheter_segment_culture", "type", 0.02),
        # 51 tables in two levels of 20 and 31.
        ("smoking_questionnaires", "type", 0.02),
        # 70 tables in two levels of 45 and 25.
        ("dick_melanoma_cad", "test_set_independent", 0.02),
    ],
)
def test_level_medians_match_glmer(dataset, covariate, tolerance):
    """Per-level posterior medians against R lme4 glmer fits of
    ``0 + sens:level + spec:level`` with one shared covariance (tests/reference).

    The model with the covariate on both margins and one shared covariance is the same
    model in treatment coding. Tolerance: the reference data README expects Bayesian
    medians within about 0.02 of the ML values with 30 or more studies. Scheidler's MRI
    level has 10 tables, so it gets 0.03. Measured with these fits: at most 0.013.
    """
    _, trace = regression_fit(dataset, (covariate,))
    logits = level_logits(trace, covariate)
    for level in logits["level"].values:
        reference = reference_row(dataset, covariate, str(level))
        medians = expit(logits.sel(level=level).median(("chain", "draw")))
        assert abs(float(medians.sel(measure="sensitivity")) - reference["sens"]) < tolerance, level
        assert abs(float(medians.sel(measure="specificity")) - reference["spec"]) < tolerance, level


@pytest.mark.slow
def test_shared_covariance_matches_glmer_scheidler():
    """Between-study SDs against the glmer reference (0.82, 0.78): ML SD estimates are biased
    low and the posterior of an SD is skewed, so the check is 0.25 on the logit scale."""
    _, trace = regression_fit("scheidler_lymph_nodes", ("modality",))
    reference = reference_row("scheidler_lymph_nodes", "modality", "CT")
    tau = trace["posterior"]["tau"].median(("chain", "draw"))
    assert abs(float(tau.sel(measure="sensitivity")) - reference["tau_sens"]) < 0.25
    assert abs(float(tau.sel(measure="specificity")) - reference["tau_spec"]) < 0.25


#: The simulated dataset's fit: validation against its internal level, the level at which
#: the generating modality values are stated, with one covariance per validation type.
SIMULATED_COVARIATES = ("modality", Covariate("validation", reference="internal"))


@pytest.mark.slow
def test_recovers_simulated_covariate_effects():
    """Fit to simulated_mvi_52 (known truth, see bayesdta/datasets/make_simulated_mvi.py).

    With 6 to 18 studies per modality, the posterior SD of a level's logit is 0.14 to 0.30
    (measured on this fit), so every generating logit must lie within the central 99%
    interval, and the external-validation effect within its 99% interval.
    """
    _, trace = regression_fit("simulated_mvi_52", SIMULATED_COVARIATES, "validation")
    logits = level_logits(trace, "modality")
    for modality in simulation.MODALITY:
        # Levels of modality are reported at the reference level of validation (internal).
        truth = logit(np.array(simulation.MODALITY[modality]))
        draws = logits.sel(level=modality)
        lower = draws.quantile(0.005, ("chain", "draw")).values
        upper = draws.quantile(0.995, ("chain", "draw")).values
        assert np.all(lower < truth), modality
        assert np.all(truth < upper), modality

    effect = trace["posterior"]["beta"].sel(covariate_level="validation[external]")
    truth = np.array(simulation.EXTERNAL_EFFECT)
    lower = effect.quantile(0.005, ("chain", "draw")).values
    upper = effect.quantile(0.995, ("chain", "draw")).values
    assert np.all(lower < truth)
    assert np.all(truth < upper)


@pytest.mark.slow
def test_recovers_simulated_separate_covariances():
    """Between-study SDs by validation on simulated_mvi_52: truth 0.5/0.5 internal (36
    tables) and 0.9/0.8 external (16 tables). Each must lie in its central 95% interval,
    and external heterogeneity must exceed internal with posterior probability above 0.8
    for sensitivity (a 0.4 difference on the logit scale with 16 external tables)."""
    _, trace = regression_fit("simulated_mvi_52", SIMULATED_COVARIATES, "validation")
    tau, rho = level_covariance(trace, "validation")
    for validation, (tau_sens, tau_spec, true_rho) in simulation.COVARIANCE.items():
        draws = tau.sel(level=validation)
        lower = draws.quantile(0.025, ("chain", "draw")).values
        upper = draws.quantile(0.975, ("chain", "draw")).values
        assert np.all(lower < [tau_sens, tau_spec]), validation
        assert np.all(np.array([tau_sens, tau_spec]) < upper), validation
        rho_draws = rho.sel(level=validation)
        assert float(rho_draws.quantile(0.025)) < true_rho < float(rho_draws.quantile(0.975))
    wider = tau.sel(level="external", measure="sensitivity") > tau.sel(
        level="internal", measure="sensitivity"
    )
    assert float(wider.mean()) > 0.8
