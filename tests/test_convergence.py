"""The convergence report: R-hat, ESS, divergences, E-BFMI, tree depth, table and verdict."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import bayesdta
from bayesdta.convergence import (
    BFMI_MIN,
    ConvergenceNumbers,
    check_convergence,
    convergence_numbers,
    convergence_problems,
    convergence_report,
)

from .diagnostics_fits import bad_run, simulated_fit

MEASURES = ["sensitivity", "specificity"]


def synthetic_trace(energy: np.ndarray, maxdepth: np.ndarray, seed: int = 0) -> xr.DataTree:
    """Return a trace with independent standard-normal draws of mu, tau and rho (4 chains x
    1000 draws), whose R-hat and ESS pass, and the given sampler statistics."""
    rng = np.random.default_rng(seed)
    shape = (4, 1000)
    posterior = xr.Dataset(
        {
            "mu": (("chain", "draw", "measure"), rng.standard_normal((*shape, 2))),
            "tau": (("chain", "draw", "measure"), np.abs(rng.standard_normal((*shape, 2)))),
            "rho": (("chain", "draw"), np.tanh(rng.standard_normal(shape))),
        },
        coords={"measure": MEASURES},
    )
    stats = xr.Dataset(
        {
            "energy": (("chain", "draw"), energy),
            "maxdepth_reached": (("chain", "draw"), maxdepth),
            "diverging": (("chain", "draw"), np.zeros(shape, dtype=bool)),
        }
    )
    return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})


def test_independent_draws_pass_every_check():
    rng = np.random.default_rng(1)
    trace = synthetic_trace(rng.standard_normal((4, 1000)), np.zeros((4, 1000), dtype=bool))
    report = convergence_report(trace)
    assert report.problems == []
    assert report.converged
    assert report.verdict.startswith("Converged")
    # E-BFMI of independent energies is mean((E_t - E_t-1)^2) / var(E), about 2.
    assert report.numbers.min_bfmi == pytest.approx(2.0, abs=0.25)
    assert list(report.table.index) == [
        "mu[sensitivity]",
        "mu[specificity]",
        "tau[sensitivity]",
        "tau[specificity]",
        "rho",
    ]


def test_random_walk_energy_fails_bfmi():
    """Source: closed form. An energy that moves by small steps (a random walk with step SD
    0.05 over 1000 draws) has E-BFMI far below 0.3."""
    rng = np.random.default_rng(2)
    energy = np.cumsum(0.05 * rng.standard_normal((4, 1000)), axis=1)
    trace = synthetic_trace(energy, np.zeros((4, 1000), dtype=bool))
    report = convergence_report(trace)
    assert report.numbers.min_bfmi < BFMI_MIN
    assert [p.check for p in report.problems] == ["e_bfmi"]
    assert not report.converged
    assert "parametrization" in report.verdict


def test_tree_depth_saturation_is_an_efficiency_warning():
    rng = np.random.default_rng(3)
    maxdepth = rng.uniform(size=(4, 1000)) < 0.05
    trace = synthetic_trace(rng.standard_normal((4, 1000)), maxdepth)
    report = convergence_report(trace)
    assert report.numbers.treedepth_saturation == pytest.approx(maxdepth.mean())
    assert [p.check for p in report.problems] == ["tree_depth"]
    assert report.converged
    assert report.verdict.startswith("Converged, but sampling was inefficient")


def test_problems_follow_thresholds():
    numbers = ConvergenceNumbers(
        max_rhat=1.05, min_ess_bulk=120, min_ess_tail=90, divergences=3, n_draws=400, min_bfmi=0.9
    )
    checks = [problem.check for problem in convergence_problems(numbers)]
    assert checks == ["divergences", "r_hat", "ess"]
    assert "target_accept" in convergence_problems(numbers)[0].remedy


def test_bad_run_gets_a_failing_verdict():
    """A run with 5 tuning steps and 60 draws per chain cannot converge: the report must state
    that and name remedies."""
    trace = bad_run()
    report = convergence_report(trace)
    assert not report.converged
    assert report.verdict.startswith("Not converged")
    checks = {problem.check for problem in report.problems}
    assert {"r_hat", "ess"} & checks
    assert "draws" in report.verdict or "target_accept" in report.verdict
    assert not report.table["ok"].all()
    assert report.to_dict()["converged"] is False


def test_check_convergence_warns_on_bad_run():
    trace = bad_run()
    with pytest.warns(bayesdta.ConvergenceWarning):
        messages = check_convergence(trace, warn=True)
    assert messages
    assert all(isinstance(message, str) for message in messages)


def test_numbers_of_real_fit():
    _, trace = simulated_fit(False)
    numbers = convergence_numbers(trace)
    assert numbers.n_draws == 800
    assert 0 <= numbers.treedepth_saturation <= 1
    assert numbers.min_bfmi > BFMI_MIN
    assert numbers.max_rhat < 1.05
