"""Post-test probabilities, PPV and NPV, their plots, and the analyze JSON keys.

Numbers are checked against Bayes' theorem written in its probability form,
``P(D | +) = sens p / (sens p + (1 - spec)(1 - p))`` and
``P(D | -) = (1 - sens) p / ((1 - sens) p + spec (1 - p))``, which the code computes in its
odds form from LR+ and LR-; the two forms are algebraically equal, so the tolerance is
float rounding.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.special import expit, logit

from bayesdta.clinical import (
    ROUND_PREVALENCES,
    default_prevalences,
    parse_prevalences,
    post_test_draws,
    post_test_json,
    post_test_probability,
    post_test_table,
)


def _trace(logit_sens, logit_spec, n_diseased=(10, 20, 30), n_healthy=(90, 60, 30)):
    """A DataTree with only what the post-test functions read: ``mu`` per draw (the draws
    split over two chains) and the study margins."""
    sens = np.asarray(logit_sens, dtype=float).reshape(2, -1)
    spec = np.asarray(logit_spec, dtype=float).reshape(2, -1)
    posterior = xr.Dataset(
        {"mu": (("chain", "draw", "measure"), np.stack([sens, spec], axis=-1))},
        coords={"measure": ["sensitivity", "specificity"]},
    )
    constant = xr.Dataset({"n_diseased": ("study", list(n_diseased)),
                           "n_healthy": ("study", list(n_healthy))})
    return xr.DataTree.from_dict({"posterior": posterior, "constant_data": constant})


def _bayes_positive(sens, spec, p):
    return sens * p / (sens * p + (1 - spec) * (1 - p))


def _bayes_negative(sens, spec, p):
    return (1 - sens) * p / ((1 - sens) * p + spec * (1 - p))


@pytest.mark.parametrize(("sens", "spec"), [(0.8, 0.9), (0.95, 0.6), (0.5, 0.99)])
@pytest.mark.parametrize("pretest", [0.01, 0.1, 0.3, 0.5, 0.9])
def test_closed_form_at_fixed_lrs(sens, spec, pretest):
    lr_positive = sens / (1 - spec)
    lr_negative = (1 - sens) / spec
    assert post_test_probability(pretest, lr_positive) == pytest.approx(
        _bayes_positive(sens, spec, pretest), rel=1e-12)
    assert post_test_probability(pretest, lr_negative) == pytest.approx(
        _bayes_negative(sens, spec, pretest), rel=1e-12)


def test_table_at_fixed_lrs():
    # Every draw has the same logits, so median and both bounds equal the closed form.
    sens, spec = 0.8, 0.9
    trace = _trace(np.full(6, logit(sens)), np.full(6, logit(spec)))
    table = post_test_table(trace, [0.1, 0.3])
    for row in table.to_dict("records"):
        p = row["prevalence"]
        positive = _bayes_positive(sens, spec, p)
        negative = _bayes_negative(sens, spec, p)
        for suffix in ("", "_lower", "_upper"):
            assert row["positive" + suffix] == pytest.approx(positive, rel=1e-10)
            assert row["negative" + suffix] == pytest.approx(negative, rel=1e-10)
            assert row["npv" + suffix] == pytest.approx(1 - negative, rel=1e-10)
    # Spot value: LR+ = 8, pre-test 0.1 gives odds 8/9, probability 8/17.
    assert table.loc[0, "positive"] == pytest.approx(8 / 17, rel=1e-12)


def test_intervals_follow_lr_quantiles():
    # The post-test probability is increasing in the LR, so its quantiles are the
    # transformed quantiles of the LR draws. With an even draw count the median averages
    # two neighbouring draws on different scales, hence the 1e-6 tolerance.
    rng = np.random.default_rng(0)
    logit_sens = rng.normal(1.2, 0.3, 2 * 501)
    logit_spec = rng.normal(1.8, 0.3, 2 * 501)
    trace = _trace(logit_sens, logit_spec)
    draws = post_test_draws(trace, [0.2])
    lr_positive = expit(logit_sens) / (1 - expit(logit_spec))
    median = post_test_probability(0.2, np.median(lr_positive))
    assert float(draws["positive"].median()) == pytest.approx(median, rel=1e-6)

    table = post_test_table(trace, [0.2], prob=0.9)
    row = table.iloc[0]
    assert row["positive_lower"] < row["positive"] < row["positive_upper"]
    assert row["negative_lower"] < row["negative"] < row["negative_upper"]
    assert row["npv_lower"] == pytest.approx(1 - row["negative_upper"])


def test_default_prevalences_start_with_median():
    # Prevalences of the three studies: 0.1, 0.25, 0.5; the median is 0.25.
    trace = _trace(np.zeros(2), np.zeros(2))
    assert default_prevalences(trace) == [0.25, *ROUND_PREVALENCES]
    trace = _trace(np.zeros(2), np.zeros(2), n_diseased=(10, 20), n_healthy=(90, 180))
    assert default_prevalences(trace) == [0.1, 0.05, 0.2, 0.5]


def test_invalid_prevalences_listed():
    trace = _trace(np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match=r"invalid: \[0\.0, 1\.5\]"):
        post_test_table(trace, [0.1, 0.0, 1.5])
    with pytest.raises(ValueError, match=r"invalid: \['abc', '2'\]"):
        parse_prevalences("0.1,abc,2")
    assert parse_prevalences("0.1, 0.3") == [0.1, 0.3]


def test_post_test_json_entries():
    sens, spec = 0.8, 0.9
    trace = _trace(np.full(4, logit(sens)), np.full(4, logit(spec)))
    entries = post_test_json(trace, [0.1, 0.3])
    assert [e["prevalence"] for e in entries] == [0.1, 0.3]
    for entry in entries:
        assert set(entry["positive"]) == {"median", "lower", "upper"}
        expected = _bayes_positive(sens, spec, entry["prevalence"])
        assert entry["positive"]["median"] == pytest.approx(expected)


def test_fagan_lines_end_at_post_test():
    import matplotlib.pyplot as plt

    from bayesdta.plots.clinical import plot_fagan_nomogram

    sens, spec, pretest = 0.8, 0.9, 0.2
    trace = _trace(np.full(4, logit(sens)), np.full(4, logit(spec)))
    ax = plot_fagan_nomogram(trace, pretest)
    # Lines from the pre-test scale (x = -1, height -logit(p)) to the post-test scale
    # (x = 1, height logit(p')); the last two lines drawn are LR+ and LR-.
    positive_line, negative_line = ax.get_lines()[-2:]
    for line, expected in ((positive_line, _bayes_positive(sens, spec, pretest)),
                           (negative_line, _bayes_negative(sens, spec, pretest))):
        x, y = line.get_data()
        assert list(x) == [-1.0, 1.0]
        assert y[0] == pytest.approx(-logit(pretest))
        assert y[1] == pytest.approx(logit(expected))
    with pytest.raises(ValueError, match="pretest"):
        plot_fagan_nomogram(trace, 1.2)
    plt.close("all")


def test_post_test_curve_bands():
    import matplotlib.pyplot as plt

    from bayesdta.plots.clinical import plot_post_test_curve

    rng = np.random.default_rng(1)
    trace = _trace(rng.normal(1.0, 0.2, 400), rng.normal(2.0, 0.2, 400))
    ax = plot_post_test_curve(trace, n_points=51)
    positive, negative, diagonal = ax.get_lines()
    x, y = positive.get_data()
    assert len(x) == 51
    assert np.all(y > x)
    assert np.all(negative.get_data()[1] < x)
    assert len(ax.collections) == 2
    plt.close("all")


def test_review_figures_written(tmp_path):
    from bayesdta import read_studies
    from bayesdta.plots.clinical import REVIEW_FIGURES, write_review_figures

    rng = np.random.default_rng(2)
    trace = _trace(rng.normal(2.5, 0.2, 200), rng.normal(1.3, 0.2, 200))
    written = write_review_figures(read_studies("auditc"), trace, tmp_path, prob=0.9)
    assert [path.name for path in written] == list(REVIEW_FIGURES)
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path.name


@pytest.mark.slow
def test_analyze_json_has_deeks_and_post_test(tmp_path, capsys):
    from bayesdta.cli.main import main
    from bayesdta.deeks import deeks_test

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = main(["analyze", "auditc", "--prevalence", "0.1,0.3", "--json", "--draws",
                       "200", "--tune", "200", "--chains", "2", "--seed", "3", "--no-progress",
                       "--out", str(tmp_path)])
    assert status == 0
    for name in ("deeks_funnel.png", "fagan.png", "post_test.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    output = json.loads(capsys.readouterr().out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = deeks_test("auditc")
    assert output["deeks"]["slope"] == pytest.approx(expected.slope)
    assert output["deeks"]["p_value"] == pytest.approx(expected.p_value)
    assert output["deeks"]["n_corrected_tables"] == 2
    assert [entry["prevalence"] for entry in output["post_test"]] == [0.1, 0.3]
    for entry in output["post_test"]:
        for key in ("positive", "negative"):
            interval = entry[key]
            assert interval["lower"] <= interval["median"] <= interval["upper"]
        assert entry["positive"]["median"] > entry["prevalence"] > entry["negative"]["median"]


def test_analyze_rejects_bad_prevalence(capsys):
    from bayesdta.cli.main import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = main(["analyze", "auditc", "--prevalence", "0.1,1.5", "--json"])
    assert status == 2
    assert "invalid: ['1.5']" in capsys.readouterr().err


def test_post_test_probability_at_extreme_ratios():
    """Bayes' theorem in odds form at its limits: an infinite LR+ makes disease certain and
    a zero LR- rules it out, at any pre-test probability strictly inside (0, 1)."""
    import numpy as np

    from bayesdta.clinical import post_test_probability

    assert post_test_probability(0.5, np.inf) == 1.0
    assert post_test_probability(0.3, 0.0) == 0.0
