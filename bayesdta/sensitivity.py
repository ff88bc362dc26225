"""Sensitivity analysis over priors: refit one model under several prior sets.

Every prior set is fitted with the same data, model options, sampler settings and seed, so
the only difference between two rows of the result is the prior. Hyperparameters enter the
model as ``pm.Data``, so prior sets with the same families share one compiled nutpie model,
because :func:`bayesdta.sampling.compiled_model` keeps one per
:meth:`DTAModel.structure_key`. A set with other families compiles once, and later sets with
its families reuse that model.

Unless the warm-up is given, only the first set of each structure runs the full warm-up. The
later sets are warm-started (:mod:`bayesdta.refit`): their chains start at draws of that
first fit and run a short warm-up, and a fit that fails the refit checks is run again with
the full warm-up.

A quantity is flagged for a prior set when its conclusion differs from the reference set:

- ``median_shift``: the posterior median moves by more than a threshold (0.02 by default for
  probabilities such as the pooled sensitivity; other quantities only when given a threshold);
- ``decision_value``: the interval lies on another side of a decision value than the
  reference interval (above, below, or containing it).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from .errors import BayesDTAWarning
from .prior_sets import PriorSet, as_prior_set, prior_set_names
from .sampler_defaults import TARGET_ACCEPT, TUNE

__all__ = [
    "KEY_QUANTITIES",
    "PROBABILITY_QUANTITIES",
    "TABLE_COLUMNS",
    "FLAG_COLUMNS",
    "SensitivityResult",
    "sensitivity_analysis",
    "summarize_for_sensitivity",
    "flag_changes",
    "plot_prior_sensitivity",
]

logger = logging.getLogger(__name__)

#: Quantities shown by default in plots and command-line tables.
KEY_QUANTITIES = ("sensitivity", "specificity", "tau_sens", "tau_spec", "rho")

#: Quantities on the probability scale, to which the default median threshold applies.
PROBABILITY_QUANTITIES = (
    "sensitivity",
    "specificity",
    "false_positive_rate",
    "predictive_sensitivity",
    "predictive_specificity",
)

#: Columns of :attr:`SensitivityResult.table`.
TABLE_COLUMNS = ["prior_set", "quantity", "label", "median", "lower", "upper", "shift", "flagged"]

#: Columns of :attr:`SensitivityResult.flags`.
FLAG_COLUMNS = ["prior_set", "quantity", "rule", "message"]

@dataclass
class SensitivityResult:
    """Results of :func:`sensitivity_analysis`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per prior set and quantity, columns :data:`TABLE_COLUMNS`: posterior median,
        equal-tailed interval bounds ``lower`` and ``upper`` (probability ``prob``), ``shift``
        (median minus the median under the reference set) and ``flagged``.
    flags : pandas.DataFrame
        One row per flagged change, columns :data:`FLAG_COLUMNS`.
    prior_sets : dict of str to PriorSet
        The prior sets, in the order fitted.
    reference : str
        Name of the prior set the others are compared with.
    prob : float
        Probability of the intervals.
    decision_values : dict of str to float
        Decision value of each quantity that has one.
    traces : dict of str to xarray.DataTree
        The fit of each prior set (empty when ``keep_traces=False``).
    convergence : dict of str to list of str
        Failed convergence checks of each prior set (empty lists when all passed).
    warm_starts : list of str
        Prior sets whose accepted fit was warm-started.
    fallbacks : list of str
        Prior sets whose warm-started fit failed the refit checks and was run again with
        the full warm-up.
    compilations : int
        Number of nutpie compilations the sweep needed.
    cache_loads : int
        Number of compiled models the sweep loaded from the on-disk cache of
        :mod:`bayesdta.cache` instead of compiling them.
    seconds : float
        Wall time of the sweep.
    """

    table: pd.DataFrame
    flags: pd.DataFrame
    prior_sets: dict[str, PriorSet]
    reference: str
    prob: float
    decision_values: dict[str, float] = field(default_factory=dict)
    traces: dict = field(default_factory=dict)
    convergence: dict[str, list[str]] = field(default_factory=dict)
    warm_starts: list[str] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    compilations: int = 0
    cache_loads: int = 0
    seconds: float = 0.0

    def plot(self, quantities: Iterable[str] | None = None, fig=None, **kwargs):
        """Draw the key quantities across prior sets; see :func:`plot_prior_sensitivity`."""
        return plot_prior_sensitivity(self, quantities=quantities, fig=fig, **kwargs)

    def to_json(self, quantities: Iterable[str] | None = None) -> dict:
        """Return ``{"rows": [...], "flags": [...]}`` with plain numbers and strings.

        Each row contains ``prior_set``, ``quantity``, ``median``, ``lower`` and ``upper``.
        Each flag contains ``prior_set``, ``quantity``, ``rule`` and ``message``.
        """
        table = self.table
        if quantities is not None:
            table = table[table["quantity"].isin(list(quantities))]
        rows = [
            {
                "prior_set": row.prior_set,
                "quantity": row.quantity,
                "median": float(row.median),
                "lower": float(row.lower),
                "upper": float(row.upper),
            }
            for row in table.itertuples()
        ]
        flags = [
            {key: getattr(row, key) for key in FLAG_COLUMNS} for row in self.flags.itertuples()
        ]
        return {"rows": rows, "flags": flags, "reference": self.reference, "prob": self.prob}


def sensitivity_analysis(
    data,
    prior_sets: Iterable | Mapping | None = None,
    *,
    builder: Callable | None = None,
    builder_kwargs: Mapping | None = None,
    reference: str | None = None,
    threshold: float = 0.02,
    thresholds: Mapping[str, float] | None = None,
    decision_values: Mapping[str, float] | None = None,
    prob: float = 0.95,
    draws: int = 1000,
    tune: int | None = None,
    chains: int = 4,
    seed: int | None = None,
    sampler: str = "nutpie",
    target_accept: float = TARGET_ACCEPT,
    progressbar: bool = True,
    summary_function: Callable | None = None,
    keep_traces: bool = True,
    warm_start: bool = True,
) -> SensitivityResult:
    """Refit one model under each prior set and tabulate the key quantities.

    Parameters
    ----------
    data : StudyTable, DataFrame, path or dataset name
        Anything :func:`bayesdta.read_studies` accepts; read and checked once.
    prior_sets : iterable or mapping, optional
        Prior set names, :class:`~bayesdta.prior_sets.PriorSet` objects, or a mapping of label
        to priors mapping. Default: every set in :data:`bayesdta.prior_sets.PRIOR_SETS`.
    builder : callable, optional
        ``builder(table, priors=..., **builder_kwargs)`` returning a
        :class:`~bayesdta.models.DTAModel`; :func:`bayesdta.build_bivariate_model` by default.
        A meta-regression builder works the same way.
    builder_kwargs : mapping, optional
        Further arguments of ``builder`` (parametrization, covariates, ...), the same for
        every prior set.
    reference : str, optional
        Prior set the others are compared with; the first one by default.
    threshold : float, default 0.02
        Largest change of a posterior median on the probability scale that is not flagged,
        for the quantities in :data:`PROBABILITY_QUANTITIES`.
    thresholds : mapping, optional
        Threshold by quantity name, overriding ``threshold``; for example ``{"rho": 0.1}``.
    decision_values : mapping, optional
        Decision value by quantity name, for example ``{"sensitivity": 0.9}``.
    prob : float, default 0.95
        Probability of the equal-tailed intervals.
    draws, chains, seed, sampler, target_accept
        Passed to :func:`bayesdta.fit`, the same for every prior set.
    tune : int, optional
        Warm-up iterations per chain of every fit, which turns the warm start off. By
        default the first set of each model structure runs 1000 and the later,
        warm-started sets :data:`bayesdta.refit.WARM_TUNE`.
    progressbar : bool, default True
        Show one progress bar over the prior sets (the per-fit bars stay hidden).
    summary_function : callable, optional
        ``summary_function(trace, prob)`` returning a DataFrame indexed by quantity with
        columns ``median``, ``eti_lower``, ``eti_upper`` and optionally ``label``. By default
        :func:`bayesdta.summarize` for the bivariate model, and the key variables of the
        trace (with ``expit`` of ``mu`` per level) for models whose ``mu`` has more dims.
    keep_traces : bool, default True
        Keep every fit in :attr:`SensitivityResult.traces`.
    warm_start : bool, default True
        Start each set after the first of its model structure at draws of that first fit,
        when ``tune`` is not given and the sampler is nutpie. Such a fit must pass
        :func:`bayesdta.refit.refit_problems`; one that fails is run again with 1000
        warm-up iterations from nutpie's default starting point, and a warning is logged.
        False runs every set with 1000 warm-up iterations.

    Returns
    -------
    SensitivityResult

    Raises
    ------
    ValueError
        For an unknown prior set or reference, repeated prior set names, or decision values
        and thresholds of quantities that the summary does not contain.

    Examples
    --------
    >>> from bayesdta.sensitivity import sensitivity_analysis
    >>> result = sensitivity_analysis(  # doctest: +SKIP
    ...     "glas_telomerase", ["weakly-informative", "metabayesdta"], seed=1
    ... )
    >>> result.table.query("quantity == 'rho'")  # doctest: +SKIP
    """
    from .cache import CACHE_STATS
    from .models import build_bivariate_model
    from .sampling import COMPILE_COUNT
    from .studytable import read_studies

    table = read_studies(data)
    sets = _prior_set_list(prior_sets)
    reference = sets[0].name if reference is None else reference
    if reference not in {prior_set.name for prior_set in sets}:
        raise ValueError(
            f"reference prior set {reference!r} is not among the prior sets "
            f"{[prior_set.name for prior_set in sets]}"
        )
    builder = builder or build_bivariate_model
    builder_kwargs = dict(builder_kwargs or {})
    warm = warm_start and tune is None and sampler == "nutpie"
    fit_kwargs = {
        "draws": draws,
        "tune": TUNE if tune is None else tune,
        "chains": chains,
        "seed": seed,
        "sampler": sampler,
        "target_accept": target_accept,
    }

    started = time.perf_counter()
    compiled_before = COMPILE_COUNT["nutpie"]
    loaded_before = CACHE_STATS["hits"]
    summaries, traces, convergence, outcomes = _fit_all(
        table, sets, builder, builder_kwargs, fit_kwargs, prob, summary_function, progressbar, warm
    )
    seconds = time.perf_counter() - started
    compilations = COMPILE_COUNT["nutpie"] - compiled_before
    cache_loads = CACHE_STATS["hits"] - loaded_before
    warm_starts = [name for name, outcome in outcomes.items() if outcome.warm_start]
    fallbacks = [name for name, outcome in outcomes.items() if outcome.fell_back]
    logger.info(
        "prior sweep over %d sets: %.1f s, %d compilation(s), %d compiled model(s) loaded "
        "from disk, %d warm-started fit(s), %d fallback(s) to the full warm-up",
        len(sets),
        seconds,
        compilations,
        cache_loads,
        len(warm_starts),
        len(fallbacks),
    )

    long_table = _long_table(summaries)
    decision_values = dict(decision_values or {})
    _check_quantity_names(long_table, decision_values, thresholds)
    long_table, flags = flag_changes(long_table, reference, threshold, thresholds, decision_values)
    _warn_about_convergence(convergence)
    return SensitivityResult(
        table=long_table,
        flags=flags,
        prior_sets={prior_set.name: prior_set for prior_set in sets},
        reference=reference,
        prob=prob,
        decision_values=decision_values,
        traces=traces if keep_traces else {},
        convergence=convergence,
        warm_starts=warm_starts,
        fallbacks=fallbacks,
        compilations=compilations,
        cache_loads=cache_loads,
        seconds=seconds,
    )


def _prior_set_list(prior_sets) -> list[PriorSet]:
    if prior_sets is None:
        prior_sets = prior_set_names()
    if isinstance(prior_sets, str):
        prior_sets = [prior_sets]
    if isinstance(prior_sets, Mapping):
        sets = [as_prior_set(value, name=name) for name, value in prior_sets.items()]
    else:
        sets = [as_prior_set(value) for value in prior_sets]
    if not sets:
        raise ValueError("prior_sets is empty; give at least one prior set")

    names = [prior_set.name for prior_set in sets]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"prior set name(s) {repeated} appear more than once; names must be unique"
        )
    return sets


def _fit_all(
    table, sets, builder, builder_kwargs, fit_kwargs, prob, summary_function, progressbar, warm
):
    from tqdm.auto import tqdm

    from .convergence import check_convergence

    summaries, traces, convergence, outcomes = {}, {}, {}, {}
    starts = {} if warm else None
    bar = tqdm(sets, desc="prior sets", unit="fit", disable=not progressbar)
    for prior_set in bar:
        bar.set_postfix_str(prior_set.name)
        built = builder(table, priors=prior_set.priors, **builder_kwargs)
        outcome = _fit_prior_set(built, prior_set.name, fit_kwargs, starts)
        trace = outcome.trace
        outcomes[prior_set.name] = outcome
        convergence[prior_set.name] = check_convergence(trace, warn=False)
        summaries[prior_set.name] = (summary_function or summarize_for_sensitivity)(trace, prob)
        traces[prior_set.name] = trace
    bar.close()
    return summaries, traces, convergence, outcomes


def _fit_prior_set(built, name: str, fit_kwargs: dict, starts: dict | None):
    """Fit one prior set, warm-started from the first fit of its model structure.

    ``starts`` maps a structure key to the starting points made from the first fit with
    that structure; None turns the warm start off.
    """
    from .refit import starting_points, warm_refit

    settings = {**fit_kwargs, "progressbar": False, "check": False}
    key = built.structure_key()
    points = starts.get(key) if starts is not None else None
    outcome = warm_refit(built, settings, points, label=f"fit under prior set {name!r}")
    if starts is not None and key not in starts:
        starts[key] = starting_points(outcome.trace, built, seed=fit_kwargs["seed"])
    return outcome


def summarize_for_sensitivity(trace: xr.DataTree, prob: float = 0.95) -> pd.DataFrame:
    """Summarise a trace for the sensitivity table.

    When ``mu`` has dims ``(chain, draw, measure)`` the rows of :func:`bayesdta.summarize`
    come first. For a meta-regression these describe the reference profile (every covariate
    at its reference), and their labels say so. A meta-regression adds the pooled sensitivity
    and specificity of each level of each categorical covariate, named like
    ``sensitivity[modality=MRI]``. Every other key variable of the trace (see
    :func:`bayesdta.convergence.key_variables`), such as regression coefficients, adds one row
    per element, named like ``beta_free[modality[MRI] on sensitivity]``. A ``mu`` with more
    dims adds ``sensitivity[...]`` and ``specificity[...]`` rows, ``expit`` of its elements.
    """
    from .summary import summarize, summarize_draws
    from .trace import read_spec

    posterior = trace["posterior"]
    regression = read_spec(trace).get("kind") == "regression"
    pooled_form = posterior["mu"].dims == ("chain", "draw", "measure")
    covered = {"mu", "tau", "rho"} if pooled_form else set()
    extra = _flat_key_draws(trace, skip=covered)
    if regression:
        extra = xr.merge([_level_draws(trace), extra])

    frames = []
    if pooled_form:
        pooled = summarize(trace, prob=prob)
        if regression:
            pooled["label"] = pooled["label"] + " (reference profile)"
        frames.append(pooled)
    if extra.data_vars:
        frames.append(summarize_draws(extra, prob=prob))
    table = pd.concat(frames)
    table.attrs["prob"] = prob
    return table


def _level_draws(trace: xr.DataTree) -> xr.Dataset:
    from scipy.special import expit

    from .subgroups import level_logits, regression_specs

    draws = {}
    for spec in regression_specs(trace):
        if spec.kind != "categorical":
            continue
        logits = level_logits(trace, spec.name)
        for level in logits["level"].values:
            for measure in logits["measure"].values:
                logit = logits.sel(level=level, measure=measure, drop=True)
                draws[f"{measure}[{spec.name}={level}]"] = expit(logit)
    return xr.Dataset(draws)


def _flat_key_draws(trace: xr.DataTree, skip=frozenset()) -> xr.Dataset:
    from scipy.special import expit

    from .convergence import key_variables

    posterior = trace["posterior"]
    flat = {}
    for name in key_variables(trace):
        if name in skip:
            continue
        variable = posterior[name]
        if name == "mu" and "measure" in variable.dims:
            for measure in variable["measure"].values:
                probability = expit(variable.sel(measure=measure, drop=True))
                flat.update(_elements(str(measure), probability))
        flat.update(_elements(name, variable))
    return xr.Dataset(flat)


def _elements(name: str, variable: xr.DataArray) -> dict[str, xr.DataArray]:
    other_dims = [dim for dim in variable.dims if dim not in ("chain", "draw")]
    if not other_dims:
        return {name: variable}
    stacked = variable.stack(element=other_dims)
    elements = {}
    for index in range(stacked.sizes["element"]):
        element = stacked.isel(element=index)
        labels = [str(element[dim].values) for dim in other_dims]
        elements[f"{name}[{', '.join(labels)}]"] = element.drop_vars(
            ["element", *other_dims], errors="ignore"
        )
    return elements


def _long_table(summaries: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    frames = []
    for name, summary in summaries.items():
        frame = pd.DataFrame(
            {
                "prior_set": name,
                "quantity": summary.index.astype(str),
                "label": summary["label"] if "label" in summary else summary.index.astype(str),
                "median": summary["median"].to_numpy(dtype=float),
                "lower": summary["eti_lower"].to_numpy(dtype=float),
                "upper": summary["eti_upper"].to_numpy(dtype=float),
            }
        )
        frames.append(frame.reset_index(drop=True))
    return pd.concat(frames, ignore_index=True)


def _check_quantity_names(table: pd.DataFrame, decision_values, thresholds) -> None:
    known = set(table["quantity"])
    problems = []
    for argument, names in (("decision_values", decision_values), ("thresholds", thresholds)):
        unknown = sorted(set(names or {}) - known)
        if unknown:
            problems.append(f"{argument} names unknown quantities {unknown}")
    if problems:
        raise ValueError("; ".join(problems) + f"; valid quantities are {sorted(known)}")


def flag_changes(
    table: pd.DataFrame,
    reference: str,
    threshold: float = 0.02,
    thresholds: Mapping[str, float] | None = None,
    decision_values: Mapping[str, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare every prior set with the reference set and flag changed conclusions.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``prior_set``, ``quantity``, ``median``, ``lower``, ``upper``.
    reference : str
        Prior set to compare with.
    threshold : float, default 0.02
        Median threshold of the quantities in :data:`PROBABILITY_QUANTITIES` (also when
        written with a level, as in ``sensitivity[CT]``).
    thresholds : mapping, optional
        Median threshold by quantity, overriding ``threshold``.
    decision_values : mapping, optional
        Decision value by quantity.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The table with columns ``shift`` and ``flagged`` added, and the flags
        (:data:`FLAG_COLUMNS`).
    """
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold!r}")
    thresholds = dict(thresholds or {})
    decision_values = dict(decision_values or {})
    table = table.copy()
    reference_rows = table[table["prior_set"] == reference].set_index("quantity")

    shifts, flagged, flags = [], [], []
    for row in table.itertuples(index=False):
        base = reference_rows.loc[row.quantity] if row.quantity in reference_rows.index else None
        shift = np.nan if base is None else row.median - base["median"]
        shifts.append(shift)
        row_flags = []
        if base is not None and row.prior_set != reference:
            limit = _threshold_of(row.quantity, threshold, thresholds)
            row_flags = _row_flags(row, base, shift, limit, decision_values)
        flags += row_flags
        flagged.append(bool(row_flags))

    table["shift"] = shifts
    table["flagged"] = flagged
    return table[TABLE_COLUMNS], pd.DataFrame(flags, columns=FLAG_COLUMNS)


def _threshold_of(quantity: str, threshold: float, thresholds: Mapping[str, float]):
    if quantity in thresholds:
        return thresholds[quantity]
    if quantity.split("[")[0] in PROBABILITY_QUANTITIES:
        return threshold
    return None


def _row_flags(row, base, shift, threshold, decision_values) -> list[dict]:
    flags = []
    if threshold is not None and abs(shift) > threshold:
        flags.append(
            {
                "prior_set": row.prior_set,
                "quantity": row.quantity,
                "rule": "median_shift",
                "message": (
                    f"median {row.median:.3f} differs from {base['median']:.3f} under the "
                    f"reference by {shift:+.3f}, more than {threshold:g}"
                ),
            }
        )
    if row.quantity in decision_values:
        value = decision_values[row.quantity]
        side = _side(row.lower, row.upper, value)
        reference_side = _side(base["lower"], base["upper"], value)
        if side != reference_side:
            flags.append(
                {
                    "prior_set": row.prior_set,
                    "quantity": row.quantity,
                    "rule": "decision_value",
                    "message": (
                        f"interval {row.lower:.3f} to {row.upper:.3f} {_side_text(side)} "
                        f"the decision value {value:g}; under the reference prior set the "
                        f"interval {_side_text(reference_side)} it"
                    ),
                }
            )
    return flags


def _side(lower: float, upper: float, value: float) -> str:
    if lower > value:
        return "above"
    if upper < value:
        return "below"
    return "contains"


def _side_text(side: str) -> str:
    return "contains" if side == "contains" else f"lies {side}"


def _warn_about_convergence(convergence: Mapping[str, list[str]]) -> None:
    failed = {name: messages for name, messages in convergence.items() if messages}
    if not failed:
        return
    lines = [f"{name}: {' '.join(messages)}" for name, messages in failed.items()]
    warnings.warn(
        f"{len(failed)} of {len(convergence)} prior set fit(s) failed convergence checks, so "
        "differences between them may be Monte Carlo error; refit with more draws or a higher "
        "target_accept.\n" + "\n".join(lines),
        BayesDTAWarning,
        stacklevel=3,
    )


def plot_prior_sensitivity(result, quantities=None, fig=None, **kwargs):
    """Draw medians and intervals of key quantities across prior sets, one panel each.

    See :func:`bayesdta.plots.priors.plot_prior_sensitivity`.
    """
    from .plots.priors import plot_prior_sensitivity as plot

    return plot(result, quantities=quantities, fig=fig, **kwargs)
