"""Post-fit convergence checks with the remedy for each failure.

Thresholds follow Vehtari et al. (2021), Rank-normalization, folding, and localization: an
improved R-hat for assessing convergence of MCMC, Bayesian Analysis 16:667-718: R-hat
below 1.01 and bulk and tail ESS of at least 400 (100 per chain for four chains).
E-BFMI below 0.3 in a chain signals that the momentum resampling cannot explore the energy
distribution (Betancourt 2016, Diagnosing suboptimal cotangent disintegrations in
Hamiltonian Monte Carlo, arXiv:1604.00695). Trajectories that hit the maximum tree depth
were cut short, which lowers efficiency but does not bias the draws.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from .errors import ConvergenceWarning

__all__ = [
    "KEY_VARIABLES",
    "key_variables",
    "ConvergenceNumbers",
    "convergence_numbers",
    "check_convergence",
    "ConvergenceProblem",
    "ConvergenceReport",
    "convergence_report",
    "convergence_table",
]

logger = logging.getLogger(__name__)

#: Hyperparameters whose convergence decides whether a fit can be reported.
KEY_VARIABLES = ("mu", "tau", "rho")
RHAT_MAX = 1.01
ESS_MIN = 400
#: E-BFMI below this value in any chain is a failed check.
BFMI_MIN = 0.3
#: Fraction of draws whose trajectory hit the maximum tree depth above which a warning is due.
TREEDEPTH_SATURATION_MAX = 0.01


def key_variables(trace: xr.DataTree) -> list[str]:
    """Return the key hyperparameters present in a trace (regression models add their own)."""
    posterior = trace["posterior"]
    extra = trace.attrs.get("bayesdta_key_variables", "")
    names = list(KEY_VARIABLES) + [name for name in extra.split(",") if name]
    return [name for name in names if name in posterior.data_vars]


def _varying(posterior: xr.Dataset) -> xr.Dataset:
    """Drop variables held constant by the model (a fixed correlation has no R-hat)."""
    constant = [name for name in posterior.data_vars if float(posterior[name].std()) == 0.0]
    return posterior.drop_vars(constant)


@dataclass(frozen=True)
class ConvergenceNumbers:
    """Worst values over the key hyperparameters, and the sampler's own diagnostics.

    ``min_bfmi`` is the smallest E-BFMI over chains (NaN when the trace has no ``energy``);
    ``treedepth_saturation`` is the fraction of draws whose trajectory reached the maximum
    tree depth (0 when the sampler does not record it).
    """

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    n_draws: int
    min_bfmi: float = float("nan")
    treedepth_saturation: float = 0.0


def convergence_numbers(trace: xr.DataTree) -> ConvergenceNumbers:
    """Compute R-hat, bulk and tail ESS (ArviZ) over the key variables, and count divergences."""
    posterior = _varying(trace["posterior"].to_dataset()[key_variables(trace)])
    rhat = az.rhat(posterior)
    ess_bulk = az.ess(posterior, method="bulk")
    ess_tail = az.ess(posterior, method="tail")
    stats = trace["sample_stats"]
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    n_draws = int(posterior.sizes["chain"] * posterior.sizes["draw"])
    return ConvergenceNumbers(
        max_rhat=_extreme(rhat, np.nanmax),
        min_ess_bulk=_extreme(ess_bulk, np.nanmin),
        min_ess_tail=_extreme(ess_tail, np.nanmin),
        divergences=divergences,
        n_draws=n_draws,
        min_bfmi=_min_bfmi(trace),
        treedepth_saturation=_treedepth_saturation(stats),
    )


def _min_bfmi(trace: xr.DataTree) -> float:
    if "energy" not in trace["sample_stats"]:
        return float("nan")
    bfmi = az.bfmi(trace)
    values = bfmi["energy"].values if isinstance(bfmi, xr.DataTree | xr.Dataset) else bfmi
    return float(np.nanmin(np.asarray(values, dtype=float)))


def _treedepth_saturation(stats) -> float:
    if "maxdepth_reached" not in stats:
        return 0.0
    return float(np.mean(stats["maxdepth_reached"].values))


def _extreme(dataset: xr.Dataset, reduce) -> float:
    values = np.concatenate([np.ravel(dataset[name].values) for name in dataset.data_vars])
    if np.all(np.isnan(values)):
        # R-hat of a single chain is undefined, so return NaN without numpy's all-NaN warning.
        return float("nan")
    return float(reduce(values))


@dataclass(frozen=True)
class ConvergenceProblem:
    """One failed check: its name, what the numbers show, and what to do about it."""

    check: str
    message: str
    remedy: str

    def describe(self) -> str:
        """Return the message followed by the remedy."""
        return f"{self.message} {self.remedy}"


def convergence_problems(numbers: ConvergenceNumbers) -> list[ConvergenceProblem]:
    """Return one :class:`ConvergenceProblem` per failed check, most serious first."""
    problems = []
    if numbers.divergences:
        problems.append(
            ConvergenceProblem(
                "divergences",
                f"{numbers.divergences} divergent transition(s) of {numbers.n_draws} draws: the "
                "posterior may be biased.",
                "Refit with a higher target_accept (0.95 or 0.99), or with the other "
                "parametrization (centered or noncentered).",
            )
        )
    if numbers.max_rhat > RHAT_MAX:
        problems.append(
            ConvergenceProblem(
                "r_hat",
                f"max R-hat {numbers.max_rhat:.3f} over mu, tau and rho exceeds {RHAT_MAX}: "
                "the chains disagree.",
                "Run more tuning and draws (for example --tune 2000 --draws 2000).",
            )
        )
    if min(numbers.min_ess_bulk, numbers.min_ess_tail) < ESS_MIN:
        problems.append(
            ConvergenceProblem(
                "ess",
                f"smallest ESS over mu, tau and rho is {numbers.min_ess_bulk:.0f} (bulk) and "
                f"{numbers.min_ess_tail:.0f} (tail), below {ESS_MIN}: interval bounds are "
                "imprecise.",
                "Run more draws or chains.",
            )
        )
    if numbers.min_bfmi < BFMI_MIN:
        problems.append(
            ConvergenceProblem(
                "e_bfmi",
                f"E-BFMI {numbers.min_bfmi:.2f} in at least one chain is below {BFMI_MIN}: the "
                "sampler explores the tails of the posterior poorly.",
                "Switch the parametrization (centered or noncentered) and run more tuning.",
            )
        )
    if numbers.treedepth_saturation > TREEDEPTH_SATURATION_MAX:
        problems.append(
            ConvergenceProblem(
                "tree_depth",
                f"{100 * numbers.treedepth_saturation:.1f}% of trajectories reached the maximum "
                "tree depth: sampling is inefficient, although the draws are not biased by it.",
                "Run more tuning so the step size and mass matrix adapt, or switch the "
                "parametrization.",
            )
        )
    return problems


def check_convergence(trace: xr.DataTree, warn: bool = True) -> list[str]:
    """Check divergences, R-hat, ESS, E-BFMI and tree depth; return one message per failure.

    Parameters
    ----------
    trace : xarray.DataTree
    warn : bool, default True
        Issue each message as a :class:`~bayesdta.errors.ConvergenceWarning`; otherwise
        only log it, so that the command line does not print it twice.

    Returns
    -------
    list of str
        Empty when every check passes.
    """
    messages = [problem.describe() for problem in convergence_problems(convergence_numbers(trace))]
    for message in messages:
        if warn:
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        else:
            logger.info(message)
    return messages


def convergence_table(trace: xr.DataTree) -> pd.DataFrame:
    """Return R-hat and bulk and tail ESS (ArviZ) of every element of the key variables.

    Returns
    -------
    pandas.DataFrame
        Index ``parameter`` (for example ``mu[sensitivity]``), columns ``r_hat``,
        ``ess_bulk``, ``ess_tail`` and ``ok`` (all three within the thresholds).
    """
    posterior = _varying(trace["posterior"].to_dataset()[key_variables(trace)])
    columns = {
        "r_hat": az.rhat(posterior),
        "ess_bulk": az.ess(posterior, method="bulk"),
        "ess_tail": az.ess(posterior, method="tail"),
    }
    rows = []
    for name in posterior.data_vars:
        element_dims = [dim for dim in posterior[name].dims if dim not in ("chain", "draw")]
        stacked = {key: value[name] for key, value in columns.items()}
        if element_dims:
            stacked = {key: value.stack(element=element_dims) for key, value in stacked.items()}
            labels = [
                f"{name}[{', '.join(str(part) for part in np.atleast_1d(index))}]"
                for index in stacked["r_hat"]["element"].values
            ]
            values = {key: value.values for key, value in stacked.items()}
        else:
            labels = [name]
            values = {key: np.atleast_1d(value.values) for key, value in stacked.items()}
        for position, label in enumerate(labels):
            rows.append(
                {"parameter": label, **{key: float(v[position]) for key, v in values.items()}}
            )
    table = pd.DataFrame(rows).set_index("parameter")
    table["ok"] = (
        (table["r_hat"] <= RHAT_MAX)
        & (table["ess_bulk"] >= ESS_MIN)
        & (table["ess_tail"] >= ESS_MIN)
    )
    return table


@dataclass(frozen=True)
class ConvergenceReport:
    """Convergence numbers, the per-parameter table, the failed checks and a verdict.

    Attributes
    ----------
    numbers : ConvergenceNumbers
    table : pandas.DataFrame
        From :func:`convergence_table`.
    problems : list of ConvergenceProblem
    """

    numbers: ConvergenceNumbers
    table: pd.DataFrame
    problems: list[ConvergenceProblem]

    @property
    def converged(self) -> bool:
        """True when no check failed, apart from tree-depth saturation (efficiency only)."""
        return all(problem.check == "tree_depth" for problem in self.problems)

    @property
    def verdict(self) -> str:
        """Return one plain sentence, then the remedy of each failed check."""
        if not self.problems:
            return (
                "Converged: no divergences, R-hat at most 1.01, ESS of at least 400 for mu, "
                "tau and rho, E-BFMI above 0.3; the posterior summaries can be reported."
            )
        lead = (
            "Converged, but sampling was inefficient."
            if self.converged
            else "Not converged: do not report these results before fixing the problems below."
        )
        details = [_sentence_case(problem.describe()) for problem in self.problems]
        return " ".join([lead, *details])

    def to_dict(self) -> dict:
        """Return the verdict and the numbers as JSON-able values."""
        numbers = self.numbers
        return {
            "converged": self.converged,
            "verdict": self.verdict,
            "max_rhat": numbers.max_rhat,
            "min_ess_bulk": numbers.min_ess_bulk,
            "min_ess_tail": numbers.min_ess_tail,
            "divergences": numbers.divergences,
            "n_draws": numbers.n_draws,
            "min_bfmi": None if np.isnan(numbers.min_bfmi) else numbers.min_bfmi,
            "treedepth_saturation": numbers.treedepth_saturation,
            "problems": [problem.check for problem in self.problems],
        }


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def convergence_report(trace: xr.DataTree) -> ConvergenceReport:
    """Build the full convergence report of a fit.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`.

    Returns
    -------
    ConvergenceReport

    Examples
    --------
    >>> report = convergence_report(trace)  # doctest: +SKIP
    >>> print(report.verdict)  # doctest: +SKIP
    Converged: no divergences, ...
    """
    numbers = convergence_numbers(trace)
    return ConvergenceReport(numbers, convergence_table(trace), convergence_problems(numbers))
