"""Map the columns of a user's table to the 2x2 cells by name, never by position."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

from .errors import DataProblem, StudyDataError

__all__ = ["COUNT_COLUMNS", "resolve_columns"]

COUNT_COLUMNS = ("tp", "fp", "fn", "tn")

# Accepted spellings after lower-casing and removing everything but letters and digits.
_ALIASES: dict[str, set[str]] = {
    "study": {"study", "studyname", "studylabel", "author", "authors", "label", "firstauthor"},
    "tp": {"tp", "truepositive", "truepositives", "truepos"},
    "fp": {"fp", "falsepositive", "falsepositives", "falsepos"},
    "fn": {"fn", "falsenegative", "falsenegatives", "falseneg"},
    "tn": {"tn", "truenegative", "truenegatives", "trueneg"},
}


def _normalise(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def resolve_columns(
    frame: pd.DataFrame, mapping: Mapping[str, str] | None = None, source: str = "input data"
) -> dict[str, str | None]:
    """Find the column of each 2x2 cell and of the study label.

    Parameters
    ----------
    frame : pandas.DataFrame
        The user's table.
    mapping : mapping of str to str, optional
        Explicit ``{"tp": "column name", ...}``; keys are ``study``, ``tp``, ``fp``, ``fn``,
        ``tn``. Cells not in the mapping are still looked up by name.
    source : str
        Name of the input, used in error messages.

    Returns
    -------
    dict
        Canonical name to column name; ``"study"`` maps to ``None`` when the table has no
        label column.

    Raises
    ------
    StudyDataError
        If a count column is missing, a name matches two columns, or the mapping names a
        column that does not exist. All such problems are listed together.
    """
    mapping = dict(mapping or {})
    problems: list[DataProblem] = []
    unknown_keys = sorted(set(mapping) - set(_ALIASES))
    if unknown_keys:
        problems.append(
            DataProblem(
                f"unknown key(s) {unknown_keys} in the column mapping; "
                f"valid keys are {sorted(_ALIASES)}"
            )
        )

    present = [str(c) for c in frame.columns]
    resolved: dict[str, str | None] = {}
    for canonical, aliases in _ALIASES.items():
        if canonical in mapping:
            column = mapping[canonical]
            if column not in present:
                problems.append(
                    DataProblem(
                        f"the mapping sends {canonical!r} to column {column!r}, which does not "
                        f"exist; columns present: {present}"
                    )
                )
            resolved[canonical] = column
            continue

        matches = [c for c in present if _normalise(c) in aliases]
        if len(matches) > 1:
            problems.append(
                DataProblem(
                    f"columns {matches} all look like {canonical!r}; pass columns="
                    f"{{{canonical!r}: <name>}} to choose one"
                )
            )
        elif not matches and canonical != "study":
            problems.append(
                DataProblem(
                    f"no column for {canonical!r} (looked for names like "
                    f"{sorted(aliases)}); columns present: {present}. Pass columns="
                    f"{{{canonical!r}: <name>}} to map it"
                )
            )
        resolved[canonical] = matches[0] if matches else None

    problems += _shared_columns(resolved)
    problems += _leftover_cell_names(present, resolved)
    if problems:
        raise StudyDataError(problems, source)
    return resolved


def _shared_columns(resolved: dict[str, str | None]) -> list[DataProblem]:
    users: dict[str, list[str]] = {}
    for canonical, column in resolved.items():
        if column is not None:
            users.setdefault(column, []).append(canonical)
    return [
        DataProblem(f"column {column!r} is used for {cells}; each cell needs its own column")
        for column, cells in users.items()
        if len(cells) > 1
    ]


def _leftover_cell_names(present: list[str], resolved: dict[str, str | None]) -> list[DataProblem]:
    """Reject a column named like a cell (``tp``, ``study``, ...) that the mapping left unused,
    because it would otherwise be kept as a covariate under a name that the counts use."""
    used = {column for column in resolved.values() if column is not None}
    return [
        DataProblem(
            f"column {column!r} is not used, because the mapping sends {column.lower()!r} to "
            f"{resolved[column.lower()]!r}; drop or rename column {column!r}"
        )
        for column in present
        if column.lower() in resolved and column not in used
    ]
