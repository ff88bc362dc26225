"""Read and validate one 2x2 table per study into a :class:`StudyTable`."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import datasets
from .columns import COUNT_COLUMNS, resolve_columns
from .errors import DataProblem, StudyDataError
from .validation import check_counts, check_duplicates, check_study_count, warn_about_design

__all__ = ["StudyTable", "read_studies"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyTable:
    """Validated study data: one row per 2x2 table.

    Attributes
    ----------
    frame : pandas.DataFrame
        Columns ``study`` (label as given), ``tp, fp, fn, tn`` (int64) and the covariate
        columns, in source order.
    covariates : tuple of str
        Names of the covariate columns.
    source : str
        Where the data came from (file path, dataset name or ``"DataFrame"``).
    ids : tuple of str
        Unique identifier of each table: the label, with the row number appended when a
        label repeats.
    rows : tuple of int
        1-based data row of each table in the source.
    """

    frame: pd.DataFrame
    covariates: tuple[str, ...]
    source: str
    ids: tuple[str, ...] = ()
    rows: tuple[int, ...] = ()

    @property
    def n_studies(self) -> int:
        """Number of 2x2 tables."""
        return len(self.frame)

    @property
    def study_ids(self) -> list[str]:
        """Unique identifier of each table, used as the ``study`` coordinate of traces."""
        return list(self.ids)

    @property
    def labels(self) -> list[str]:
        """Study label of each table as given in the source."""
        return self.frame["study"].tolist()

    def counts(self, cell: str) -> np.ndarray:
        """Return one cell (``tp``, ``fp``, ``fn`` or ``tn``) as an int64 array of shape (study,)."""
        return self.frame[cell].to_numpy(dtype=np.int64)

    @property
    def n_diseased(self) -> np.ndarray:
        """tp + fn per table, shape (study,)."""
        return self.counts("tp") + self.counts("fn")

    @property
    def n_healthy(self) -> np.ndarray:
        """fp + tn per table (the non-diseased), shape (study,)."""
        return self.counts("fp") + self.counts("tn")

    def fingerprint(self) -> str:
        """Return a SHA-256 hash of the labels, counts and covariates, for provenance."""
        text = self.frame.to_csv(index=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def subset(self, mask: Sequence[bool] | np.ndarray, source: str | None = None) -> StudyTable:
        """Return the tables where ``mask`` is true, keeping row numbers and ids."""
        keep = np.asarray(mask, dtype=bool)
        selected = self.frame.loc[keep].reset_index(drop=True)
        return StudyTable(
            selected,
            self.covariates,
            source or f"{self.source} (subset)",
            tuple(np.asarray(self.ids, dtype=object)[keep]),
            tuple(int(r) for r in np.asarray(self.rows)[keep]),
        )


def read_studies(
    data: str | Path | pd.DataFrame | StudyTable,
    columns: Mapping[str, str] | None = None,
    *,
    keep_duplicates: bool = False,
    sheet_name: str | int = 0,
) -> StudyTable:
    """Read one 2x2 table per study from a CSV or Excel file, a DataFrame or a bundled dataset.

    Columns are found by name, case-insensitively (``tp``, ``TP``, ``true_positive``, ...),
    or through ``columns``; never by position. Every rule is checked on every row before
    anything is returned, and all problems are raised together.

    Parameters
    ----------
    data : str, path, DataFrame or StudyTable
        A ``.csv``, ``.xlsx`` or ``.xls`` path, the name of a bundled dataset (see
        :func:`bayesdta.datasets.list_datasets`), or a DataFrame.
    columns : mapping, optional
        Explicit column names, for example ``{"tp": "TruePos", "study": "Author"}``.
    keep_duplicates : bool, default False
        Keep rows that repeat an earlier row exactly. By default they are an error, because
        an exact repeat of label, counts and covariates is most often a data-entry slip.
    sheet_name : str or int, default 0
        Sheet to read from an Excel file.

    Returns
    -------
    StudyTable

    Raises
    ------
    StudyDataError
        Listing every missing, non-numeric, negative or non-integer count, every table with
        no participants, every exact duplicate row, and fewer than two usable studies.
    FileNotFoundError
        If a path does not exist and is not a bundled dataset name.

    Warns
    -----
    BayesDTAWarning
        For tables with no diseased (or no non-diseased) participants, which inform one
        margin only; for fewer than five studies; for study labels repeated on several rows.

    Notes
    -----
    No continuity correction is applied: the binomial likelihood handles zero cells exactly.

    Examples
    --------
    >>> from bayesdta import read_studies
    >>> table = read_studies("auditc")
    >>> table.n_studies
    14
    """
    if isinstance(data, StudyTable):
        return data
    raw, source = _load(data, sheet_name)
    return _validate(raw, source, columns, keep_duplicates)


def _load(data: str | Path | pd.DataFrame, sheet_name: str | int) -> tuple[pd.DataFrame, str]:
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True), "DataFrame"

    path = Path(data)
    if not path.exists():
        if str(data) in datasets.list_datasets():
            return datasets.load_dataset(str(data)), str(data)
        raise FileNotFoundError(
            f"{str(data)!r} is neither a file nor a bundled dataset; bundled datasets are: "
            f"{', '.join(datasets.list_datasets())}"
        )
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xls", ".xlsm"}:
        return pd.read_excel(path, sheet_name=sheet_name), str(path)
    return pd.read_csv(path, skipinitialspace=True), str(path)


def _validate(
    raw: pd.DataFrame,
    source: str,
    columns: Mapping[str, str] | None,
    keep_duplicates: bool,
) -> StudyTable:
    names = resolve_columns(raw, columns, source)
    labels, label_problems = _labels(raw, names["study"])
    counts, problems = check_counts(raw[[names[c] for c in COUNT_COLUMNS]].set_axis(
        list(COUNT_COLUMNS), axis=1), labels)
    problems = label_problems + problems

    used = {names[c] for c in COUNT_COLUMNS} | {names["study"]}
    covariate_names = [str(c) for c in raw.columns if c not in used]
    frame = pd.DataFrame({"study": labels})
    for column in COUNT_COLUMNS:
        frame[column] = counts[column]
    for name in covariate_names:
        frame[name] = raw[name].to_numpy()

    if not keep_duplicates:
        problems += check_duplicates(frame, labels)
    problems += check_study_count(counts, cells_invalid=bool(problems))
    if problems:
        raise StudyDataError(sorted(problems, key=_problem_order), source)

    warn_about_design(counts, labels, frame)
    for column in COUNT_COLUMNS:
        frame[column] = frame[column].astype(np.int64)
    logger.info("read %d tables from %s", len(frame), source)
    rows = tuple(range(1, len(frame) + 1))
    return StudyTable(frame, tuple(covariate_names), source, _unique_ids(labels), rows)


def _problem_order(problem: DataProblem) -> tuple:
    column_rank = {name: i for i, name in enumerate(("study", *COUNT_COLUMNS))}
    row = problem.row if problem.row is not None else np.inf
    return (row, column_rank.get(problem.column or "", len(column_rank)))


def _labels(raw: pd.DataFrame, column: str | None) -> tuple[list[str], list[DataProblem]]:
    if column is None:
        logger.info("no study label column found; labelling tables 'study 1', 'study 2', ...")
        return [f"study {i + 1}" for i in range(len(raw))], []

    labels, problems = [], []
    for position, value in enumerate(raw[column]):
        if pd.isna(value) or not str(value).strip():
            labels.append(f"row {position + 1}")
            problems.append(DataProblem("study label is missing", position + 1, None, column, None))
        else:
            labels.append(str(value).strip())
    return labels, problems


def _unique_ids(labels: list[str]) -> tuple[str, ...]:
    repeated = pd.Series(labels).duplicated(keep=False)
    return tuple(
        f"{label} [row {i + 1}]" if repeated.iloc[i] else label for i, label in enumerate(labels)
    )
