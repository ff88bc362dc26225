"""Analysis specifications: one TOML file that defines what to analyse and how.

A specification names the data (a file relative to the specification, or a bundled
dataset), the model (bivariate, or meta-regression with covariates), the priors (a named
prior set, with optional custom priors over it), the sampler settings and seed, the report
sections and the outputs. :func:`load_spec` checks everything that can be checked before
sampling (unknown keys, types, allowed values, the data file, covariate columns and prior
set names) and raises one :class:`SpecError` that lists every problem.

Example file::

    title = "Computer-aided diagnosis of melanoma"

    [data]
    dataset = "dick_melanoma_cad"

    [model]
    kind = "meta-regression"
    covariates = ["test_set_independent"]

    [priors]
    set = "weakly-informative"

    [sampler]
    draws = 1000
    seed = 2019
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .sampler_defaults import TARGET_ACCEPT, TUNE

__all__ = [
    "AnalysisSpec",
    "DataSpec",
    "ModelSpec",
    "PriorSpec",
    "SamplerSpec",
    "ReportSpec",
    "OutputSpec",
    "SpecError",
    "load_spec",
    "parse_spec",
    "write_spec",
    "spec_to_toml",
    "spec_from_trace",
    "OUTPUT_FORMATS",
]

logger = logging.getLogger(__name__)

MODEL_KINDS = ("bivariate", "meta-regression")
ACTS_ON = ("both", "sensitivity", "specificity")
COVARIANCE = ("shared", "separate")
PARAMETRIZATIONS = ("auto", "centered", "noncentered")
SAMPLERS = ("nutpie", "pymc", "numpyro")
OUTPUT_FORMATS = ("html", "markdown", "csv", "png", "svg", "netcdf")


class SpecError(ValueError):
    """An invalid analysis specification; ``problems`` lists every problem found in one pass."""

    def __init__(self, problems: list[str], source: str = "specification"):
        self.problems = list(problems)
        self.source = source
        lines = [f"{len(self.problems)} problem(s) in {source}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        lines.append("Fix the specification and run again; nothing was fitted.")
        super().__init__("\n".join(lines))


@dataclass
class DataSpec:
    """Where the 2x2 tables come from.

    Exactly one of ``path`` (a CSV or Excel file, relative to the specification file) and
    ``dataset`` (a bundled dataset name) is set. ``columns`` maps ``study``, ``tp``, ``fp``,
    ``fn``, ``tn`` to column names when the names are not recognised automatically.
    """

    path: str | None = None
    dataset: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    keep_duplicates: bool = False


@dataclass
class ModelSpec:
    """The model: bivariate, or meta-regression on study-level covariates.

    ``acts_on`` maps a covariate to ``"both"``, ``"sensitivity"`` or ``"specificity"``
    (``"both"`` when not given). ``reference`` maps a categorical covariate to its reference
    level (by default the first level in sorted order). ``covariance = "separate"`` gives
    each level of ``covariance_by`` its own between-study covariance.
    """

    kind: str = "bivariate"
    covariates: list[str] = field(default_factory=list)
    acts_on: dict[str, str] = field(default_factory=dict)
    reference: dict[str, str] = field(default_factory=dict)
    covariance: str = "shared"
    covariance_by: str | None = None
    parametrization: str = "auto"


@dataclass
class PriorSpec:
    """A named prior set (see :mod:`bayesdta.prior_sets`), and custom priors by parameter
    that replace members of the set.

    ``custom`` maps a parameter (``mu_sens``, ``tau_spec``, ...) to a dictionary such as
    ``{"dist": "HalfNormal", "sigma": 1.0}``.
    """

    set: str = "weakly-informative"
    custom: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class SamplerSpec:
    """Arguments of :func:`bayesdta.fit`."""

    sampler: str = "nutpie"
    draws: int = 1000
    tune: int = TUNE
    chains: int = 4
    seed: int | None = None
    target_accept: float = TARGET_ACCEPT


@dataclass
class ReportSpec:
    """Report sections and the interval probability.

    ``prior_sensitivity`` lists prior set names to refit with; an empty list leaves the
    prior sensitivity section out. ``subgroups`` applies to meta-regression only.
    """

    prob: float = 0.95
    sroc: bool = True
    forest: bool = True
    subgroups: bool = True
    diagnostics: bool = False
    prior_sensitivity: list[str] = field(default_factory=list)


@dataclass
class OutputSpec:
    """Output folder (relative to the specification file) and the formats to write."""

    dir: str = "report"
    formats: list[str] = field(default_factory=lambda: list(OUTPUT_FORMATS))


@dataclass(eq=False)
class AnalysisSpec:
    """A whole analysis. ``base_dir`` is the folder relative paths are resolved against.

    Two specifications are equal when every setting is equal and their data file and output
    folder resolve to the same paths, so a spec written to another folder equals the original.
    """

    title: str = "Diagnostic test accuracy meta-analysis"
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    priors: PriorSpec = field(default_factory=PriorSpec)
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    report: ReportSpec = field(default_factory=ReportSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    base_dir: Path = field(default_factory=Path.cwd, compare=False, repr=False)

    def data_source(self) -> str:
        """Return the data argument for :func:`bayesdta.read_studies`: a path or a dataset name."""
        if self.data.path is not None:
            return str((self.base_dir / self.data.path).resolve())
        return str(self.data.dataset)

    def output_dir(self) -> Path:
        """Return the output folder, resolved against ``base_dir``."""
        return (self.base_dir / self.output.dir).resolve()

    def priors_dict(self) -> dict[str, Any]:
        """Return the priors to build the model with: the named set, then the custom priors."""
        from .prior_sets import get_prior_set

        merged = dict(get_prior_set(self.priors.set).priors)
        merged.update({name: dict(value) for name, value in self.priors.custom.items()})
        return merged

    def to_dict(self) -> dict[str, Any]:
        """Return the specification as plain TOML-able values (``None`` values left out)."""
        return _drop_none(
            {
                name: dataclasses.asdict(getattr(self, name))
                if dataclasses.is_dataclass(getattr(self, name))
                else getattr(self, name)
                for name in _SECTIONS
            }
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AnalysisSpec):
            return NotImplemented
        return self._resolved() == other._resolved()

    def _resolved(self) -> dict[str, Any]:
        values = self.to_dict()
        if self.data.path is not None:
            values["data"]["path"] = self.data_source()
        values["output"]["dir"] = str(self.output_dir())
        return values

    def sha256(self) -> str:
        """Return the SHA-256 of the canonical TOML text, for the reproducibility block."""
        return hashlib.sha256(spec_to_toml(self).encode("utf-8")).hexdigest()


# Order of the top-level keys in a written file.
_SECTIONS = ("title", "data", "model", "priors", "sampler", "report", "output")
_SECTION_CLASSES = {
    "data": DataSpec,
    "model": ModelSpec,
    "priors": PriorSpec,
    "sampler": SamplerSpec,
    "report": ReportSpec,
    "output": OutputSpec,
}


def _drop_none(value):
    if isinstance(value, dict):
        return {key: _drop_none(item) for key, item in value.items() if item is not None}
    return value


# ---------------------------------------------------------------------------------------------
# Reading and checking


def load_spec(path: str | Path, *, check_data: bool = True) -> AnalysisSpec:
    """Read and check an analysis specification from a TOML file.

    Parameters
    ----------
    path : str or path
        The ``.toml`` file. Relative data and output paths are resolved against its folder.
    check_data : bool, default True
        Also check that the data file exists, read the data (every rule of
        :func:`bayesdta.read_studies`) and check that the covariates are columns of it.

    Returns
    -------
    AnalysisSpec

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    SpecError
        Listing every problem: TOML syntax, unknown keys (with the valid keys), wrong types
        and values, a missing data file, covariates that are not columns, unknown prior sets.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"analysis specification {str(path)!r} not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise SpecError([f"invalid TOML: {error}"], str(path)) from None
    return parse_spec(raw, base_dir=path.parent, source=str(path), check_data=check_data)


def parse_spec(
    raw: Mapping[str, Any],
    base_dir: str | Path | None = None,
    *,
    source: str = "specification",
    check_data: bool = True,
) -> AnalysisSpec:
    """Build and check an :class:`AnalysisSpec` from a parsed TOML mapping.

    See :func:`load_spec` for the checks; ``base_dir`` (default: the working folder) is the
    folder relative paths are resolved against.
    """
    problems: list[str] = []
    problems += _unknown_keys(raw, _SECTIONS, "")
    values: dict[str, Any] = {}

    title = raw.get("title", AnalysisSpec.title)
    if not isinstance(title, str):
        problems.append(f"key 'title' must be a string, got {title!r} ({type(title).__name__})")
    else:
        values["title"] = title

    for section, cls in _SECTION_CLASSES.items():
        table = raw.get(section, {})
        if not isinstance(table, Mapping):
            problems.append(f"key {section!r} must be a table ([{section}]), got {table!r}")
            continue
        problems += _unknown_keys(table, [f.name for f in dataclasses.fields(cls)], section)
        section_values, section_problems = _read_section(table, cls, section)
        problems += section_problems
        values[section] = cls(**section_values)

    # Keys with a wrong type keep their defaults here, so that the value checks below still
    # run on everything else and one error lists all problems.
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    spec = AnalysisSpec(**values, base_dir=base.resolve())
    data_problems = _check_data_source(spec, check_file=check_data)
    problems += data_problems + _check_values(spec)
    if check_data and not data_problems and not any(p.startswith("key 'data.") for p in problems):
        problems += _check_data(spec)
    if problems:
        raise SpecError(problems, source)
    logger.info("read analysis specification %s", source)
    return spec


def _unknown_keys(table: Mapping[str, Any], valid, section: str) -> list[str]:
    problems = []
    for key in table:
        if key in valid:
            continue
        where = f"{section}.{key}" if section else key
        scope = f"[{section}]" if section else "the top level"
        close = difflib.get_close_matches(key, list(valid), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(
            f"unknown key {where!r}{hint}; valid keys in {scope} are: {', '.join(sorted(valid))}"
        )
    return problems


# Expected type of each key, for messages and checks.
_TYPES: dict[str, str] = {
    "data.path": "string",
    "data.dataset": "string",
    "data.columns": "table of strings",
    "data.keep_duplicates": "boolean",
    "model.kind": "string",
    "model.covariates": "list of strings",
    "model.acts_on": "table of strings",
    "model.reference": "table of strings",
    "model.covariance": "string",
    "model.covariance_by": "string",
    "model.parametrization": "string",
    "priors.set": "string",
    "priors.custom": "table of tables",
    "sampler.sampler": "string",
    "sampler.draws": "integer",
    "sampler.tune": "integer",
    "sampler.chains": "integer",
    "sampler.seed": "integer",
    "sampler.target_accept": "number",
    "report.prob": "number",
    "report.sroc": "boolean",
    "report.forest": "boolean",
    "report.subgroups": "boolean",
    "report.diagnostics": "boolean",
    "report.prior_sensitivity": "list of strings",
    "output.dir": "string",
    "output.formats": "list of strings",
}


def _has_type(value: Any, expected: str) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "list of strings":
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if expected == "table of strings":
        return isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values())
    if expected == "table of tables":
        return isinstance(value, Mapping) and all(isinstance(v, Mapping) for v in value.values())
    raise AssertionError(expected)


def _read_section(table: Mapping[str, Any], cls, section: str) -> tuple[dict, list[str]]:
    values, problems = {}, []
    for spec_field in dataclasses.fields(cls):
        if spec_field.name not in table:
            continue
        value = table[spec_field.name]
        key = f"{section}.{spec_field.name}"
        expected = _TYPES[key]
        if not _has_type(value, expected):
            article = "an" if expected[0] in "aeiou" else "a"
            problems.append(
                f"key {key!r} must be {article} {expected}, got {value!r} ({type(value).__name__})"
            )
            continue
        if expected == "number":
            value = float(value)
        elif isinstance(value, Mapping):
            value = {k: dict(v) if isinstance(v, Mapping) else v for k, v in value.items()}
        elif isinstance(value, list):
            value = list(value)
        values[spec_field.name] = value
    return values, problems


def _choice(key: str, value: Any, choices) -> list[str]:
    if value in choices:
        return []
    return [f"key {key!r} is {value!r}; valid values are: {', '.join(map(str, choices))}"]


def _check_values(spec: AnalysisSpec) -> list[str]:
    problems = _check_model(spec.model)
    problems += _check_priors(spec)
    problems += _check_sampler(spec.sampler)
    problems += _check_report(spec.report)
    for name in spec.output.formats:
        problems += _choice("output.formats", name, OUTPUT_FORMATS)
    return problems


def _check_data_source(spec: AnalysisSpec, check_file: bool = True) -> list[str]:
    from .columns import COUNT_COLUMNS
    from .datasets import list_datasets

    data = spec.data
    problems = []
    if (data.path is None) == (data.dataset is None):
        problems.append(
            "[data] needs exactly one of 'path' (a CSV or Excel file, relative to the "
            "specification) and 'dataset' (a bundled dataset: "
            f"{', '.join(list_datasets())})"
        )
    elif data.dataset is not None and data.dataset not in list_datasets():
        problems.append(
            f"key 'data.dataset' is {data.dataset!r}, not a bundled dataset; valid values "
            f"are: {', '.join(list_datasets())}"
        )
    elif check_file and data.path is not None and not (spec.base_dir / data.path).is_file():
        problems.append(
            f"key 'data.path': data file {data.path!r} not found (looked for "
            f"{str((spec.base_dir / data.path).resolve())!r}; relative paths start at the "
            "folder of the specification)"
        )
    valid_cells = ("study", *COUNT_COLUMNS)
    for cell in data.columns:
        if cell not in valid_cells:
            problems.append(
                f"unknown key 'data.columns.{cell}'; valid keys in [data.columns] are: "
                f"{', '.join(valid_cells)}"
            )
    return problems


def _check_model(model: ModelSpec) -> list[str]:
    problems = _choice("model.kind", model.kind, MODEL_KINDS)
    problems += _choice("model.covariance", model.covariance, COVARIANCE)
    problems += _choice("model.parametrization", model.parametrization, PARAMETRIZATIONS)
    if model.kind == "meta-regression" and not model.covariates:
        problems.append(
            "model.kind 'meta-regression' needs at least one name in 'model.covariates'"
        )
    if model.kind == "bivariate" and model.covariates:
        problems.append(
            f"model.covariates {model.covariates} need kind = 'meta-regression'; the "
            "bivariate model takes no covariates"
        )
    repeated = sorted({name for name in model.covariates if model.covariates.count(name) > 1})
    if repeated:
        problems.append(f"model.covariates repeats {repeated}")
    for name, target in model.acts_on.items():
        if name not in model.covariates:
            problems.append(
                f"key 'model.acts_on.{name}' names no covariate; covariates are: "
                f"{', '.join(model.covariates) or '(none)'}"
            )
        problems += _choice(f"model.acts_on.{name}", target, ACTS_ON)
    for name in model.reference:
        if name not in model.covariates:
            problems.append(
                f"key 'model.reference.{name}' names no covariate; covariates are: "
                f"{', '.join(model.covariates) or '(none)'}"
            )
    if model.covariance == "separate" and model.covariance_by is None:
        problems.append("model.covariance 'separate' needs 'model.covariance_by', a covariate name")
    if model.covariance_by is not None and model.covariance_by not in model.covariates:
        problems.append(
            f"key 'model.covariance_by' is {model.covariance_by!r}; it must be one of "
            f"model.covariates: {', '.join(model.covariates) or '(none)'}"
        )
    return problems


def _check_priors(spec: AnalysisSpec) -> list[str]:
    from .prior_sets import prior_set_names
    from .priors import resolve_priors

    names = prior_set_names()
    problems = _choice("priors.set", spec.priors.set, names)
    for name in spec.report.prior_sensitivity:
        problems += _choice("report.prior_sensitivity", name, names)
    coefficient_priors = {
        name: value for name, value in spec.priors.custom.items() if name.startswith("beta")
    }
    other_priors = {
        name: value for name, value in spec.priors.custom.items() if name not in coefficient_priors
    }
    problems += _check_coefficient_priors(spec.model, coefficient_priors)
    if other_priors:
        try:
            resolve_priors(other_priors)
        except (ValueError, TypeError) as error:
            problems.append(f"[priors.custom]: {error}")
    return problems


#: Families a meta-regression coefficient prior may use.
COEFFICIENT_FAMILIES = ("Normal", "StudentT")


def _check_coefficient_priors(model: ModelSpec, priors: Mapping[str, Mapping]) -> list[str]:
    """Check the names and families of ``beta`` and ``beta_<covariate>`` priors.

    NOTE: hyperparameter values of coefficient priors are checked by the regression builder,
    when the model is built, not here.
    """
    problems = []
    valid = ["beta"] + [f"beta_{name}" for name in model.covariates]
    for name, prior in priors.items():
        if model.kind != "meta-regression" or name not in valid:
            problems.append(
                f"unknown key 'priors.custom.{name}'; coefficient priors are valid for "
                f"kind = 'meta-regression' only, as: {', '.join(valid)}"
            )
        elif prior.get("dist") not in COEFFICIENT_FAMILIES:
            problems.append(
                f"key 'priors.custom.{name}': family {prior.get('dist')!r} is not available "
                f"for a coefficient; valid families are: {', '.join(COEFFICIENT_FAMILIES)}"
            )
    return problems


def _check_sampler(sampler: SamplerSpec) -> list[str]:
    problems = _choice("sampler.sampler", sampler.sampler, SAMPLERS)
    for key in ("draws", "tune", "chains"):
        value = getattr(sampler, key)
        if value < 1:
            problems.append(f"key 'sampler.{key}' must be a positive integer, got {value}")
    if sampler.seed is not None and sampler.seed < 0:
        problems.append(f"key 'sampler.seed' must be a non-negative integer, got {sampler.seed}")
    if not 0 < sampler.target_accept < 1:
        problems.append(
            f"key 'sampler.target_accept' must lie in (0, 1), got {sampler.target_accept}"
        )
    return problems


def _check_report(report: ReportSpec) -> list[str]:
    if not 0 < report.prob < 1:
        return [f"key 'report.prob' must lie in (0, 1), got {report.prob}"]
    return []


def _check_data(spec: AnalysisSpec) -> list[str]:
    from .covariates import level_values
    from .studytable import read_studies

    table = read_studies(
        spec.data_source(), spec.data.columns or None, keep_duplicates=spec.data.keep_duplicates
    )
    missing = [name for name in spec.model.covariates if name not in table.covariates]
    source = spec.data.path or spec.data.dataset
    problems = [
        f"key 'model.covariates': {name!r} is not a column of {source}; "
        f"covariate columns are: {', '.join(table.covariates) or '(none)'}"
        for name in missing
    ]
    for name, level in spec.model.reference.items():
        if name not in table.covariates:
            continue
        levels = sorted(set(level_values(table.frame[name].dropna())))
        if level not in levels:
            problems.append(
                f"key 'model.reference.{name}' is {level!r}, not a level of {name}; "
                f"valid values are: {', '.join(levels)}"
            )
    return problems


# ---------------------------------------------------------------------------------------------
# Writing


def spec_to_toml(spec: AnalysisSpec, base_dir: str | Path | None = None) -> str:
    """Return the specification as TOML text.

    Parameters
    ----------
    spec : AnalysisSpec
    base_dir : str or path, optional
        Folder the text will be saved in; the data path and output folder are rewritten
        relative to it so that they point at the same files. Default: ``spec.base_dir``.
    """
    values = spec.to_dict()
    if base_dir is not None:
        values = _relocate(values, spec, Path(base_dir))
    lines = [f"title = {_toml_value(values['title'])}"]
    for section in _SECTIONS[1:]:
        lines += _toml_table(section, values[section])
    return "\n".join(lines) + "\n"


def write_spec(spec: AnalysisSpec, path: str | Path) -> Path:
    """Write a specification to a TOML file that :func:`load_spec` reads back to an equal spec.

    Relative paths are rewritten against the folder of ``path``. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec_to_toml(spec, base_dir=path.parent), encoding="utf-8")
    logger.info("wrote analysis specification %s", path)
    return path


def _relocate(values: dict, spec: AnalysisSpec, new_base: Path) -> dict:
    values = json.loads(json.dumps(values))
    new_base = new_base.resolve()
    if spec.data.path is not None:
        values["data"]["path"] = _relative(spec.base_dir / spec.data.path, new_base)
    values["output"]["dir"] = _relative(spec.base_dir / spec.output.dir, new_base)
    return values


def _relative(target: Path, base: Path) -> str:
    return Path(os.path.relpath(target.resolve(), base)).as_posix()


def _toml_table(name: str, values: Mapping[str, Any]) -> list[str]:
    lines = ["", f"[{name}]"]
    nested = []
    for key, value in values.items():
        if isinstance(value, Mapping):
            nested.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in nested:
        if not value:
            continue
        if all(isinstance(item, Mapping) for item in value.values()):
            for inner_key, inner in value.items():
                lines += ["", f"[{name}.{_toml_key(key)}.{_toml_key(inner_key)}]"]
                lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in inner.items()]
        else:
            lines += ["", f"[{name}.{_toml_key(key)}]"]
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()]
    return lines


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def _toml_value(value: Any) -> str:
    # JSON's string escapes (\" \\ \n \uXXXX ...) are all valid in TOML basic strings.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write the non-finite number {value} to a specification")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) to a specification")


# ---------------------------------------------------------------------------------------------
# From a fitted analysis


def spec_from_trace(
    trace, *, title: str | None = None, base_dir: str | Path | None = None
) -> AnalysisSpec:
    """Return the specification of the analysis that produced a trace.

    The priors are written out as custom priors, so the specification reproduces the fit
    even where they differ from the named set.

    Raises
    ------
    ValueError
        If the data came from an in-memory DataFrame, which a specification cannot name;
        save it to CSV and read that file instead.
    """
    from .trace import read_spec

    recorded = read_spec(trace)
    base = Path(base_dir).resolve() if base_dir is not None else Path.cwd().resolve()
    source = recorded["data"]["source"]
    data = _data_spec_from_source(source, base)
    model = _model_spec_from_record(recorded)
    settings = recorded["sampler"]
    sampler = SamplerSpec(**{f.name: settings[f.name] for f in dataclasses.fields(SamplerSpec)})
    return AnalysisSpec(
        title=title or AnalysisSpec.title,
        data=data,
        model=model,
        priors=PriorSpec(custom={name: dict(value) for name, value in recorded["priors"].items()}),
        sampler=sampler,
        base_dir=base,
    )


_MARGIN_NAMES = {"both": "both", "sens": "sensitivity", "spec": "specificity"}


def _model_spec_from_record(recorded: dict) -> ModelSpec:
    """Return the model part of a specification from the record that a trace stores."""
    if recorded["kind"] == "bivariate":
        return ModelSpec(kind="bivariate", parametrization=recorded["parametrization"])
    if recorded["kind"] != "regression":
        raise ValueError(
            f"a specification cannot describe a {recorded['kind']!r} model; it supports "
            f"{', '.join(MODEL_KINDS)}"
        )
    options = recorded.get("options", {})
    covariates = options.get("covariates", [])
    grouping = options.get("separate_covariance")
    return ModelSpec(
        kind="meta-regression",
        covariates=[covariate["name"] for covariate in covariates],
        acts_on={
            covariate["name"]: _MARGIN_NAMES[covariate["margin"]]
            for covariate in covariates
            if covariate["margin"] != "both"
        },
        reference={
            covariate["name"]: covariate["reference"]
            for covariate in covariates
            if covariate.get("reference") is not None
        },
        covariance="separate" if grouping else "shared",
        covariance_by=grouping,
        parametrization=recorded["parametrization"],
    )


def _data_spec_from_source(source: str, base: Path) -> DataSpec:
    from .datasets import list_datasets

    if source in list_datasets() and not Path(source).exists():
        return DataSpec(dataset=source)
    if source == "DataFrame" or not Path(source).exists():
        raise ValueError(
            f"the trace's data came from {source!r}, which a specification cannot name; "
            "save the data to a CSV file, read it with bayesdta.read_studies(path) and fit again"
        )
    return DataSpec(path=_relative(Path(source), base))
