"""QUADAS-2 parsing, domain matching, counts on dick_melanoma_cad and the two plots.

The expected counts are computed here directly from the bundled CSV with pandas, so they do
not depend on the parser under test.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from bayesdta import BayesDTAWarning, StudyDataError
from bayesdta.datasets import load_dataset
from bayesdta.quadas import (
    APPLICABILITY,
    RISK_OF_BIAS,
    find_quadas_columns,
    parse_rating,
    read_quadas,
    resolve_domains,
)

DICK_COLUMNS = {
    "patient_selection": "SAMPLE_SELECTION_BR",
    "index_test": "INDEX_TEST_BR",
    "reference_standard": "REFERENCE_STANDARD_BR",
    "flow_and_timing": "FLOW_AND_TIMING_BR",
    "patient_selection_applicability": "SAMPLE_SELECTION_AP",
    "index_test_applicability": "INDEX_TEST_AP",
    "reference_standard_applicability": "REFERENCE_STANDARD_AP",
}

SPELLINGS = [
    ("low", "low"), ("Low", "low"), ("LOW", "low"), (" low ", "low"), ("L", "low"),
    ("Low risk", "low"), ("low-risk", "low"), ("low_risk", "low"), ("Low risk of bias", "low"),
    ("Low concern", "low"), ("low concerns", "low"), ("+", "low"),
    ("high", "high"), ("High", "high"), ("H", "high"), ("High risk", "high"),
    ("high-risk", "high"), ("High concern", "high"), ("-", "high"), ("x", "high"),
    ("unclear", "unclear"), ("Unclear", "unclear"), ("U", "unclear"), ("?", "unclear"),
    ("Unclear risk", "unclear"), ("unclear concern", "unclear"), ("unknown", "unclear"),
    ("No information", "unclear"), ("NR", "unclear"),
    ("moderate", "moderate"), ("Moderate", "moderate"), ("medium", "moderate"),
    ("Some concerns", "moderate"),
]
UNRECOGNISED = ["yes", "no", "lo", "hihg", "0", "1", "good", "n/a"]

# The small hand-made tables have three studies, which read_studies warns about.
pytestmark = pytest.mark.filterwarnings("ignore:only 3 studies:bayesdta.BayesDTAWarning")


def _quality_frame(**ratings) -> pd.DataFrame:
    """Three studies with distinct counts and the given rating columns."""
    frame = pd.DataFrame(
        {"study": ["A", "B", "C"], "tp": [10, 20, 30], "fp": [5, 6, 7], "fn": [2, 3, 4],
         "tn": [40, 50, 60]}
    )
    for column, values in ratings.items():
        frame[column] = values
    return frame


def _four_domains(values) -> dict:
    return {"patient_selection": values, "index_test": values, "reference_standard": values,
            "flow_and_timing": values}


@pytest.mark.parametrize(("spelling", "expected"), SPELLINGS)
def test_parse_rating_spelling(spelling, expected):
    assert parse_rating(spelling) == expected


@pytest.mark.parametrize("spelling", [*UNRECOGNISED, None, float("nan"), ""])
def test_parse_rating_unrecognised(spelling):
    assert parse_rating(spelling) is None


@pytest.mark.parametrize(
    ("column", "domain"),
    [
        ("SAMPLE_SELECTION_BR", "patient_selection"),
        ("patient_selection", "patient_selection"),
        ("rob_patient_selection", "patient_selection"),
        ("Patient selection - risk of bias", "patient_selection"),
        ("IndexTest_RoB", "index_test"),
        ("reference standard", "reference_standard"),
        ("flow_timing", "flow_and_timing"),
        ("Flow and timing (risk)", "flow_and_timing"),
        ("SAMPLE_SELECTION_AP", "patient_selection_applicability"),
        ("applicability_index_test", "index_test_applicability"),
        ("Reference standard applicability concerns", "reference_standard_applicability"),
    ],
)
def test_column_names_match_domain(column, domain):
    found, problems = find_quadas_columns([column])
    assert problems == []
    assert found == {domain: column}


def test_unrelated_columns_match_nothing():
    columns = ["flow_ap", "modality", "test_set_source", "index", "flow", "selection",
               "patients", "reference"]
    found, problems = find_quadas_columns(columns)
    assert found == {}
    assert problems == []


def test_dick_counts_match_csv():
    raw = load_dataset("dick_melanoma_cad")
    with pytest.warns(BayesDTAWarning, match="37 rating"):
        quality = read_quadas("dick_melanoma_cad")
    assert quality.columns == DICK_COLUMNS
    summary = quality.summary()
    for domain, column in DICK_COLUMNS.items():
        expected = raw[column].value_counts()
        for rating in ("low", "moderate", "high"):
            assert summary.loc[domain, rating] == expected.get(rating, 0), (domain, rating)
        assert summary.loc[domain, "unclear"] == 0
        assert summary.loc[domain, "n_studies"] == len(raw)


def test_dick_moderate_kept_and_reported():
    raw = load_dataset("dick_melanoma_cad")
    with pytest.warns(BayesDTAWarning, match="kept as a separate category"):
        quality = read_quadas("dick_melanoma_cad")
    expected = {domain: int((raw[column] == "moderate").sum())
                for domain, column in DICK_COLUMNS.items()}
    assert quality.n_moderate == expected
    assert sum(expected.values()) == 37
    assert (quality.ratings == "moderate").sum().sum() == 37


@pytest.mark.parametrize("merge_into", ["high", "unclear"])
def test_dick_moderate_merged(merge_into):
    raw = load_dataset("dick_melanoma_cad")
    with pytest.warns(BayesDTAWarning, match=f"merged into '{merge_into}'"):
        quality = read_quadas("dick_melanoma_cad", moderate=merge_into)
    summary = quality.summary()
    assert "moderate" not in summary.columns
    for domain, column in DICK_COLUMNS.items():
        counts = raw[column].value_counts()
        expected = counts.get(merge_into, 0) + counts.get("moderate", 0)
        assert summary.loc[domain, merge_into] == expected, domain


def test_dick_low_risk_and_high_risk_masks():
    raw = load_dataset("dick_melanoma_cad")
    risk_columns = [DICK_COLUMNS[d] for d in RISK_OF_BIAS]
    with pytest.warns(BayesDTAWarning):
        quality = read_quadas("dick_melanoma_cad")
    expected_low = (raw[risk_columns] == "low").all(axis=1).to_numpy()
    expected_high = (raw[risk_columns] == "high").any(axis=1).to_numpy()
    assert (quality.low_risk() == expected_low).all()
    assert quality.low_risk().sum() == 4
    assert (quality.high_risk_any() == expected_high).all()
    assert quality.high_risk_any().sum() == 66
    all_columns = list(DICK_COLUMNS.values())
    assert quality.low_risk("all").sum() == (raw[all_columns] == "low").all(axis=1).sum() == 2


def test_unknown_and_missing_values_listed_together():
    values = ["low", "hihg", None]
    frame = _quality_frame(**_four_domains(values))
    frame.loc[0, "index_test"] = "yes"
    with pytest.raises(StudyDataError) as caught:
        read_quadas(frame)
    message = str(caught.value)
    problems = caught.value.problems
    unrecognised = [p for p in problems if "not recognised" in p.rule]
    missing = [p for p in problems if "missing" in p.rule]
    assert len(unrecognised) == 5  # 'hihg' in four columns, 'yes' once
    assert len(missing) == 4
    assert "row 2, study 'B', column 'patient_selection', value 'hihg'" in message
    assert "row 1, study 'A', column 'index_test', value 'yes'" in message
    assert "row 3, study 'C', column 'flow_and_timing', value <missing>" in message


def test_missing_columns_error_lists_looked_for_and_present():
    frame = _quality_frame(patient_selection=["low"] * 3, modality=["CT", "MR", "CT"])
    with pytest.raises(StudyDataError) as caught:
        read_quadas(frame)
    message = str(caught.value)
    assert "index_test (names like index_test, index_test_br" in message
    assert "reference_standard (names like" in message
    assert "flow_and_timing (names like" in message
    assert "patient_selection (names like" not in message
    assert "Columns present: ['study', 'tp', 'fp', 'fn', 'tn', 'patient_selection', " \
           "'modality']" in message


def test_explicit_mapping():
    frame = _quality_frame(D1=["low", "high", "?"], D2=["+", "-", "low"], D3=["low"] * 3,
                           D4=["high", "low", "low"])
    mapping = {"patient_selection": "D1", "index_test": "D2", "reference_standard": "D3",
               "flow_and_timing": "D4"}
    quality = read_quadas(frame, mapping)
    assert quality.columns == mapping
    assert quality.ratings["patient_selection"].tolist() == ["low", "high", "unclear"]
    assert quality.ratings["index_test"].tolist() == ["low", "high", "low"]
    assert quality.low_risk().tolist() == [False, False, False]
    assert quality.high_risk_any().tolist() == [True, True, False]


def test_mapping_errors_listed():
    frame = _quality_frame(**_four_domains(["low"] * 3))
    with pytest.raises(StudyDataError) as caught:
        read_quadas(frame, {"index_test": "NOPE", "selection_bias": "patient_selection"})
    message = str(caught.value)
    assert "unknown domain 'selection_bias'" in message
    assert "sends 'index_test' to column 'NOPE', which does not exist" in message


def test_require_all_domains():
    frame = _quality_frame(**_four_domains(["low"] * 3))
    assert read_quadas(frame).domains == list(RISK_OF_BIAS)
    with pytest.raises(StudyDataError, match="patient_selection_applicability"):
        read_quadas(frame, require="all")


def test_resolve_domains_names():
    available = list(RISK_OF_BIAS) + list(APPLICABILITY)
    assert resolve_domains(None, available) == list(RISK_OF_BIAS)
    assert resolve_domains("all", available) == available
    assert resolve_domains(["Flow and timing", "INDEX_TEST_BR"], available) == [
        "flow_and_timing", "index_test"]
    with pytest.raises(ValueError, match=r"\['blinding'\]"):
        resolve_domains(["index_test", "blinding"], available)
    with pytest.raises(ValueError, match="unrated"):
        resolve_domains(["index_test_applicability"], list(RISK_OF_BIAS))


def test_summary_and_traffic_light_plots():
    from bayesdta.plots.quadas import plot_quadas_summary, plot_quadas_traffic_light

    with pytest.warns(BayesDTAWarning):
        quality = read_quadas("dick_melanoma_cad")
    ax = plot_quadas_summary(quality)
    # One bar per domain and rating category (low, moderate, high, unclear).
    assert len(ax.patches) == 7 * 4
    widths = {}
    for patch in ax.patches:
        y = round(patch.get_y(), 6)
        widths[y] = widths.get(y, 0.0) + patch.get_width()
    assert all(abs(total - 100.0) < 1e-9 for total in widths.values())

    figure = plot_quadas_traffic_light(quality)
    traffic_ax = figure.axes[0]
    assert len(traffic_ax.collections) == 7
    assert sum(len(c.get_offsets()) for c in traffic_ax.collections) == 70 * 7
    plt.close("all")
