"""Analysis specifications: validation before sampling, and round trips through TOML."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
import xarray as xr

from bayesdta.datasets import dataset_path
from bayesdta.prior_sets import prior_set_names
from bayesdta.spec import (
    AnalysisSpec,
    DataSpec,
    ModelSpec,
    PriorSpec,
    ReportSpec,
    SamplerSpec,
    SpecError,
    load_spec,
    spec_from_trace,
    spec_to_toml,
    write_spec,
)

# Scheidler's data repeat study labels, which read_studies reports with a warning.
pytestmark = pytest.mark.filterwarnings("ignore:.*appear on several rows:UserWarning")

MODELS = Path(__file__).resolve().parents[1] / "models"

VALID = """
title = "Lymph nodes"

[data]
dataset = "scheidler_lymph_nodes"

[model]
kind = "meta-regression"
covariates = ["modality"]

[sampler]
draws = 200
seed = 1
"""


def write(tmp_path: Path, text: str, name: str = "analysis.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value.problems


def test_valid_spec_loads(tmp_path):
    spec = load_spec(write(tmp_path, VALID))

    assert spec.title == "Lymph nodes"
    assert spec.model.covariates == ["modality"]
    assert spec.sampler.draws == 200
    assert spec.sampler.tune == 1000
    assert spec.data_source() == "scheidler_lymph_nodes"


def test_misspelt_key_lists_valid_keys(tmp_path):
    text = VALID.replace('covariates = ["modality"]', 'covariats = ["modality"]')

    problems = problems_of(write(tmp_path, text))

    misspelt = [p for p in problems if "covariats" in p]
    assert len(misspelt) == 1
    assert "unknown key 'model.covariats'" in misspelt[0]
    assert "did you mean 'covariates'" in misspelt[0]
    for key in ("acts_on", "covariance", "covariance_by", "covariates", "kind"):
        assert key in misspelt[0]


def test_unknown_section_named(tmp_path):
    problems = problems_of(write(tmp_path, VALID + "\n[sampling]\ndraws = 10\n"))

    assert len(problems) == 1
    assert "unknown key 'sampling'" in problems[0]
    assert "did you mean 'sampler'" in problems[0]


def test_missing_data_file_named(tmp_path):
    text = VALID.replace('dataset = "scheidler_lymph_nodes"', 'path = "data/missing.csv"')

    problems = problems_of(write(tmp_path, text))

    assert len(problems) == 1
    assert "data.path" in problems[0]
    assert "'data/missing.csv' not found" in problems[0]
    assert str(tmp_path / "data" / "missing.csv") in problems[0]


def test_data_path_relative_to_spec(tmp_path):
    (tmp_path / "data").mkdir()
    shutil.copy(dataset_path("scheidler_lymph_nodes"), tmp_path / "data" / "nodes.csv")
    text = VALID.replace('dataset = "scheidler_lymph_nodes"', 'path = "data/nodes.csv"')

    with pytest.warns(UserWarning, match="appear on several rows"):
        spec = load_spec(write(tmp_path, text))

    assert Path(spec.data_source()) == (tmp_path / "data" / "nodes.csv").resolve()


def test_unknown_dataset_lists_bundled(tmp_path):
    problems = problems_of(write(tmp_path, VALID.replace("scheidler_lymph_nodes", "scheidler")))

    assert len(problems) == 1
    assert "'scheidler'" in problems[0]
    assert "scheidler_lymph_nodes" in problems[0]
    assert "auditc" in problems[0]


def test_covariate_not_a_column(tmp_path):
    text = VALID.replace('covariates = ["modality"]', 'covariates = ["modality", "year"]')

    with pytest.warns(UserWarning):
        problems = problems_of(write(tmp_path, text))

    assert len(problems) == 1
    assert "'year' is not a column of scheidler_lymph_nodes" in problems[0]
    assert "covariate columns are: modality" in problems[0]


def test_unknown_prior_set_lists_sets(tmp_path):
    problems = problems_of(write(tmp_path, VALID + '\n[priors]\nset = "vague"\n'))

    assert len(problems) == 1
    assert "priors.set" in problems[0]
    assert "'vague'" in problems[0]
    for name in prior_set_names():
        assert name in problems[0]


def test_unknown_sensitivity_set_named(tmp_path):
    text = VALID + '\n[report]\nprior_sensitivity = ["weakly-informative", "flat"]\n'

    problems = problems_of(write(tmp_path, text))

    assert len(problems) == 1
    assert "report.prior_sensitivity" in problems[0]
    assert "'flat'" in problems[0]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('draws = "200"', "key 'sampler.draws' must be an integer, got '200' (str)"),
        ("draws = 0", "key 'sampler.draws' must be a positive integer, got 0"),
        ("draws = 2.5", "key 'sampler.draws' must be an integer, got 2.5 (float)"),
        ('sampler = "stan"', "key 'sampler.sampler' is 'stan'; valid values are: nutpie, pymc"),
        ("target_accept = 1.5", "key 'sampler.target_accept' must lie in (0, 1), got 1.5"),
        ("seed = true", "key 'sampler.seed' must be an integer, got True (bool)"),
    ],
)
def test_wrong_sampler_value_named(tmp_path, line, expected):
    text = VALID.replace("draws = 200\nseed = 1", line)

    problems = problems_of(write(tmp_path, text))

    assert len(problems) == 1
    assert expected in problems[0]


def test_every_problem_in_one_error(tmp_path):
    text = """
[data]
path = "nowhere.csv"

[model]
kind = "regression"
covariats = ["x"]

[priors]
set = "vague"

[sampler]
chains = "4"

[output]
formats = ["html", "pdf"]
"""
    problems = problems_of(write(tmp_path, text))

    joined = "\n".join(problems)
    assert "'nowhere.csv' not found" in joined
    assert (
        "key 'model.kind' is 'regression'; valid values are: bivariate, meta-regression" in joined
    )
    assert "unknown key 'model.covariats'" in joined
    assert "'vague'" in joined
    assert "key 'sampler.chains' must be an integer" in joined
    assert "key 'output.formats' is 'pdf'" in joined
    assert len(problems) == 6


def test_model_rules(tmp_path):
    text = """
[data]
dataset = "scheidler_lymph_nodes"

[model]
kind = "bivariate"
covariates = ["modality"]
covariance = "separate"

[model.acts_on]
modality = "sens"
"""
    problems = problems_of(write(tmp_path, text))

    joined = "\n".join(problems)
    assert "need kind = 'meta-regression'" in joined
    assert "key 'model.acts_on.modality' is 'sens'; valid values are: both, sensitivity" in joined
    assert "model.covariance 'separate' needs 'model.covariance_by'" in joined


def test_invalid_custom_prior_named(tmp_path):
    text = VALID + '\n[priors.custom.tau_sens]\ndist = "Normal"\nsigma = 1.0\n'

    problems = problems_of(write(tmp_path, text))

    assert len(problems) == 1
    assert "tau_sens" in problems[0]
    assert "HalfNormal" in problems[0]


def test_toml_syntax_error(tmp_path):
    problems = problems_of(write(tmp_path, "[data\ndataset = 1\n"))

    assert len(problems) == 1
    assert problems[0].startswith("invalid TOML")


def test_missing_spec_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.toml"):
        load_spec(tmp_path / "nothing.toml")


def full_spec(base_dir: Path) -> AnalysisSpec:
    return AnalysisSpec(
        title='Quotes " and unicode: specificity ≥ 0.9',
        data=DataSpec(path="data/nodes.csv", columns={"study": "study"}, keep_duplicates=False),
        model=ModelSpec(
            kind="meta-regression",
            covariates=["modality"],
            acts_on={"modality": "sensitivity"},
            covariance="separate",
            covariance_by="modality",
            parametrization="noncentered",
        ),
        priors=PriorSpec(
            set="metabayesdta",
            custom={"tau_sens": {"dist": "HalfNormal", "sigma": 0.75}},
        ),
        sampler=SamplerSpec(draws=300, tune=250, chains=2, seed=7, target_accept=0.9),
        report=ReportSpec(prob=0.9, prior_sensitivity=["weakly-informative", "heavy-tailed"]),
        base_dir=base_dir,
    )


def test_write_then_load_round_trips(tmp_path):
    (tmp_path / "data").mkdir()
    shutil.copy(dataset_path("scheidler_lymph_nodes"), tmp_path / "data" / "nodes.csv")
    spec = full_spec(tmp_path)

    path = write_spec(spec, tmp_path / "analysis.toml")
    with pytest.warns(UserWarning, match="appear on several rows"):
        loaded = load_spec(path)

    assert loaded == spec
    assert loaded.sha256() == spec.sha256()
    assert spec_to_toml(loaded) == path.read_text(encoding="utf-8")


def test_write_elsewhere_keeps_paths(tmp_path):
    (tmp_path / "data").mkdir()
    shutil.copy(dataset_path("scheidler_lymph_nodes"), tmp_path / "data" / "nodes.csv")
    spec = full_spec(tmp_path)

    path = write_spec(spec, tmp_path / "nested" / "deeper" / "analysis.toml")
    loaded = load_spec(path, check_data=False)

    assert loaded.data.path == "../../data/nodes.csv"
    assert loaded.data_source() == spec.data_source()
    assert loaded.output_dir() == spec.output_dir()


def test_written_defaults_are_explicit(tmp_path):
    spec = AnalysisSpec(data=DataSpec(dataset="auditc"), base_dir=tmp_path)

    written = tomllib.loads(spec_to_toml(spec))

    assert written["sampler"] == {
        "sampler": "nutpie",
        "draws": 1000,
        "tune": 1000,
        "chains": 4,
        "target_accept": 0.9,
    }
    assert written["priors"] == {"set": "weakly-informative"}


def fake_trace(source: str, priors: dict) -> xr.DataTree:
    """A trace carrying only the attributes that :func:`bayesdta.fit` records."""
    recorded = {
        "kind": "bivariate",
        "parametrization": "centered",
        "priors": priors,
        "options": {},
        "data": {"source": source, "n_studies": 14, "sha256": "0" * 64},
        "sampler": {
            "sampler": "nutpie",
            "draws": 400,
            "tune": 300,
            "chains": 3,
            "seed": 11,
            "target_accept": 0.85,
        },
    }
    trace = xr.DataTree()
    trace.attrs["bayesdta_spec"] = json.dumps(recorded)
    return trace


def test_spec_from_trace_round_trips(tmp_path):
    priors = {"tau_sens": {"dist": "HalfNormal", "sigma": 0.5}, "rho": {"dist": "LKJ", "eta": 3.0}}
    trace = fake_trace("auditc", priors)

    spec = spec_from_trace(trace, title="AUDIT-C", base_dir=tmp_path)
    loaded = load_spec(write_spec(spec, tmp_path / "from_trace.toml"))

    assert loaded == spec
    assert loaded.data.dataset == "auditc"
    assert loaded.model.parametrization == "centered"
    assert loaded.sampler == SamplerSpec("nutpie", 400, 300, 3, 11, 0.85)
    assert loaded.priors_dict()["tau_sens"] == {"dist": "HalfNormal", "sigma": 0.5}


def test_spec_from_dataframe_trace_rejected():
    trace = fake_trace("DataFrame", {})

    with pytest.raises(ValueError, match="save the data to a CSV file"):
        spec_from_trace(trace)


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.toml")), ids=lambda p: p.name)
def test_example_specs_load(path):
    spec = load_spec(path)

    assert spec.title
    assert spec.output_dir().is_relative_to(MODELS.parent)


def test_coefficient_priors_checked(tmp_path):
    text = VALID + (
        '\n[priors.custom.beta_modality]\ndist = "Normal"\nmu = 0.0\nsigma = 1.0\n'
        '\n[priors.custom.beta_year]\ndist = "Normal"\nmu = 0.0\nsigma = 1.0\n'
        '\n[priors.custom.beta]\ndist = "HalfNormal"\nsigma = 1.0\n'
    )

    problems = problems_of(write(tmp_path, text))

    assert len(problems) == 2
    assert "unknown key 'priors.custom.beta_year'" in problems[0]
    assert "beta, beta_modality" in problems[0]
    assert "key 'priors.custom.beta': family 'HalfNormal'" in problems[1]


def test_regression_spec_from_trace(tmp_path):
    trace = fake_trace(
        "scheidler_lymph_nodes", {"beta": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}}
    )
    recorded = json.loads(trace.attrs["bayesdta_spec"])
    recorded["kind"] = "regression"
    recorded["options"] = {
        "covariates": [
            {
                "name": "modality",
                "margin": "sens",
                "kind": "categorical",
                "levels": ["CT", "LAG", "MRI"],
                "reference": "CT",
                "center": None,
            },
        ],
        "separate_covariance": None,
    }
    trace.attrs["bayesdta_spec"] = json.dumps(recorded)

    spec = spec_from_trace(trace, base_dir=tmp_path)
    loaded = load_spec(write_spec(spec, tmp_path / "regression.toml"))

    assert loaded == spec
    assert loaded.model.kind == "meta-regression"
    assert loaded.model.covariates == ["modality"]
    assert loaded.model.acts_on == {"modality": "sensitivity"}
    assert loaded.model.covariance == "shared"


def test_reference_level_checked(tmp_path):
    text = VALID + '\n[model.reference]\nmodality = "PET"\nyear = "2000"\n'

    with pytest.warns(UserWarning, match="appear on several rows"):
        problems = problems_of(write(tmp_path, text))

    assert len(problems) == 2
    assert "key 'model.reference.year' names no covariate" in problems[0]
    assert "key 'model.reference.modality' is 'PET', not a level of modality" in problems[1]
    assert "valid values are: CT, LAG, MRI" in problems[1]
