"""The report: content from a trace, HTML, Markdown, CSV and figure files, and the CLI."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit

matplotlib.use("Agg")

from bayesdta.cli.main import main  # noqa: E402
from bayesdta.datasets import load_dataset  # noqa: E402
from bayesdta.report import build_report, run_analysis, spec_of_trace, write_report  # noqa: E402
from bayesdta.report.prior_text import prior_table  # noqa: E402
from bayesdta.spec import (  # noqa: E402
    AnalysisSpec,
    DataSpec,
    ModelSpec,
    ReportSpec,
    SamplerSpec,
    write_spec,
)
from bayesdta.summary import summarize  # noqa: E402

# Small test fits miss the ESS threshold by design; the report shows that warning itself.
pytestmark = pytest.mark.filterwarnings("ignore::bayesdta.errors.ConvergenceWarning")

REFERENCE = Path(__file__).parent / "reference" / "reference_glmer.csv"
SECTIONS = (
    "data",
    "model",
    "convergence",
    "results",
    "sroc",
    "forest",
    "prior-sensitivity",
    "diagnostics",
    "reproducibility",
)
TABLES = (
    "studies",
    "priors",
    "convergence",
    "summary",
    "auc",
    "prior_sensitivity",
    "power_scaling",
    "pareto_k",
    "ppc",
)
FIGURES = ("rank_plot", "sroc", "forest", "prior_sensitivity", "deeks_funnel")


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    """One small seeded fit of AUDIT-C (14 studies) and its report files."""
    folder = tmp_path_factory.mktemp("report")
    # The two prior sets share the families of the default set, so their refits reuse the
    # compiled model of the main fit.
    spec = AnalysisSpec(
        title="AUDIT-C test report",
        data=DataSpec(dataset="auditc"),
        sampler=SamplerSpec(draws=300, tune=300, chains=2, seed=20),
        report=ReportSpec(
            diagnostics=True, prior_sensitivity=["weakly-informative", "sceptical-heterogeneity"]
        ),
        base_dir=folder,
    )
    trace = run_analysis(spec)
    report = build_report(trace, spec)
    written = write_report(report, folder / "out", trace)
    return spec, trace, report, written, folder / "out"


def test_report_files_written(analysis):
    _, _, _, written, out = analysis

    assert written["html"] == [out / "report.html"]
    assert written["markdown"] == [out / "report.md"]
    assert written["netcdf"] == [out / "trace.nc"]
    assert {path.stem for path in written["csv"]} == set(TABLES)
    assert {path.stem for path in written["png"]} == set(FIGURES)
    assert {path.stem for path in written["svg"]} == set(FIGURES)
    for paths in written.values():
        for path in paths:
            assert path.stat().st_size > 0


def test_html_has_every_section(analysis):
    html = (analysis[4] / "report.html").read_text(encoding="utf-8")

    for key in SECTIONS:
        assert f'<section id="{key}">' in html
    assert "<title>AUDIT-C test report</title>" in html
    assert "@media print" in html


def test_html_self_contained(analysis):
    html = (analysis[4] / "report.html").read_text(encoding="utf-8")

    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    images = re.findall(r'<img src="([^"]*)"', html)

    assert images
    assert all(source.startswith(("data:", "#")) for source in sources)
    for image in images:
        assert image.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(image.split(",", 1)[1]).decode("utf-8")
        assert "<svg" in svg
        assert not re.search(r'(?:href|src)="https?://', svg)


def test_markdown_links_figures(analysis):
    out = analysis[4]
    markdown = (out / "report.md").read_text(encoding="utf-8")

    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)

    assert links == [f"figures/{name}.png" for name in FIGURES]
    for link in links:
        assert (out / link).is_file()
    for section in analysis[2].sections:
        assert f"## {section.title}" in markdown


def test_study_table_matches_data(analysis):
    """Observed accuracy is tp / (tp + fn) and tn / (tn + fp) of the bundled CSV."""
    studies = pd.read_csv(analysis[4] / "tables" / "studies.csv")
    raw = load_dataset("auditc")

    assert studies["study"].tolist() == raw["study"].tolist()
    np.testing.assert_allclose(studies["sensitivity"], raw["tp"] / (raw["tp"] + raw["fn"]))
    np.testing.assert_allclose(studies["specificity"], raw["tn"] / (raw["tn"] + raw["fp"]))


def test_summary_csv_full_precision(analysis):
    _, trace, _, _, out = analysis
    written = pd.read_csv(out / "tables" / "summary.csv", index_col="quantity")

    expected = summarize(trace, prob=0.95)

    pd.testing.assert_frame_equal(written, expected, check_exact=False, rtol=1e-12)


def test_pooled_near_reference(analysis):
    """Pooled sensitivity and specificity against the lme4 glmer fit of AUDIT-C.

    Tolerance 0.04: with 14 studies the posterior median under weakly informative priors
    may differ from the maximum-likelihood estimate by a few hundredths, and 600 draws add
    Monte Carlo error of about 0.005.
    """
    reference = pd.read_csv(REFERENCE)
    row = reference[(reference["dataset"] == "auditc") & (reference["level"] == "all")].iloc[0]
    summary = pd.read_csv(analysis[4] / "tables" / "summary.csv", index_col="quantity")

    assert summary.loc["sensitivity", "median"] == pytest.approx(row["sens"], abs=0.04)
    assert summary.loc["specificity", "median"] == pytest.approx(row["spec"], abs=0.04)


def test_results_sentence_matches_table(analysis):
    _, trace, report, _, _ = analysis
    results = next(section for section in report.sections if section.key == "results")
    summary = summarize(trace)

    sentence = results.blocks[0].text

    median = summary.loc["sensitivity", "median"]
    lower = summary.loc["sensitivity", "eti_lower"]
    assert f"Pooled sensitivity {median:.3f} (95% CrI {lower:.3f} to" in sentence
    assert "new study" in sentence


def test_reproducibility_block(analysis):
    spec, trace, report, _, _ = analysis
    block = next(section for section in report.sections if section.key == "reproducibility")
    facts = dict(block.blocks[0].items)

    assert facts["Sampler and seed"] == "nutpie, seed 20"
    assert facts["PyMC"] == trace.attrs["pymc_version"]
    assert facts["Specification SHA-256"] == spec.sha256()
    assert len(facts["Data SHA-256"]) == 64
    assert 'dataset = "auditc"' in block.blocks[1].text


def test_prior_table_closed_forms():
    """Central 95% prior intervals against closed forms.

    Normal(0, 2) on a logit: expit(+-1.959964 * 2). Exponential(2): -log(1 - q) / 2.
    Uniform(-0.5, 0.5) on rho: -0.5 + q. GammaPrecision(2, 0.5) on tau: the upper bound u
    satisfies P(precision >= u^-2) = 0.975 for precision ~ Gamma(shape 2, rate 0.5).
    """
    priors = {
        "mu_sens": {"dist": "Normal", "mu": 0.0, "sigma": 2.0},
        "tau_sens": {"dist": "Exponential", "lam": 2.0},
        "tau_spec": {"dist": "GammaPrecision", "alpha": 2.0, "beta": 0.5},
        "rho": {"dist": "Uniform", "lower": -0.5, "upper": 0.5},
    }

    table = prior_table(priors).set_index("parameter")["central 95% prior interval"]

    z = 1.959964
    assert table["mu_sens"] == f"{expit(-2 * z):.3f} to {expit(2 * z):.3f} on the probability scale"
    assert table["tau_sens"] == f"{-np.log(0.975) / 2:.3g} to {-np.log(0.025) / 2:.3g}"
    assert table["rho"] == f"{-0.5 + 0.025:.3g} to {-0.5 + 0.975:.3g}"
    upper = float(table["tau_spec"].split(" to ")[1])
    assert stats.gamma(2.0, scale=2.0).sf(upper**-2) == pytest.approx(0.975, abs=2e-3)


def test_report_from_trace_cli(analysis, tmp_path, capsys, monkeypatch):
    spec, _, _, _, out = analysis

    def no_sampling(*args, **kwargs):
        raise AssertionError("a report rebuilt from a trace started sampling")

    monkeypatch.setattr("nutpie.sample", no_sampling)
    status = main(["report", "--from-trace", str(out / "trace.nc"), "--out", str(tmp_path)])

    assert status == 0
    assert "wrote" in capsys.readouterr().out
    assert not (tmp_path / "trace.nc").exists()
    first = pd.read_csv(out / "tables" / "summary.csv")
    again = pd.read_csv(tmp_path / "tables" / "summary.csv")
    pd.testing.assert_frame_equal(first, again)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<title>AUDIT-C test report</title>" in html
    assert spec.sha256() in html
    assert "rebuilt from a saved trace does not run" in html
    assert not (tmp_path / "tables" / "prior_sensitivity.csv").exists()
    assert (tmp_path / "tables" / "pareto_k.csv").exists()


def test_spec_of_trace_keeps_spec(analysis):
    spec, trace, _, _, _ = analysis

    recovered = spec_of_trace(trace, base_dir=spec.base_dir)

    assert recovered == spec


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("[model]\n", '[model]\ncovariats = ["type"]\n', "unknown key 'model.covariats'"),
        ('dataset = "auditc"', 'path = "missing.csv"', "'missing.csv' not found"),
        (
            'kind = "bivariate"\ncovariates = []',
            'kind = "meta-regression"\ncovariates = ["year"]',
            "'year' is not a column",
        ),
        ('set = "weakly-informative"', 'set = "flat"', "key 'priors.set' is 'flat'"),
    ],
)
def test_cli_rejects_spec_before_sampling(tmp_path, monkeypatch, capsys, old, new, expected):
    def no_sampling(*args, **kwargs):
        raise AssertionError("sampling started for an invalid specification")

    monkeypatch.setattr("bayesdta.sampling.fit", no_sampling)
    spec = AnalysisSpec(data=DataSpec(dataset="auditc"), base_dir=tmp_path)
    path = write_spec(spec, tmp_path / "analysis.toml")
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")

    status = main(["report", str(path)])

    assert status == 2
    assert expected in capsys.readouterr().err


def test_prior_sensitivity_rows(analysis):
    out = analysis[4]
    table = pd.read_csv(out / "tables" / "prior_sensitivity.csv")

    assert set(table["prior_set"]) == {"weakly-informative", "sceptical-heterogeneity"}
    reference = table[table["prior_set"] == "weakly-informative"]
    assert (reference["shift"] == 0).all()


def test_pareto_k_per_study(analysis):
    _, trace, _, _, out = analysis
    table = pd.read_csv(out / "tables" / "pareto_k.csv")

    assert table["study"].tolist() == trace["constant_data"]["study_label"].values.tolist()
    assert table["pareto_k"].notna().all()


@pytest.mark.slow
def test_regression_report_by_level(tmp_path):
    """A meta-regression report has subgroup and contrast tables and one forest plot per level.

    Scheidler et al. (1997): 17 CT, 17 LAG and 10 MRI tables, so the subgroup table must
    count those studies per level.
    """
    spec = AnalysisSpec(
        title="Lymph nodes by modality",
        data=DataSpec(dataset="scheidler_lymph_nodes"),
        model=ModelSpec(kind="meta-regression", covariates=["modality"]),
        sampler=SamplerSpec(draws=300, tune=300, chains=2, seed=97),
        report=ReportSpec(
            diagnostics=True, prior_sensitivity=["weakly-informative", "metabayesdta"]
        ),
        base_dir=tmp_path,
    )
    with pytest.warns(UserWarning, match="appear on several rows"):
        trace = run_analysis(spec)
    report = build_report(trace, spec)
    written = write_report(report, tmp_path / "out", trace, formats=["csv", "png"])

    keys = [section.key for section in report.sections]
    assert "subgroups" in keys
    assert "diagnostics" in keys
    assert "prior-sensitivity" in keys
    sweep = pd.read_csv(tmp_path / "out" / "tables" / "prior_sensitivity.csv")
    assert "sensitivity[modality=MRI]" in set(sweep["quantity"])
    assert {path.stem for path in written["png"]} >= {
        "sroc",
        "forest_CT",
        "forest_LAG",
        "forest_MRI",
    }
    subgroups = pd.read_csv(tmp_path / "out" / "tables" / "subgroups.csv")
    counts = subgroups.groupby("level")["n_studies"].first().to_dict()
    assert counts == {"CT": 17, "LAG": 17, "MRI": 10}
    contrasts = pd.read_csv(tmp_path / "out" / "tables" / "contrasts.csv")
    assert set(contrasts["level"]) == {"LAG", "MRI"}
    assert set(contrasts["reference"]) == {"CT"}

    # Per-level pooled values against the lme4 glmer fit with one shared covariance, the
    # model fitted here. Tolerance 0.06: levels have 10 to 17 studies, where posterior
    # medians under weakly informative priors and ML estimates differ by a few hundredths,
    # and 600 draws add Monte Carlo error of about 0.01.
    reference = pd.read_csv(REFERENCE)
    reference = reference[reference["covariate"] == "modality"].set_index("level")
    medians = subgroups.set_index(["level", "quantity"])["median"]
    for level in ("CT", "LAG", "MRI"):
        assert medians[(level, "sensitivity")] == pytest.approx(
            reference.loc[level, "sens"], abs=0.06
        )
        assert medians[(level, "specificity")] == pytest.approx(
            reference.loc[level, "spec"], abs=0.06
        )
