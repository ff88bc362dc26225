"""Post-test probabilities, PPV and NPV at given pre-test probabilities, from the posterior.

By Bayes' theorem on the odds scale, the post-test odds are the pre-test odds times the
likelihood ratio of the result (Fagan, N Engl J Med 1975;293:257):
``odds_post = LR * p / (1 - p)``. So ``P(disease | positive) = LR+ p / (LR+ p + 1 - p)`` is
the PPV at prevalence p, and ``P(disease | negative) = LR- p / (LR- p + 1 - p)`` is 1 - NPV.
Computed per posterior draw of LR+ and LR-, these give credible intervals of each
probability.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from .derived import accuracy_measures

__all__ = [
    "ROUND_PREVALENCES",
    "post_test_probability",
    "default_prevalences",
    "likelihood_ratio_draws",
    "post_test_draws",
    "post_test_table",
    "check_prevalences",
    "parse_prevalences",
    "post_test_json",
    "format_post_test",
]

logger = logging.getLogger(__name__)

#: Round pre-test probabilities reported besides the median prevalence of the studies.
ROUND_PREVALENCES = (0.05, 0.1, 0.2, 0.5)


def post_test_probability(pretest, likelihood_ratio):
    """Return ``LR p / (LR p + 1 - p)``, the probability of disease after a test result.

    Works element-wise with NumPy broadcasting on arrays or DataArrays.

    Parameters
    ----------
    pretest : float or array
        Pre-test probability p, in (0, 1).
    likelihood_ratio : float or array
        LR+ for a positive result, LR- for a negative one; positive.

    Examples
    --------
    >>> round(post_test_probability(0.2, 4.0), 4)
    0.5
    """
    # On the log-odds scale, so that an infinite LR gives 1 and a zero LR gives 0, not NaN.
    with np.errstate(divide="ignore"):
        log_odds = np.log(likelihood_ratio) + np.log(pretest) - np.log1p(-pretest)
    return expit(log_odds)


def check_prevalences(prevalences: Iterable[float]) -> list[float]:
    """Return the pre-test probabilities as floats, or raise listing every invalid one."""
    values = [float(p) for p in prevalences]
    invalid = [p for p in values if not 0.0 < p < 1.0]
    if invalid:
        raise ValueError(
            f"pre-test probabilities must lie strictly between 0 and 1; invalid: {invalid}"
        )
    if not values:
        raise ValueError("give at least one pre-test probability")
    return values


def parse_prevalences(text: str) -> list[float]:
    """Parse comma-separated pre-test probabilities such as ``"0.1,0.3"``.

    Raises
    ------
    ValueError
        Naming every item that is not a number in (0, 1).
    """
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    values, invalid = [], []
    for item in items:
        try:
            value = float(item)
        except ValueError:
            invalid.append(item)
            continue
        if 0.0 < value < 1.0:
            values.append(value)
        else:
            invalid.append(item)
    if invalid or not values:
        raise ValueError(
            f"--prevalence takes comma-separated probabilities strictly between 0 and 1, "
            f"for example 0.1,0.3; invalid: {invalid or [text]}"
        )
    return values


def default_prevalences(trace_or_table) -> list[float]:
    """Return the median prevalence of the studies, then :data:`ROUND_PREVALENCES`.

    The prevalence of a study is ``n1 / (n1 + n0)``, diseased over all participants. It is
    rounded to three decimals and listed first; round values equal to it are not repeated.
    """
    n1, n0 = _margins(trace_or_table)
    median = round(float(np.median(n1 / (n1 + n0))), 3)
    median = min(max(median, 0.001), 0.999)
    return [median] + [p for p in ROUND_PREVALENCES if not np.isclose(p, median)]


def _margins(trace_or_table) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(trace_or_table, xr.DataTree):
        constant = trace_or_table["constant_data"]
        return (constant["n_diseased"].values.astype(float),
                constant["n_healthy"].values.astype(float))
    return trace_or_table.n_diseased.astype(float), trace_or_table.n_healthy.astype(float)


def likelihood_ratio_draws(trace: xr.DataTree, which: str = "pooled") -> xr.Dataset:
    """Return draws of LR+ and LR-, dims ``(chain, draw)``.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`.
    which : {"pooled", "predictive"}, default "pooled"
        ``"pooled"`` uses the pooled logits ``mu`` (the median study); ``"predictive"``
        uses a new study's logits ``new_study_logit``, which adds the between-study spread,
        the likely accuracy in one new setting.

    Notes
    -----
    In a meta-regression trace ``mu`` is the reference profile (every categorical
    covariate at its reference level), so the ratios are those of that profile.
    """
    names = {"pooled": "mu", "predictive": "new_study_logit"}
    if which not in names:
        raise ValueError(f"which={which!r} is not valid; choose 'pooled' or 'predictive'")
    logits = trace["posterior"][names[which]]
    measures = accuracy_measures(
        logits.sel(measure="sensitivity", drop=True), logits.sel(measure="specificity", drop=True)
    )
    return xr.Dataset({"lr_positive": measures["lr_positive"],
                       "lr_negative": measures["lr_negative"]})


def post_test_draws(
    trace: xr.DataTree, prevalences: Iterable[float], which: str = "pooled"
) -> xr.Dataset:
    """Return draws of the post-test probabilities, dims ``(chain, draw, prevalence)``.

    Variables ``positive`` (probability of disease after a positive result, the PPV) and
    ``negative`` (after a negative result, 1 - NPV).
    """
    values = check_prevalences(prevalences)
    ratios = likelihood_ratio_draws(trace, which)
    pretest = xr.DataArray(values, dims="prevalence", coords={"prevalence": values})
    return xr.Dataset(
        {
            "positive": post_test_probability(pretest, ratios["lr_positive"]),
            "negative": post_test_probability(pretest, ratios["lr_negative"]),
        }
    ).transpose("chain", "draw", "prevalence")


def post_test_table(
    trace: xr.DataTree,
    prevalences: Iterable[float] | None = None,
    prob: float = 0.95,
    which: str = "pooled",
) -> pd.DataFrame:
    """Tabulate post-test probabilities, PPV and NPV with equal-tailed credible intervals.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`.
    prevalences : iterable of float, optional
        Pre-test probabilities in (0, 1); default :func:`default_prevalences`.
    prob : float, default 0.95
        Probability of the intervals.
    which : {"pooled", "predictive"}, default "pooled"
        See :func:`likelihood_ratio_draws`.

    Returns
    -------
    pandas.DataFrame
        One row per pre-test probability: ``prevalence``; ``positive``, ``positive_lower``,
        ``positive_upper`` (posterior median and interval of P(disease | positive), equal to
        the PPV); the same for ``negative`` (P(disease | negative)); and ``npv``,
        ``npv_lower``, ``npv_upper`` (``1 - negative``). ``attrs`` hold ``prob`` and
        ``which``.
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob!r}")
    if prevalences is None:
        prevalences = default_prevalences(trace)
    draws = post_test_draws(trace, prevalences, which)
    tail = (1.0 - prob) / 2.0
    quantiles = draws.quantile([tail, 0.5, 1.0 - tail], dim=("chain", "draw"))

    rows = []
    for value in draws["prevalence"].values:
        at = quantiles.sel(prevalence=value)
        low, mid, high = (at["negative"].values[i] for i in range(3))
        rows.append(
            {
                "prevalence": float(value),
                "positive": float(at["positive"].values[1]),
                "positive_lower": float(at["positive"].values[0]),
                "positive_upper": float(at["positive"].values[2]),
                "negative": float(mid),
                "negative_lower": float(low),
                "negative_upper": float(high),
                "npv": 1.0 - float(mid),
                "npv_lower": 1.0 - float(high),
                "npv_upper": 1.0 - float(low),
            }
        )
    table = pd.DataFrame(rows)
    table.attrs.update({"prob": prob, "which": which})
    return table


def post_test_json(trace: xr.DataTree, prevalences: Iterable[float] | None = None,
                   prob: float = 0.95) -> list[dict]:
    """Return one entry per pre-test probability for JSON output.

    Each entry contains ``prevalence`` and interval objects ``{"median", "lower", "upper"}``
    of ``positive`` (P(disease | positive), the PPV), ``negative`` (P(disease | negative))
    and ``npv``.
    """
    table = post_test_table(trace, prevalences, prob)
    entries = []
    for row in table.to_dict("records"):
        entry = {"prevalence": row["prevalence"]}
        for name in ("positive", "negative", "npv"):
            entry[name] = {"median": row[name], "lower": row[f"{name}_lower"],
                           "upper": row[f"{name}_upper"]}
        entries.append(entry)
    return entries


def format_post_test(table: pd.DataFrame) -> str:
    """Return a :func:`post_test_table` as aligned text with percentages."""
    percent = f"{100 * table.attrs.get('prob', 0.95):g}%"
    lines = [
        f"Post-test probability of disease ({table.attrs.get('which', 'pooled')} LR+ and LR-, "
        f"median and {percent} interval)",
        f"{'pre-test':>9}  {'after positive (PPV)':>24}  {'after negative':>22}  {'NPV':>22}",
    ]
    for row in table.to_dict("records"):
        cells = [
            f"{100 * row[name]:.1f}% ({100 * row[name + '_lower']:.1f}-"
            f"{100 * row[name + '_upper']:.1f})"
            for name in ("positive", "negative", "npv")
        ]
        lines.append(f"{100 * row['prevalence']:>8.1f}%  {cells[0]:>24}  {cells[1]:>22}  "
                     f"{cells[2]:>22}")
    return "\n".join(lines)
