"""Results of a meta-regression by covariate level: pooled accuracy, contrasts and LOO.

Every function takes the trace that :func:`bayesdta.fit` returns for a model of
:func:`bayesdta.models.build_regression_model`; the covariate specs travel in the trace's
specification. A level's results hold the other covariates at their reference: categorical
covariates at their reference level, continuous ones at their centre (the mean over the
studies used). The between-study covariance of a level is the shared one, or, in the
subgroup model, the covariance of that level of the grouping covariate (the reference
level's for levels of other covariates).

Pooled values are ``expit`` of the level's mean logits: the median study of that level, not
the mean of its study values (Reitsma et al. 2005).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from .covariates import Covariate, CovariateSpec, level_values, term_label
from .derived import QUANTITY_LABELS, accuracy_measures
from .errors import BayesDTAWarning
from .intervals import interval_object
from .marginal_likelihood import add_marginal_log_likelihood
from .models.base import MEASURES
from .summary import SUMMARY_COLUMNS, summarize_draws
from .trace import read_spec

__all__ = [
    "regression_specs",
    "level_logits",
    "level_covariance",
    "level_predictive_logits",
    "level_counts_from_trace",
    "level_auc",
    "level_quantities",
    "LEVEL_QUANTITY_LABELS",
    "subgroup_summary",
    "coefficient_summary",
    "contrasts",
    "CONTRAST_COLUMNS",
    "compare_loo",
    "loo_without",
    "subgroups_json",
    "contrasts_json",
]

logger = logging.getLogger(__name__)

#: Columns of :func:`contrasts`.
CONTRAST_COLUMNS = [
    "covariate",
    "level",
    "reference",
    "measure",
    "statistic",
    "median",
    "lower",
    "upper",
    "probability_greater",
]

#: Labels of the per-level quantities: those of :func:`bayesdta.summarize` and the AUC.
LEVEL_QUANTITY_LABELS = {**QUANTITY_LABELS, "auc": "Area under the SROC curve (HSROC curve)"}

#: Seed of the standard-normal draws behind the per-level predictive draws of a new study.
PREDICTIVE_SEED = 20261204


def regression_specs(trace: xr.DataTree) -> list[CovariateSpec]:
    """Return the covariate specs stored in a regression trace.

    Raises
    ------
    ValueError
        If the trace is not from a regression model.
    """
    spec = read_spec(trace)
    if spec.get("kind") != "regression":
        raise ValueError(
            f"this trace is from a {spec.get('kind')!r} model; subgroup results need a fit of "
            "bayesdta.models.build_regression_model"
        )
    return [CovariateSpec.from_dict(values) for values in spec["options"]["covariates"]]


def _categorical_spec(trace: xr.DataTree, covariate: str) -> CovariateSpec:
    specs = {spec.name: spec for spec in regression_specs(trace)}
    if covariate not in specs:
        raise ValueError(
            f"covariate {covariate!r} is not in this model; covariates fitted: {sorted(specs)}"
        )
    spec = specs[covariate]
    if spec.kind != "categorical":
        raise ValueError(
            f"covariate {covariate!r} is continuous, so it has no levels; its coefficient is "
            f"beta.sel(covariate_level={covariate!r}) in the posterior, per unit of the column"
        )
    return spec


def _categorical_names(trace: xr.DataTree, covariate: str | None) -> list[str]:
    if covariate is not None:
        return [_categorical_spec(trace, covariate).name]
    return [spec.name for spec in regression_specs(trace) if spec.kind == "categorical"]


def level_logits(trace: xr.DataTree, covariate: str) -> xr.DataArray:
    """Return the mean logits of each level of a categorical covariate, per draw.

    Parameters
    ----------
    trace : xarray.DataTree
        A regression trace.
    covariate : str
        A categorical covariate of the model.

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, level, measure)``: ``mu + beta[level]`` (``mu`` alone for the
        reference level), the other covariates held at their reference.
    """
    spec = _categorical_spec(trace, covariate)
    posterior = trace["posterior"]
    mu = posterior["mu"]
    beta = posterior["beta"]
    per_level = []
    for level in spec.levels:
        if level == spec.reference:
            per_level.append(mu)
        else:
            per_level.append(mu + beta.sel(covariate_level=term_label(spec.name, level), drop=True))
    stacked = xr.concat(per_level, dim=pd.Index(list(spec.levels), name="level"))
    return stacked.transpose("chain", "draw", "level", "measure").rename("level_logit")


def level_covariance(trace: xr.DataTree, covariate: str) -> tuple[xr.DataArray, xr.DataArray]:
    """Return the between-study SDs and correlation that apply to each level.

    Returns
    -------
    tau : xarray.DataArray
        Dims ``(chain, draw, level, measure)``.
    rho : xarray.DataArray
        Dims ``(chain, draw, level)``.
    """
    spec = _categorical_spec(trace, covariate)
    posterior = trace["posterior"]
    levels = pd.Index(list(spec.levels), name="level")
    grouping = read_spec(trace)["options"].get("separate_covariance")
    if grouping == covariate:
        tau = posterior["tau_by_group"].rename(covariance_group="level")
        rho = posterior["rho_by_group"].rename(covariance_group="level")
        tau = tau.sel(level=list(spec.levels))
        rho = rho.sel(level=list(spec.levels))
    else:
        tau = posterior["tau"].expand_dims(level=levels)
        rho = posterior["rho"].expand_dims(level=levels)
    return (
        tau.transpose("chain", "draw", "level", "measure"),
        rho.transpose("chain", "draw", "level"),
    )


def level_predictive_logits(
    trace: xr.DataTree, covariate: str, seed: int = PREDICTIVE_SEED
) -> xr.DataArray:
    """Return one draw of a new study's logits per posterior draw and level.

    ``(A_new, B_new) = mu_level + L_level z`` with ``L`` the Cholesky factor of the level's
    between-study covariance and ``z ~ N(0, I)`` drawn with ``seed``, one ``z`` per posterior
    draw, shared by the levels.

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, level, measure)``.
    """
    logits = level_logits(trace, covariate)
    tau, rho = level_covariance(trace, covariate)
    shape = (logits.sizes["chain"], logits.sizes["draw"])
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((*shape, 2))
    z_sens = xr.DataArray(z[..., 0], dims=("chain", "draw"))
    z_spec = xr.DataArray(z[..., 1], dims=("chain", "draw"))
    tau_sens = tau.sel(measure="sensitivity", drop=True)
    tau_spec = tau.sel(measure="specificity", drop=True)
    new_sens = logits.sel(measure="sensitivity", drop=True) + tau_sens * z_sens
    new_spec = (
        logits.sel(measure="specificity", drop=True)
        + tau_spec * (rho * z_sens + np.sqrt(1.0 - rho**2) * z_spec)
    )
    stacked = xr.concat([new_sens, new_spec], dim=pd.Index(list(MEASURES), name="measure"))
    return stacked.transpose("chain", "draw", "level", "measure").rename("new_study_logit")


def level_counts_from_trace(trace: xr.DataTree, covariate: str) -> dict[str, int]:
    """Return the number of tables of each level among the tables that were fitted."""
    spec = _categorical_spec(trace, covariate)
    values = trace["constant_data"][f"covariate_{covariate}"].values
    observed = np.asarray(level_values(values))
    return {level: int((observed == level).sum()) for level in spec.levels}


def level_auc(trace: xr.DataTree, covariate: str, method: str = "hsroc") -> xr.DataArray:
    """Return the area under each level's SROC curve over FPR in (0, 1), per draw.

    Uses :func:`bayesdta.sroc.sroc_auc` with the level's mean logits and covariance.

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, level)``.
    """
    from .sroc import sroc_auc

    logits = level_logits(trace, covariate)
    tau, rho = level_covariance(trace, covariate)
    return sroc_auc(logits, tau, rho, method).transpose("chain", "draw", "level")


def level_quantities(trace: xr.DataTree, covariate: str) -> dict[str, xr.Dataset]:
    """Return, for each level, the quantities of :func:`bayesdta.summarize` per draw.

    Returns
    -------
    dict of str to xarray.Dataset
        Level to a Dataset with the variables of :data:`bayesdta.derived.QUANTITY_LABELS`
        and ``auc`` (HSROC curve, see :func:`level_auc`), each with dims ``(chain, draw)``.
    """
    logits = level_logits(trace, covariate)
    tau, rho = level_covariance(trace, covariate)
    new = level_predictive_logits(trace, covariate)
    auc = level_auc(trace, covariate)
    result = {}
    for level in logits["level"].values:
        mu = logits.sel(level=level, drop=True)
        logit_sens = mu.sel(measure="sensitivity", drop=True)
        logit_spec = mu.sel(measure="specificity", drop=True)
        quantities = accuracy_measures(logit_sens, logit_spec)
        level_tau = tau.sel(level=level, drop=True)
        level_new = new.sel(level=level, drop=True)
        quantities.update(
            {
                "mu_sens": logit_sens,
                "mu_spec": logit_spec,
                "tau_sens": level_tau.sel(measure="sensitivity", drop=True),
                "tau_spec": level_tau.sel(measure="specificity", drop=True),
                "rho": rho.sel(level=level, drop=True),
                "predictive_sensitivity": expit(level_new.sel(measure="sensitivity", drop=True)),
                "predictive_specificity": expit(level_new.sel(measure="specificity", drop=True)),
                "auc": auc.sel(level=level, drop=True),
            }
        )
        result[str(level)] = xr.Dataset({k: xr.DataArray(v) for k, v in quantities.items()})
    return result


def subgroup_summary(
    trace: xr.DataTree, covariate: str | None = None, prob: float = 0.95
) -> pd.DataFrame:
    """Summarise pooled accuracy, heterogeneity and a new study for each covariate level.

    Parameters
    ----------
    trace : xarray.DataTree
        A regression trace.
    covariate : str, optional
        One categorical covariate; by default every categorical covariate of the model.
    prob : float, default 0.95
        Probability of the equal-tailed and highest-density intervals.

    Returns
    -------
    pandas.DataFrame
        Index ``(covariate, level, quantity)``; columns ``n_studies``, ``reference`` (the
        reference level) and :data:`bayesdta.summary.SUMMARY_COLUMNS`.

    Examples
    --------
    >>> table = subgroup_summary(trace, "modality")  # doctest: +SKIP
    >>> table.loc[("modality", "MRI", "sensitivity"), "median"]  # doctest: +SKIP
    """
    frames = []
    for name in _categorical_names(trace, covariate):
        spec = _categorical_spec(trace, name)
        counts = level_counts_from_trace(trace, name)
        for level, draws in level_quantities(trace, name).items():
            table = summarize_draws(draws, prob=prob, labels=LEVEL_QUANTITY_LABELS)
            table.insert(0, "n_studies", counts[level])
            table.insert(1, "reference", spec.reference)
            table.index = pd.MultiIndex.from_product(
                [[name], [level], table.index], names=["covariate", "level", "quantity"]
            )
            frames.append(table)
    columns = ["n_studies", "reference", *SUMMARY_COLUMNS]
    if not frames:
        index = pd.MultiIndex.from_arrays([[], [], []], names=["covariate", "level", "quantity"])
        result = pd.DataFrame(columns=columns, index=index)
    else:
        result = pd.concat(frames)[columns]
    result.attrs["prob"] = prob
    return result


def coefficient_summary(trace: xr.DataTree, prob: float = 0.95) -> pd.DataFrame:
    """Summarise every regression coefficient on the logit scale.

    A categorical coefficient is the difference of a level's logit from the reference
    level's; a continuous one is the change of the logit per unit of the column.

    Returns
    -------
    pandas.DataFrame
        Index ``coefficient`` (for example ``"validation[external] on sensitivity"``);
        columns :data:`bayesdta.summary.SUMMARY_COLUMNS` and ``probability_positive``.
    """
    coefficients = trace["posterior"]["beta_free"]
    draws = xr.Dataset(
        {
            str(label): coefficients.sel(coefficient=label, drop=True)
            for label in coefficients["coefficient"].values
        }
    )
    table = summarize_draws(draws, prob=prob)
    table.index.name = "coefficient"
    table["probability_positive"] = [
        float((draws[name] > 0).mean()) for name in table.index
    ]
    return table


def _pairs(levels: Sequence[str], reference: str, which: str) -> list[tuple[str, str]]:
    if which == "reference":
        return [(level, reference) for level in levels if level != reference]
    if which == "all":
        return [(a, b) for i, b in enumerate(levels) for a in levels[i + 1 :]]
    raise ValueError(f"pairs={which!r} is not valid; choose 'reference' or 'all'")


def contrasts(
    trace: xr.DataTree,
    covariate: str | None = None,
    prob: float = 0.95,
    pairs: str = "reference",
) -> pd.DataFrame:
    """Compare covariate levels: differences of sensitivity and specificity, ratio of DORs.

    For a level ``a`` against a level ``b``, per draw: ``expit(A_a) - expit(A_b)``
    (sensitivity, probability scale), the same for specificity, and
    ``DOR_a / DOR_b = exp((A_a + B_a) - (A_b + B_b))``; ``probability_greater`` is the share
    of draws in which the measure of ``a`` exceeds that of ``b``.

    Parameters
    ----------
    trace : xarray.DataTree
        A regression trace.
    covariate : str, optional
        One categorical covariate; by default every categorical covariate.
    prob : float, default 0.95
        Probability of the equal-tailed interval.
    pairs : {"reference", "all"}, default "reference"
        Each level against the reference level, or every pair of levels (later level
        against earlier level in report order).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CONTRAST_COLUMNS`; ``statistic`` is ``"difference"`` for
        sensitivity and specificity and ``"ratio"`` for ``dor``.
    """
    rows = []
    for name in _categorical_names(trace, covariate):
        spec = _categorical_spec(trace, name)
        logits = level_logits(trace, name)
        for level, other in _pairs(list(spec.levels), spec.reference, pairs):
            a = logits.sel(level=level, drop=True)
            b = logits.sel(level=other, drop=True)
            rows += _contrast_rows(name, level, other, a, b, prob)
    table = pd.DataFrame(rows, columns=CONTRAST_COLUMNS)
    table.attrs["prob"] = prob
    return table


def _contrast_rows(name, level, other, a, b, prob) -> list[dict]:
    rows = []
    for measure in MEASURES:
        first = expit(a.sel(measure=measure).values)
        second = expit(b.sel(measure=measure).values)
        if np.array_equal(first, second):
            # The covariate does not act on this margin, so the difference is 0 by
            # construction; a row with P(greater) = 0 would read as evidence.
            continue
        rows.append(_row(name, level, other, measure, "difference", first - second, prob))
    log_ratio = (a.sum("measure") - b.sum("measure")).values
    ratio_row = _row(name, level, other, "dor", "ratio", np.exp(log_ratio), prob)
    rows.append(ratio_row)
    return rows


def _row(name, level, other, measure, statistic, values, prob) -> dict:
    threshold = 0.0 if statistic == "difference" else 1.0
    interval = interval_object(values, prob)
    return {
        "covariate": name,
        "level": level,
        "reference": other,
        "measure": measure,
        "statistic": statistic,
        "median": interval["median"],
        "lower": interval["lower"],
        "upper": interval["upper"],
        "probability_greater": float(np.mean(np.ravel(values) > threshold)),
    }


def _loo_variable(trace: xr.DataTree) -> str:
    names = trace["log_likelihood"].data_vars
    return "table_marginal" if "table_marginal" in names else "table"


def compare_loo(traces: Mapping[str, xr.DataTree], var_name: str | None = None) -> pd.DataFrame:
    """Compare fits of the same tables by PSIS-LOO with :func:`arviz.compare`.

    Parameters
    ----------
    traces : mapping of str to xarray.DataTree
        Model name to trace; all fitted to the same tables.
    var_name : str, optional
        Log-likelihood variable. By default ``table_marginal`` (study effects integrated
        out) when every trace has it, else ``table`` (conditional on each study's effects).

    Returns
    -------
    pandas.DataFrame
        The :func:`arviz.compare` table (``elpd``, ``se``, ``elpd_diff``, ``dse``, ...),
        unrounded, best model first. ``elpd_diff`` is each model's elpd minus the best
        one's, so it is 0 for the best and negative for the others. The column
        ``n_high_pareto_k`` counts the studies whose Pareto k exceeds the ArviZ threshold,
        where the LOO estimate is unreliable.

    Warns
    -----
    BayesDTAWarning
        When the conditional log-likelihood ``table`` is used by default.
    UserWarning
        From ArviZ, when Pareto k values are high.
    """
    for trace in traces.values():
        add_marginal_log_likelihood(trace)
    if var_name is None:
        choices = {_loo_variable(trace) for trace in traces.values()}
        var_name = "table_marginal" if choices == {"table_marginal"} else "table"
        if var_name == "table":
            warnings.warn(
                "not every trace has the marginal log-likelihood 'table_marginal', so LOO "
                "uses 'table', which is conditional on each study's own effects; its Pareto "
                "k values are often high and the comparison may be unreliable",
                BayesDTAWarning,
                stacklevel=2,
            )
    studies = {
        name: tuple(trace["log_likelihood"]["study"].values) for name, trace in traces.items()
    }
    if len(set(studies.values())) > 1:
        raise ValueError(
            "LOO comparison needs every model fitted to the same tables; the study "
            f"coordinates differ between {sorted(studies)}"
        )
    table = az.compare(dict(traces), var_name=var_name, round_to="none")
    high = {}
    for name, trace in traces.items():
        loo = az.loo(trace, var_name=var_name)
        high[name] = int(np.sum(np.asarray(loo.pareto_k) > loo.good_k))
    table["n_high_pareto_k"] = pd.Series(high)
    table.attrs["var_name"] = var_name
    logger.info("LOO comparison on %s: %s", var_name, table[["elpd", "elpd_diff", "dse"]])
    return table


def loo_without(
    trace: xr.DataTree,
    covariate: str,
    table,
    **fit_kwargs,
) -> pd.DataFrame:
    """Refit without one covariate and compare both fits by PSIS-LOO.

    The reduced model keeps the other covariates, their margins and references, the priors
    and the parametrization. Without any covariate left it is the bivariate model; when the
    dropped covariate was the grouping covariate of separate covariances, the reduced model
    has one shared covariance.

    Parameters
    ----------
    trace : xarray.DataTree
        The regression trace with the covariate.
    covariate : str
        The covariate to drop.
    table : StudyTable
        The tables of ``trace`` (``built.table``).
    **fit_kwargs
        Passed to :func:`bayesdta.fit` (draws, tune, chains, seed, ...).

    Returns
    -------
    pandas.DataFrame
        :func:`compare_loo` of ``"with <covariate>"`` and ``"without <covariate>"``. The
        ``elpd_diff`` of the second row and its standard error ``dse`` measure how much
        better the first model predicts left-out studies.
    """
    from .models import build_bivariate_model, build_regression_model
    from .sampling import fit

    spec = read_spec(trace)
    specs = regression_specs(trace)
    if covariate not in {s.name for s in specs}:
        raise ValueError(
            f"covariate {covariate!r} is not in this model; covariates fitted: "
            f"{[s.name for s in specs]}"
        )
    if tuple(table.study_ids) != tuple(trace["observed_data"]["study"].values):
        raise ValueError("table does not hold the tables of this trace; pass built.table")

    remaining = [s for s in specs if s.name != covariate]
    priors = {k: v for k, v in spec["priors"].items() if k != f"beta_{covariate}"}
    if remaining:
        grouping = spec["options"].get("separate_covariance")
        reduced = build_regression_model(
            table,
            [Covariate(s.name, s.margin, s.kind, s.reference, s.levels or None) for s in remaining],
            separate_covariance=None if grouping == covariate else grouping,
            priors=priors,
            parametrization=spec["parametrization"],
        )
    else:
        bivariate_priors = {k: v for k, v in priors.items() if not k.startswith("beta")}
        reduced = build_bivariate_model(table, bivariate_priors, spec["parametrization"])
    reduced_trace = fit(reduced, **fit_kwargs)
    return compare_loo({f"with {covariate}": trace, f"without {covariate}": reduced_trace})


def subgroups_json(trace: xr.DataTree, prob: float = 0.95) -> dict:
    """Return ``{covariate: {level: {n_studies, sensitivity, specificity, ...}}}``.

    Intervals are interval objects ``{"median", "lower", "upper"}`` (equal-tailed).
    """
    result = {}
    for name in _categorical_names(trace, None):
        counts = level_counts_from_trace(trace, name)
        reference = _categorical_spec(trace, name).reference
        result[name] = {}
        for level, draws in level_quantities(trace, name).items():
            result[name][level] = {
                "n_studies": counts[level],
                "reference": level == reference,
                "sensitivity": interval_object(draws["sensitivity"].values, prob),
                "specificity": interval_object(draws["specificity"].values, prob),
                "dor": interval_object(draws["dor"].values, prob),
                "auc": interval_object(draws["auc"].values, prob),
                "predictive_sensitivity": interval_object(
                    draws["predictive_sensitivity"].values, prob
                ),
                "predictive_specificity": interval_object(
                    draws["predictive_specificity"].values, prob
                ),
            }
    return result


def contrasts_json(table: pd.DataFrame) -> list[dict]:
    """Return the rows of :func:`contrasts` as JSON objects.

    Each object has ``covariate``, ``level``, ``reference``, ``measure``, ``statistic``, the
    interval object under ``difference`` (sensitivity, specificity: level minus reference
    on the probability scale) or ``ratio`` (dor: level over reference), and
    ``probability_greater``.
    """
    entries = []
    for row in table.itertuples(index=False):
        interval = {"median": row.median, "lower": row.lower, "upper": row.upper}
        entries.append(
            {
                "covariate": row.covariate,
                "level": row.level,
                "reference": row.reference,
                "measure": row.measure,
                "statistic": row.statistic,
                row.statistic: interval,
                "probability_greater": row.probability_greater,
            }
        )
    return entries
