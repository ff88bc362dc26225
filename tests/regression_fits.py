"""Seeded meta-regression fits shared by the regression and subgroup tests.

Each fit is made once per test session: a new model structure or number of studies costs a
nutpie compilation (10-20 s), so the tests reuse these few fits.
"""

from __future__ import annotations

import functools
import warnings

DRAWS = 500
CHAINS = 2
SEED = 11


@functools.cache
def regression_fit(
    dataset: str,
    covariates: tuple,
    separate_covariance: str | None = None,
    draws: int = DRAWS,
    chains: int = CHAINS,
):
    """Return ``(built, trace)`` of one meta-regression fit, made once per session.

    ``covariates`` is a tuple of names or :class:`bayesdta.covariates.Covariate` objects,
    which are hashable, so the tuple can key the cache.
    """
    import bayesdta
    from bayesdta.models import build_regression_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesdta.BayesDTAWarning)
        built = build_regression_model(
            dataset, list(covariates), separate_covariance=separate_covariance
        )
    trace = bayesdta.fit(
        built, draws=draws, tune=draws, chains=chains, seed=SEED, progressbar=False
    )
    return built, trace
