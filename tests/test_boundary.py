"""Separation, few studies, posteriors piled at a boundary, and the diagnose command."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.special import expit

import bayesdta
from bayesdta.boundary import boundary_findings, build_few_studies_model, separated_margins
from bayesdta.cli.main import main
from bayesdta.convergence import convergence_report
from bayesdta.marginal_likelihood import add_marginal_log_likelihood

from .diagnostics_fits import SEPARATED, separated_fit, three_study_fit

MEASURES = ["sensitivity", "specificity"]


def test_separated_margins():
    assert separated_margins([5, 7], [5, 7], [3, 4], [9, 9]) == {"sensitivity": "1"}
    assert separated_margins([0, 0], [5, 7], [9, 9], [9, 9]) == {
        "sensitivity": "0",
        "specificity": "1",
    }
    # A table without diseased participants does not break the separation of the others.
    assert separated_margins([5, 0], [5, 0], [3, 4], [9, 9]) == {"sensitivity": "1"}
    assert separated_margins([4, 7], [5, 7], [3, 4], [9, 9]) == {}


def test_all_sensitivity_one_is_reported():
    _, trace = separated_fit()
    findings = [f for f in boundary_findings(trace) if f.check == "separation"]
    assert [f.parameter for f in findings] == ["sensitivity"]
    assert "not identified from the data beyond 'high'" in findings[0].message
    assert "specificity margin is estimated from the data" in findings[0].message


def test_all_sensitivity_one_still_estimates_specificity():
    """Source: the five studies' specificities are 0.85 to 0.89 (pooled counts 305/354 =
    0.862). Pooled specificity must land near 0.86 (median within 0.84-0.89) with a 95%
    interval that contains 0.862 and is narrower than 0.2."""
    _, trace = separated_fit()
    spec = expit(trace["posterior"]["mu"].sel(measure="specificity").values.ravel())
    lower, median, upper = np.quantile(spec, [0.025, 0.5, 0.975])
    assert 0.84 < median < 0.89
    assert lower < 305 / 354 < upper
    assert upper - lower < 0.2


def test_few_studies_auto_fixes_correlation():
    frame = SEPARATED.iloc[:3]
    with pytest.warns(bayesdta.BayesDTAWarning, match="only 3 studies") as record:
        built = build_few_studies_model(frame)
    assert any("fixed at 0" in str(w.message) for w in record)
    assert built.kind == "few_studies"
    assert built.options == {"few_studies": "fix-correlation"}
    assert "rho_unit" not in built.model.named_vars


def test_few_studies_fit_reports_fixed_correlation():
    _, trace = three_study_fit()
    rho = trace["posterior"]["rho"].values
    assert np.all(rho == 0.0)
    report = convergence_report(trace)
    assert "rho" not in report.table.index
    assert "table_marginal" in add_marginal_log_likelihood(trace)["log_likelihood"]
    checks = {f.check for f in boundary_findings(trace)}
    assert "few_studies" in checks
    assert "correlation_at_boundary" not in checks


def test_few_studies_modes_and_errors():
    frame = SEPARATED.iloc[:3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesdta.BayesDTAWarning)
        margins = build_few_studies_model(frame, few_studies="margins")
        full = build_few_studies_model(frame, few_studies="full")
        fixed = build_few_studies_model(frame, few_studies="fix-correlation", fixed_rho=-0.5)
        assert margins.options == {"few_studies": "margins"}
        assert float(margins.model["fixed_rho"].get_value()) == 0.0
        assert float(fixed.model["fixed_rho"].get_value()) == -0.5
        assert full.kind == "bivariate"
        with pytest.raises(ValueError, match="few_studies 'none' is not valid"):
            build_few_studies_model(frame, few_studies="none")
        with pytest.raises(ValueError, match="fixed_rho must lie in"):
            build_few_studies_model(frame, few_studies="fix-correlation", fixed_rho=1.0)


def piled_trace(rho: np.ndarray, tau: np.ndarray) -> xr.DataTree:
    """Return a trace of 6 unseparated studies with the given rho (chain, draw) and tau
    (chain, draw, measure) draws."""
    studies = {"study": [f"s{i}" for i in range(6)]}
    posterior = xr.Dataset(
        {
            "mu": (("chain", "draw", "measure"), np.ones((*rho.shape, 2))),
            "tau": (("chain", "draw", "measure"), tau),
            "rho": (("chain", "draw"), rho),
        },
        coords={"measure": MEASURES},
    )
    observed = xr.Dataset({"tp": ("study", [8] * 6), "tn": ("study", [9] * 6)}, coords=studies)
    constant = xr.Dataset(
        {"n_diseased": ("study", [10] * 6), "n_healthy": ("study", [12] * 6)}, coords=studies
    )
    return xr.DataTree.from_dict(
        {"posterior": posterior, "observed_data": observed, "constant_data": constant}
    )


def test_correlation_and_sd_piled_at_boundary():
    rng = np.random.default_rng(0)
    rho = -1 + rng.uniform(0, 0.2, size=(2, 500))  # every draw below -0.8, half below -0.9
    tau = np.stack([rng.uniform(0, 0.15, (2, 500)), rng.uniform(0.5, 1.5, (2, 500))], axis=-1)
    findings = {(f.check, f.parameter): f for f in boundary_findings(piled_trace(rho, tau))}
    assert ("correlation_at_boundary", "rho") in findings
    assert "piled against -1" in findings[("correlation_at_boundary", "rho")].message
    assert ("sd_at_zero", "tau[sensitivity]") in findings
    assert ("sd_at_zero", "tau[specificity]") not in findings


def test_spread_posterior_has_no_findings():
    rng = np.random.default_rng(1)
    rho = rng.uniform(-0.6, 0.6, size=(2, 500))
    tau = rng.uniform(0.5, 1.5, size=(2, 500, 2))
    assert boundary_findings(piled_trace(rho, tau)) == []


def test_diagnose_command_json(tmp_path, capsys):
    """The all-sensitivity-1 example through the command line: JSON on stdout with the
    verdict, one record per study, and I-squared interval objects; files in --out."""
    data = tmp_path / "separated.csv"
    SEPARATED.to_csv(data, index=False)
    out = tmp_path / "diagnosis"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = main(
            [
                "diagnose",
                str(data),
                "--json",
                "--out",
                str(out),
                "--draws",
                "300",
                "--tune",
                "400",
                "--chains",
                "2",
                "--seed",
                "3",
                "--no-progress",
                "--parametrization",
                "noncentered",
                "--target-accept",
                "0.95",
            ]
        )
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert isinstance(result["convergence"]["verdict"], str)
    assert {"max_rhat", "min_ess_bulk", "divergences", "min_bfmi"} <= set(result["convergence"])
    assert [row["study"] for row in result["studies"]] == list(SEPARATED["study"])
    expected = {
        "study",
        "pareto_k",
        "influence_sensitivity",
        "influence_specificity",
        "ppc_p_sensitivity",
        "ppc_p_specificity",
        "outlier",
    }
    assert expected <= set(result["studies"][0])
    assert all(isinstance(row["outlier"], bool) for row in result["studies"])
    assert set(result["heterogeneity"]["i2_bivariate"]) == {"median", "lower", "upper"}
    assert any(item["check"] == "separation" for item in result["boundary"])
    for name in ("ppc.png", "influence.png", "pareto_k.png", "i_squared.png", "ppc.csv"):
        assert (out / name).exists()


def test_correlation_pushed_towards_boundary():
    """Source: closed form of the LKJ(2) prior, (rho + 1) / 2 ~ Beta(2, 2), which puts 0.725%
    of its mass below -0.9. A posterior with 10% of its draws there is reported as pushed
    towards -1, although not piled against it."""
    rng = np.random.default_rng(2)
    rho = np.where(rng.uniform(size=(2, 500)) < 0.1, -0.95, -0.5)
    tau = rng.uniform(0.5, 1.5, size=(2, 500, 2))
    trace = piled_trace(rho, tau)
    trace.attrs["bayesdta_spec"] = json.dumps({"priors": {"rho": {"dist": "LKJ", "eta": 2.0}}})
    findings = boundary_findings(trace)
    assert [f.check for f in findings] == ["correlation_toward_boundary"]
    assert "0.7% of its prior" in findings[0].message
    assert "towards -1" in findings[0].message


def test_clean_simulation_has_no_findings():
    """Simulated with rho = -0.3 and tau = 0.35 from 30 studies: nothing is at a boundary."""
    from .diagnostics_fits import simulated_fit

    _, trace = simulated_fit(False)
    assert boundary_findings(trace) == []
