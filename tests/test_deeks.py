"""Deeks' funnel plot asymmetry test and its Bayesian counterpart.

The frequentist test is checked against an independent weighted least-squares fit by
statsmodels on a real dataset, with the log DOR and weights computed here from the raw CSV.
The Bayesian slope is checked on a simulation with a known slope.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from bayesdta import BayesDTAWarning
from bayesdta.datasets import load_dataset
from bayesdta.deeks import deeks_json, deeks_test

CELLS = ["tp", "fp", "fn", "tn"]

# Warnings a test does not check (repeated labels, other corrected tables) are expected.
pytestmark = pytest.mark.filterwarnings("ignore::bayesdta.BayesDTAWarning")


def _independent_wls(raw: pd.DataFrame):
    """Deeks' regression from the raw counts: 0.5 added to tables with a zero cell,
    log DOR on 1 / sqrt(ESS), weights ESS, fitted by statsmodels."""
    cells = raw[CELLS].astype(float)
    zero = (cells == 0).any(axis=1)
    cells.loc[zero] += 0.5
    log_dor = np.log(cells["tp"] * cells["tn"] / (cells["fp"] * cells["fn"]))
    n1 = raw["tp"] + raw["fn"]
    n0 = raw["fp"] + raw["tn"]
    ess = 4 * n1 * n0 / (n1 + n0)
    model = sm.WLS(log_dor.to_numpy(), sm.add_constant(1 / np.sqrt(ess.to_numpy())),
                   weights=ess.to_numpy())
    return model.fit(), int(zero.sum())


@pytest.mark.parametrize("dataset", ["dick_melanoma_cad", "scheidler_lymph_nodes"])
def test_deeks_matches_statsmodels_wls(dataset):
    # Both compute the same closed-form WLS estimate, so they agree to rounding error.
    raw = load_dataset(dataset)
    reference, n_zero = _independent_wls(raw)
    with pytest.warns(BayesDTAWarning, match="added 0.5 to every cell"):
        result = deeks_test(dataset)

    assert result.n_studies == len(raw)
    assert result.n_corrected_tables == n_zero
    assert n_zero > 0
    assert result.intercept == pytest.approx(reference.params[0], rel=1e-10)
    assert result.slope == pytest.approx(reference.params[1], rel=1e-10)
    assert result.intercept_se == pytest.approx(reference.bse[0], rel=1e-10)
    assert result.slope_se == pytest.approx(reference.bse[1], rel=1e-10)
    assert result.t_value == pytest.approx(reference.tvalues[1], rel=1e-10)
    assert result.p_value == pytest.approx(reference.pvalues[1], rel=1e-8)


def test_deeks_corrected_tables_flagged():
    raw = load_dataset("dick_melanoma_cad")
    with pytest.warns(BayesDTAWarning) as record:
        result = deeks_test("dick_melanoma_cad")
    zero = (raw[CELLS] == 0).any(axis=1).to_numpy()
    assert result.data["corrected"].to_numpy().tolist() == zero.tolist()
    message = " ".join(str(w.message) for w in record)
    for study in raw.loc[zero, "study"]:
        assert study in message


def test_deeks_json_keys():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesDTAWarning)
        payload = deeks_json("dick_melanoma_cad")
    assert set(payload) >= {"slope", "p_value", "n_corrected_tables"}
    assert payload["n_corrected_tables"] == 7
    assert 0 < payload["p_value"] < 1


def test_deeks_few_studies_warns():
    raw = load_dataset("auditc").head(8)
    with pytest.warns(BayesDTAWarning, match="8 studies has little power"):
        result = deeks_test(raw)
    assert result.n_studies == 8
    assert np.isfinite(result.p_value)


def test_deeks_ten_studies_no_power_warning():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        deeks_test("glas_telomerase")
    assert not any("little power" in str(w.message) for w in record)


def test_deeks_leaves_out_empty_margin():
    raw = load_dataset("auditc")
    raw.loc[3, ["tp", "fn"]] = 0
    with pytest.warns(BayesDTAWarning, match="leaves out 1 table"):
        result = deeks_test(raw)
    assert result.n_studies == len(raw) - 1
    assert result.excluded == [raw.loc[3, "study"]]


def test_deeks_needs_three_tables():
    raw = load_dataset("auditc").head(3)
    raw.loc[0, ["fp", "tn"]] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesDTAWarning)
        with pytest.raises(ValueError, match="at least 3 tables"):
            deeks_test(raw)


def test_funnel_plot_line():
    from bayesdta.plots.deeks import plot_deeks_funnel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesDTAWarning)
        result = deeks_test("auditc")
    ax = plot_deeks_funnel(result)
    line = ax.get_lines()[0]
    x, y = line.get_data()
    # The drawn line is the fitted regression: log DOR = intercept + slope / sqrt(ESS).
    assert np.allclose(np.log(x), result.intercept + result.slope * y)
    assert sum(len(c.get_offsets()) for c in ax.collections) == result.n_studies
    assert ax.yaxis_inverted()


def _simulate_small_study_effect(slope: float, n_studies: int, seed: int) -> pd.DataFrame:
    """Studies whose mean log DOR rises by ``slope`` per unit of 1 / sqrt(ESS)."""
    rng = np.random.default_rng(seed)
    n1 = rng.integers(10, 400, n_studies)
    n0 = rng.integers(20, 800, n_studies)
    x = 1 / np.sqrt(4 * n1 * n0 / (n1 + n0))
    shift = slope * (x - x.mean()) / 2
    logit_sens = 1.0 + shift + rng.normal(0, 0.3, n_studies)
    logit_spec = 1.5 + shift + rng.normal(0, 0.3, n_studies)
    tp = rng.binomial(n1, 1 / (1 + np.exp(-logit_sens)))
    tn = rng.binomial(n0, 1 / (1 + np.exp(-logit_spec)))
    return pd.DataFrame({"study": [f"s{i}" for i in range(n_studies)], "tp": tp,
                         "fp": n0 - tn, "fn": n1 - tp, "tn": tn})


@pytest.mark.slow
def test_bayesian_slope_recovers_simulated_truth():
    """Simulation with known truth: 30 studies, slope 20 on the log DOR per unit of
    1 / sqrt(ESS), between-study SD 0.3. The 95% interval must cover 20 and exclude 0.
    With these sizes the posterior SD of the slope is about 5 (4.7 measured with this seed),
    so both hold with a wide margin unless the model or its sign is wrong."""
    from bayesdta.deeks import bayesian_deeks

    truth = 20.0
    data = _simulate_small_study_effect(truth, n_studies=30, seed=3)
    slope, trace = bayesian_deeks(data, draws=400, tune=400, chains=2, seed=5,
                                  progressbar=False, check=False)

    assert slope["lower"] < truth < slope["upper"]
    assert slope["lower"] > 0
    assert slope["prob_positive"] > 0.975
    assert set(trace["posterior"]["mu"].dims) == {"chain", "draw", "measure"}
    assert "new_study_logit" in trace["posterior"]
    assert trace.attrs["bayesdta_key_variables"] == "slope"
