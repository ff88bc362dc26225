"""Exceptions and warning categories that bayesdta raises."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DataProblem", "StudyDataError", "BayesDTAWarning", "ConvergenceWarning"]


@dataclass(frozen=True)
class DataProblem:
    """One broken rule in the input data.

    ``row`` is the 1-based data row (the header is not counted), or ``None`` for a problem
    of the whole table.
    """

    rule: str
    row: int | None = None
    study: str | None = None
    column: str | None = None
    value: object = None

    def describe(self) -> str:
        """Return one line naming the row, study, column, value and rule."""
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.study is not None:
            where.append(f"study {self.study!r}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.column is not None or self.value is not None:
            where.append(f"value {_show(self.value)}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.rule}" if prefix else self.rule


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "<missing>"
    return repr(value)


class StudyDataError(ValueError):
    """Invalid study data; ``problems`` lists every broken rule found in one pass."""

    def __init__(self, problems: list[DataProblem], source: str = "input data"):
        self.problems = list(problems)
        self.source = source
        lines = [f"{len(self.problems)} problem(s) in {source}:"]
        lines += [f"  - {problem.describe()}" for problem in self.problems]
        lines.append("Fix these cells and run again; nothing was fitted.")
        super().__init__("\n".join(lines))


class BayesDTAWarning(UserWarning):
    """A decision bayesdta took about the data or model that the user should know about."""


class ConvergenceWarning(BayesDTAWarning):
    """The sampler output fails a convergence check."""
