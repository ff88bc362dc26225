"""Rules that a table of 2x2 counts must meet before any model is built.

Every rule runs on every row, and the problems are reported together, so that one round of
corrections fixes the file. Nothing is corrected, dropped or imputed here.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from .columns import COUNT_COLUMNS
from .errors import BayesDTAWarning, DataProblem

__all__ = ["check_counts", "check_duplicates", "check_study_count", "warn_about_design"]

logger = logging.getLogger(__name__)

#: Largest count accepted: 2^53, above which float64 parsing loses whole numbers.
MAX_COUNT = 2**53

#: Below this many studies the between-study parameters rest mostly on the prior.
FEW_STUDIES = 5


def check_counts(raw: pd.DataFrame, labels: list[str]) -> tuple[pd.DataFrame, list[DataProblem]]:
    """Parse the four count columns and list every missing, non-numeric, negative or
    non-integer cell, and every table with no participants at all.

    Parameters
    ----------
    raw : pandas.DataFrame
        Columns ``tp, fp, fn, tn`` as read, one row per table.
    labels : list of str
        Study label of each row, for the messages.

    Returns
    -------
    counts : pandas.DataFrame
        The parsed counts as float, NaN where a cell is invalid.
    problems : list of DataProblem
    """
    problems: list[DataProblem] = []
    counts = pd.DataFrame(index=raw.index)
    for column in COUNT_COLUMNS:
        values = raw[column]
        numeric = pd.to_numeric(values, errors="coerce").astype(float)
        for position, (original, number) in enumerate(zip(values, numeric, strict=True)):
            rule = _count_rule(original, number)
            if rule is not None:
                problems.append(
                    DataProblem(rule, position + 1, labels[position], column, original)
                )
                numeric.iloc[position] = np.nan
        counts[column] = numeric

    complete = counts.notna().all(axis=1)
    empty = complete & (counts["tp"] + counts["fn"] == 0) & (counts["fp"] + counts["tn"] == 0)
    for position in np.flatnonzero(empty.to_numpy()):
        problems.append(
            DataProblem(
                "the table has no diseased (tp + fn = 0) and no non-diseased "
                "(fp + tn = 0) participants",
                position + 1,
                labels[position],
            )
        )
    return counts, problems


def _count_rule(original: object, number: float) -> str | None:
    if original is None or (isinstance(original, str) and not original.strip()):
        return "count is missing"
    if isinstance(original, float) and np.isnan(original):
        return "count is missing"
    if np.isnan(number):
        return "count is not a number"
    if not np.isfinite(number):
        return "count is not finite"
    if number < 0:
        return "count is negative; counts must be 0 or more"
    if number > MAX_COUNT:
        return f"count is larger than {MAX_COUNT:,}, the largest whole number stored exactly"
    if number != np.floor(number):
        return "count is not a whole number"
    return None


def check_duplicates(frame: pd.DataFrame, labels: list[str]) -> list[DataProblem]:
    """List rows identical to an earlier row in label, counts and covariates."""
    duplicated = frame.duplicated(keep="first").to_numpy()
    problems = []
    for position in np.flatnonzero(duplicated):
        first = _first_equal_row(frame, position)
        problems.append(
            DataProblem(
                f"row repeats row {first + 1} exactly (label, counts and covariates), a likely "
                "data-entry slip; remove it, or pass keep_duplicates=True (--keep-duplicates "
                "on the command line) if both tables are real",
                position + 1,
                labels[position],
            )
        )
    return problems


def _first_equal_row(frame: pd.DataFrame, position: int) -> int:
    target = frame.iloc[position]
    for earlier in range(position):
        if frame.iloc[earlier].equals(target):
            return earlier
    return position


def check_study_count(counts: pd.DataFrame, cells_invalid: bool = False) -> list[DataProblem]:
    """Require at least two tables with valid counts and at least one participant.

    When other cells are already invalid, only the number of rows is checked, so that the
    message does not blame the table size for problems that fixing those cells removes.
    """
    if cells_invalid:
        n_usable = len(counts)
    else:
        total = counts[["tp", "fn", "fp", "tn"]].sum(axis=1)
        n_usable = int((counts.notna().all(axis=1) & (total > 0)).sum())
    if n_usable >= 2:
        return []
    return [
        DataProblem(
            f"only {n_usable} usable table(s); a meta-analysis needs at least two studies"
        )
    ]


def warn_about_design(counts: pd.DataFrame, labels: list[str], frame: pd.DataFrame) -> None:
    """Warn about valid but unusual data: one-margin tables, few studies, repeated labels."""
    n1 = counts["tp"] + counts["fn"]
    n0 = counts["fp"] + counts["tn"]
    _warn_rows(n1 == 0, labels, "no diseased participants (tp + fn = 0)", "specificity")
    _warn_rows(n0 == 0, labels, "no non-diseased participants (fp + tn = 0)", "sensitivity")

    n_studies = len(counts)
    if n_studies < FEW_STUDIES:
        warnings.warn(
            f"only {n_studies} studies: the between-study SDs and the correlation rest mostly "
            "on the prior. Report the priors, and compare prior sets with "
            "bayesdta.sensitivity_analysis.",
            BayesDTAWarning,
            stacklevel=3,
        )

    label_series = pd.Series(labels)
    repeated = sorted(label_series[label_series.duplicated(keep=False)].unique())
    if repeated:
        shown = ", ".join(repr(label) for label in repeated)
        warnings.warn(
            f"{len(repeated)} study label(s) appear on several rows that differ: {shown}. "
            "These rows are kept and analysed as separate 2x2 tables, each with its own "
            "random effect; tables from one paper may be dependent.",
            BayesDTAWarning,
            stacklevel=3,
        )


def _warn_rows(mask: pd.Series, labels: list[str], what: str, informs: str) -> None:
    rows = np.flatnonzero(mask.to_numpy())
    if len(rows) == 0:
        return
    listed = ", ".join(f"row {r + 1} ({labels[r]!r})" for r in rows)
    warnings.warn(
        f"{len(rows)} table(s) with {what}: {listed}. They are kept and inform {informs} only.",
        BayesDTAWarning,
        stacklevel=4,
    )
