"""Shared fixtures: seeded fits made once per test session and reused by every test file."""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

REFERENCE_DIR = Path(__file__).parent / "reference"


@functools.cache
def reference_fits() -> pd.DataFrame:
    """R lme4 glmer fits of the bivariate model (see tests/reference/README.md)."""
    return pd.read_csv(REFERENCE_DIR / "reference_glmer.csv", keep_default_na=False)


def reference_row(dataset: str, covariate: str = "", level: str = "all") -> pd.Series:
    """Return the reference fit of one dataset, or of one covariate level."""
    table = reference_fits()
    match = table[
        (table["dataset"] == dataset) & (table["covariate"] == covariate) & (table["level"] == level)
    ]
    assert len(match) == 1, f"no unique reference row for {dataset}/{covariate}/{level}"
    return match.iloc[0]


@functools.cache
def _fit_dataset(name: str, draws: int, chains: int, seed: int):
    import warnings

    import bayesdta

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesdta.BayesDTAWarning)
        built = bayesdta.build_bivariate_model(name)
    return bayesdta.fit(built, draws=draws, tune=draws, chains=chains, seed=seed, progressbar=False)


@pytest.fixture(scope="session")
def fit_dataset():
    """Return a function ``(name, draws=1000, chains=4, seed=1) -> DataTree`` that fits a
    bundled dataset once per session and argument set."""

    def fit(name: str, draws: int = 1000, chains: int = 4, seed: int = 1):
        return _fit_dataset(name, draws, chains, seed)

    return fit


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
