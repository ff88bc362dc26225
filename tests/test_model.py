"""The bivariate model graph: finite log-probability and gradient, parametrizations, priors."""

from __future__ import annotations

import numpy as np
import pytest

from bayesdta import Prior, build_bivariate_model
from bayesdta.models import build_regression_model, choose_parametrization
from bayesdta.studytable import read_studies

pytestmark = pytest.mark.filterwarnings("ignore::bayesdta.BayesDTAWarning")


@pytest.mark.parametrize("parametrization", ["centered", "noncentered"])
@pytest.mark.parametrize("dataset", ["scheidler_lymph_nodes", "glas_telomerase"])
def test_logp_and_gradient_finite_at_initial_point(dataset, parametrization):
    built = build_bivariate_model(dataset, parametrization=parametrization)
    point = built.model.initial_point()
    logp = built.model.compile_logp()(point)
    gradient = built.model.compile_dlogp()(point)
    assert np.isfinite(logp)
    assert np.all(np.isfinite(gradient))


def test_dims_named_after_domain():
    built = build_bivariate_model("auditc")
    assert built.model.coords["measure"] == ("sensitivity", "specificity")
    assert len(built.model.coords["study"]) == 14
    assert built.model.named_vars_to_dims["study_logit"] == ("study", "measure")


def test_likelihood_is_exact_binomial():
    """The model's log-likelihood at a fixed point equals scipy's binomial log-pmf summed over
    both margins (Chu & Cole 2006: no continuity correction, zero cells included)."""
    from scipy.stats import binom

    built = build_bivariate_model("scheidler_lymph_nodes", parametrization="centered")
    table = built.table
    point = built.model.initial_point()
    rng = np.random.default_rng(3)
    logits = rng.normal([0.3, 2.0], 0.5, size=(table.n_studies, 2))
    point["study_logit_sens"] = logits[:, 0]
    point["study_logit_spec"] = logits[:, 1]
    loglik = built.model.compile_logp(vars=built.model.observed_RVs)(point)
    expected = binom.logpmf(table.counts("tp"), table.n_diseased, 1 / (1 + np.exp(-logits[:, 0])))
    expected += binom.logpmf(table.counts("tn"), table.n_healthy, 1 / (1 + np.exp(-logits[:, 1])))
    assert loglik == pytest.approx(expected.sum(), rel=1e-10)


@pytest.mark.parametrize("separate", [False, True])
def test_study_effects_density_is_bivariate_normal(separate):
    """The centered study effects, added as logit sensitivity and logit specificity given it,
    must have the bivariate normal log density of scipy's multivariate_normal at any point
    (an exact identity, so the tolerance is rounding only)."""
    from scipy.stats import multivariate_normal

    if separate:
        built = build_regression_model(
            "dick_melanoma_cad", ["test_set_independent"],
            separate_covariance="test_set_independent", parametrization="centered",
        )
        names = ["study_logit", "study_mean", "study_tau", "study_rho"]
    else:
        built = build_bivariate_model("scheidler_lymph_nodes", parametrization="centered")
        names = ["study_logit", "mu", "tau", "rho"]
    model = built.model
    rng = np.random.default_rng(5)
    point = {
        name: value + rng.normal(0.0, 0.7, size=np.shape(value))
        for name, value in model.initial_point().items()
    }
    study_variables = [model["study_logit_sens"], model["study_logit_spec"]]
    density = model.compile_logp(vars=study_variables)(point)

    outputs = model.replace_rvs_by_values([model[name] for name in names])
    evaluate = model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")
    values = evaluate(point)
    logits, means, taus, rhos = (np.asarray(value) for value in values)
    n_studies = logits.shape[0]
    means = np.broadcast_to(means, (n_studies, 2))
    taus = np.broadcast_to(taus, (n_studies, 2))
    rhos = np.broadcast_to(rhos, (n_studies,))
    expected = 0.0
    for i in range(n_studies):
        covariance = rhos[i] * taus[i, 0] * taus[i, 1]
        matrix = np.array([[taus[i, 0] ** 2, covariance], [covariance, taus[i, 1] ** 2]])
        expected += multivariate_normal(means[i], matrix).logpdf(logits[i])
    assert density == pytest.approx(expected, rel=1e-10)


def test_user_prior_replaces_default():
    built = build_bivariate_model("auditc", priors={"tau_sens": Prior("HalfCauchy", beta=1.0)})
    assert built.priors["tau_sens"].dist == "HalfCauchy"
    assert built.priors["tau_spec"].dist == "HalfNormal"
    assert "prior_tau_sens_beta" in built.model.named_vars


def test_unknown_prior_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown parameter name\(s\) \['sigma'\].*mu_sens"):
        build_bivariate_model("auditc", priors={"sigma": {"dist": "HalfNormal", "sigma": 1}})


def test_bad_prior_family_and_value_rejected_together():
    with pytest.raises(ValueError) as caught:
        build_bivariate_model(
            "auditc",
            priors={"rho": {"dist": "Normal", "mu": 0, "sigma": 1},
                    "tau_spec": {"dist": "HalfNormal", "sigma": -1}},
        )
    message = str(caught.value)
    assert "rho: family 'Normal' is not available" in message
    assert "sigma=-1 must be > 0" in message


def test_parametrization_choice_follows_study_size():
    large = read_studies("dick_melanoma_cad")
    assert choose_parametrization(large) == "centered"
    small = read_studies(
        __import__("pandas").DataFrame(
            {"study": list("ABCDEF"), "tp": [3, 2, 4, 1, 2, 3], "fp": [1, 2, 1, 0, 2, 1],
             "fn": [1, 2, 0, 2, 1, 1], "tn": [5, 4, 6, 3, 4, 5]}
        )
    )
    assert choose_parametrization(small) == "noncentered"


def test_invalid_parametrization_rejected():
    with pytest.raises(ValueError, match="choose one of"):
        build_bivariate_model("auditc", parametrization="funnel")
