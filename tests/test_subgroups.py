"""Subgroup results: per-level draws, contrasts, LOO comparison and JSON output."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from scipy.special import expit
from scipy.stats import norm

from bayesdta import BayesDTAWarning, subgroups
from bayesdta.trace import SPEC_ATTR

from .regression_fits import regression_fit

pytestmark = pytest.mark.filterwarnings("ignore::bayesdta.BayesDTAWarning")

LEVELS = ("A", "B", "C")


def _synthetic_trace(mu, beta, tau=(0.5, 0.8), rho=-0.4, levels_per_study=("A", "B", "B", "C")):
    """A regression trace with given draws: mu (chain, draw, 2), beta (chain, draw, 2, 2)
    for the levels B and C of covariate ``group`` (reference A)."""
    chains, draws = mu.shape[:2]
    dims = ("chain", "draw")
    posterior = xr.Dataset(
        {
            "mu": (dims + ("measure",), mu),
            "beta": (dims + ("covariate_level", "measure"), beta),
            "tau": (dims + ("measure",), np.broadcast_to(tau, (chains, draws, 2))),
            "rho": (dims, np.full((chains, draws), rho)),
        },
        coords={
            "chain": np.arange(chains),
            "draw": np.arange(draws),
            "measure": ["sensitivity", "specificity"],
            "covariate_level": ["group[B]", "group[C]"],
        },
    )
    constant = xr.Dataset({"covariate_group": ("study", np.array(levels_per_study))})
    tree = xr.DataTree.from_dict({"posterior": posterior, "constant_data": constant})
    spec = {
        "kind": "regression",
        "options": {
            "covariates": [
                {"name": "group", "margin": "both", "kind": "categorical",
                 "levels": list(LEVELS), "reference": "A", "center": None}
            ],
            "separate_covariance": None,
        },
    }
    tree.attrs[SPEC_ATTR] = json.dumps(spec)
    return tree


def _constant_draws(mu, beta_b, beta_c, shape=(2, 50)):
    mu_draws = np.broadcast_to(np.asarray(mu, dtype=float), (*shape, 2)).copy()
    beta = np.stack([np.broadcast_to(beta_b, (*shape, 2)), np.broadcast_to(beta_c, (*shape, 2))],
                    axis=2).astype(float)
    return mu_draws, beta


def test_level_logits_add_coefficients():
    mu, beta = _constant_draws([0.2, 1.5], [1.0, -0.5], [-0.3, 0.4])
    logits = subgroups.level_logits(_synthetic_trace(mu, beta), "group")
    assert logits.dims == ("chain", "draw", "level", "measure")
    assert list(logits["level"].values) == list(LEVELS)
    np.testing.assert_allclose(logits.sel(level="A")[0, 0], [0.2, 1.5])
    np.testing.assert_allclose(logits.sel(level="B")[0, 0], [1.2, 1.0])
    np.testing.assert_allclose(logits.sel(level="C")[0, 0], [-0.1, 1.9])


def test_contrasts_closed_form():
    """With constant draws every contrast is a closed form of the logits."""
    mu, beta = _constant_draws([0.2, 1.5], [1.0, -0.5], [-0.3, 0.4])
    table = subgroups.contrasts(_synthetic_trace(mu, beta), "group").set_index(["level", "measure"])
    sens_b = table.loc[("B", "sensitivity")]
    assert sens_b["reference"] == "A"
    assert sens_b["median"] == pytest.approx(expit(1.2) - expit(0.2))
    assert sens_b["probability_greater"] == 1.0
    spec_b = table.loc[("B", "specificity")]
    assert spec_b["median"] == pytest.approx(expit(1.0) - expit(1.5))
    assert spec_b["probability_greater"] == 0.0
    # DOR ratio = exp(beta_sens + beta_spec).
    assert table.loc[("C", "dor"), "median"] == pytest.approx(np.exp(0.1))
    assert table.loc[("C", "dor"), "statistic"] == "ratio"


def test_contrast_probability_matches_normal_draws():
    """beta_sens of level B ~ N(0.5, 1) in 20000 draws: P(sens_B > sens_A) = Phi(0.5) = 0.691,
    Monte Carlo SE 0.003, so 0.015 is five SEs."""
    rng = np.random.default_rng(5)
    mu, beta = _constant_draws([0.0, 1.0], [0.0, 0.0], [0.0, 0.0], shape=(2, 10_000))
    beta[:, :, 0, 0] = rng.normal(0.5, 1.0, (2, 10_000))
    table = subgroups.contrasts(_synthetic_trace(mu, beta), "group")
    row = table[(table["level"] == "B") & (table["measure"] == "sensitivity")].iloc[0]
    assert row["probability_greater"] == pytest.approx(norm.cdf(0.5), abs=0.015)


def test_all_pairs_contrasts():
    mu, beta = _constant_draws([0.2, 1.5], [1.0, -0.5], [-0.3, 0.4])
    table = subgroups.contrasts(_synthetic_trace(mu, beta), "group", pairs="all")
    pairs = sorted({(a, b) for a, b in zip(table["level"], table["reference"], strict=True)})
    assert pairs == [("B", "A"), ("C", "A"), ("C", "B")]
    with pytest.raises(ValueError, match="'reference' or 'all'"):
        subgroups.contrasts(_synthetic_trace(mu, beta), "group", pairs="adjacent")


def test_predictive_draws_have_level_covariance():
    """New-study logits of a level: mean mu_level, covariance Sigma (closed form). With 40000
    draws the sample SDs and correlation are within 0.02 of the truth (about 5 SEs)."""
    mu, beta = _constant_draws([0.2, 1.5], [1.0, -0.5], [-0.3, 0.4], shape=(2, 20_000))
    new = subgroups.level_predictive_logits(_synthetic_trace(mu, beta), "group")
    values = new.sel(level="B").values.reshape(-1, 2)
    np.testing.assert_allclose(values.mean(axis=0), [1.2, 1.0], atol=0.02)
    np.testing.assert_allclose(values.std(axis=0), [0.5, 0.8], atol=0.02)
    assert np.corrcoef(values.T)[0, 1] == pytest.approx(-0.4, abs=0.02)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_subgroup_summary_counts_and_rows():
    mu, beta = _constant_draws([0.2, 1.5], [1.0, -0.5], [-0.3, 0.4])
    mu = mu + np.random.default_rng(1).normal(0, 0.1, mu.shape)
    summary = subgroups.subgroup_summary(_synthetic_trace(mu, beta), prob=0.9)
    assert summary.attrs["prob"] == 0.9
    assert summary.loc[("group", "B", "sensitivity"), "n_studies"] == 2
    assert summary.loc[("group", "C", "sensitivity"), "n_studies"] == 1
    assert summary.loc[("group", "A", "sensitivity"), "reference"] == "A"
    expected = {"sensitivity", "specificity", "dor", "tau_sens", "rho", "predictive_sensitivity"}
    assert expected <= set(summary.loc[("group", "A")].index)


def test_unknown_and_continuous_covariates_rejected():
    mu, beta = _constant_draws([0.2, 1.5], [1.0, -0.5], [-0.3, 0.4])
    trace = _synthetic_trace(mu, beta)
    with pytest.raises(ValueError, match=r"covariates fitted: \['group'\]"):
        subgroups.level_logits(trace, "site")

    spec = json.loads(trace.attrs[SPEC_ATTR])
    spec["options"]["covariates"][0].update(kind="continuous", levels=[], reference=None)
    trace.attrs[SPEC_ATTR] = json.dumps(spec)
    with pytest.raises(ValueError, match="is continuous, so it has no levels"):
        subgroups.level_logits(trace, "group")
    assert len(subgroups.subgroup_summary(trace)) == 0
    assert len(subgroups.contrasts(trace)) == 0
    assert subgroups.subgroups_json(trace) == {}


def test_bivariate_trace_rejected():
    tree = xr.DataTree.from_dict({"posterior": xr.Dataset()})
    tree.attrs[SPEC_ATTR] = json.dumps({"kind": "bivariate"})
    with pytest.raises(ValueError, match="build_regression_model"):
        subgroups.regression_specs(tree)


@pytest.mark.slow
def test_internal_test_sets_more_sensitive():
    """Dick et al. 2019: sensitivity 0.82 on internal against 0.51 on external test sets
    (glmer reference 0.86 and 0.52); the posterior probability that internal sensitivity is
    higher must exceed 0.99."""
    _, trace = regression_fit("dick_melanoma_cad", ("test_set_independent",))
    table = subgroups.contrasts(trace, "test_set_independent")
    row = table[table["measure"] == "sensitivity"].iloc[0]
    assert (row["level"], row["reference"]) == ("yes", "no")
    assert 1.0 - row["probability_greater"] > 0.99
    assert row["upper"] < 0


@pytest.mark.slow
def test_json_objects_have_interval_fields():
    _, trace = regression_fit("dick_melanoma_cad", ("test_set_independent",))
    groups = subgroups.subgroups_json(trace)
    level = groups["test_set_independent"]["yes"]
    assert level["n_studies"] == 25
    assert set(level["sensitivity"]) == {"median", "lower", "upper"}
    assert level["sensitivity"]["lower"] < level["sensitivity"]["median"]
    entries = subgroups.contrasts_json(subgroups.contrasts(trace))
    first = entries[0]
    assert {"covariate", "level", "reference", "measure", "probability_greater"} <= set(first)
    assert set(first["difference"]) == {"median", "lower", "upper"}
    json.dumps({"subgroups": groups, "contrasts": entries})


@pytest.mark.slow
def test_loo_prefers_model_with_test_set_covariate(fit_dataset):
    """Dick et al.: external test sets lose 0.3 of sensitivity, so the model with the
    covariate predicts left-out studies better. The comparison must rank it first, by
    more than two standard errors of the difference (measured: 12 with SE 3)."""
    _, with_covariate = regression_fit("dick_melanoma_cad", ("test_set_independent",))
    without = fit_dataset("dick_melanoma_cad")
    table = subgroups.compare_loo({"with": with_covariate, "without": without})
    assert list(table.index) == ["with", "without"]
    assert table.attrs["var_name"] == "table_marginal"
    assert table.loc["without", "elpd_diff"] < -2 * table.loc["without", "dse"]
    # Integrating out the study effects keeps the importance weights stable.
    assert table["n_high_pareto_k"].max() <= 3


@pytest.mark.slow
def test_sroc_by_level_plot_has_level_entries():
    from bayesdta.plots.subgroups import plot_sroc_by_level

    _, trace = regression_fit("dick_melanoma_cad", ("test_set_independent",))
    ax = plot_sroc_by_level(trace, "test_set_independent", linewidth=3.0)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "no (45 tables)" in labels
    assert "yes (25 tables)" in labels
    assert "95% prediction region" in labels
    assert ax.get_legend().get_title().get_text() == "test_set_independent"
    curves = [line for line in ax.get_lines() if line.get_label().endswith("tables)")]
    assert [line.get_linewidth() for line in curves] == [3.0, 3.0]


def test_sroc_by_level_rejects_too_few_colors():
    from bayesdta.plots.subgroups import plot_sroc_by_level

    mu, beta = _constant_draws([0.2, 1.5], [1.0, -0.5], [-0.3, 0.4])
    with pytest.raises(ValueError, match="3 levels need 3 colors"):
        plot_sroc_by_level(_synthetic_trace(mu, beta), "group", colors=["red"])


def test_cli_unknown_covariate_lists_columns(capsys):
    from bayesdta.cli.main import main

    status = main(["analyze", "dick_melanoma_cad", "--covariate", "modality", "--no-progress"])
    error = capsys.readouterr().err
    assert status == 2
    assert "'modality' is not a column" in error
    assert "'cad_method'" in error


def test_cli_reference_needs_covariate(capsys):
    from bayesdta.cli.main import main

    status = main(["analyze", "auditc", "--reference", "modality=CT", "--no-progress"])
    assert status == 2
    assert "need at least one --covariate" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_json_has_subgroups_and_contrasts(capsys):
    from bayesdta.cli.main import main

    # Same model structure as the shared dick_melanoma_cad fit, so nutpie compiles nothing.
    regression_fit("dick_melanoma_cad", ("test_set_independent",))
    argv = ["analyze", "dick_melanoma_cad", "--covariate", "test_set_independent:both",
            "--json", "--draws", "200", "--tune", "200", "--chains", "2", "--seed", "3",
            "--no-progress"]
    status = main(argv)
    output = json.loads(capsys.readouterr().out)
    assert status == 0
    assert output["reference_profile"] == {"test_set_independent": "no"}
    levels = output["subgroups"]["test_set_independent"]
    assert levels["yes"]["n_studies"] == 25
    assert levels["no"]["reference"] is True
    assert set(levels["yes"]["specificity"]) == {"median", "lower", "upper"}
    sensitivity = next(c for c in output["contrasts"] if c["measure"] == "sensitivity")
    assert (sensitivity["level"], sensitivity["reference"]) == ("yes", "no")
    assert sensitivity["difference"]["median"] < 0
    assert sensitivity["probability_greater"] < 0.01


def test_cli_reference_option_sets_level():
    from bayesdta.cli.main import build_parser
    from bayesdta.cli.subgroup_output import covariate_requests

    args = build_parser().parse_args(
        ["analyze", "x.csv", "--covariate", "validation:sens", "--covariate", "modality",
         "--reference", "modality=contrast-enhanced CT"]
    )
    requests = covariate_requests(args)
    assert [(r.name, r.margin, r.reference) for r in requests] == [
        ("validation", "sens", None),
        ("modality", "both", "contrast-enhanced CT"),
    ]
    args.reference = ["modality"]
    with pytest.raises(ValueError, match="write NAME=LEVEL"):
        covariate_requests(args)


@pytest.mark.slow
def test_loo_without_refits_reduced_model():
    built, trace = regression_fit("dick_melanoma_cad", ("test_set_independent",))
    table = subgroups.loo_without(
        trace, "test_set_independent", built.table, draws=300, tune=300, chains=2, seed=4,
        progressbar=False,
    )
    assert list(table.index) == ["with test_set_independent", "without test_set_independent"]
    with pytest.raises(ValueError, match="covariates fitted"):
        subgroups.loo_without(trace, "cad_method", built.table)


def _loo_tree(seed, studies=("s1", "s2", "s3", "s4", "s5", "s6")):
    rng = np.random.default_rng(seed)
    shape = (2, 200, len(studies))
    table = xr.DataArray(
        rng.normal(-3.0, 0.2, shape),
        dims=("chain", "draw", "study"),
        coords={"study": list(studies)},
    )
    posterior = xr.Dataset({"mu": (("chain", "draw"), rng.normal(size=shape[:2]))})
    return xr.DataTree.from_dict(
        {"posterior": posterior, "log_likelihood": xr.Dataset({"table": table})}
    )


def test_compare_loo_warns_on_conditional_likelihood():
    with pytest.warns(BayesDTAWarning, match="conditional on each study"):
        table = subgroups.compare_loo({"a": _loo_tree(1), "b": _loo_tree(2)})
    assert table.attrs["var_name"] == "table"
    assert set(table.index) == {"a", "b"}


def test_compare_loo_rejects_different_tables():
    other = _loo_tree(2, studies=("s1", "s2", "s3", "s4", "s5", "s7"))
    with pytest.raises(ValueError, match="same tables"):
        subgroups.compare_loo({"a": _loo_tree(1), "b": other}, var_name="table")


def test_contrast_skips_margin_without_effect():
    """A covariate acting on sensitivity only leaves specificity equal in every draw; that
    margin gets no contrast row, while the sensitivity difference and DOR ratio remain."""
    rng = np.random.default_rng(0)
    reference = xr.DataArray(rng.normal(1.0, 0.1, (2, 50, 2)), dims=("chain", "draw", "measure"),
                             coords={"measure": ["sensitivity", "specificity"]})
    level = reference.copy()
    level.loc[{"measure": "sensitivity"}] = level.sel(measure="sensitivity") - 0.5
    rows = subgroups._contrast_rows("grp", "b", "a", level, reference, 0.95)
    assert [row["measure"] for row in rows] == ["sensitivity", "dor"]
    assert rows[0]["upper"] < 0
