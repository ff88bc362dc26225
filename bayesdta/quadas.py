"""QUADAS-2 ratings: the four risk-of-bias and three applicability domains of each study.

QUADAS-2 (Whiting et al., Ann Intern Med 2011;155:529-536) rates each study low, high or
unclear in four risk-of-bias domains (patient selection, index test, reference standard,
flow and timing) and rates applicability concerns low, high or unclear in the first three.
:func:`read_quadas` finds the seven columns by name or through an explicit mapping, parses
the usual spellings of each rating and reports every value it does not recognise.

Some reviews use a fourth level, ``moderate`` (Dick et al. 2019 does). It is not a QUADAS-2
rating, so it is kept as its own category and reported, unless the caller merges it into
``high`` or ``unclear``.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import BayesDTAWarning, DataProblem, StudyDataError
from .studytable import StudyTable, read_studies

__all__ = [
    "Domain",
    "DOMAINS",
    "RISK_OF_BIAS",
    "APPLICABILITY",
    "RATINGS",
    "QuadasRatings",
    "read_quadas",
    "parse_rating",
    "resolve_domains",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Domain:
    """One QUADAS-2 domain: a key, a label and whether it rates risk of bias or applicability."""

    key: str
    label: str
    kind: str  # "risk_of_bias" or "applicability"
    topic: str  # the shared topic of the two kinds, e.g. "patient_selection"


DOMAINS: tuple[Domain, ...] = (
    Domain("patient_selection", "Patient selection", "risk_of_bias", "patient_selection"),
    Domain("index_test", "Index test", "risk_of_bias", "index_test"),
    Domain("reference_standard", "Reference standard", "risk_of_bias", "reference_standard"),
    Domain("flow_and_timing", "Flow and timing", "risk_of_bias", "flow_and_timing"),
    Domain(
        "patient_selection_applicability",
        "Patient selection (applicability)",
        "applicability",
        "patient_selection",
    ),
    Domain(
        "index_test_applicability", "Index test (applicability)", "applicability", "index_test"
    ),
    Domain(
        "reference_standard_applicability",
        "Reference standard (applicability)",
        "applicability",
        "reference_standard",
    ),
)

#: Keys of the four risk-of-bias domains, in QUADAS-2 order.
RISK_OF_BIAS = tuple(d.key for d in DOMAINS if d.kind == "risk_of_bias")
#: Keys of the three applicability domains, in QUADAS-2 order.
APPLICABILITY = tuple(d.key for d in DOMAINS if d.kind == "applicability")
#: Rating categories in display order; ``moderate`` appears only when the data use it.
RATINGS = ("low", "moderate", "high", "unclear")

_DOMAIN_BY_KEY = {d.key: d for d in DOMAINS}

# Column names are compared after lower-casing and removing everything but letters and
# digits. A column matches a domain when it consists of a topic spelling plus a kind spelling
# (in either order). A full topic name alone also matches its risk-of-bias domain, but a
# short one ("index", "flow") does not, because plain covariates use such names.
_TOPIC_SPELLINGS = {
    "patient_selection": ("patientselection", "sampleselection", "selection"),
    "index_test": ("indextest", "index"),
    "reference_standard": ("referencestandard", "reference", "refstandard"),
    "flow_and_timing": ("flowandtiming", "flowtiming", "flow"),
}
_FULL_TOPICS = {"patientselection", "sampleselection", "indextest", "referencestandard",
                "flowandtiming", "flowtiming"}
_KIND_SPELLINGS = {
    "risk_of_bias": ("br", "rob", "riskofbias", "bias", "risk"),
    "applicability": ("ap", "applicability", "applicabilityconcern", "applicabilityconcerns",
                      "concern", "concerns", "ac"),
}

# Rating spellings after lower-casing and collapsing whitespace, hyphens and underscores.
_RATING_SPELLINGS = {
    "low": {
        "low", "l", "low risk", "low risk of bias", "low concern", "low concerns", "+",
        "low applicability concern", "low applicability concerns",
    },
    "high": {
        "high", "h", "high risk", "high risk of bias", "high concern", "high concerns", "-",
        "x", "high applicability concern", "high applicability concerns",
    },
    "unclear": {
        "unclear", "u", "?", "unclear risk", "unclear risk of bias", "unclear concern",
        "unclear concerns", "unknown", "not clear", "no information", "nr", "not reported",
    },
    "moderate": {
        "moderate", "m", "medium", "intermediate", "some concern", "some concerns",
        "moderate risk", "moderate concern", "moderate concerns",
    },
}
_RATING_LOOKUP = {
    spelling: rating for rating, spellings in _RATING_SPELLINGS.items() for spelling in spellings
}
MODERATE_CHOICES = ("keep", "high", "unclear")


def _normalise_column(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def parse_rating(value: object) -> str | None:
    """Return ``"low"``, ``"high"``, ``"unclear"`` or ``"moderate"`` for one rating, else None.

    Accepted spellings, case-insensitive: ``low``, ``l``, ``low risk``, ``low concern``,
    ``+`` (low); ``high``, ``h``, ``high risk``, ``high concern``, ``-``, ``x`` (high);
    ``unclear``, ``u``, ``?``, ``unclear risk``, ``unknown``, ``no information``, ``nr``
    (unclear); ``moderate``, ``medium``, ``some concerns`` (moderate). Spaces, hyphens and
    underscores are interchangeable. ``yes`` and ``no`` are not accepted, because a column
    may use them for "at risk" as well as for the signalling questions' "no concern".
    Missing values and anything else return None.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().lower()
    if text not in _RATING_LOOKUP:
        text = re.sub(r"[\s_\-]+", " ", text).strip()
    return _RATING_LOOKUP.get(text)


def _match_column(name: str, domain: Domain) -> bool:
    normalised = _normalise_column(name)
    for topic in _TOPIC_SPELLINGS[domain.topic]:
        if topic not in normalised:
            continue
        rest = normalised.replace(topic, "", 1)
        if rest in _KIND_SPELLINGS[domain.kind]:
            return True
        if rest == "" and topic in _FULL_TOPICS and domain.kind == "risk_of_bias":
            return True
    return False


def find_quadas_columns(
    columns: Iterable[str], mapping: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Find the column of each domain by name, or take it from ``mapping``.

    Returns
    -------
    found : dict
        Domain key to column name, for every domain found.
    problems : list of str
        One message per domain that matches no column or several columns, and per mapping
        entry that names an unknown domain or a missing column.
    """
    present = [str(c) for c in columns]
    mapping = dict(mapping or {})
    problems = [
        f"unknown domain {key!r} in the mapping; valid domains are {sorted(_DOMAIN_BY_KEY)}"
        for key in sorted(set(mapping) - set(_DOMAIN_BY_KEY))
    ]
    found: dict[str, str] = {}
    for domain in DOMAINS:
        if domain.key in mapping:
            column = mapping[domain.key]
            if column in present:
                found[domain.key] = column
            else:
                problems.append(
                    f"the mapping sends {domain.key!r} to column {column!r}, which does not exist"
                )
            continue

        matches = [c for c in present if _match_column(c, domain)]
        if len(matches) == 1:
            found[domain.key] = matches[0]
        elif len(matches) > 1:
            problems.append(
                f"columns {matches} all look like {domain.key!r}; pass "
                f"mapping={{{domain.key!r}: <column>}} to choose one"
            )
    return found, problems


def _looked_for(domain: Domain) -> str:
    topic = domain.topic
    if domain.kind == "risk_of_bias":
        return f"{topic}, {topic}_br, {topic}_rob, rob_{topic}"
    return f"{topic}_ap, {topic}_applicability, applicability_{topic}"


@dataclass(frozen=True)
class QuadasRatings:
    """Parsed QUADAS-2 ratings of every study.

    Attributes
    ----------
    ratings : pandas.DataFrame
        Index ``study_id`` (as in the StudyTable), one column per domain key found, values
        in :data:`RATINGS`.
    columns : dict
        Domain key to the source column it was read from.
    table : StudyTable
        The study data the ratings belong to, in the same row order.
    n_moderate : dict
        Domain key to the number of ``moderate`` ratings as read, before any merging.
    moderate : {"keep", "high", "unclear"}
        What was done with ``moderate`` ratings.
    """

    ratings: pd.DataFrame
    columns: dict[str, str]
    table: StudyTable
    n_moderate: dict[str, int]
    moderate: str

    @property
    def domains(self) -> list[str]:
        """Keys of the domains present, in QUADAS-2 order."""
        return list(self.ratings.columns)

    def summary(self) -> pd.DataFrame:
        """Count the studies per domain and rating.

        Returns
        -------
        pandas.DataFrame
            Index domain key; columns ``low``, ``high``, ``unclear`` (and ``moderate`` when
            any study carries it), the shares ``share_<rating>`` (fractions of the studies),
            ``n_studies``, ``label`` and ``kind``.
        """
        categories = [r for r in RATINGS if r != "moderate" or (self.ratings == r).any().any()]
        rows = []
        for key in self.domains:
            counts = self.ratings[key].value_counts()
            row = {"domain": key, "label": _DOMAIN_BY_KEY[key].label,
                   "kind": _DOMAIN_BY_KEY[key].kind}
            for rating in categories:
                row[rating] = int(counts.get(rating, 0))
            row["n_studies"] = len(self.ratings)
            for rating in categories:
                row[f"share_{rating}"] = row[rating] / row["n_studies"]
            rows.append(row)
        return pd.DataFrame(rows).set_index("domain")

    def low_risk(self, domains: Iterable[str] | None = None) -> np.ndarray:
        """Return a boolean mask of the studies rated ``low`` in every one of ``domains``.

        ``domains`` defaults to the four risk-of-bias domains. ``moderate``, ``high`` and
        ``unclear`` all count as not low.
        """
        keys = resolve_domains(domains, self.domains)
        return (self.ratings[keys] == "low").all(axis=1).to_numpy()

    def high_risk_any(self, domains: Iterable[str] | None = None) -> np.ndarray:
        """Return a boolean mask of the studies rated ``high`` in at least one of ``domains``.

        ``domains`` defaults to the four risk-of-bias domains. ``moderate`` counts as not
        high unless :func:`read_quadas` merged it into ``high``.
        """
        keys = resolve_domains(domains, self.domains)
        return (self.ratings[keys] == "high").any(axis=1).to_numpy()


def resolve_domains(domains: Iterable[str] | str | None, available: Iterable[str]) -> list[str]:
    """Turn domain keys, labels or source column names into domain keys.

    ``None`` means the risk-of-bias domains among ``available``; ``"all"`` means every
    available domain.

    Raises
    ------
    ValueError
        Naming every unknown or unavailable domain and listing the valid ones.
    """
    available = list(available)
    if domains is None:
        keys = [key for key in RISK_OF_BIAS if key in available]
        if not keys:
            raise ValueError(f"no risk-of-bias domain among the rated domains {available}")
        return keys
    if isinstance(domains, str):
        domains = [domains]
    domains = list(domains)
    if domains == ["all"]:
        return available

    by_name = {}
    for domain in DOMAINS:
        for name in (domain.key, domain.label):
            by_name[_normalise_column(name)] = domain.key
    keys, unknown = [], []
    for name in domains:
        key = by_name.get(_normalise_column(name))
        if key is None:
            key = next(
                (d.key for d in DOMAINS if _match_column(str(name), d)), None
            )
        if key is None or key not in available:
            unknown.append(name)
        elif key not in keys:
            keys.append(key)
    if unknown:
        raise ValueError(
            f"unknown or unrated QUADAS-2 domain(s) {unknown}; rated domains are {available}"
        )
    return keys


def read_quadas(
    data,
    mapping: Mapping[str, str] | None = None,
    *,
    moderate: str = "keep",
    require: str = "risk_of_bias",
) -> QuadasRatings:
    """Read the QUADAS-2 ratings of every study from their columns.

    Parameters
    ----------
    data : StudyTable, DataFrame, path or dataset name
        Anything :func:`bayesdta.read_studies` accepts; the ratings are covariate columns.
    mapping : mapping of str to str, optional
        Domain key to column name, for columns whose names are not recognised, for example
        ``{"patient_selection": "D1", "index_test": "D2"}``. Keys are those of
        :data:`DOMAINS`; domains not in the mapping are still looked up by name (for example
        ``SAMPLE_SELECTION_BR``, ``rob_index_test``, ``flow_timing``,
        ``reference_standard_applicability``).
    moderate : {"keep", "high", "unclear"}, default "keep"
        What to do with ``moderate`` ratings, which are not a QUADAS-2 level: keep them as
        their own category (not low and not high), or merge them into ``high`` or
        ``unclear``. Either way a warning gives their number per domain.
    require : {"risk_of_bias", "all"}, default "risk_of_bias"
        Which domains must be present: the four risk-of-bias domains, or all seven.
        Applicability domains that are found are always read.

    Returns
    -------
    QuadasRatings

    Raises
    ------
    StudyDataError
        When required domains are missing (the message lists the column names looked for
        and the columns present), or when any rating is missing or not recognised (every
        such row, study, column and value is listed at once).
    ValueError
        For an invalid ``moderate`` or ``require``.

    Warns
    -----
    BayesDTAWarning
        When ``moderate`` ratings are present, with their count per domain and what was done.

    Examples
    --------
    >>> from bayesdta.quadas import read_quadas
    >>> quality = read_quadas("dick_melanoma_cad", moderate="unclear")
    >>> int(quality.low_risk().sum())
    4
    """
    if moderate not in MODERATE_CHOICES:
        raise ValueError(f"moderate={moderate!r} is not valid; choose one of {MODERATE_CHOICES}")
    if require not in ("risk_of_bias", "all"):
        raise ValueError(f"require={require!r} is not valid; choose 'risk_of_bias' or 'all'")
    table = read_studies(data)
    candidates = list(table.covariates)

    found, problems = find_quadas_columns(candidates, mapping)
    required = RISK_OF_BIAS if require == "risk_of_bias" else tuple(_DOMAIN_BY_KEY)
    missing = [key for key in required if key not in found]
    if missing:
        looked_for = "; ".join(
            f"{key} (names like {_looked_for(_DOMAIN_BY_KEY[key])}, in any case)"
            for key in missing
        )
        present = ["study", "tp", "fp", "fn", "tn", *candidates]
        problems.append(
            f"no column for the QUADAS-2 domain(s): {looked_for}. Columns present: {present}. "
            "Pass mapping={<domain>: <column>} to name them"
        )
    if problems:
        raise StudyDataError([DataProblem(text) for text in problems], table.source)

    ratings, rating_problems = _parse_columns(table, found)
    if rating_problems:
        raise StudyDataError(rating_problems, table.source)

    n_moderate = {key: int((ratings[key] == "moderate").sum()) for key in ratings.columns}
    if any(n_moderate.values()):
        _warn_moderate(n_moderate, moderate)
        if moderate != "keep":
            ratings = ratings.replace("moderate", moderate)
    logger.info("read QUADAS-2 ratings of %d studies from columns %s", len(ratings), found)
    return QuadasRatings(ratings, found, table, n_moderate, moderate)


def _parse_columns(
    table: StudyTable, found: Mapping[str, str]
) -> tuple[pd.DataFrame, list[DataProblem]]:
    frame = table.frame
    problems: list[DataProblem] = []
    parsed = {}
    for key in (d.key for d in DOMAINS if d.key in found):
        column = found[key]
        values = []
        for position, value in enumerate(frame[column]):
            rating = parse_rating(value)
            if rating is None:
                rule = (
                    "QUADAS-2 rating is missing" if pd.isna(value) or not str(value).strip()
                    else "QUADAS-2 rating not recognised; use low, high or unclear "
                    "(or moderate)"
                )
                problems.append(
                    DataProblem(rule, table.rows[position], table.labels[position], column, value)
                )
            values.append(rating)
        parsed[key] = values
    ratings = pd.DataFrame(parsed, index=pd.Index(table.study_ids, name="study_id"))
    return ratings, problems


def _warn_moderate(n_moderate: Mapping[str, int], moderate: str) -> None:
    counts = ", ".join(f"{key} {n}" for key, n in n_moderate.items() if n)
    if moderate == "keep":
        done = (
            "they are kept as a separate category that counts as neither low nor high risk; "
            "pass moderate='high' or moderate='unclear' (--moderate high or --moderate "
            "unclear on the command line) to merge them"
        )
    else:
        done = f"they were merged into {moderate!r}"
    warnings.warn(
        f"{sum(n_moderate.values())} rating(s) are 'moderate', which is not a QUADAS-2 level "
        f"(per domain: {counts}); {done}.",
        BayesDTAWarning,
        stacklevel=3,
    )
