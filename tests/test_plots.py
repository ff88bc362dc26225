"""The SROC and forest plots, the figure files of ``bayesdta analyze --out`` and its JSON keys.

One seeded fit of five studies is shared by the plot tests; the command-line test fits the
same structure again, which reuses the compiled model.
"""

from __future__ import annotations

import json
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from bayesdta import BayesDTAWarning
from bayesdta.plots import draw_sroc_layers, plot_forest, plot_sroc, write_analysis_figures
from bayesdta.plots.forest import study_intervals
from bayesdta.plots.sroc import FPR_LABEL, SENSITIVITY_LABEL, study_points

STUDIES = pd.DataFrame(
    {
        "study": ["Alpha 2001", "Beta 2004", "Gamma 2010", "Delta 2015", "Epsilon 2019"],
        "tp": [40, 12, 45, 30, 7],
        "fp": [12, 4, 30, 8, 0],
        "fn": [10, 15, 5, 20, 0],
        "tn": [98, 46, 97, 92, 25],
    }
)


@pytest.fixture(scope="module")
def trace():
    import bayesdta

    built = bayesdta.build_bivariate_model(STUDIES, parametrization="noncentered")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesDTAWarning)
        return bayesdta.fit(
            built, draws=1000, tune=500, chains=2, seed=5, target_accept=0.9, progressbar=False
        )


def legend_texts(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_sroc_plot_labels_and_layers(trace):
    ax = plot_sroc(trace)

    assert ax.get_xlabel() == FPR_LABEL
    assert ax.get_ylabel() == SENSITIVITY_LABEL
    assert ax.get_xlim() == (0.0, 1.0)
    assert ax.get_ylim() == (0.0, 1.0)
    texts = legend_texts(ax)
    assert "Rutter-Gatsonis HSROC curve (median)" in texts
    assert "95% credible band of the curve" in texts
    assert "95% credible region (summary point)" in texts
    assert "95% prediction region (new study)" in texts
    assert "Summary point (posterior median)" in texts
    assert "Studies (area proportional to size)" in texts


def test_sroc_plot_uses_given_axes_and_forwards_style(trace):
    _, given = plt.subplots()

    ax = plot_sroc(trace, ax=given, linewidth=3.5, region_method="ellipse", extrapolate=True)

    assert ax is given
    curve = [line for line in ax.get_lines() if line.get_label().endswith("curve (median)")]
    assert len(curve) == 1
    assert curve[0].get_linewidth() == 3.5
    # Extrapolated: the curve spans (0, 1) up to the grid edge.
    x = curve[0].get_xdata()
    assert x.min() < 0.001
    assert x.max() > 0.999
    assert np.isfinite(curve[0].get_ydata()).all()


def test_study_markers_scale_with_size(trace):
    ax = plot_sroc(trace, show_curve=False, show_credible=False, show_prediction=False)

    areas = ax.collections[0].get_sizes()
    sizes = (STUDIES[["tp", "fp", "fn", "tn"]].sum(axis=1)).to_numpy()
    # Proportional to study size (300 points^2 for the largest), none below 6 points^2.
    expected = np.maximum(300.0 * sizes / sizes.max(), 6.0)
    np.testing.assert_allclose(areas, expected)


def test_study_points_from_trace(trace):
    points = study_points(trace)

    np.testing.assert_allclose(
        points["sensitivity"], STUDIES["tp"] / (STUDIES["tp"] + STUDIES["fn"])
    )
    np.testing.assert_allclose(points["fpr"], STUDIES["fp"] / (STUDIES["fp"] + STUDIES["tn"]))
    assert list(points["label"]) == list(STUDIES["study"])


def test_layers_with_label_get_one_legend_entry(trace):
    from bayesdta.regions import sroc_regions
    from bayesdta.sroc import sroc_band, sroc_draws

    credible, prediction = sroc_regions(trace)
    band = sroc_band(sroc_draws(trace))
    _, ax = plt.subplots()

    draw_sroc_layers(
        ax, band=band, credible=credible, prediction=prediction, color="C1", label="CT"
    )
    draw_sroc_layers(ax, band=band, point=(0.1, 0.8), color="C2", label="MRI")

    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["CT", "MRI"]


def test_forest_plot_panels_and_counts(trace):
    figure = plot_forest(trace)

    label_ax, sens_ax, spec_ax = figure.axes
    assert sens_ax.get_xlabel() == "Sensitivity"
    assert spec_ax.get_xlabel() == "Specificity"
    assert sens_ax.get_xlim() == (0.0, 1.0)
    texts = [text.get_text() for text in label_ax.texts]
    for study in STUDIES["study"]:
        assert study in texts
    for header in ("TP", "FP", "FN", "TN"):
        assert header in texts
    assert "98" in texts
    assert "46" in texts
    assert "Pooled (posterior median, 95% CrI)" in texts
    assert "New study (95% prediction interval)" in texts


def test_forest_plot_on_given_figure(trace):
    given = Figure(figsize=(9.0, 4.0))

    figure = plot_forest(trace, fig=given, interval="wilson", prob=0.9)

    assert figure is given
    assert len(figure.axes) == 3
    label_texts = [text.get_text() for text in figure.axes[0].texts]
    assert "Pooled (posterior median, 90% CrI)" in label_texts
    footnotes = [text.get_text() for text in figure.texts]
    assert any("90% Wilson" in note for note in footnotes)


def test_clopper_pearson_interval_closed_forms():
    # Clopper-Pearson with k = 0: upper = 1 - (alpha / 2)^(1 / n); with k = n: lower =
    # (alpha / 2)^(1 / n). Exact expressions, so the tolerance is rounding.
    intervals = study_intervals([0, 10, 3], [10, 10, 0], prob=0.95)

    assert intervals.loc[0, "lower"] == 0.0
    assert intervals.loc[0, "upper"] == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-9)
    assert intervals.loc[1, "lower"] == pytest.approx(0.025 ** (1 / 10), rel=1e-9)
    assert intervals.loc[1, "upper"] == 1.0
    assert intervals.loc[2].isna().all()


def test_wilson_interval_closed_form():
    # Wilson (1927): (p + z^2 / 2n +- z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n).
    k, n, z = 7, 20, 1.959963984540054
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)

    interval = study_intervals([k], [n], prob=0.95, method="wilson").iloc[0]

    assert interval["lower"] == pytest.approx(centre - half, rel=1e-9)
    assert interval["upper"] == pytest.approx(centre + half, rel=1e-9)


def test_unknown_interval_method_raises():
    with pytest.raises(ValueError, match="valid methods: \\['clopper-pearson', 'wilson'\\]"):
        study_intervals([1], [2], method="wald")


def test_figures_written(trace, tmp_path):
    written = write_analysis_figures(trace, tmp_path)

    names = sorted(path.name for path in written)
    assert names == ["forest.png", "forest.svg", "sroc.png", "sroc.svg"]
    for path in written:
        assert path.stat().st_size > 1000, path.name
    assert (tmp_path / "sroc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "forest.svg").read_text()[:500]


def test_analyze_command_writes_figures_and_json(tmp_path, capsys):
    from bayesdta.cli.main import main

    data = tmp_path / "studies.csv"
    STUDIES.to_csv(data, index=False)
    out = tmp_path / "out"
    argv = [
        "analyze",
        str(data),
        "--out",
        str(out),
        "--json",
        "--draws",
        "500",
        "--tune",
        "500",
        "--chains",
        "2",
        "--seed",
        "3",
        "--target-accept",
        "0.9",
        "--parametrization",
        "noncentered",
        "--no-progress",
    ]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesDTAWarning)
        status = main(argv)

    assert status == 0
    result = json.loads(capsys.readouterr().out)
    for name in ("sroc.png", "sroc.svg", "forest.png", "forest.svg"):
        assert (out / name).is_file(), name
    assert set(result["hsroc"]) == {"lambda", "theta", "beta", "sigma_alpha", "sigma_theta"}
    for key in ("auc", "partial_auc"):
        interval = result[key]
        assert 0.0 <= interval["lower"] <= interval["median"] <= interval["upper"] <= 1.0, key
    assert result["partial_auc"]["fpr_range"] == pytest.approx([0.0, 30 / 127])



def test_forest_draws_dollar_labels_as_text(trace):
    """Matplotlib parses text between dollar signs as math and fails on an unknown command
    such as \\notacommand; study labels must be drawn as plain text."""
    import io

    relabelled = trace.copy()
    labels = [r"$\notacommand$", "B $5", "C", "D", "E"]
    for group in ("posterior", "observed_data", "constant_data", "log_likelihood"):
        dataset = relabelled[group].to_dataset()
        relabelled[group] = dataset.assign_coords(study=labels)
    figure = plot_forest(relabelled)
    figure.savefig(io.BytesIO(), format="png")
    texts = [text.get_text() for ax in figure.axes for text in ax.texts]
    assert r"$\notacommand$" in texts
