"""Post-fit convergence checks with the remedy for each failure.

Thresholds follow Vehtari et al. (2021), Rank-normalization, folding, and localization: an
improved R-hat for assessing convergence of MCMC, Bayesian Analysis 16:667-718: R-hat
below 1.01 and bulk and tail ESS of at least 400 (100 per chain for four chains).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import arviz as az
import numpy as np
import xarray as xr

from .errors import ConvergenceWarning

__all__ = ["KEY_VARIABLES", "key_variables", "ConvergenceNumbers", "convergence_numbers", "check_convergence"]

logger = logging.getLogger(__name__)

#: Hyperparameters whose convergence decides whether a fit can be reported.
KEY_VARIABLES = ("mu", "tau", "rho")
RHAT_MAX = 1.01
ESS_MIN = 400


def key_variables(trace: xr.DataTree) -> list[str]:
    """Return the key hyperparameters present in a trace (regression models add their own)."""
    posterior = trace["posterior"]
    extra = trace.attrs.get("bayesdta_key_variables", "")
    names = list(KEY_VARIABLES) + [name for name in extra.split(",") if name]
    return [name for name in names if name in posterior.data_vars]


@dataclass(frozen=True)
class ConvergenceNumbers:
    """Worst values over the key hyperparameters, and the divergence count."""

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    n_draws: int


def convergence_numbers(trace: xr.DataTree) -> ConvergenceNumbers:
    """Compute R-hat, bulk and tail ESS (ArviZ) over the key variables, and count divergences."""
    names = key_variables(trace)
    posterior = trace["posterior"].to_dataset()[names]
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
    )


def _extreme(dataset: xr.Dataset, reduce) -> float:
    values = np.concatenate([np.ravel(dataset[name].values) for name in dataset.data_vars])
    return float(reduce(values))


def check_convergence(trace: xr.DataTree, warn: bool = True) -> list[str]:
    """Check divergences, R-hat and ESS, and return one message per failed check.

    Parameters
    ----------
    trace : xarray.DataTree
    warn : bool, default True
        Also issue each message as a :class:`~bayesdta.errors.ConvergenceWarning`.

    Returns
    -------
    list of str
        Empty when every check passes.
    """
    numbers = convergence_numbers(trace)
    messages = []
    if numbers.divergences:
        messages.append(
            f"{numbers.divergences} divergent transition(s) of {numbers.n_draws} draws: the "
            "posterior may be biased. Refit with a higher target_accept (0.95 or 0.99), or "
            "with the other parametrization (centered or noncentered)."
        )
    if numbers.max_rhat > RHAT_MAX:
        messages.append(
            f"max R-hat {numbers.max_rhat:.3f} over mu, tau and rho exceeds {RHAT_MAX}: the "
            "chains disagree. Run more tuning and draws (for example --tune 2000 --draws 2000)."
        )
    if min(numbers.min_ess_bulk, numbers.min_ess_tail) < ESS_MIN:
        messages.append(
            f"smallest ESS over mu, tau and rho is {numbers.min_ess_bulk:.0f} (bulk) and "
            f"{numbers.min_ess_tail:.0f} (tail), below {ESS_MIN}: interval bounds are "
            "imprecise. Run more draws or chains."
        )
    for message in messages:
        logger.warning(message)
        if warn:
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
    return messages
