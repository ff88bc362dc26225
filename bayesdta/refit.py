"""Warm-started refits of a fitted model after a small change of its data or priors.

Leave-one-study-out refits and prior-sensitivity sweeps refit one compiled model many
times, and each refit's posterior lies close to a posterior already sampled. A cold nutpie
run of 1000 warm-up and 1000 kept draws spends about three quarters of its time in warm-up
(an estimate from nutpie 0.16.11 runs on the 52-study benchmark data, 2 cores). Its first
iterations are the slowest because they start at PyMC's initial point with a unit mass
matrix. A warm-started refit instead starts every chain at a draw of the earlier
posterior, mapped to the unconstrained scale (:func:`starting_points`), and runs
:data:`WARM_TUNE` warm-up iterations. nutpie 0.16 takes no initial mass matrix, so the mass
matrix and step size are adapted anew in that shorter warm-up.

No warm-started refit is accepted unchecked. :func:`refit_problems` requires an R-hat of at
most 1.01, a bulk ESS of at least 100 per chain (Vehtari et al. 2021, Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC, Bayesian
Analysis 16:667-718) over the key hyperparameters, and no divergent transition. A refit
that fails is run again with the full warm-up from nutpie's default starting point, and a
warning is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .models.base import DTAModel
from .sampler_defaults import TARGET_ACCEPT, TUNE

__all__ = [
    "WARM_TUNE",
    "STARTING_POINTS",
    "ESS_PER_CHAIN_MIN",
    "RefitOutcome",
    "starting_points",
    "warm_draws",
    "with_starting_points",
    "sample_posterior",
    "refit_problems",
    "warm_refit",
]

logger = logging.getLogger(__name__)

#: Warm-up iterations per chain of a warm-started refit.
WARM_TUNE = 100

#: Number of posterior draws offered as starting points; each chain picks one from its seed.
STARTING_POINTS = 100

#: Smallest bulk ESS per chain of every key hyperparameter that a warm-started refit needs.
ESS_PER_CHAIN_MIN = 100

#: Bulk ESS that :func:`warm_draws` aims at, as a multiple of the ESS the check needs. With
#: this margin, 4 chains and warm-up 100, refits of 8 studies of each of six datasets fell
#: back in 0 to 3 of 8, most often where the full fit mixes slowly. On the 52-study benchmark
#: data, 250 draws per chain (a margin of about 1.4) fell back in 8 of 52 refits.
WARM_ESS_MARGIN = 2.5

#: Minimum number of kept draws per chain that :func:`warm_draws` returns. R-hat of shorter
#: chains varies enough to cross 1.01 by chance. With the default target acceptance of 0.9,
#: refits of each of the 52 benchmark studies with 300 draws per chain fell back in 8 of 52
#: (R-hat 1.011 to 1.015), and with 400 in none.
WARM_DRAWS_MIN = 400


@dataclass(frozen=True)
class RefitOutcome:
    """Result of :func:`warm_refit`.

    Attributes
    ----------
    trace : xarray.DataTree
        The accepted fit.
    warm_start : bool
        Whether ``trace`` comes from the warm-started run. False when no starting points
        were given, or when the warm-started run failed its checks and was replaced.
    problems : tuple of str
        Failed checks of a replaced warm-started run (empty otherwise).
    """

    trace: xr.DataTree
    warm_start: bool
    problems: tuple[str, ...] = ()

    @property
    def fell_back(self) -> bool:
        """Whether a warm-started run failed its checks and was replaced by a cold one."""
        return bool(self.problems)


def starting_points(
    trace: xr.DataTree,
    built: DTAModel,
    count: int = STARTING_POINTS,
    seed: int | None = None,
) -> np.ndarray | None:
    """Map posterior draws of ``trace`` to nutpie's unconstrained parameter vector.

    Parameters
    ----------
    trace : xarray.DataTree
        A fit of a model with the structure of ``built`` (equal
        :meth:`~bayesdta.models.DTAModel.structure_key`), for example the full-data fit
        before a leave-one-out refit, or the fit under another prior set.
    built : DTAModel
        The model whose value transforms (log for SDs, log-odds for the correlation's unit
        variable, ...) map the draws.
    count : int, default 100
        Number of draws, picked at random without replacement.
    seed : int, optional
        Seed of that pick.

    Returns
    -------
    numpy.ndarray or None
        Shape ``(n, n_parameters)``, ordered like ``built.model.free_RVs``, which is the
        order of nutpie's flat vector. Rows that are not finite are dropped. None when the
        posterior lacks a free variable of the model or has another shape for it, so a
        warm start is impossible.
    """
    posterior = trace["posterior"]
    variables = built.model.free_RVs
    for variable in variables:
        if variable.name not in posterior.data_vars:
            logger.info("no warm start: the posterior has no draws of %s", variable.name)
            return None

    draws = {
        variable.name: posterior[variable.name]
        .stack(sample=("chain", "draw"))
        .transpose("sample", ...)
        for variable in variables
    }
    total = posterior.sizes["chain"] * posterior.sizes["draw"]
    picked = np.random.default_rng(seed).choice(total, size=min(count, total), replace=False)
    to_unconstrained = _unconstrained_function(built)
    try:
        rows = [
            to_unconstrained(*[draws[variable.name].values[index] for variable in variables])
            for index in picked
        ]
    except ValueError as error:
        logger.info("no warm start: the posterior does not fit the model's shapes (%s)", error)
        return None
    points = np.asarray(rows, dtype=np.float64)
    points = points[np.all(np.isfinite(points), axis=1)]
    return points if len(points) else None


def warm_draws(trace: xr.DataTree, draws: int) -> int:
    """Return the kept draws per chain for warm-started refits close to ``trace``.

    The refits are assumed to mix as well as ``trace``: the smallest bulk ESS per draw over
    its key hyperparameters sets the draws that give :data:`WARM_ESS_MARGIN` times the ESS
    that :func:`refit_problems` requires. The result lies between :data:`WARM_DRAWS_MIN` and
    ``draws``; it is ``draws`` when the ESS cannot be computed.
    """
    import arviz as az

    key_draws = _key_draws(trace)
    if not key_draws.size:
        return int(draws)
    total = key_draws.shape[1] * key_draws.shape[2]
    ess = az.ess(key_draws, method="bulk", chain_axis=1, draw_axis=2)
    ess_per_draw = float(np.min(ess)) / total
    if not ess_per_draw > 0:
        return int(draws)
    needed = int(np.ceil(WARM_ESS_MARGIN * ESS_PER_CHAIN_MIN / ess_per_draw))
    return int(min(draws, max(WARM_DRAWS_MIN, needed)))


def _unconstrained_function(built: DTAModel):
    """Compile a function from one value of each free variable to the flat unconstrained
    vector, applying each variable's forward transform as PyMC's initial point does."""
    import pytensor
    import pytensor.tensor as pt

    model = built.model
    inputs, outputs = [], []
    for variable in model.free_RVs:
        value = variable.type()
        transform = model.rvs_to_transforms.get(variable)
        if transform is not None:
            value_out = transform.forward(value, *variable.owner.inputs)
        else:
            value_out = value
        inputs.append(value)
        outputs.append(pt.as_tensor(value_out).astype("float64").ravel())
    return pytensor.function(inputs, pt.concatenate(outputs), on_unused_input="ignore")


def with_starting_points(compiled, points: np.ndarray):
    """Return a nutpie compiled PyMC model whose chains start at rows of ``points``.

    nutpie 0.16 ignores ``init_mean`` for PyMC models. It calls the model's
    ``initial_point_func`` once per chain with a seed derived from the sampler seed, and
    again with a new seed when the point has no finite density. Picking the row from that
    seed keeps a seeded run reproducible. The calls come from nutpie's worker threads, so
    the function only reads the array.

    Raises
    ------
    ValueError
        When ``points`` is not a finite array of shape ``(n, compiled.n_dim)``.
    """
    import dataclasses

    rows = np.array(points, dtype=np.float64, ndmin=2, copy=True)
    if rows.ndim != 2 or rows.shape[1] != compiled.n_dim or not len(rows):
        raise ValueError(
            f"initial_points must have shape (n, {compiled.n_dim}) for this model, the "
            f"number of unconstrained parameters; got shape {rows.shape}"
        )
    if not np.all(np.isfinite(rows)):
        raise ValueError("initial_points contains values that are not finite")
    rows.flags.writeable = False

    def initial_point(seed=None) -> np.ndarray:
        row = np.random.default_rng(seed).integers(len(rows))
        return rows[row].copy()

    return dataclasses.replace(compiled, initial_point_func=initial_point)


def sample_posterior(built: DTAModel, settings: dict, points: np.ndarray) -> xr.DataTree:
    """Sample ``built`` with nutpie from ``points`` and keep only what a refit reads.

    Unlike :func:`bayesdta.fit`, no log-likelihood, data groups or sampler statistics
    besides ``diverging`` are built: the result has a ``posterior`` group (``study``
    labels from ``built.table``) and a ``sample_stats`` group with ``diverging``, and the
    ``bayesdta_key_variables`` attribute that :func:`refit_problems` reads. On the 52-study
    benchmark data this took a tenth to a fifth off the time of a warm-started refit.

    Parameters
    ----------
    built : DTAModel
    settings : dict
        ``draws``, ``tune``, ``chains``, ``seed`` and ``target_accept`` as
        :func:`bayesdta.fit` takes them, checked the same way. Other keys are ignored.
    points : numpy.ndarray
        Starting points, see :func:`with_starting_points`.
    """
    import nutpie

    from .sampling import check_settings, compiled_model

    draws, tune = settings.get("draws", 1000), settings.get("tune", TUNE)
    chains, seed = settings.get("chains", 4), settings.get("seed")
    target_accept = settings.get("target_accept", TARGET_ACCEPT)
    check_settings(draws, tune, chains, seed, "nutpie", target_accept)
    compiled = with_starting_points(compiled_model(built), points)
    raw = nutpie.sample(
        compiled,
        draws=int(draws),
        tune=int(tune),
        chains=int(chains),
        seed=seed,
        target_accept=target_accept,
        progress_bar=False,
        save_warmup=False,
        return_raw_trace=True,
    )
    # NOTE: nutpie 0.16 converts this arrow form to a DataTree in nutpie.sample._arrow_to_arviz.
    # A nutpie release that changes the form breaks this function, and the influence tests
    # then fail.
    draw_batches, stat_batches = raw.get_arrow_trace()
    posterior_rows = [_posterior_rows(stats) for stats in stat_batches]
    skip = set(compiled.reparameterized_names or ())
    names = [name for name in draw_batches[0].column_names if name not in skip]
    variables = {name: _stacked_column(draw_batches, posterior_rows, name) for name in names}
    used_dims = {dim for variable in variables.values() for dim in variable.dims}
    coords = {
        dim: list(values) for dim, values in (compiled.coords or {}).items() if dim in used_dims
    }
    if "study" in coords:
        coords["study"] = list(built.table.study_ids)
    posterior = xr.Dataset(variables, coords=coords)
    stats = xr.Dataset({"diverging": _stacked_column(stat_batches, posterior_rows, "diverging")})
    trace = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})
    if built.key_variables:
        trace.attrs["bayesdta_key_variables"] = ",".join(built.key_variables)
    return trace


def _posterior_rows(stats) -> np.ndarray:
    import pyarrow

    tuning = pyarrow.array(stats.column("tuning")).to_numpy(zero_copy_only=False)
    return ~np.asarray(tuning, dtype=bool)


def _stacked_column(batches, posterior_rows: list[np.ndarray], name: str) -> xr.Variable:
    """Return one arrow column of every chain as a ``(chain, draw, ...)`` variable, using
    the ``shape`` and ``dims`` metadata that nutpie stores with each column."""
    import pyarrow

    field = batches[0].schema.field(name)
    metadata = field.metadata or {}
    shape = [int(size) for size in metadata.get(b"shape", b"").decode().split(",") if size]
    dims = [dim for dim in metadata.get(b"dims", b"").decode().split(",") if dim]
    if len(dims) != len(shape):
        dims = [f"{name}_dim_{axis}" for axis in range(len(shape))]
    chains = []
    for batch, rows in zip(batches, posterior_rows, strict=True):
        column = pyarrow.array(batch.column(name))
        if hasattr(column, "flatten"):
            column = column.flatten()
        values = np.asarray(column.to_numpy(zero_copy_only=False))
        chains.append(values.reshape(len(rows), *shape)[rows])
    return xr.Variable(("chain", "draw", *dims), np.stack(chains))


def refit_problems(trace: xr.DataTree) -> list[str]:
    """Return the failed checks of a warm-started refit, or an empty list.

    The checks are rank-normalized R-hat at most :data:`bayesdta.convergence.RHAT_MAX`
    and bulk ESS at least :data:`ESS_PER_CHAIN_MIN` per chain (both by ArviZ) for every
    element of the key hyperparameters, and no divergent transition. Elements held
    constant by the model, such as a fixed correlation, are skipped. R-hat is not checked
    for a single chain, where it is undefined.
    """
    import arviz as az

    from .convergence import RHAT_MAX

    draws = _key_draws(trace)
    chains = draws.shape[1]
    problems = []
    if draws.size:
        ess_min = ESS_PER_CHAIN_MIN * chains
        min_ess = float(np.min(az.ess(draws, method="bulk", chain_axis=1, draw_axis=2)))
        if chains > 1:
            max_rhat = float(np.max(az.rhat(draws, chain_axis=1, draw_axis=2)))
            if not max_rhat <= RHAT_MAX:
                problems.append(f"R-hat {max_rhat:.3f} above {RHAT_MAX}")
        if not min_ess >= ess_min:
            problems.append(f"bulk ESS {min_ess:.0f} below {ess_min}")
    divergences = int(trace["sample_stats"]["diverging"].sum())
    if divergences:
        problems.append(f"{divergences} divergent transition(s)")
    return problems


def _key_draws(trace: xr.DataTree) -> np.ndarray:
    """Return the draws of every varying key-variable element, shape (element, chain, draw)."""
    from .convergence import key_variables

    posterior = trace["posterior"]
    columns = []
    for name in key_variables(trace):
        variable = posterior[name].transpose("chain", "draw", ...)
        values = variable.values.reshape(variable.shape[0], variable.shape[1], -1)
        columns += [values[:, :, k] for k in range(values.shape[2])]
    varying = [column for column in columns if np.ptp(column) > 0]
    if not varying:
        return np.empty((0, posterior.sizes["chain"], posterior.sizes["draw"]))
    return np.stack(varying)


def warm_refit(
    built: DTAModel,
    settings: dict,
    points: np.ndarray | None,
    *,
    warm_tune: int | None = None,
    warm_draws: int | None = None,
    label: str = "refit",
    posterior_only: bool = False,
) -> RefitOutcome:
    """Fit ``built`` from warm starting points, falling back to a cold fit when needed.

    Parameters
    ----------
    built : DTAModel
        The model with its changed data or priors.
    settings : dict
        Arguments of :func:`bayesdta.fit` for a cold fit. The cold fallback uses them as
        they are.
    points : numpy.ndarray or None
        From :func:`starting_points`. None runs the cold fit only.
    warm_tune : int, optional
        Warm-up iterations of the warm-started run; :data:`WARM_TUNE` by default.
    warm_draws : int, optional
        Kept draws per chain of the warm-started run; ``settings["draws"]`` by default.
    label : str, default "refit"
        Name of the refit in log messages, such as the study left out.
    posterior_only : bool, default False
        Run the warm-started refit with :func:`sample_posterior`, which builds only the
        posterior and the divergences. A cold fallback always returns a full trace.

    Returns
    -------
    RefitOutcome
    """
    from .sampling import fit

    if points is None:
        return RefitOutcome(fit(built, **settings), warm_start=False)

    warm_settings = {**settings, "tune": warm_tune or WARM_TUNE, "check": False}
    if warm_draws is not None:
        warm_settings["draws"] = warm_draws
    if posterior_only:
        trace = sample_posterior(built, warm_settings, points)
    else:
        trace = fit(built, initial_points=points, **warm_settings)
    problems = refit_problems(trace)
    if not problems:
        return RefitOutcome(trace, warm_start=True)

    logger.warning(
        "warm-started %s failed its checks (%s); running it again with %s warm-up "
        "iterations from the default starting point",
        label,
        "; ".join(problems),
        settings.get("tune", "the default"),
    )
    return RefitOutcome(fit(built, **settings), warm_start=False, problems=tuple(problems))
