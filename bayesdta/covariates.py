"""Study-level covariates of a meta-regression: requests, checks, levels and design matrix.

A covariate is a column of the study table. It acts on logit sensitivity, logit specificity
or both, and is either categorical (any number of levels, one of them the reference) or
continuous (centred at its mean over the studies used, coefficients per unit of the column).

Requests are written ``NAME``, ``NAME:sens``, ``NAME:spec`` or ``NAME:both`` on the command
line, or as :class:`Covariate` objects. :func:`resolve_covariates` checks every request
against the table at once and returns :class:`CovariateSpec` records, which the model
builder and the summaries share through the trace's specification.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import BayesDTAWarning, DataProblem, StudyDataError
from .studytable import StudyTable

__all__ = [
    "MARGINS",
    "Covariate",
    "CovariateSpec",
    "parse_covariate",
    "resolve_covariates",
    "design_matrix",
    "term_label",
    "level_values",
    "level_counts",
]

logger = logging.getLogger(__name__)

#: The margins a covariate can act on, and the ``measure`` coordinates each one covers.
MARGINS: dict[str, tuple[str, ...]] = {
    "sens": ("sensitivity",),
    "spec": ("specificity",),
    "both": ("sensitivity", "specificity"),
}

KINDS = ("categorical", "continuous")

#: Below this many studies in a level, a separate covariance of that level rests mostly on
#: the prior (the same limit as for a whole meta-analysis).
FEW_STUDIES_PER_LEVEL = 5


@dataclass(frozen=True)
class Covariate:
    """A request to put one study-level column into the model.

    Attributes
    ----------
    name : str
        Column of the study table.
    margin : {"both", "sens", "spec"}, default "both"
        Logit(s) the covariate acts on.
    kind : {"categorical", "continuous"}, optional
        By default a numeric column is continuous and any other column categorical.
    reference : str, optional
        Reference level of a categorical covariate; by default the first declared level,
        or else the first level in sorted order.
    levels : sequence of str, optional
        Declared levels in the order to report them. Declared levels without studies are
        dropped with a warning; a value outside them is an error.
    """

    name: str
    margin: str = "both"
    kind: str | None = None
    reference: str | None = None
    levels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CovariateSpec:
    """A covariate checked against the data, as the model uses it.

    Attributes
    ----------
    name, margin, kind
        As in :class:`Covariate`, with ``kind`` decided.
    levels : tuple of str
        Levels with at least one study, in report order (categorical only).
    reference : str or None
        Reference level (categorical only).
    center : float or None
        Mean of a continuous covariate over the studies used, in the column's unit; the
        model uses ``value - center``.
    """

    name: str
    margin: str
    kind: str
    levels: tuple[str, ...] = ()
    reference: str | None = None
    center: float | None = None

    @property
    def measures(self) -> tuple[str, ...]:
        """Measures (``sensitivity``, ``specificity``) the covariate acts on."""
        return MARGINS[self.margin]

    @property
    def terms(self) -> list[str]:
        """Coefficient labels: one per non-reference level, or the name if continuous."""
        if self.kind == "continuous":
            return [self.name]
        return [term_label(self.name, level) for level in self.levels if level != self.reference]

    def to_dict(self) -> dict:
        """Return the JSON-able form stored in the trace's specification."""
        return {
            "name": self.name,
            "margin": self.margin,
            "kind": self.kind,
            "levels": list(self.levels),
            "reference": self.reference,
            "center": self.center,
        }

    @classmethod
    def from_dict(cls, values: dict) -> CovariateSpec:
        """Rebuild a spec from :meth:`to_dict` output."""
        return cls(
            name=values["name"],
            margin=values["margin"],
            kind=values["kind"],
            levels=tuple(values.get("levels") or ()),
            reference=values.get("reference"),
            center=values.get("center"),
        )


def term_label(name: str, level: str) -> str:
    """Return the coefficient label of one level, for example ``"validation[external]"``."""
    return f"{name}[{level}]"


def parse_covariate(text: str) -> Covariate:
    """Parse ``NAME``, ``NAME:sens``, ``NAME:spec`` or ``NAME:both`` into a :class:`Covariate`.

    The margin is the part after the last colon when that part is a margin name, so a
    column name may itself contain colons.

    Examples
    --------
    >>> parse_covariate("modality:sens")
    Covariate(name='modality', margin='sens', kind=None, reference=None, levels=None)
    """
    name, _, suffix = text.rpartition(":")
    if name and suffix.strip().lower() in MARGINS:
        return Covariate(name.strip(), suffix.strip().lower())
    if not text.strip():
        raise ValueError("empty covariate name; write NAME, NAME:sens, NAME:spec or NAME:both")
    return Covariate(text.strip())


def _as_request(item: str | Covariate) -> Covariate:
    if isinstance(item, Covariate):
        return item
    if isinstance(item, str):
        return parse_covariate(item)
    raise TypeError(
        f"a covariate must be a column name or a bayesdta.covariates.Covariate, got "
        f"{type(item).__name__}"
    )


def resolve_covariates(
    table: StudyTable,
    covariates: Sequence[str | Covariate],
    separate_covariance: str | None = None,
    drop_missing: bool = False,
) -> tuple[StudyTable, list[CovariateSpec]]:
    """Check covariate requests against a study table and decide levels and centres.

    Parameters
    ----------
    table : StudyTable
    covariates : sequence of str or Covariate
        At least one request; strings are parsed with :func:`parse_covariate`.
    separate_covariance : str, optional
        Name of a categorical covariate whose levels each get their own between-study
        covariance.
    drop_missing : bool, default False
        Drop the tables with a missing value in a requested covariate (with a warning that
        lists them) instead of raising.

    Returns
    -------
    table : StudyTable
        The tables used (all of them unless ``drop_missing`` dropped some).
    specs : list of CovariateSpec

    Raises
    ------
    StudyDataError
        Listing every unknown column, invalid margin or kind, missing or non-numeric value,
        unknown level or reference, covariate with one level only, and, for
        ``separate_covariance``, every level with a single study.

    Warns
    -----
    BayesDTAWarning
        For dropped tables and levels, for levels with a single study, for levels whose
        studies inform a margin the covariate acts on not at all, and for separate
        covariances of levels with fewer than five studies.
    """
    requests = [_as_request(item) for item in covariates]
    problems = _check_requests(table, requests, separate_covariance)
    if problems:
        raise StudyDataError(problems, table.source)

    unfiltered = table
    table = _handle_missing(table, requests, drop_missing)
    specs, problems = [], []
    for request in requests:
        spec, found = _resolve_one(table, request, unfiltered)
        specs.append(spec)
        problems += found
    if separate_covariance is not None and not problems:
        problems += _check_separate(table, specs, separate_covariance)
    if problems:
        raise StudyDataError(problems, table.source)

    for spec in specs:
        _warn_about_levels(table, spec)
    logger.info("covariates: %s", ", ".join(f"{s.name} ({s.kind}, {s.margin})" for s in specs))
    return table, specs


def _check_requests(
    table: StudyTable, requests: list[Covariate], separate_covariance: str | None
) -> list[DataProblem]:
    problems = []
    if not requests:
        problems.append(DataProblem("no covariate given; a meta-regression needs at least one"))
    available = list(table.covariates)
    names = [request.name for request in requests]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(DataProblem(f"covariate {name!r} is given more than once"))
    for request in requests:
        if request.name not in available:
            problems.append(
                DataProblem(
                    f"covariate {request.name!r} is not a column of the data; covariate "
                    f"columns available: {available}"
                )
            )
        if request.margin not in MARGINS:
            problems.append(
                DataProblem(
                    f"covariate {request.name!r}: margin {request.margin!r} is not valid; "
                    f"choose one of {sorted(MARGINS)}"
                )
            )
        if request.kind is not None and request.kind not in KINDS:
            problems.append(
                DataProblem(
                    f"covariate {request.name!r}: kind {request.kind!r} is not valid; "
                    f"choose one of {list(KINDS)}"
                )
            )
    if separate_covariance is not None and separate_covariance not in names:
        problems.append(
            DataProblem(
                f"separate covariance by {separate_covariance!r} needs {separate_covariance!r} "
                f"among the covariates as well (covariates given: {names}); add it, so that "
                "each level has its own means as well as its own covariance"
            )
        )
    return problems


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _handle_missing(
    table: StudyTable, requests: list[Covariate], drop_missing: bool
) -> StudyTable:
    frame = table.frame
    missing = np.zeros(len(frame), dtype=bool)
    problems = []
    for request in requests:
        for position, value in enumerate(frame[request.name]):
            if _is_missing(value):
                missing[position] = True
                problems.append(
                    DataProblem(
                        "covariate value is missing; fill it in, or drop these tables with "
                        "drop_missing=True (--drop-missing on the command line)",
                        table.rows[position],
                        str(frame["study"].iloc[position]),
                        request.name,
                        None,
                    )
                )
    if not missing.any():
        return table
    if not drop_missing:
        raise StudyDataError(problems, table.source)

    listed = ", ".join(
        f"row {table.rows[position]} ({table.labels[position]!r})"
        for position in np.flatnonzero(missing)
    )
    warnings.warn(
        f"dropped {int(missing.sum())} table(s) with a missing covariate value: {listed}. "
        f"{int((~missing).sum())} tables remain.",
        BayesDTAWarning,
        stacklevel=4,
    )
    kept = table.subset(~missing, source=table.source)
    if kept.n_studies < 2:
        raise StudyDataError(
            [DataProblem(f"only {kept.n_studies} table(s) remain after dropping missing "
                         "covariate values; a meta-analysis needs at least two studies")],
            table.source,
        )
    return kept


def _resolve_one(
    table: StudyTable, request: Covariate, unfiltered: StudyTable
) -> tuple[CovariateSpec, list[DataProblem]]:
    values = table.frame[request.name]
    kind = request.kind or ("continuous" if _is_numeric(values) else "categorical")
    if kind == "continuous":
        return _resolve_continuous(table, request)
    return _resolve_categorical(table, request, unfiltered)


def _is_numeric(values: pd.Series) -> bool:
    """Return True for a numeric column, and for a text column whose non-missing values are
    at least half numbers.

    Such a text column is a continuous covariate with a few bad cells (``not reported`` in an
    age column). Those cells must be reported, not turned into one level per value.
    """
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    present = values.dropna()
    parsed = pd.to_numeric(present, errors="coerce")
    return len(present) > 0 and parsed.notna().mean() >= 0.5


def _resolve_continuous(
    table: StudyTable, request: Covariate
) -> tuple[CovariateSpec, list[DataProblem]]:
    frame = table.frame
    numbers = pd.to_numeric(frame[request.name], errors="coerce")
    problems = [
        DataProblem(
            "value of a continuous covariate is not a number; give a number or leave the cell "
            "empty (missing), or, if the column is categorical, pass "
            "Covariate(name, kind='categorical') from Python",
            table.rows[position],
            str(frame["study"].iloc[position]),
            request.name,
            frame[request.name].iloc[position],
        )
        for position in np.flatnonzero(~np.isfinite(numbers.to_numpy(dtype=float)))
    ]
    if request.reference is not None or request.levels is not None:
        problems.append(
            DataProblem(f"covariate {request.name!r} is continuous, so it takes no reference "
                        "level and no levels; pass kind='categorical' to treat it by level")
        )
    center = float(np.mean(numbers)) if not problems else None
    if not problems and np.ptp(numbers.to_numpy(dtype=float)) == 0:
        problems.append(
            DataProblem(f"continuous covariate {request.name!r} has the same value "
                        f"{center:g} in every table, so its effect cannot be estimated")
        )
    spec = CovariateSpec(request.name, request.margin, "continuous", center=center)
    return spec, problems


def level_values(values: pd.Series | np.ndarray) -> list[str]:
    """Return the level of each value of a categorical covariate as text.

    Whole numbers stored as floats (``1.0``) become ``"1"``, so that a numeric column read
    with missing values keeps the level names of the file.
    """
    return [_level_text(value) for value in values]


def _level_text(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _resolve_categorical(
    table: StudyTable, request: Covariate, unfiltered: StudyTable
) -> tuple[CovariateSpec, list[DataProblem]]:
    """Decide the levels and reference of one covariate on the tables used.

    ``unfiltered`` is the table before tables with missing values were dropped, so that levels
    that lost all their studies there are reported.
    """
    frame = table.frame
    observed = level_values(frame[request.name])
    problems = []
    if request.levels is not None:
        declared = [str(level) for level in request.levels]
        for position, level in enumerate(observed):
            if level not in declared:
                problems.append(
                    DataProblem(
                        f"level is not among the declared levels {declared}",
                        table.rows[position],
                        str(frame["study"].iloc[position]),
                        request.name,
                        level,
                    )
                )
        empty = [level for level in declared if level not in observed]
        if empty:
            warnings.warn(
                f"covariate {request.name!r}: level(s) {empty} have no studies and were "
                "dropped from the model and the results",
                BayesDTAWarning,
                stacklevel=5,
            )
        levels = [level for level in declared if level in observed]
    else:
        levels = sorted(set(observed))
        before = {_level_text(v) for v in unfiltered.frame[request.name] if not _is_missing(v)}
        lost = sorted(before - set(levels))
        if lost:
            warnings.warn(
                f"covariate {request.name!r}: level(s) {lost} have no studies left after "
                "dropping the tables with missing covariate values, and were dropped from "
                "the model and the results",
                BayesDTAWarning,
                stacklevel=5,
            )

    reference = request.reference if request.reference is not None else (levels or [None])[0]
    reference = None if reference is None else str(reference)
    if reference is not None and reference not in levels:
        problems.append(
            DataProblem(
                f"covariate {request.name!r}: reference level {reference!r} has no studies; "
                f"levels with studies: {levels}"
            )
        )
    if len(levels) < 2:
        problems.append(
            DataProblem(
                f"covariate {request.name!r} has only the level(s) {levels} in the tables "
                "used, so there is nothing to compare; leave it out"
            )
        )
    spec = CovariateSpec(request.name, request.margin, "categorical", tuple(levels), reference)
    return spec, problems


def level_counts(table: StudyTable, spec: CovariateSpec) -> dict[str, int]:
    """Return the number of tables in each level of a categorical covariate."""
    observed = pd.Series(level_values(table.frame[spec.name]))
    return {level: int((observed == level).sum()) for level in spec.levels}


def _check_separate(
    table: StudyTable, specs: list[CovariateSpec], name: str
) -> list[DataProblem]:
    spec = next(s for s in specs if s.name == name)
    if spec.kind != "categorical":
        return [
            DataProblem(f"separate covariance needs a categorical covariate; {name!r} is "
                        "continuous")
        ]
    counts = level_counts(table, spec)
    single = [level for level, n in counts.items() if n < 2]
    problems = [
        DataProblem(
            f"covariate {name!r}, level {level!r} has {counts[level]} study, so its "
            "between-study variances and correlation cannot be estimated with a separate "
            "covariance per level; use the shared covariance (leave out "
            "separate_covariance / --separate-covariance) or merge the level with another"
        )
        for level in single
    ]
    few = [level for level, n in counts.items() if 2 <= n < FEW_STUDIES_PER_LEVEL]
    if few and not problems:
        shown = ", ".join(f"{level!r} ({counts[level]} studies)" for level in few)
        warnings.warn(
            f"separate covariance by {name!r}: level(s) {shown} have fewer than "
            f"{FEW_STUDIES_PER_LEVEL} studies, so their between-study SDs and correlation "
            "rest mostly on the prior; compare with the shared-covariance model",
            BayesDTAWarning,
            stacklevel=4,
        )
    return problems


def _warn_about_levels(table: StudyTable, spec: CovariateSpec) -> None:
    if spec.kind != "categorical":
        return
    counts = level_counts(table, spec)
    single = [level for level, n in counts.items() if n == 1]
    if single:
        warnings.warn(
            f"covariate {spec.name!r}: level(s) {single} have a single study, so their "
            "pooled values rest on that study and the shared between-study covariance",
            BayesDTAWarning,
            stacklevel=4,
        )
    observed = np.asarray(level_values(table.frame[spec.name]))
    margin_sizes = {"sensitivity": table.n_diseased, "specificity": table.n_healthy}
    for measure in spec.measures:
        for level in spec.levels:
            if margin_sizes[measure][observed == level].sum() == 0:
                warnings.warn(
                    f"covariate {spec.name!r}, level {level!r}: no study of this level "
                    f"informs {measure}, so its {measure} effect rests on the prior alone",
                    BayesDTAWarning,
                    stacklevel=4,
                )


def design_matrix(
    table: StudyTable, specs: Sequence[CovariateSpec]
) -> tuple[np.ndarray, list[str]]:
    """Return the design matrix of the covariate terms, without an intercept.

    Categorical covariates get treatment (dummy) coding against their reference level;
    continuous ones enter as ``value - center``.

    Returns
    -------
    matrix : numpy.ndarray
        Shape (study, term), float64.
    terms : list of str
        Column labels, ``name[level]`` or ``name``.
    """
    columns, terms = [], []
    for spec in specs:
        values = table.frame[spec.name]
        if spec.kind == "continuous":
            columns.append(pd.to_numeric(values).to_numpy(dtype=float) - spec.center)
            terms.append(spec.name)
            continue
        observed = np.asarray(level_values(values))
        for level in spec.levels:
            if level != spec.reference:
                columns.append((observed == level).astype(float))
                terms.append(term_label(spec.name, level))
    matrix = np.column_stack(columns) if columns else np.zeros((table.n_studies, 0))
    return matrix, terms
