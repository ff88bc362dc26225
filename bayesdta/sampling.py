"""Fit a built model and return an ArviZ DataTree.

nutpie is the default NUTS engine. Compiling is the slow step, so compiled models are kept
for the life of the process, keyed by the model's structure: a refit that changes only
data values or prior hyperparameters reuses the compiled model through ``with_data``.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import numpy as np
import xarray as xr

from .cache import load_or_compile
from .convergence import check_convergence
from .errors import BayesDTAWarning
from .models.base import DTAModel
from .sampler_defaults import TARGET_ACCEPT, TUNE
from .trace import finish_trace

__all__ = ["fit", "SAMPLERS", "compiled_model", "clear_compiled_models", "check_settings"]

logger = logging.getLogger(__name__)

SAMPLERS = ("nutpie", "pymc", "numpyro")

_COMPILED: dict[str, Any] = {}

#: Number of times a model was compiled by nutpie in this process; tests read it to check
#: that refits reuse compiled models.
COMPILE_COUNT = {"nutpie": 0}


def clear_compiled_models() -> None:
    """Forget every compiled model kept by this process."""
    _COMPILED.clear()


def _data_values(built: DTAModel) -> dict[str, np.ndarray]:
    return {
        variable.name: np.asarray(variable.get_value())
        for variable in built.model.data_vars
    }


def compiled_model(built: DTAModel):
    """Return a nutpie compiled model for ``built``, compiling only for a new structure.

    A structure compiled earlier in this process is reused; otherwise the on-disk cache of
    :mod:`bayesdta.cache` is tried before compiling.
    """
    key = built.structure_key()
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = load_or_compile(built, _compile_nutpie)
        _COMPILED[key] = compiled
    else:
        logger.info("reusing the compiled %s model", built.kind)
    return compiled.with_data(**_data_values(built))


def _compile_nutpie(built: DTAModel):
    import nutpie

    started = time.perf_counter()
    compiled = nutpie.compile_pymc_model(built.model, freeze_model=False)
    COMPILE_COUNT["nutpie"] += 1
    logger.info("compiled %s model in %.1f s", built.kind, time.perf_counter() - started)
    return compiled


def _sample_nutpie(built, draws, tune, chains, seed, target_accept, progressbar, initial_points):
    import nutpie

    compiled = compiled_model(built)
    if initial_points is not None:
        from .refit import with_starting_points

        compiled = with_starting_points(compiled, initial_points)
    return nutpie.sample(
        compiled,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        target_accept=target_accept,
        progress_bar=progressbar,
        save_warmup=False,
    )


def _sample_pymc(built, draws, tune, chains, seed, target_accept, progressbar, engine):
    import pymc as pm

    if engine == "numpyro":
        try:
            import numpyro  # noqa: F401
        except ImportError:
            raise ImportError(
                "sampler 'numpyro' needs numpyro and jax; install them with "
                "pip install 'bayesdta[numpyro]', or use sampler='nutpie'"
            ) from None
    return pm.sample(
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=seed,
        target_accept=target_accept,
        progressbar=progressbar,
        nuts_sampler=engine,
        compute_convergence_checks=False,
        model=built.model,
    )


def check_settings(draws, tune, chains, seed, sampler: str, target_accept: float) -> None:
    """Raise ValueError for sampler settings that :func:`fit` rejects."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler {sampler!r} is not available; choose one of {SAMPLERS}")
    for name, value in {"draws": draws, "tune": tune, "chains": chains}.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must lie in (0, 1), got {target_accept!r}")
    if seed is not None and (int(seed) != seed or not 0 <= seed < 2**63):
        raise ValueError(f"seed must be a whole number from 0 to 2**63 - 1, got {seed!r}")


def fit(
    built: DTAModel,
    *,
    draws: int = 1000,
    tune: int = TUNE,
    chains: int = 4,
    seed: int | None = None,
    sampler: str = "nutpie",
    target_accept: float = TARGET_ACCEPT,
    progressbar: bool = True,
    check: bool = True,
    initial_points: np.ndarray | None = None,
) -> xr.DataTree:
    """Sample the posterior of a built model.

    Parameters
    ----------
    built : DTAModel
        From :func:`bayesdta.build_bivariate_model` or another builder.
    draws, tune : int, default 1000
        Kept draws and warm-up (tuning) iterations per chain.
    chains : int, default 4
        Four chains make R-hat meaningful.
    seed : int, optional
        Seed; the same seed, data, model and sampler give the same draws.
    sampler : {"nutpie", "pymc", "numpyro"}, default "nutpie"
    target_accept : float, default 0.9
        Target acceptance rate of NUTS; raise it (0.95 to 0.99) when there are divergences.
        See :data:`bayesdta.sampler_defaults.TARGET_ACCEPT` for the reason of the default.
    progressbar : bool, default True
    check : bool, default True
        Run :func:`bayesdta.convergence.check_convergence` and warn about each failed check.
    initial_points : numpy.ndarray, optional
        Starting points on the unconstrained scale, shape ``(n, n_parameters)`` in the
        order of nutpie's flat parameter vector (``sampler="nutpie"`` only). Each chain
        starts at a row picked from its seed. By default nutpie starts from PyMC's
        initial point with jitter. :func:`bayesdta.refit.starting_points` makes such rows
        from the draws of an earlier fit.

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``log_likelihood`` (variable ``table``, one
        value per study), ``observed_data`` and ``constant_data``; ``attrs`` hold the
        versions and the analysis specification as JSON.
    """
    check_settings(draws, tune, chains, seed, sampler, target_accept)
    if initial_points is not None and sampler != "nutpie":
        raise ValueError(f"initial_points needs sampler='nutpie', got sampler={sampler!r}")

    if chains < 2:
        warnings.warn(
            "one chain: R-hat needs at least two chains and is reported as NaN (null in "
            "JSON); use 4 chains for results you report",
            BayesDTAWarning,
            stacklevel=2,
        )

    started = time.perf_counter()
    args = (built, int(draws), int(tune), int(chains), seed, target_accept, progressbar)
    if sampler == "nutpie":
        raw = _sample_nutpie(*args, initial_points)
    else:
        raw = _sample_pymc(*args, engine=sampler)
    elapsed = time.perf_counter() - started
    logger.info("sampled %d chains x %d draws with %s in %.1f s", chains, draws, sampler, elapsed)

    settings = {
        "sampler": sampler,
        "draws": int(draws),
        "tune": int(tune),
        "chains": int(chains),
        "seed": seed,
        "target_accept": target_accept,
    }
    if initial_points is not None:
        settings["warm_start"] = True
    trace = finish_trace(raw, built, settings)
    if check:
        check_convergence(trace, warn=True)
    return trace
