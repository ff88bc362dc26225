"""Summary ROC curves per posterior draw, their pointwise credible band, and the AUC.

Every curve here is linear on the logit scale. With ``x = logit(FPR)``,
``A = logit(sensitivity)``, means ``mu_A``, ``mu_B`` (logit specificity), between-study SDs
``s_A``, ``s_B`` and correlation ``rho``, each curve passes through the summary point
``(x, A) = (-mu_B, mu_A)``:

``A(x) = mu_A + slope * (x + mu_B)``

with ``slope`` by method:

- ``"hsroc"`` (default): the Rutter-Gatsonis HSROC curve, accuracy held at its mean while the
  threshold varies, ``logit(sens) = Lambda * exp(-beta / 2) + exp(-beta) * x``, which is
  ``slope = s_A / s_B`` (Rutter & Gatsonis, Stat Med 2001;20:2865; Harbord et al.,
  Biostatistics 2007;8:239). RevMan, Stata metandi and MetaDTA draw this curve.
- ``"sens_on_fpr"``: the regression of ``A`` on ``logit(FPR)``, ``slope = -rho * s_A / s_B``
  (the covariance of ``A`` with ``logit(FPR) = -B`` is ``-rho * s_A * s_B``).
- ``"fpr_on_sens"``: the regression of ``logit(FPR)`` on ``A``, solved for ``A``,
  ``slope = -s_A / (rho * s_B)``. It is undefined at ``rho = 0`` and very steep near it.

The three slopes coincide only at ``rho = -1``, where sensitivity and FPR are perfectly
positively correlated across studies. The weaker the correlation, the more they differ.
"""

from __future__ import annotations

import logging
import warnings

import arviz as az
import numpy as np
import xarray as xr
from scipy.special import expit, logit

from .errors import BayesDTAWarning

__all__ = [
    "SROC_METHODS",
    "FPR_EDGE",
    "observed_fpr",
    "fpr_grid",
    "sroc_coefficients",
    "sroc_curve",
    "sroc_band",
    "sroc_auc",
    "sroc_draws",
    "pooled_parameters",
    "auc_draws",
    "sroc_json",
]

logger = logging.getLogger(__name__)

#: Names and descriptions of the SROC curve definitions.
SROC_METHODS: dict[str, str] = {
    "hsroc": "Rutter-Gatsonis HSROC curve",
    "sens_on_fpr": "regression of logit sensitivity on logit false-positive rate",
    "fpr_on_sens": "regression of logit false-positive rate on logit sensitivity",
}

#: Closest distance of a curve's grid to FPR 0 or 1, so that logit(FPR) stays finite.
FPR_EDGE = 1e-4

#: An observed FPR range narrower than this, or fewer distinct FPRs than
#: ``MIN_DISTINCT_FPR``, draws the curve with a warning.
MIN_FPR_WIDTH = 0.1
MIN_DISTINCT_FPR = 4

# Quadrature over x = logit(FPR): dFPR = expit(x) * expit(-x) dx. The integrand is below
# exp(-|x|), so cutting the full range at |x| = 25 loses less than 2 * exp(-25), about 3e-11.
_LOGIT_LIMIT = 25.0
# Largest node spacing in x; a range gets the fewest nodes (an odd number) that keep it.
_QUADRATURE_SPACING = 0.02
_SAMPLE_DIMS = ("chain", "draw")


def observed_fpr(trace: xr.DataTree) -> np.ndarray:
    """Return ``fp / (fp + tn)`` of every study with non-diseased participants, shape (k,)."""
    constant = trace["constant_data"]
    fp = constant["fp"].values.astype(float)
    n_healthy = constant["n_healthy"].values.astype(float)
    keep = n_healthy > 0
    return fp[keep] / n_healthy[keep]


def fpr_grid(fpr_values=None, extrapolate: bool = False, n_points: int = 201) -> np.ndarray:
    """Return a grid of false-positive rates strictly inside (0, 1).

    The grid mixes points evenly spaced in FPR with points evenly spaced in logit(FPR), so
    that a curve looks smooth both in the middle and near the ends.

    Parameters
    ----------
    fpr_values : array-like, optional
        Observed study FPRs; the grid spans their range. Required unless ``extrapolate``.
    extrapolate : bool, default False
        Span ``(FPR_EDGE, 1 - FPR_EDGE)`` instead of the observed range.
    n_points : int, default 201
        Points of each of the two spacings; the grid has at most ``2 * n_points``.

    Returns
    -------
    numpy.ndarray
        Sorted unique FPRs in ``[FPR_EDGE, 1 - FPR_EDGE]``.

    Warns
    -----
    BayesDTAWarning
        When the observed range is under ``MIN_FPR_WIDTH`` wide or has fewer than
        ``MIN_DISTINCT_FPR`` distinct values (the curve is still returned).
    """
    if extrapolate:
        lower, upper = FPR_EDGE, 1.0 - FPR_EDGE
    else:
        lower, upper = _observed_range(fpr_values)

    if upper - lower < 1e-12:
        return np.array([lower])
    even = np.linspace(lower, upper, n_points)
    logit_even = expit(np.linspace(logit(lower), logit(upper), n_points))
    return np.unique(np.clip(np.concatenate([even, logit_even]), lower, upper))


def _observed_range(fpr_values) -> tuple[float, float]:
    if fpr_values is None:
        raise ValueError("fpr_grid needs the observed study FPRs unless extrapolate=True")
    values = np.asarray(fpr_values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no study has a finite false-positive rate to span the SROC curve")

    low, high = float(values.min()), float(values.max())
    distinct = np.unique(values).size
    if high - low < MIN_FPR_WIDTH or distinct < MIN_DISTINCT_FPR:
        warnings.warn(
            f"the study false-positive rates span only {low:.3g} to {high:.3g} "
            f"({distinct} distinct values); the SROC curve is drawn over this range, where "
            f"little data shapes it. Read its shape with care, or pass extrapolate=True to "
            f"draw it over (0, 1).",
            BayesDTAWarning,
            stacklevel=3,
        )
    if low < FPR_EDGE or high > 1.0 - FPR_EDGE:
        logger.info(
            "observed FPR range %.3g-%.3g reaches 0 or 1; the curve grid stops at %g from the "
            "ends so that logit(FPR) stays finite",
            low,
            high,
            FPR_EDGE,
        )
    return max(low, FPR_EDGE), min(high, 1.0 - FPR_EDGE)


def sroc_coefficients(
    mu: xr.DataArray, tau: xr.DataArray, rho: xr.DataArray, method: str = "hsroc"
) -> tuple[xr.DataArray, xr.DataArray]:
    """Return the intercept and slope of the SROC line ``logit(sens) = a + b * logit(FPR)``.

    Parameters
    ----------
    mu, tau : xarray.DataArray
        Mean logits and between-study SDs, each with a ``measure`` dimension
        (``"sensitivity"``, ``"specificity"``); other dimensions are kept.
    rho : xarray.DataArray
        Correlation of the logits.
    method : {"hsroc", "sens_on_fpr", "fpr_on_sens"}
        The curve definition; see the module docstring.

    Returns
    -------
    intercept, slope : xarray.DataArray
        With the dimensions of the inputs other than ``measure``.
    """
    if method not in SROC_METHODS:
        raise ValueError(f"unknown SROC method {method!r}; valid methods: {sorted(SROC_METHODS)}")
    mu_a = mu.sel(measure="sensitivity", drop=True)
    mu_b = mu.sel(measure="specificity", drop=True)
    ratio = tau.sel(measure="sensitivity", drop=True) / tau.sel(measure="specificity", drop=True)

    if method == "hsroc":
        slope = ratio
    elif method == "sens_on_fpr":
        slope = -rho * ratio
    else:
        with np.errstate(divide="ignore"):
            slope = -ratio / rho
    return mu_a + slope * mu_b, slope


def sroc_curve(
    mu: xr.DataArray,
    tau: xr.DataArray,
    rho: xr.DataArray,
    fpr,
    method: str = "hsroc",
) -> xr.DataArray:
    """Return the sensitivity of the SROC curve at each FPR, per draw.

    Parameters
    ----------
    mu, tau, rho : xarray.DataArray
        Bivariate parameters per draw, see :func:`sroc_coefficients`.
    fpr : array-like
        False-positive rates strictly inside (0, 1), for example from :func:`fpr_grid`.
    method : str, default "hsroc"
        One of :data:`SROC_METHODS`.

    Returns
    -------
    xarray.DataArray
        Sensitivity with the dimensions of ``rho`` plus ``fpr``.

    Examples
    --------
    >>> import xarray as xr
    >>> mu = xr.DataArray([1.0, 2.0], dims="measure",
    ...                   coords={"measure": ["sensitivity", "specificity"]})
    >>> tau = xr.DataArray([0.5, 0.5], dims="measure", coords=mu.coords)
    >>> sroc_curve(mu, tau, xr.DataArray(0.3), [0.1, 0.5]).round(3).values.tolist()
    [0.691, 0.953]
    """
    fpr = np.asarray(fpr, dtype=float)
    if np.any((fpr <= 0) | (fpr >= 1)):
        raise ValueError(
            f"SROC grid FPRs must lie strictly inside (0, 1), got {fpr.min()} to {fpr.max()}"
        )
    intercept, slope = sroc_coefficients(mu, tau, rho, method)
    logit_fpr = xr.DataArray(logit(fpr), dims="fpr", coords={"fpr": fpr})
    curve = xr.apply_ufunc(expit, intercept + slope * logit_fpr)
    curve.attrs.update({"method": method, "long_name": "sensitivity"})
    return curve.rename("sensitivity")


def sroc_band(curves: xr.DataArray, prob: float = 0.95) -> xr.Dataset:
    """Return the pointwise posterior median and equal-tailed interval of SROC curves.

    Parameters
    ----------
    curves : xarray.DataArray
        From :func:`sroc_curve`, with dims ``chain`` and ``draw``.
    prob : float, default 0.95
        Probability of the pointwise interval.

    Returns
    -------
    xarray.Dataset
        ``median``, ``lower`` and ``upper`` sensitivity on the remaining dims (``fpr``, ...),
        with ``lower <= median <= upper`` at every point. ``attrs["prob"]`` is ``prob``.
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob!r}")
    interval = az.eti(curves, prob=prob, dim=list(_SAMPLE_DIMS))
    band = xr.Dataset(
        {
            "median": curves.median(_SAMPLE_DIMS),
            "lower": interval.sel(ci_bound="lower", drop=True),
            "upper": interval.sel(ci_bound="upper", drop=True),
        }
    )
    band.attrs.update({"prob": prob, "method": curves.attrs.get("method", "")})
    return band


def _simpson_weights(lower: float, upper: float, points: int) -> np.ndarray:
    """Return the weights of composite Simpson's rule on ``points`` evenly spaced nodes.

    ``points`` must be odd. The weights are ``h / 3 * (1, 4, 2, 4, ..., 2, 4, 1)``.
    """
    if points < 3 or points % 2 == 0:
        raise ValueError(f"Simpson's rule needs an odd number of points, at least 3; got {points}")
    weights = np.full(points, 2.0)
    weights[1::2] = 4.0
    weights[[0, -1]] = 1.0
    return weights * (upper - lower) / (points - 1) / 3.0


def _integrate_lines(intercept, slope, lower, upper, points):
    # Simpson's rule in x = logit(FPR) of expit(a + b x) * expit(x) * expit(-x), in chunks of
    # draws so that memory stays near chunk * points floats. The rule is a weighted sum,
    # written here because scipy.integrate.simpson (SciPy 1.18) checks for JAX arrays, and
    # where JAX is installed that check imported it: 0.6 s of a command-line run.
    x = np.linspace(lower, upper, points)
    weights = _simpson_weights(lower, upper, points) * expit(x) * expit(-x)
    flat_a = np.ravel(intercept)
    flat_b = np.ravel(slope)
    result = np.empty(flat_a.size)
    chunk = 512
    for start in range(0, flat_a.size, chunk):
        stop = start + chunk
        linear = flat_a[start:stop, None] + flat_b[start:stop, None] * x[None, :]
        result[start:stop] = expit(linear) @ weights
    return result.reshape(np.shape(intercept))


def sroc_auc(
    mu: xr.DataArray,
    tau: xr.DataArray,
    rho: xr.DataArray,
    method: str = "hsroc",
    fpr_range: tuple[float, float] | None = None,
) -> xr.DataArray:
    """Return the area under the SROC curve per draw, full or partial.

    ``AUC = integral of sens(FPR) dFPR``, computed by Simpson's rule on a grid in
    ``logit(FPR)`` with the Jacobian ``FPR * (1 - FPR)``; the ends 0 and 1 are never
    evaluated. Over (0, 1) the grid runs from -25 to 25 in 2501 points, and a partial range
    gets the same node spacing of 0.02. A bound at FPR 0 or 1 is cut at logit 25 (in absolute
    value), or 25 beyond the logit of the other bound when that lies further out. The error
    is below 1e-8 for |slope| under 10, and grows to about 1e-5 at a slope of 80 and 1e-3 at
    300, where the curve is nearly a step (``"fpr_on_sens"`` with rho near 0).

    Parameters
    ----------
    mu, tau, rho : xarray.DataArray
        Bivariate parameters per draw, see :func:`sroc_coefficients`.
    method : str, default "hsroc"
        One of :data:`SROC_METHODS`.
    fpr_range : (float, float), optional
        Integrate over ``[low, high]`` only: the partial AUC, which lies in
        ``[0, high - low]``. Bounds 0 and 1 are allowed. Default: the full AUC over (0, 1).

    Returns
    -------
    xarray.DataArray
        The AUC with the dimensions of the inputs other than ``measure``.

    References
    ----------
    Walter SD. Properties of the summary receiver operating characteristic (SROC) curve for
    diagnostic test data. Stat Med 2002;21:1237-1256 (the closed form for a symmetric curve).
    """
    intercept, slope = sroc_coefficients(mu, tau, rho, method)
    intercept, slope = xr.broadcast(intercept, slope)
    if fpr_range is None:
        lower, upper = -_LOGIT_LIMIT, _LOGIT_LIMIT
    else:
        low, high = (float(bound) for bound in fpr_range)
        if not 0 <= low < high <= 1:
            raise ValueError(f"fpr_range must satisfy 0 <= low < high <= 1, got {fpr_range!r}")
        with np.errstate(divide="ignore"):
            low_logit, high_logit = float(logit(low)), float(logit(high))
        # The cut at |x| = 25 moves out to 25 beyond the other bound, so that a range that
        # lies beyond it, such as (0, 1e-12), keeps lower < upper and its relative accuracy.
        lower = max(low_logit, min(-_LOGIT_LIMIT, high_logit - _LOGIT_LIMIT))
        upper = min(high_logit, max(_LOGIT_LIMIT, low_logit + _LOGIT_LIMIT))

    with np.errstate(over="ignore", invalid="ignore"):
        points = 2 * int(np.ceil((upper - lower) / (2 * _QUADRATURE_SPACING))) + 1
        values = _integrate_lines(intercept.values, slope.values, lower, upper, points)
    area = xr.DataArray(values, dims=intercept.dims, coords=intercept.coords, name="auc")
    area.attrs.update(
        {"method": method, "fpr_range": (0.0, 1.0) if fpr_range is None else fpr_range}
    )
    return area


def pooled_parameters(trace: xr.DataTree) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Return the posterior ``mu``, ``tau`` and ``rho`` of a trace, checking their dims.

    Raises
    ------
    ValueError
        When a variable has dimensions other than ``chain``, ``draw`` and ``measure``, as a
        model with one SROC per covariate level would: select one level first and call
        :func:`sroc_curve` and :func:`sroc_auc` on it.
    """
    posterior = trace["posterior"]
    parameters = (posterior["mu"], posterior["tau"], posterior["rho"])
    allowed = {*_SAMPLE_DIMS, "measure"}
    for parameter in parameters:
        extra = sorted(set(parameter.dims) - allowed)
        if extra:
            raise ValueError(
                f"posterior {parameter.name!r} has dimensions {extra} besides chain, draw and "
                f"measure; select one value of each (for example with .sel) and pass the "
                f"draws to sroc_curve and sroc_auc"
            )
    return parameters


def sroc_draws(
    trace: xr.DataTree,
    method: str = "hsroc",
    extrapolate: bool = False,
    n_points: int = 201,
) -> xr.DataArray:
    """Return the SROC curve per posterior draw of a bivariate-model trace.

    The grid spans the observed study FPRs, or (0, 1) with ``extrapolate=True``; see
    :func:`fpr_grid` for the grid and its warnings, and :func:`sroc_curve` for the output.
    """
    fpr = fpr_grid(observed_fpr(trace), extrapolate=extrapolate, n_points=n_points)
    mu, tau, rho = pooled_parameters(trace)
    return sroc_curve(mu, tau, rho, fpr, method)


def auc_draws(trace: xr.DataTree, method: str = "hsroc") -> xr.Dataset:
    """Return the full, partial and normalised partial AUC per posterior draw.

    The partial AUC integrates over the observed range ``[low, high]`` of study FPRs, and the
    normalised partial AUC divides it by ``high - low`` so that it lies in [0, 1].

    Returns
    -------
    xarray.Dataset
        ``auc``, ``partial_auc``, ``partial_auc_normalized`` with dims ``(chain, draw)``;
        ``attrs["fpr_range"]`` is ``(low, high)``.
    """
    mu, tau, rho = pooled_parameters(trace)
    fpr = observed_fpr(trace)
    low, high = float(fpr.min()), float(fpr.max())

    full = sroc_auc(mu, tau, rho, method)
    draws = xr.Dataset({"auc": full})
    if high > low:
        partial = sroc_auc(mu, tau, rho, method, fpr_range=(low, high))
        draws["partial_auc"] = partial
        draws["partial_auc_normalized"] = partial / (high - low)
    draws.attrs.update({"fpr_range": (low, high), "method": method})
    return draws


def sroc_json(trace: xr.DataTree, prob: float = 0.95, method: str = "hsroc") -> dict:
    """Return the ``auc``, ``partial_auc`` and ``hsroc`` entries of ``bayesdta analyze --json``.

    Each number is an interval object ``{"median", "lower", "upper"}`` (equal-tailed, ``prob``).
    ``partial_auc`` also contains the FPR range it covers and its normalised value. It is
    ``None`` when all studies share one FPR.
    """
    from .hsroc import hsroc_draws
    from .intervals import interval_object

    areas = auc_draws(trace, method)
    low, high = areas.attrs["fpr_range"]
    partial = None
    if "partial_auc" in areas:
        partial = interval_object(areas["partial_auc"], prob)
        partial["fpr_range"] = [low, high]
        partial["normalized"] = interval_object(areas["partial_auc_normalized"], prob)

    hsroc = hsroc_draws(trace)
    return {
        "auc": interval_object(areas["auc"], prob),
        "partial_auc": partial,
        "sroc_method": method,
        "hsroc": {name: interval_object(hsroc[name], prob) for name in hsroc.data_vars},
    }
