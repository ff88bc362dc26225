"""Restricted analyses by QUADAS-2 risk of bias on dick_melanoma_cad, and ``bayesdta quality``.

Wiring tests replace the sampler by a stand-in whose "posterior" is the crude pooled
proportion of the subset it receives, so each row can be traced to the studies behind it
without sampling. One slow test runs the real fits.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.special import expit, logit

from bayesdta import BayesDTAWarning
from bayesdta import restricted as restricted_module
from bayesdta.datasets import load_dataset
from bayesdta.quadas import read_quadas
from bayesdta.restricted import restricted_analyses

from .conftest import reference_row

RISK_COLUMNS = ["SAMPLE_SELECTION_BR", "INDEX_TEST_BR", "REFERENCE_STANDARD_BR",
                "FLOW_AND_TIMING_BR"]
ALL_COLUMNS = RISK_COLUMNS + ["SAMPLE_SELECTION_AP", "INDEX_TEST_AP", "REFERENCE_STANDARD_AP"]


def _crude_logits(table) -> tuple[float, float]:
    sens = table.counts("tp").sum() / table.n_diseased.sum()
    spec = table.counts("tn").sum() / table.n_healthy.sum()
    return float(logit(sens)), float(logit(spec))


def _stand_in_fit(table, fit_kwargs):
    """Return a DataTree whose ``mu`` is the crude pooled logit pair of ``table`` in every
    draw, and record the studies it was given."""
    _stand_in_fit.calls.append(list(table.study_ids))
    mu = np.broadcast_to(np.array(_crude_logits(table)), (2, 5, 2))
    posterior = xr.Dataset(
        {"mu": (("chain", "draw", "measure"), mu)},
        coords={"measure": ["sensitivity", "specificity"], "study": table.study_ids},
    )
    return xr.DataTree.from_dict({"posterior": posterior})


@pytest.fixture
def stand_in_sampler(monkeypatch):
    _stand_in_fit.calls = []
    monkeypatch.setattr(restricted_module, "_fit_subset", _stand_in_fit)
    return _stand_in_fit


@pytest.fixture(scope="module")
def dick_ratings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesDTAWarning)
        return read_quadas("dick_melanoma_cad")


@pytest.fixture(scope="module")
def dick_raw():
    return load_dataset("dick_melanoma_cad")


def test_low_risk_subset_studies(stand_in_sampler, dick_ratings, dick_raw):
    result = restricted_analyses(None, ratings=dick_ratings, regression=False)
    expected = dick_raw.loc[(dick_raw[RISK_COLUMNS] == "low").all(axis=1), "study"].tolist()

    assert stand_in_sampler.calls[0] == dick_raw["study"].tolist()
    assert stand_in_sampler.calls[1] == expected
    assert len(expected) == 4
    estimates = result.estimates
    assert estimates["n_studies"].tolist() == [70, 4]
    assert estimates["fitted"].tolist() == [True, True]

    subset = dick_raw[dick_raw["study"].isin(expected)]
    crude_sens = subset["tp"].sum() / (subset["tp"] + subset["fn"]).sum()
    assert estimates.loc[1, "sensitivity"] == pytest.approx(crude_sens)
    all_sens = dick_raw["tp"].sum() / (dick_raw["tp"] + dick_raw["fn"]).sum()
    assert estimates.loc[1, "change_sensitivity"] == pytest.approx(crude_sens - all_sens)
    assert estimates.loc[0, "change_specificity"] == 0.0


def test_per_domain_subsets(stand_in_sampler, dick_ratings, dick_raw):
    result = restricted_analyses(None, ratings=dick_ratings, regression=False, per_domain=True)
    expected = [70, 4] + [int((dick_raw[c] == "low").sum()) for c in RISK_COLUMNS]
    assert result.estimates["n_studies"].tolist() == expected
    assert expected[2:] == [9, 33, 51, 58]
    assert result.estimates.loc[2, "subset"] == "low risk in patient selection"


def test_fewer_than_three_studies_not_fitted(stand_in_sampler, dick_ratings, dick_raw):
    expected = int((dick_raw[ALL_COLUMNS] == "low").all(axis=1).sum())
    assert expected == 2
    with pytest.warns(BayesDTAWarning, match="2 studies, fewer than the 3 needed"):
        result = restricted_analyses(None, "all", ratings=dick_ratings, regression=False)

    assert len(stand_in_sampler.calls) == 1  # all studies only
    row = result.estimates.loc[1]
    assert row["n_studies"] == 2
    assert not row["fitted"]
    assert np.isnan(row["sensitivity"])
    entry = result.to_json()["restricted"][1]
    assert "sensitivity" not in entry
    assert "fewer than the 3 needed" in entry["message"]


def test_full_trace_reused(stand_in_sampler, dick_ratings):
    full = _stand_in_fit(dick_ratings.table, {})
    stand_in_sampler.calls.clear()
    restricted_analyses(None, ratings=dick_ratings, regression=False, full_trace=full)
    assert len(stand_in_sampler.calls) == 1
    assert len(stand_in_sampler.calls[0]) == 4

    other = _stand_in_fit(dick_ratings.table.subset(np.arange(70) < 10), {})
    with pytest.raises(ValueError, match="differ from the 70 rated studies"):
        restricted_analyses(None, ratings=dick_ratings, regression=False, full_trace=other)


def test_quality_command_writes_figures(stand_in_sampler, tmp_path, capsys):
    from bayesdta.cli.main import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesDTAWarning)
        status = main(["quality", "dick_melanoma_cad", "--out", str(tmp_path),
                       "--no-regression", "--no-progress"])
    assert status == 0
    assert (tmp_path / "quadas_summary.png").stat().st_size > 0
    assert (tmp_path / "quadas_traffic_light.png").stat().st_size > 0
    assert (tmp_path / "restricted.csv").exists()
    text = capsys.readouterr().out
    assert "all studies" in text
    assert "low risk in patient selection, index test, reference standard, flow and timing" \
        in text


def test_quality_command_json(stand_in_sampler, dick_raw, capsys):
    from bayesdta.cli.main import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesDTAWarning)
        status = main(["quality", "dick_melanoma_cad", "--json", "--no-regression",
                       "--domains", "flow_and_timing,reference_standard"])
    assert status == 0
    output = json.loads(capsys.readouterr().out)
    counts = dick_raw["REFERENCE_STANDARD_BR"].value_counts()
    assert output["domains"]["reference_standard"] == {
        rating: int(counts.get(rating, 0)) for rating in ("low", "high", "unclear", "moderate")}
    subsets = output["restricted"]
    low_both = (dick_raw[["FLOW_AND_TIMING_BR", "REFERENCE_STANDARD_BR"]] == "low").all(axis=1)
    assert [s["n_studies"] for s in subsets] == [70, int(low_both.sum())]
    assert subsets[1]["domains"] == ["flow_and_timing", "reference_standard"]
    assert set(subsets[1]["sensitivity"]) == {"median", "lower", "upper"}


def test_quality_command_bad_domain(capsys):
    from bayesdta.cli.main import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesDTAWarning)
        status = main(["quality", "dick_melanoma_cad", "--domains", "blinding"])
    assert status == 2
    assert "unknown or unrated QUADAS-2 domain(s) ['blinding']" in capsys.readouterr().err


@pytest.mark.slow
def test_restricted_fits_on_dick(fit_dataset, dick_ratings, dick_raw):
    """Real fits: the low-risk subset (4 studies) and the meta-regression on high risk in
    any risk-of-bias domain (66 of 70 studies high).

    The all-studies row reuses the session fit and must match the R lme4 fit of all 70
    tables (sensitivity 0.774, specificity 0.849) within 0.02, the agreement expected with
    30 or more studies. The 66 high-risk studies are 94% of the data, so the regression's
    high-risk pooled values must lie within 0.05 of the all-studies values. Swapping the
    two groups would put the 4-study specificity (near 0.55) there instead.
    """
    full = fit_dataset("dick_melanoma_cad")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesDTAWarning)
        result = restricted_analyses(
            None, ratings=dick_ratings, full_trace=full, draws=500, tune=500, chains=2,
            seed=7, progressbar=False, target_accept=0.95,
        )

    estimates = result.estimates
    reference = reference_row("dick_melanoma_cad")
    assert estimates.loc[0, "sensitivity"] == pytest.approx(reference["sens"], abs=0.02)
    assert estimates.loc[0, "specificity"] == pytest.approx(reference["spec"], abs=0.02)

    expected = dick_raw.loc[(dick_raw[RISK_COLUMNS] == "low").all(axis=1), "study"].tolist()
    subset_trace = result.traces[estimates.loc[1, "subset"]]
    assert [str(s) for s in subset_trace["posterior"]["study"].values] == expected
    expected_tp = dick_raw.set_index("study").loc[expected, "tp"].tolist()
    assert subset_trace["observed_data"]["tp"].values.tolist() == expected_tp
    for measure in ("sensitivity", "specificity"):
        row = estimates.loc[1]
        assert row[f"{measure}_lower"] < row[measure] < row[f"{measure}_upper"]

    regression = result.regression
    assert regression["n_high"] == 66
    assert regression["n_not_high"] == 4
    assert regression["builder"] in ("build_regression_model", "build_indicator_model")
    for measure in ("sensitivity", "specificity"):
        high = regression["high"][measure]["median"]
        assert high == pytest.approx(estimates.loc[0, measure], abs=0.05), measure
        difference = regression["difference"][measure]
        assert difference["lower"] < difference["median"] < difference["upper"]
    sens = expit(result.traces["meta-regression"]["posterior"]["mu"]
                 .sel(measure="sensitivity").values)
    assert regression["not_high"]["sensitivity"]["median"] == pytest.approx(np.median(sens))
