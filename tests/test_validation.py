"""Input validation: one test per rule, and several problems reported together."""

from __future__ import annotations

import io
import warnings

import pandas as pd
import pytest

from bayesdta import BayesDTAWarning, StudyDataError, read_studies


def frame(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


GOOD_ROWS = "D,16,3,10,80\nE,20,5,6,70\nF,30,8,4,60\nG,12,2,9,44\nH,8,1,3,20\n"


def problems_of(text: str, **kwargs) -> list:
    with pytest.raises(StudyDataError) as caught:
        read_studies(frame(text), **kwargs)
    return caught.value.problems


def test_missing_count_named():
    (problem,) = problems_of("study,tp,fp,fn,tn\nA,25,3,,25\n" + GOOD_ROWS)
    assert (problem.row, problem.study, problem.column) == (1, "A", "fn")
    assert "missing" in problem.rule


def test_negative_count_named():
    (problem,) = problems_of("study,tp,fp,fn,tn\nA,25,-3,8,25\n" + GOOD_ROWS)
    assert (problem.row, problem.column, problem.value) == (1, "fp", -3)
    assert "negative" in problem.rule


def test_non_integer_count_named():
    (problem,) = problems_of("study,tp,fp,fn,tn\nA,17.5,3,4,11\n" + GOOD_ROWS)
    assert (problem.row, problem.column, problem.value) == (1, "tp", 17.5)
    assert "whole number" in problem.rule


def test_non_numeric_count_named():
    (problem,) = problems_of("study,tp,fp,fn,tn\nA,12,three,4,11\n" + GOOD_ROWS)
    assert (problem.row, problem.column, problem.value) == (1, "fp", "three")
    assert "not a number" in problem.rule


def test_empty_table_rejected():
    (problem,) = problems_of("study,tp,fp,fn,tn\nA,0,0,0,0\n" + GOOD_ROWS)
    assert problem.row == 1
    assert "no diseased" in problem.rule
    assert "no non-diseased" in problem.rule


def test_exact_duplicate_rejected():
    (problem,) = problems_of("study,tp,fp,fn,tn\n" + GOOD_ROWS + "D,16,3,10,80\n")
    assert problem.row == 6
    assert "repeats row 1" in problem.rule


def test_duplicate_kept_on_request():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesDTAWarning)
        table = read_studies(frame("study,tp,fp,fn,tn\n" + GOOD_ROWS + "D,16,3,10,80\n"),
                             keep_duplicates=True)
    assert table.n_studies == 6
    assert table.study_ids[0] != table.study_ids[5]


def test_fewer_than_two_studies_rejected():
    (problem,) = problems_of("study,tp,fp,fn,tn\nA,25,3,8,25\n")
    assert problem.row is None
    assert "at least two" in problem.rule


def test_missing_label_named():
    (problem,) = problems_of("study,tp,fp,fn,tn\n,25,3,8,25\n" + GOOD_ROWS)
    assert (problem.row, problem.column) == (1, "study")


def test_bad_file_reports_all_three_cells(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("study,tp,fp,fn,tn\nA,25,-3,8,25\nB,17.5,3,4,11\nC,88,16,,31\nD,16,3,10,80\n")
    with pytest.raises(StudyDataError) as caught:
        read_studies(path)
    cells = [(p.row, p.study, p.column) for p in caught.value.problems]
    assert cells == [(1, "A", "fp"), (2, "B", "tp"), (3, "C", "fn")]
    message = str(caught.value)
    for text in ["row 1, study 'A', column 'fp', value -3",
                 "row 2, study 'B', column 'tp', value 17.5",
                 "row 3, study 'C', column 'fn', value <missing>"]:
        assert text in message


def test_columns_found_by_alias_and_case():
    data = frame("Author,True_Positive,FP,false negatives,TN\nA,5,1,2,9\nB,6,2,1,8\n"
                 "C,7,1,3,9\nD,4,2,2,7\nE,9,3,1,6\n")
    table = read_studies(data)
    assert table.labels == ["A", "B", "C", "D", "E"]
    assert table.counts("tp").tolist() == [5, 6, 7, 4, 9]
    assert table.counts("fn").tolist() == [2, 1, 3, 2, 1]


def test_columns_never_taken_by_position():
    data = frame("a,b,c,d\n5,1,2,9\n6,2,1,8\n")
    with pytest.raises(StudyDataError) as caught:
        read_studies(data)
    message = str(caught.value)
    for cell in ["'tp'", "'fp'", "'fn'", "'tn'"]:
        assert f"no column for {cell}" in message


def test_explicit_mapping_used():
    data = frame("name,a,b,c,d\nA,5,1,2,9\nB,6,2,1,8\nC,7,1,3,9\nD,4,2,2,7\nE,9,3,1,6\n")
    mapping = {"study": "name", "tp": "a", "fp": "b", "fn": "c", "tn": "d"}
    table = read_studies(data, columns=mapping)
    assert table.counts("tn").tolist() == [9, 8, 9, 7, 6]


def test_mapping_to_absent_column_rejected():
    data = frame("study,tp,fp,fn,tn\nA,5,1,2,9\nB,6,2,1,8\n")
    with pytest.raises(StudyDataError, match="'TruePos', which does not exist"):
        read_studies(data, columns={"tp": "TruePos"})


def test_ambiguous_columns_rejected():
    data = frame("study,tp,TP,fp,fn,tn\nA,5,5,1,2,9\nB,6,6,2,1,8\n")
    with pytest.raises(StudyDataError, match="all look like 'tp'"):
        read_studies(data)


def test_one_margin_tables_warn():
    text = "study,tp,fp,fn,tn\nA,0,3,0,25\nB,10,0,2,0\n" + GOOD_ROWS
    with pytest.warns(BayesDTAWarning) as record:
        table = read_studies(frame(text))
    messages = " ".join(str(w.message) for w in record)
    assert "row 1 ('A')" in messages
    assert "inform specificity only" in messages
    assert "row 2 ('B')" in messages
    assert "inform sensitivity only" in messages
    assert table.n_studies == 7


def test_few_studies_warn():
    with pytest.warns(BayesDTAWarning, match="only 3 studies"):
        read_studies(frame("study,tp,fp,fn,tn\nA,5,1,2,9\nB,6,2,1,8\nC,7,1,3,9\n"))


def test_repeated_labels_warn_and_are_kept():
    with pytest.warns(BayesDTAWarning, match="7 study label") as record:
        table = read_studies("scheidler_lymph_nodes")
    assert table.n_studies == 44
    assert table.frame["study"].nunique() == 37
    assert "'Feigen_1987'" in str(record[0].message)
    assert len(set(table.study_ids)) == 44


@pytest.mark.filterwarnings("ignore::bayesdta.BayesDTAWarning")
def test_no_continuity_correction():
    table = read_studies("scheidler_lymph_nodes")
    assert table.counts("tp")[0] == 0
    assert table.frame[["tp", "fp", "fn", "tn"]].dtypes.eq("int64").all()


def test_excel_input(tmp_path):
    path = tmp_path / "studies.xlsx"
    frame("study,tp,fp,fn,tn\n" + GOOD_ROWS).to_excel(path, index=False)
    table = read_studies(path)
    assert table.n_studies == 5
    assert table.counts("tp").tolist() == [16, 20, 30, 12, 8]


def test_missing_file_named():
    with pytest.raises(FileNotFoundError, match="neither a file nor a bundled dataset"):
        read_studies("no_such_file.csv")


def test_leftover_cell_column_rejected():
    """A mapped cell must not leave a plain-named count column behind as a covariate."""
    data = frame("study,tp,tp_corrected,fp,fn,tn\nA,5,6,1,2,9\nB,6,7,2,1,8\n")
    with pytest.raises(StudyDataError, match="column 'tp' is not used"):
        read_studies(data, columns={"tp": "tp_corrected"})


def test_one_column_for_two_cells_rejected():
    data = frame("study,tp,fp,fn,tn\nA,5,1,2,9\nB,6,2,1,8\n")
    with pytest.raises(StudyDataError, match="column 'fp' is used for"):
        read_studies(data, columns={"tp": "fp"})


def test_count_beyond_exact_float_rejected():
    (problem,) = problems_of("study,tp,fp,fn,tn\nA,9223372036854775808,1,2,9\n" + GOOD_ROWS)
    assert (problem.row, problem.column) == (1, "tp")
    assert "larger than" in problem.rule
