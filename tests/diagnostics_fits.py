"""Seeded fits shared by the model-criticism tests (convergence, boundary, PPC, influence,
heterogeneity), cached for the whole test session so that each model structure compiles once.

Simulated data follow the bivariate binomial-normal model with known parameters, so tests
can state what a correct analysis must find.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
from scipy.special import expit, logit

import bayesdta
from bayesdta.boundary import build_few_studies_model
from bayesdta.models import build_bivariate_model

#: True parameters of the simulated datasets.
TRUE_SENSITIVITY = 0.85
TRUE_SPECIFICITY = 0.90
TRUE_TAU = (0.35, 0.35)
TRUE_RHO = -0.3
N_SIMULATED = 30
OUTLIER_STUDY = "sim01"
OUTLIER_SENSITIVITY = 0.25

#: The all-sensitivity-1 example: specificities 40/45, 70/82, 25/28, 110/130, 60/69 lie in
#: 0.85 to 0.89.
SEPARATED = pd.DataFrame(
    {
        "study": ["S1", "S2", "S3", "S4", "S5"],
        "tp": [12, 30, 8, 45, 20],
        "fp": [5, 12, 3, 20, 9],
        "fn": [0, 0, 0, 0, 0],
        "tn": [40, 70, 25, 110, 60],
    }
)

FIT_SETTINGS = {"draws": 400, "tune": 400, "chains": 2, "progressbar": False}


def simulated_frame(seed: int = 11, outlier: bool = False) -> pd.DataFrame:
    """Return 30 studies simulated from the bivariate model; with ``outlier`` the first
    study's sensitivity is replaced by 0.25 (the others are drawn around 0.85)."""
    rng = np.random.default_rng(seed)
    tau_sens, tau_spec = TRUE_TAU
    covariance = [
        [tau_sens**2, TRUE_RHO * tau_sens * tau_spec],
        [TRUE_RHO * tau_sens * tau_spec, tau_spec**2],
    ]
    mean = [logit(TRUE_SENSITIVITY), logit(TRUE_SPECIFICITY)]
    logits = rng.multivariate_normal(mean, covariance, size=N_SIMULATED)
    n_diseased = rng.integers(60, 121, size=N_SIMULATED)
    n_healthy = rng.integers(100, 201, size=N_SIMULATED)
    sensitivity = expit(logits[:, 0])
    if outlier:
        sensitivity[0] = OUTLIER_SENSITIVITY
    tp = rng.binomial(n_diseased, sensitivity)
    tn = rng.binomial(n_healthy, expit(logits[:, 1]))
    return pd.DataFrame(
        {
            "study": [f"sim{i + 1:02d}" for i in range(N_SIMULATED)],
            "tp": tp,
            "fp": n_healthy - tn,
            "fn": n_diseased - tp,
            "tn": tn,
        }
    )


def _fit(built, seed: int, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesdta.ConvergenceWarning)
        return bayesdta.fit(built, seed=seed, **{**FIT_SETTINGS, **settings})


@functools.cache
def simulated_fit(outlier: bool):
    """Return ``(built, trace)`` for the simulated data, non-centered form."""
    built = build_bivariate_model(simulated_frame(outlier=outlier), parametrization="noncentered")
    return built, _fit(built, seed=5)


@functools.cache
def bad_run():
    """Return a trace of the clean simulated model with 5 tuning steps and 60 draws."""
    built, _ = simulated_fit(False)
    return _fit(built, seed=3, tune=5, draws=60, chains=2)


@functools.cache
def separated_fit():
    """Return ``(built, trace)`` for the all-sensitivity-1 example (4 chains x 500 draws)."""
    built = build_bivariate_model(SEPARATED, parametrization="noncentered")
    return built, _fit(built, seed=2, draws=500, tune=500, chains=4, target_accept=0.95)


@functools.cache
def three_study_fit():
    """Return ``(built, trace)`` for the first three studies of the example, with the
    default few-studies handling (which warns and fixes the correlation)."""
    frame = SEPARATED.iloc[:3].copy()
    frame["fn"] = [2, 5, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesdta.BayesDTAWarning)
        built = build_few_studies_model(frame, parametrization="noncentered")
    return built, _fit(built, seed=4)
