"""Covariate requests: parsing, checks and messages, levels, and the design matrix."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesdta import BayesDTAWarning, StudyDataError, read_studies
from bayesdta.covariates import Covariate, design_matrix, parse_covariate, resolve_covariates


def _table(**covariates):
    counts = {
        "study": [f"S{i}" for i in range(1, 7)],
        "tp": [10, 12, 8, 20, 15, 9],
        "fp": [3, 4, 2, 6, 5, 1],
        "fn": [2, 3, 4, 5, 2, 3],
        "tn": [30, 25, 28, 40, 33, 22],
    }
    return read_studies(pd.DataFrame({**counts, **covariates}))


@pytest.mark.parametrize(
    ("text", "name", "margin"),
    [
        ("modality", "modality", "both"),
        ("modality:sens", "modality", "sens"),
        ("modality:spec", "modality", "spec"),
        ("modality:BOTH", "modality", "both"),
        ("time:of:day", "time:of:day", "both"),
    ],
)
def test_parse_covariate(text, name, margin):
    parsed = parse_covariate(text)
    assert parsed.name == name
    assert parsed.margin == margin


def test_unknown_column_lists_available():
    table = _table(modality=["CT", "CT", "MRI", "MRI", "US", "US"])
    with pytest.raises(StudyDataError) as error:
        resolve_covariates(table, ["modalty", "validation"])
    message = str(error.value)
    assert "'modalty' is not a column" in message
    assert "'validation' is not a column" in message
    assert "['modality']" in message


def test_missing_values_name_rows():
    table = _table(modality=["CT", None, "MRI", "MRI", "", "CT"])
    with pytest.raises(StudyDataError) as error:
        resolve_covariates(table, ["modality"])
    message = str(error.value)
    assert "row 2, study 'S2', column 'modality'" in message
    assert "row 5, study 'S5', column 'modality'" in message
    assert "drop_missing=True" in message


def test_drop_missing_warns_and_drops():
    table = _table(modality=["CT", None, "MRI", "MRI", "CT", "MRI"])
    with pytest.warns(BayesDTAWarning, match=r"row 2 \('S2'\)"):
        used, specs = resolve_covariates(table, ["modality"], drop_missing=True)
    assert used.n_studies == 5
    assert used.rows == (1, 3, 4, 5, 6)
    assert specs[0].levels == ("CT", "MRI")


def test_level_emptied_by_dropping_warns():
    table = _table(
        modality=["CT", "CT", "MRI", "MRI", "PET", "MRI"], site=["a", "b", "a", "b", None, "a"]
    )
    with pytest.warns(BayesDTAWarning) as record:
        _, specs = resolve_covariates(table, ["modality", "site"], drop_missing=True)
    messages = [str(warning.message) for warning in record]
    assert any("row 5 ('S5')" in message for message in messages)
    assert any("['PET'] have no studies left after dropping" in message for message in messages)
    assert specs[0].levels == ("CT", "MRI")


def test_declared_level_without_studies_dropped():
    table = _table(modality=["CT", "CT", "MRI", "MRI", "CT", "MRI"])
    request = Covariate("modality", levels=("MRI", "CT", "PET"))
    with pytest.warns(BayesDTAWarning, match=r"\['PET'\] have no studies and were dropped"):
        _, specs = resolve_covariates(table, [request])
    assert specs[0].levels == ("MRI", "CT")
    assert specs[0].reference == "MRI"


def test_value_outside_declared_levels_rejected():
    table = _table(modality=["CT", "CT", "MRI", "MRI", "CT", "PET"])
    with pytest.raises(StudyDataError, match=r"row 6.*value 'PET': level is not among"):
        resolve_covariates(table, [Covariate("modality", levels=("CT", "MRI"))])


def test_single_study_level_warns():
    table = _table(modality=["CT", "CT", "MRI", "MRI", "CT", "US"])
    with pytest.warns(BayesDTAWarning, match=r"\['US'\] have a single study"):
        resolve_covariates(table, ["modality"])


def test_single_study_level_rejects_separate_covariance():
    table = _table(modality=["CT", "CT", "MRI", "MRI", "CT", "US"])
    with pytest.raises(StudyDataError) as error:
        resolve_covariates(table, ["modality"], separate_covariance="modality")
    message = str(error.value)
    assert "level 'US' has 1 study" in message
    assert "cannot be estimated" in message
    assert "shared covariance" in message


def test_separate_covariance_needs_covariate():
    table = _table(modality=["CT", "CT", "MRI", "MRI", "CT", "MRI"], site=list("AABBAB"))
    with pytest.raises(StudyDataError, match="'site' among the covariates"):
        resolve_covariates(table, ["modality"], separate_covariance="site")


def test_separate_covariance_few_studies_warns():
    table = _table(modality=["CT", "CT", "MRI", "MRI", "CT", "MRI"])
    with pytest.warns(BayesDTAWarning, match="rest mostly on the prior"):
        resolve_covariates(table, ["modality"], separate_covariance="modality")


def test_reference_level_chosen_and_checked():
    table = _table(modality=["CT", "CT", "MRI", "MRI", "CT", "MRI"])
    _, specs = resolve_covariates(table, [Covariate("modality", reference="MRI")])
    assert specs[0].reference == "MRI"
    assert specs[0].terms == ["modality[CT]"]
    with pytest.raises(StudyDataError, match=r"reference level 'PET' has no studies.*'CT', 'MRI'"):
        resolve_covariates(table, [Covariate("modality", reference="PET")])


def test_default_reference_is_first_sorted_level():
    table = _table(validation=["internal", "external"] * 3)
    _, specs = resolve_covariates(table, ["validation"])
    assert specs[0].levels == ("external", "internal")
    assert specs[0].reference == "external"


def test_one_level_rejected():
    table = _table(modality=["CT"] * 6)
    with pytest.raises(StudyDataError, match="only the level"):
        resolve_covariates(table, ["modality"])


def test_invalid_margin_and_kind_listed_together():
    table = _table(modality=["CT", "CT", "MRI", "MRI", "CT", "MRI"])
    with pytest.raises(StudyDataError) as error:
        resolve_covariates(table, [Covariate("modality", margin="npv", kind="ordinal")])
    assert "margin 'npv' is not valid" in str(error.value)
    assert "kind 'ordinal' is not valid" in str(error.value)


def test_duplicate_covariate_rejected():
    table = _table(modality=["CT", "CT", "MRI", "MRI", "CT", "MRI"])
    with pytest.raises(StudyDataError, match="given more than once"):
        resolve_covariates(table, ["modality:sens", "modality:spec"])


def test_level_without_margin_information_warns():
    frame = {
        "study": list("ABCD"),
        "tp": [0, 0, 5, 6],
        "fn": [0, 0, 2, 1],
        "fp": [3, 2, 4, 1],
        "tn": [20, 30, 25, 28],
        "group": ["x", "x", "y", "y"],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesDTAWarning)
        table = read_studies(pd.DataFrame(frame))
    with pytest.warns(BayesDTAWarning, match="level 'x': no study of this level informs sens"):
        resolve_covariates(table, ["group"])


def test_continuous_values_checked():
    table = _table(year=[2001, 2005, "n/a", 2010, 2012, 2015])
    with pytest.raises(StudyDataError, match=r"row 3.*value 'n/a'.*not a number"):
        resolve_covariates(table, [Covariate("year", kind="continuous")])


def test_constant_continuous_rejected():
    table = _table(year=[2001] * 6)
    with pytest.raises(StudyDataError, match="same value 2001 in every table"):
        resolve_covariates(table, ["year"])


def test_design_matrix_treatment_coding_and_centring():
    table = _table(modality=["CT", "MRI", "US", "CT", "MRI", "US"], year=[1, 2, 3, 4, 5, 9])
    _, specs = resolve_covariates(table, ["modality", "year:sens"])
    matrix, terms = design_matrix(table, specs)
    assert terms == ["modality[MRI]", "modality[US]", "year"]
    np.testing.assert_array_equal(matrix[:, 0], [0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(matrix[:, 1], [0, 0, 1, 0, 0, 1])
    # Centred at the mean 4: the coefficient is per unit of year, at the mean year.
    np.testing.assert_allclose(matrix[:, 2], [-3, -2, -1, 0, 1, 5])
    assert specs[1].center == 4.0


def test_numeric_categorical_levels_read_as_text():
    table = _table(arm=[1.0, 2.0, 1.0, 2.0, 1.0, 2.0])
    _, specs = resolve_covariates(table, [Covariate("arm", kind="categorical")])
    assert specs[0].levels == ("1", "2")


def test_mostly_numeric_column_reports_text_cell():
    """An age column with one 'not reported' cell is a continuous covariate with a bad cell,
    not 31 categorical levels."""
    import pandas as pd

    from bayesdta import StudyDataError, read_studies
    from bayesdta.covariates import Covariate, resolve_covariates

    frame = pd.DataFrame(
        {"study": list("ABCDEF"), "tp": [5, 6, 7, 4, 9, 8], "fp": [1, 2, 1, 2, 3, 1],
         "fn": [2, 1, 3, 2, 1, 2], "tn": [9, 8, 9, 7, 6, 9],
         "age": ["40", "42", "44", "not reported", "50", "52"]}
    )
    table = read_studies(frame)
    with pytest.raises(StudyDataError) as caught:
        resolve_covariates(table, [Covariate("age")])
    (problem,) = caught.value.problems
    assert (problem.row, problem.column, problem.value) == (4, "age", "not reported")
