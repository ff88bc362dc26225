"""Restricted analyses by QUADAS-2 risk of bias: refits on low-risk subsets and a
meta-regression on "high risk in any domain".

A review checks in two ways whether pooled accuracy depends on study quality. It refits
the bivariate model on the studies at low risk of bias (in every domain, or in chosen
domains). It also fits a meta-regression with a 0/1 covariate "high risk in at least one
domain", whose coefficients estimate the difference with a joint posterior. Subsets with
fewer than :data:`MIN_STUDIES` studies are reported and not fitted.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from .errors import BayesDTAWarning
from .intervals import interval_object
from .quadas import DOMAINS, QuadasRatings, read_quadas, resolve_domains
from .studytable import StudyTable

__all__ = ["MIN_STUDIES", "RestrictedAnalyses", "restricted_analyses", "HIGH_RISK_COVARIATE"]

logger = logging.getLogger(__name__)

#: Smallest subset that is fitted. With fewer studies the between-study covariance rests
#: on the prior alone.
MIN_STUDIES = 3
#: Name of the 0/1 covariate of the meta-regression.
HIGH_RISK_COVARIATE = "high_risk_any"

_LABELS = {d.key: d.label.lower() for d in DOMAINS}


@dataclass
class RestrictedAnalyses:
    """Results of :func:`restricted_analyses`.

    Attributes
    ----------
    estimates : pandas.DataFrame
        One row per subset: ``subset`` (description), ``domains`` (comma-separated keys),
        ``n_studies``, ``fitted``, ``message``, and for fitted subsets ``sensitivity``,
        ``sensitivity_lower``, ``sensitivity_upper``, the same for ``specificity``, and
        ``change_sensitivity``, ``change_specificity`` (subset median minus the median of
        all studies). ``attrs["prob"]`` is the interval probability.
    regression : dict or None
        The meta-regression on :data:`HIGH_RISK_COVARIATE`: ``domains``, ``n_high``,
        ``n_not_high``, ``builder``, and interval objects of sensitivity and specificity
        for ``not_high`` and ``high`` studies and of their ``difference`` (high minus not
        high). ``None`` when it was not requested; ``{"message": ...}`` when it could not be
        fitted.
    traces : dict of str to xarray.DataTree
        The fits by subset description, and ``"meta-regression"``.
    """

    estimates: pd.DataFrame
    regression: dict | None
    traces: dict[str, xr.DataTree] = field(default_factory=dict)

    def to_json(self) -> dict:
        """Return ``restricted`` (list of subsets with interval objects) and ``regression``."""
        rows = []
        for row in self.estimates.to_dict("records"):
            entry = {"subset": row["subset"], "domains": row["domains"].split(","),
                     "n_studies": int(row["n_studies"]), "fitted": bool(row["fitted"])}
            if row["fitted"]:
                for measure in ("sensitivity", "specificity"):
                    entry[measure] = {"median": row[measure], "lower": row[f"{measure}_lower"],
                                      "upper": row[f"{measure}_upper"]}
            else:
                entry["message"] = row["message"]
            rows.append(entry)
        return {"restricted": rows, "regression": self.regression}


def _pooled_intervals(trace: xr.DataTree, prob: float) -> dict[str, dict[str, float]]:
    mu = trace["posterior"]["mu"]
    return {
        measure: interval_object(expit(mu.sel(measure=measure).values), prob)
        for measure in ("sensitivity", "specificity")
    }


def _describe(domains: list[str]) -> str:
    if len(domains) == 1:
        return f"low risk in {_LABELS[domains[0]]}"
    return "low risk in " + ", ".join(_LABELS[d] for d in domains)


def _fit_subset(table: StudyTable, fit_kwargs: Mapping) -> xr.DataTree:
    from .models import build_bivariate_model
    from .sampling import fit

    return fit(build_bivariate_model(table), **fit_kwargs)


@contextlib.contextmanager
def _warnings_named(name: str):
    """Re-issue the warnings of one fit with the subset's name in front, so that the
    warnings of several fits can be told apart."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        warnings.warn(f"{name}: {warning.message}", warning.category, stacklevel=4)


def _subset_row(name, domains, table, fit_kwargs, prob, traces) -> dict:
    row = {"subset": name, "domains": ",".join(domains), "n_studies": table.n_studies}
    if table.n_studies < MIN_STUDIES:
        message = (
            f"{name}: {table.n_studies} studies, fewer than the {MIN_STUDIES} needed for a "
            "bivariate fit; this subset was not fitted"
        )
        warnings.warn(message, BayesDTAWarning, stacklevel=3)
        return row | {"fitted": False, "message": message}

    trace = traces.get(name)
    if trace is None:
        logger.info("fitting %s (%d studies)", name, table.n_studies)
        with _warnings_named(name):
            trace = _fit_subset(table, fit_kwargs)
        traces[name] = trace
    row |= {"fitted": True, "message": ""}
    for measure, interval in _pooled_intervals(trace, prob).items():
        row |= {measure: interval["median"], f"{measure}_lower": interval["lower"],
                f"{measure}_upper": interval["upper"]}
    return row


def restricted_analyses(
    data,
    domains: Iterable[str] | str | None = None,
    *,
    ratings: QuadasRatings | None = None,
    mapping: Mapping[str, str] | None = None,
    moderate: str = "keep",
    per_domain: bool = False,
    regression: bool = True,
    prob: float = 0.95,
    full_trace: xr.DataTree | None = None,
    **fit_kwargs,
) -> RestrictedAnalyses:
    """Refit pooled accuracy on studies at low risk of bias, and meta-regress on high risk.

    The bivariate model (:func:`bayesdta.build_bivariate_model`, :func:`bayesdta.fit`) is
    fitted to all studies and to the studies rated low in every one of ``domains``. With
    ``per_domain`` it is also fitted to the studies rated low in each domain on its own.
    With ``regression``, a meta-regression on all studies uses the covariate "high risk in
    at least one of ``domains``".

    Parameters
    ----------
    data : StudyTable, DataFrame, path or dataset name
        Studies with QUADAS-2 columns, see :func:`bayesdta.quadas.read_quadas`.
    domains : iterable of str or str, optional
        Domain keys, labels or column names; ``"all"`` for all seven. Default: the four
        risk-of-bias domains.
    ratings : QuadasRatings, optional
        Ratings already read; ``data``, ``mapping`` and ``moderate`` are then not used.
    mapping, moderate
        Passed to :func:`bayesdta.quadas.read_quadas`.
    per_domain : bool, default False
        Also refit on the studies at low risk in each domain separately.
    regression : bool, default True
        Fit the meta-regression on "high risk in any of ``domains``". It uses
        :func:`bayesdta.models.build_regression_model` when that builder is available, and
        :func:`bayesdta.models.small_study.build_indicator_model` otherwise; the result
        names the builder.
    prob : float, default 0.95
        Probability of the equal-tailed intervals.
    full_trace : xarray.DataTree, optional
        A bivariate fit of all studies to reuse instead of refitting them. It must have
        the same studies in the same order.
    **fit_kwargs
        Passed to :func:`bayesdta.fit` (``draws``, ``tune``, ``chains``, ``seed``, ...).

    Returns
    -------
    RestrictedAnalyses

    Warns
    -----
    BayesDTAWarning
        For every subset with fewer than :data:`MIN_STUDIES` studies, which is not fitted,
        and when the high-risk covariate takes one value only.
    """
    if ratings is None:
        ratings = read_quadas(data, mapping, moderate=moderate)
    table = ratings.table
    keys = resolve_domains(domains, ratings.domains)
    traces: dict[str, xr.DataTree] = {}

    subsets = [("all studies", [], np.ones(table.n_studies, dtype=bool))]
    subsets.append((_describe(keys), keys, ratings.low_risk(keys)))
    if per_domain and len(keys) > 1:
        subsets += [(_describe([key]), [key], ratings.low_risk([key])) for key in keys]

    if full_trace is not None:
        _check_full_trace(full_trace, table)
        traces["all studies"] = full_trace
    rows = []
    for name, subset_domains, mask in subsets:
        subset_table = table.subset(mask, source=f"{table.source} ({name})")
        rows.append(_subset_row(name, subset_domains, subset_table, fit_kwargs, prob, traces))
    estimates = _with_changes(pd.DataFrame(rows))
    estimates.attrs["prob"] = prob

    result = None
    if regression:
        result = _high_risk_regression(ratings, keys, fit_kwargs, prob, traces)
    return RestrictedAnalyses(estimates, result, traces)


def _check_full_trace(trace: xr.DataTree, table: StudyTable) -> None:
    studies = [str(s) for s in trace["posterior"]["study"].values]
    if studies != table.study_ids:
        raise ValueError(
            f"full_trace has studies {studies[:3]}... ({len(studies)}), which differ from the "
            f"{table.n_studies} rated studies; fit all rated studies, or leave full_trace out"
        )


def _with_changes(estimates: pd.DataFrame) -> pd.DataFrame:
    for measure in ("sensitivity", "specificity"):
        if measure not in estimates:
            estimates[measure] = np.nan
            estimates[f"{measure}_lower"] = np.nan
            estimates[f"{measure}_upper"] = np.nan
        reference = estimates.loc[0, measure]
        estimates[f"change_{measure}"] = estimates[measure] - reference
    return estimates


def _table_with_flag(table: StudyTable, flag: np.ndarray) -> StudyTable:
    frame = table.frame.copy()
    frame[HIGH_RISK_COVARIATE] = np.where(flag, "yes", "no")
    return StudyTable(frame, (*table.covariates, HIGH_RISK_COVARIATE), table.source,
                      table.ids, table.rows)


def _build_flag_model(table: StudyTable, flag: np.ndarray):
    """Return ``(built, builder name, function giving (not_high, high) logits from a trace)``."""
    try:
        from .covariates import Covariate
        from .models.regression import build_regression_model
    except ImportError:
        from .models.small_study import build_indicator_model

        built = build_indicator_model(table, flag, name=HIGH_RISK_COVARIATE)
        return built, "build_indicator_model", _indicator_logits

    request = Covariate(HIGH_RISK_COVARIATE, reference="no")
    built = build_regression_model(_table_with_flag(table, flag), covariates=[request])
    return built, "build_regression_model", _regression_logits


def _indicator_logits(trace: xr.DataTree) -> tuple[xr.DataArray, xr.DataArray]:
    posterior = trace["posterior"]
    return posterior["mu"], posterior["mu_flagged"]


def _regression_logits(trace: xr.DataTree) -> tuple[xr.DataArray, xr.DataArray]:
    posterior = trace["posterior"]
    beta = posterior["beta"]
    levels = [str(level) for level in beta["covariate_level"].values]
    term = next(level for level in levels if HIGH_RISK_COVARIATE in level)
    return posterior["mu"], posterior["mu"] + beta.sel(covariate_level=term, drop=True)


def _high_risk_regression(ratings, keys, fit_kwargs, prob, traces) -> dict:
    from .sampling import fit

    flag = ratings.high_risk_any(keys)
    summary = {"domains": keys, "n_high": int(flag.sum()), "n_not_high": int((~flag).sum())}
    if flag.all() or not flag.any():
        message = (
            f"every study has the same value of {HIGH_RISK_COVARIATE!r} "
            f"({summary['n_high']} high, {summary['n_not_high']} not high); the "
            "meta-regression was not fitted"
        )
        warnings.warn(message, BayesDTAWarning, stacklevel=3)
        return summary | {"message": message}

    with _warnings_named("meta-regression"):
        built, builder, logits = _build_flag_model(ratings.table, flag)
        trace = fit(built, **fit_kwargs)
    traces["meta-regression"] = trace
    not_high, high = logits(trace)
    summary["builder"] = builder
    for name, values in (("not_high", not_high), ("high", high)):
        summary[name] = {
            measure: interval_object(expit(values.sel(measure=measure).values), prob)
            for measure in ("sensitivity", "specificity")
        }
    summary["difference"] = {
        measure: interval_object(
            expit(high.sel(measure=measure).values) - expit(not_high.sel(measure=measure).values),
            prob,
        )
        for measure in ("sensitivity", "specificity")
    }
    return summary
