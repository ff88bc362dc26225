"""Agreement with maximum-likelihood fits of the same model (R 4.2.2, lme4 1.1.31 glmer).

Source: tests/reference/reference_glmer.csv. Tolerance 0.02 on the probability scale for the
pooled sensitivity and specificity of datasets with 30 or more studies: with that many studies
the weakly informative priors move the posterior median by far less than the ML standard
error (0.02 to 0.04 here), and 4 x 1000 draws give a Monte Carlo error of the median below 0.002.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from bayesdta import summarize

from .conftest import reference_row

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::bayesdta.BayesDTAWarning")]

LARGE_DATASETS = [
    "catheter_segment_culture",
    "scheidler_lymph_nodes",
    "dick_melanoma_cad",
    "smoking_questionnaires",
]


@pytest.mark.parametrize("dataset", LARGE_DATASETS)
def test_pooled_medians_match_glmer(fit_dataset, dataset):
    reference = reference_row(dataset)
    assert reference["k"] >= 30
    summary = summarize(fit_dataset(dataset))
    assert summary.loc["sensitivity", "median"] == pytest.approx(reference["sens"], abs=0.02)
    assert summary.loc["specificity", "median"] == pytest.approx(reference["spec"], abs=0.02)


@pytest.mark.parametrize("dataset", LARGE_DATASETS)
def test_between_study_sds_near_glmer(fit_dataset, dataset):
    """The SDs are compared more loosely (relative 25%): ML variance estimates are biased low
    and the half-normal prior pulls them slightly, so only gross errors should fail."""
    reference = reference_row(dataset)
    summary = summarize(fit_dataset(dataset))
    assert summary.loc["tau_sens", "median"] == pytest.approx(reference["tau_sens"], rel=0.25)
    assert summary.loc["tau_spec", "median"] == pytest.approx(reference["tau_spec"], rel=0.25)


def test_dick_matches_published_values(fit_dataset):
    """Dick et al. 2019 report sensitivity 0.74 (0.66-0.80) and specificity 0.84 (0.79-0.88)
    from an approximate-normal REML fit; the exact binomial model gives 0.77 and 0.85 (glmer).
    The posterior medians should fall inside the published intervals."""
    summary = summarize(fit_dataset("dick_melanoma_cad"))
    assert 0.66 <= summary.loc["sensitivity", "median"] <= 0.80
    assert 0.79 <= summary.loc["specificity", "median"] <= 0.88


def test_glas_boundary_correlation_has_wide_interval(fit_dataset):
    """glmer puts the correlation of glas_telomerase on the boundary -1 (a singular fit). With
    10 studies the posterior should instead stay inside (-1, 1) with a wide interval (width
    above 0.8), and the pooled sensitivity should stay near the reference 0.77 (within 0.05,
    looser than for large datasets because the prior matters with 10 studies)."""
    trace = fit_dataset("glas_telomerase")
    summary = summarize(trace)
    rho = summary.loc["rho"]
    assert rho["eti_upper"] - rho["eti_lower"] > 0.8
    assert rho["eti_lower"] > -1
    assert rho["eti_upper"] < 1
    reference_sens = reference_row("glas_telomerase")["sens"]
    assert summary.loc["sensitivity", "median"] == pytest.approx(reference_sens, abs=0.05)
    assert np.isfinite(summary[["median", "eti_lower", "eti_upper"]].to_numpy()).all()


def test_derived_measures_follow_formulas(fit_dataset):
    """DOR, LR+ and LR- per draw against their closed forms in the logit means."""
    trace = fit_dataset("dick_melanoma_cad")
    mu = trace["posterior"]["mu"]
    a = mu.sel(measure="sensitivity").values.ravel()
    b = mu.sel(measure="specificity").values.ravel()
    summary = summarize(trace)
    assert summary.loc["dor", "median"] == pytest.approx(np.median(np.exp(a + b)), rel=1e-9)
    lr_pos = expit(a) / (1 - expit(b))
    lr_neg = (1 - expit(a)) / expit(b)
    assert summary.loc["lr_positive", "median"] == pytest.approx(np.median(lr_pos), rel=1e-9)
    assert summary.loc["lr_negative", "median"] == pytest.approx(np.median(lr_neg), rel=1e-9)
    assert summary.loc["false_positive_rate", "median"] == pytest.approx(
        1 - summary.loc["specificity", "median"], abs=1e-12
    )
