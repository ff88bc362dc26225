"""Credible region of the summary point and prediction region of a new study, from draws.

Both regions are computed on the logit scale, ``(A, B) = (logit sensitivity, logit
specificity)``, and drawn in ROC space as ``(FPR, sensitivity) = (expit(-B), expit(A))``.

- ``method="hdr"``: the highest-density region. A 2-D kernel density estimate of the draws
  (:func:`arviz.kde2d`), and the density level exceeded by a fraction ``prob`` of the draws
  (Hyndman, Am Stat 1996;50:120). The contour at that level is the region's boundary.
- ``method="ellipse"``: the normal approximation. The mean ``m`` and covariance ``S`` of the
  draws, and the ellipse ``(z - m)' S^-1 (z - m) <= chi2_2.ppf(prob)``.

The HDR smooths the draws with sqrt(2) times Scott's bandwidth (ArviZ's Scott-rule KDE, then
one more Gaussian of the same width), because the contour lies in the tails, where Scott's
rule leaves Monte Carlo wiggles. The level still comes from the draws, so the region contains
the fraction ``prob`` of them. NOTE: with a few thousand draws, small wiggles remain. When
the draws look normal, the ellipse gives the same region without them.

The credible region uses draws of the mean logits ``mu``. The prediction region uses one draw
of a new study's logits per posterior draw, so it carries both the between-study covariance
and the uncertainty of ``mu`` (mada's ``plot.reitsma(predict = TRUE)`` adds the two
covariances instead).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import arviz as az
import contourpy
import numpy as np
import xarray as xr
from scipy.interpolate import RegularGridInterpolator
from scipy.ndimage import gaussian_filter
from scipy.special import expit
from scipy.stats import chi2

from .errors import BayesDTAWarning

__all__ = ["REGION_METHODS", "Region", "credible_region", "prediction_region", "sroc_regions"]

logger = logging.getLogger(__name__)

#: Names and descriptions of the region methods.
REGION_METHODS: dict[str, str] = {
    "hdr": "highest-density region of a kernel density estimate on the logit scale",
    "ellipse": "normal ellipse on the logit scale",
}

_GRID_SIZE = 128
_UNION_GRID_SIZE = 200
_EXTRA_SMOOTHING = 1.0  # in units of Scott's bandwidth, see _smooth_tails


@dataclass(frozen=True)
class Region:
    """A region of ROC space: a credible region or a prediction region.

    Attributes
    ----------
    kind : str
        ``"credible"`` or ``"prediction"``.
    method : str
        One of :data:`REGION_METHODS`.
    prob : float
        Posterior (or posterior predictive) probability of the region.
    logit_paths : tuple of numpy.ndarray
        Closed boundary lines, each of shape (n, 2) with columns ``logit(sensitivity)`` and
        ``logit(specificity)``. An HDR can have several pieces.
    score : callable
        ``score(logit_sens, logit_spec)`` is at least 1 inside the region and below 1
        outside it.
    """

    kind: str
    method: str
    prob: float
    logit_paths: tuple[np.ndarray, ...]
    score: Callable[[np.ndarray, np.ndarray], np.ndarray] = field(repr=False)

    @property
    def paths(self) -> tuple[np.ndarray, ...]:
        """Boundary lines in ROC space, each (n, 2) with columns FPR and sensitivity."""
        return tuple(
            np.column_stack([expit(-path[:, 1]), expit(path[:, 0])]) for path in self.logit_paths
        )

    def contains_logit(self, logit_sens, logit_spec) -> np.ndarray:
        """Return whether each point ``(logit sensitivity, logit specificity)`` lies inside."""
        logit_sens, logit_spec = np.broadcast_arrays(
            np.asarray(logit_sens, dtype=float), np.asarray(logit_spec, dtype=float)
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(self.score(logit_sens, logit_spec) >= 1.0)

    def contains(self, fpr, sensitivity) -> np.ndarray:
        """Return whether each ROC-space point ``(FPR, sensitivity)`` lies inside.

        Points with FPR or sensitivity exactly 0 or 1 lie at infinity on the logit scale and
        are outside every region.
        """
        with np.errstate(divide="ignore"):
            logit_sens = np.log(sensitivity) - np.log1p(-np.asarray(sensitivity, dtype=float))
            logit_fpr = np.log(fpr) - np.log1p(-np.asarray(fpr, dtype=float))
        return self.contains_logit(logit_sens, -logit_fpr)


def _flat_draws(logit_sens, logit_spec) -> np.ndarray:
    points = np.column_stack(
        [
            np.ravel(np.asarray(logit_sens, dtype=float)),
            np.ravel(np.asarray(logit_spec, dtype=float)),
        ]
    )
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} of {len(points)} draws are not finite logits")
    if len(points) < 10:
        raise ValueError(f"a region needs at least 10 draws, got {len(points)}")
    if np.any(np.std(points, axis=0) == 0):
        raise ValueError(
            "the draws of logit sensitivity or logit specificity are all equal, so they have "
            "no density; check that these are posterior draws"
        )
    return points


def _hdr_score(points: np.ndarray, prob: float):
    density, grid_a, grid_b = az.kde2d(
        points[:, 0], points[:, 1], gridsize=(_GRID_SIZE, _GRID_SIZE)
    )
    density = _smooth_tails(density, points, grid_a, grid_b)
    interpolate = RegularGridInterpolator(
        (grid_a, grid_b), density, bounds_error=False, fill_value=0.0
    )
    # Hyndman's estimator: the level exceeded by the density at a fraction prob of the draws.
    level = float(np.quantile(interpolate(points), 1.0 - prob))

    def score(logit_sens, logit_spec):
        stacked = np.stack([logit_sens, logit_spec], axis=-1)
        return interpolate(stacked) / level

    lines = _contour_lines(grid_a, grid_b, density.T, level)
    return score, lines


def _smooth_tails(density, points, grid_a, grid_b):
    # A second Gaussian of one Scott bandwidth per axis, so the total bandwidth is sqrt(2)
    # times Scott's rule. The contour lies in the tails, where Scott's rule, tuned to the
    # whole density, leaves visible Monte Carlo wiggles. The level is taken from the draws
    # afterwards, so the region still contains the fraction prob of the draws.
    scott = len(points) ** (-1.0 / 6.0)
    cell_widths = np.array([grid_a[1] - grid_a[0], grid_b[1] - grid_b[0]])
    sigma_cells = _EXTRA_SMOOTHING * scott * points.std(axis=0) / cell_widths
    return gaussian_filter(density, sigma=sigma_cells, mode="constant")


def _ellipse_score(points: np.ndarray, prob: float):
    mean = points.mean(axis=0)
    covariance = np.cov(points, rowvar=False)
    precision = np.linalg.inv(covariance)
    radius_squared = chi2.ppf(prob, df=2)

    def score(logit_sens, logit_spec):
        offset = np.stack([logit_sens - mean[0], logit_spec - mean[1]], axis=-1)
        distance = np.einsum("...i,ij,...j->...", offset, precision, offset)
        return radius_squared / distance

    angle = np.linspace(0.0, 2.0 * np.pi, 241)
    circle = np.column_stack([np.cos(angle), np.sin(angle)])
    boundary = mean + np.sqrt(radius_squared) * circle @ np.linalg.cholesky(covariance).T
    return score, (boundary,)


def _contour_lines(grid_x, grid_y, values_yx, level) -> tuple[np.ndarray, ...]:
    # values_yx[j, i] is the value at (grid_x[i], grid_y[j]), the layout contourpy expects.
    generator = contourpy.contour_generator(grid_x, grid_y, values_yx)
    lines = []
    for line in generator.lines(level):
        if len(line) < 3:
            continue
        if not np.allclose(line[0], line[-1]):
            line = np.vstack([line, line[:1]])
        lines.append(np.asarray(line))
    return tuple(lines)


def _build_region(kind, logit_sens, logit_spec, prob, method) -> Region:
    if method not in REGION_METHODS:
        raise ValueError(
            f"unknown region method {method!r}; valid methods: {sorted(REGION_METHODS)}"
        )
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob!r}")
    points = _flat_draws(logit_sens, logit_spec)
    build = _hdr_score if method == "hdr" else _ellipse_score
    score, lines = build(points, prob)
    return Region(kind=kind, method=method, prob=prob, logit_paths=lines, score=score)


def credible_region(logit_sens, logit_spec, prob: float = 0.95, method: str = "hdr") -> Region:
    """Return the credible region of the summary point from posterior draws.

    Parameters
    ----------
    logit_sens, logit_spec : array-like or xarray.DataArray
        Draws of the mean logit sensitivity ``mu_A`` and mean logit specificity ``mu_B``, any
        shape (flattened), paired element by element.
    prob : float, default 0.95
        Posterior probability of the region.
    method : {"hdr", "ellipse"}
        See the module docstring.

    Returns
    -------
    Region

    Raises
    ------
    ValueError
        For an unknown method, ``prob`` outside (0, 1), non-finite draws, fewer than 10 draws
        or draws without spread.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> region = credible_region(rng.normal(1, 0.2, 2000), rng.normal(2, 0.2, 2000))
    >>> bool(region.contains_logit(1.0, 2.0)), bool(region.contains_logit(2.0, 2.0))
    (True, False)
    """
    return _build_region("credible", logit_sens, logit_spec, prob, method)


def prediction_region(
    new_logit_sens,
    new_logit_spec,
    prob: float = 0.95,
    method: str = "hdr",
    credible: Region | None = None,
) -> Region:
    """Return the prediction region of a new study from posterior predictive draws.

    Parameters
    ----------
    new_logit_sens, new_logit_spec : array-like or xarray.DataArray
        Draws of a new study's logit sensitivity and logit specificity, for example the two
        measures of ``posterior["new_study_logit"]``.
    prob : float, default 0.95
        Posterior predictive probability of the region.
    method : {"hdr", "ellipse"}
        See the module docstring.
    credible : Region, optional
        The credible region of the same fit. A new study's uncertainty includes that of the
        summary point, so the prediction region must contain the credible region. When the
        between-study variance is near zero, density estimation error can leave part of
        the credible region outside. The returned region is then the union of both, with a
        warning.

    Returns
    -------
    Region

    Warns
    -----
    BayesDTAWarning
        When the prediction region was widened to the union with ``credible``.
    """
    region = _build_region("prediction", new_logit_sens, new_logit_spec, prob, method)
    if credible is None:
        return region
    return _cover_credible(region, credible)


def _cover_credible(prediction: Region, credible: Region) -> Region:
    boundary = np.vstack(credible.logit_paths)
    outside = ~prediction.contains_logit(boundary[:, 0], boundary[:, 1])
    if not outside.any():
        return prediction

    warnings.warn(
        f"the {prediction.prob:.0%} prediction region did not contain the whole credible "
        f"region ({outside.mean():.0%} of its boundary lay outside), as happens when the "
        f"between-study variance is near zero; the prediction region returned is the union "
        f"of the two",
        BayesDTAWarning,
        stacklevel=3,
    )

    def score(logit_sens, logit_spec):
        return np.maximum(
            prediction.score(logit_sens, logit_spec), credible.score(logit_sens, logit_spec)
        )

    every = np.vstack(prediction.logit_paths + credible.logit_paths)
    pad = 0.05 * (every.max(axis=0) - every.min(axis=0))
    grid_a = np.linspace(every[:, 0].min() - pad[0], every[:, 0].max() + pad[0], _UNION_GRID_SIZE)
    grid_b = np.linspace(every[:, 1].min() - pad[1], every[:, 1].max() + pad[1], _UNION_GRID_SIZE)
    mesh_a, mesh_b = np.meshgrid(grid_a, grid_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = score(mesh_a, mesh_b)
    lines = _contour_lines(grid_a, grid_b, np.nan_to_num(values, posinf=1e6), 1.0)
    return Region(
        kind="prediction",
        method=prediction.method,
        prob=prediction.prob,
        logit_paths=lines,
        score=score,
    )


def sroc_regions(
    trace: xr.DataTree, prob: float = 0.95, method: str = "hdr"
) -> tuple[Region, Region]:
    """Return the credible region and the prediction region of a bivariate-model trace.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit`, with ``mu`` and ``new_study_logit`` in its posterior.
    prob : float, default 0.95
        Probability of both regions.
    method : {"hdr", "ellipse"}
        See the module docstring.

    Returns
    -------
    credible, prediction : Region
    """
    from .sroc import pooled_parameters

    mu = pooled_parameters(trace)[0]
    new = trace["posterior"]["new_study_logit"]
    if set(new.dims) != {"chain", "draw", "measure"}:
        raise ValueError(
            f"posterior 'new_study_logit' has dimensions {list(new.dims)}; expected chain, "
            f"draw and measure. Select one covariate level and call credible_region and "
            f"prediction_region on its draws"
        )
    credible = credible_region(
        mu.sel(measure="sensitivity"), mu.sel(measure="specificity"), prob, method
    )
    prediction = prediction_region(
        new.sel(measure="sensitivity"), new.sel(measure="specificity"), prob, method, credible
    )
    return credible, prediction
