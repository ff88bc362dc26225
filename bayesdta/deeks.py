"""Deeks' funnel plot asymmetry test for small-study effects, and its Bayesian counterpart.

Deeks, Macaskill & Irwig (J Clin Epidemiol 2005;58:882-893) regress the log diagnostic odds
ratio of each study on ``1 / sqrt(ESS)``, with the effective sample size
``ESS = 4 n1 n0 / (n1 + n0)`` as weights (n1 diseased, n0 non-diseased). A slope different
from zero indicates that small studies report different accuracy from large ones, which is
what publication bias would produce.

The log DOR of a table with a zero cell is infinite, so this test, and nothing else in
bayesdta, adds 0.5 to every cell of such a table. The number of corrected tables is part
of the result.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .errors import BayesDTAWarning
from .studytable import read_studies

__all__ = [
    "DeeksResult",
    "deeks_test",
    "effective_sample_size",
    "small_study_slope",
    "bayesian_deeks",
    "deeks_json",
    "format_deeks",
    "CONTINUITY_CORRECTION",
    "MIN_STUDIES_FOR_POWER",
]

logger = logging.getLogger(__name__)

#: Added to every cell of a table with a zero cell, in this test only.
CONTINUITY_CORRECTION = 0.5
#: Below this many studies the test has little power (Deeks et al. 2005, simulations).
MIN_STUDIES_FOR_POWER = 10


def effective_sample_size(n_diseased, n_healthy) -> np.ndarray:
    """Return ``ESS = 4 n1 n0 / (n1 + n0)`` per study (Deeks et al. 2005), in participants."""
    n1 = np.asarray(n_diseased, dtype=float)
    n0 = np.asarray(n_healthy, dtype=float)
    return 4.0 * n1 * n0 / (n1 + n0)


@dataclass(frozen=True)
class DeeksResult:
    """Deeks' regression of the log DOR on ``1 / sqrt(ESS)``, weighted by ESS.

    Attributes
    ----------
    slope, intercept : float
        Weighted least-squares coefficients; the slope is the asymmetry.
    slope_se, intercept_se : float
        Standard errors, with the residual variance estimated from the data.
    t_value, p_value : float
        t statistic of the slope and its two-sided p-value on ``n_studies - 2`` degrees of
        freedom.
    n_studies : int
        Studies in the regression.
    n_corrected_tables : int
        Tables with a zero cell, to which 0.5 was added in every cell.
    data : pandas.DataFrame
        Per study: ``study`` (id), ``log_dor`` (after any correction), ``ess``,
        ``inv_sqrt_ess`` and ``corrected`` (bool).
    excluded : list of str
        Ids of tables with no diseased or no non-diseased participants, which have no DOR.
    """

    slope: float
    intercept: float
    slope_se: float
    intercept_se: float
    t_value: float
    p_value: float
    n_studies: int
    n_corrected_tables: int
    data: pd.DataFrame
    excluded: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Return the JSON-able numbers: slope, its SE and p-value, intercept, counts."""
        return {
            "slope": self.slope,
            "slope_se": self.slope_se,
            "intercept": self.intercept,
            "p_value": self.p_value,
            "n_studies": self.n_studies,
            "n_corrected_tables": self.n_corrected_tables,
            "continuity_correction": CONTINUITY_CORRECTION,
        }


def _log_dor(table) -> tuple[np.ndarray, np.ndarray]:
    cells = np.column_stack([table.counts(c) for c in ("tp", "fp", "fn", "tn")]).astype(float)
    has_zero = (cells == 0).any(axis=1)
    cells[has_zero] += CONTINUITY_CORRECTION
    tp, fp, fn, tn = cells.T
    return np.log(tp) + np.log(tn) - np.log(fp) - np.log(fn), has_zero


def _weighted_least_squares(x, y, weights) -> tuple[np.ndarray, np.ndarray, int]:
    design = np.column_stack([np.ones_like(x), x])
    weighted = design * weights[:, None]
    normal_matrix = design.T @ weighted
    coefficients = np.linalg.solve(normal_matrix, weighted.T @ y)

    residuals = y - design @ coefficients
    dof = len(y) - 2
    scale = float(np.sum(weights * residuals**2) / dof)
    covariance = scale * np.linalg.inv(normal_matrix)
    return coefficients, np.sqrt(np.diag(covariance)), dof


def deeks_test(data) -> DeeksResult:
    """Run Deeks' funnel plot asymmetry test.

    The log DOR ``log(tp tn / (fp fn))`` of each study is regressed on ``1 / sqrt(ESS)``
    by weighted least squares with weights ESS; the residual variance is estimated, as in
    an ordinary regression. The test of the slope is a t test on ``k - 2`` degrees of
    freedom. Deeks et al. (2005) regard ``p < 0.10`` as evidence of asymmetry.

    Parameters
    ----------
    data : StudyTable, DataFrame, path or dataset name
        Anything :func:`bayesdta.read_studies` accepts.

    Returns
    -------
    DeeksResult

    Raises
    ------
    ValueError
        If fewer than three tables have both diseased and non-diseased participants.

    Warns
    -----
    BayesDTAWarning
        When 0.5 is added to the cells of tables with a zero cell, and when tables with an
        empty margin are left out; both warnings name the tables. Also when fewer than 10
        studies remain, because the test has little power there.

    Notes
    -----
    The exact binomial likelihood of the bivariate model needs no correction; only this
    test does, because it needs a finite log DOR per study.

    References
    ----------
    Deeks JJ, Macaskill P, Irwig L. The performance of tests of publication bias and other
    sample size effects in systematic reviews of diagnostic test accuracy was assessed.
    J Clin Epidemiol 2005;58:882-893.

    Examples
    --------
    >>> from bayesdta.deeks import deeks_test
    >>> result = deeks_test("auditc")
    >>> round(result.slope, 1), round(result.p_value, 3), result.n_corrected_tables
    (-57.3, 0.031, 2)
    """
    table = read_studies(data)
    ids = np.asarray(table.study_ids, dtype=object)
    usable = (table.n_diseased > 0) & (table.n_healthy > 0)
    excluded = ids[~usable].tolist()
    if excluded:
        warnings.warn(
            f"Deeks' test leaves out {len(excluded)} table(s) without diseased or without "
            f"non-diseased participants, which have no diagnostic odds ratio: {excluded}.",
            BayesDTAWarning,
            stacklevel=2,
        )
    if usable.sum() < 3:
        raise ValueError(
            f"Deeks' test needs at least 3 tables with both diseased and non-diseased "
            f"participants; {int(usable.sum())} of {table.n_studies} have them"
        )
    table = table.subset(usable)

    log_dor, corrected = _log_dor(table)
    ess = effective_sample_size(table.n_diseased, table.n_healthy)
    x = 1.0 / np.sqrt(ess)
    _warn_corrections(ids[usable][corrected])
    _warn_low_power(table.n_studies)

    coefficients, standard_errors, dof = _weighted_least_squares(x, log_dor, ess)
    t_value = float(coefficients[1] / standard_errors[1])
    p_value = float(2.0 * stats.t.sf(abs(t_value), dof))
    frame = pd.DataFrame(
        {
            "study": table.study_ids,
            "log_dor": log_dor,
            "ess": ess,
            "inv_sqrt_ess": x,
            "corrected": corrected,
        }
    )
    logger.info("Deeks' test: slope %.3f, p = %.3g, %d studies", coefficients[1], p_value,
                table.n_studies)
    return DeeksResult(
        slope=float(coefficients[1]),
        intercept=float(coefficients[0]),
        slope_se=float(standard_errors[1]),
        intercept_se=float(standard_errors[0]),
        t_value=t_value,
        p_value=p_value,
        n_studies=table.n_studies,
        n_corrected_tables=int(corrected.sum()),
        data=frame,
        excluded=excluded,
    )


def _warn_corrections(corrected_ids) -> None:
    if len(corrected_ids) == 0:
        return
    warnings.warn(
        f"Deeks' test added {CONTINUITY_CORRECTION} to every cell of {len(corrected_ids)} "
        f"table(s) with a zero cell, to make their log DOR finite: {list(corrected_ids)}. "
        "The Bayesian models use the exact counts.",
        BayesDTAWarning,
        stacklevel=3,
    )


def _warn_low_power(n_studies: int) -> None:
    if n_studies >= MIN_STUDIES_FOR_POWER:
        return
    warnings.warn(
        f"Deeks' test on {n_studies} studies has little power: a p-value above 0.10 does "
        f"not rule out small-study effects with fewer than {MIN_STUDIES_FOR_POWER} studies.",
        BayesDTAWarning,
        stacklevel=3,
    )


def small_study_slope(trace, prob: float = 0.95) -> dict[str, float]:
    """Summarise the posterior of the small-study slope of a small-study-effects fit.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit` on a model built by
        :func:`bayesdta.models.small_study.build_small_study_model`.
    prob : float, default 0.95
        Probability of the equal-tailed interval.

    Returns
    -------
    dict
        ``median``, ``lower``, ``upper`` of the slope of the log DOR on ``1 / sqrt(ESS)``
        (same scale as :attr:`DeeksResult.slope`), and ``prob_positive``, the posterior
        probability that the slope is above zero.
    """
    from .intervals import interval_object

    posterior = trace["posterior"]
    if "slope" not in posterior:
        raise ValueError(
            "this trace has no 'slope'; fit a model from build_small_study_model to get one"
        )
    draws = posterior["slope"].values
    result = interval_object(draws, prob=prob)
    result["prob_positive"] = float(np.mean(draws > 0))
    return result


def bayesian_deeks(data, prob: float = 0.95, slope_prior=None, **fit_kwargs):
    """Fit the bivariate model with ``1 / sqrt(ESS)`` on the log DOR and summarise the slope.

    The Bayesian counterpart of :func:`deeks_test`: it uses the exact binomial likelihood
    with no continuity correction, and reports the posterior of the slope on the same scale
    as Deeks' regression. See :func:`bayesdta.models.small_study.build_small_study_model`.

    Parameters
    ----------
    data : StudyTable, DataFrame, path or dataset name
    prob : float, default 0.95
        Probability of the equal-tailed interval.
    slope_prior : Prior, optional
        Passed to the builder.
    **fit_kwargs
        Passed to :func:`bayesdta.fit`.

    Returns
    -------
    slope : dict
        From :func:`small_study_slope`.
    trace : xarray.DataTree
    """
    from .models.small_study import build_small_study_model
    from .sampling import fit

    trace = fit(build_small_study_model(data, slope_prior=slope_prior), **fit_kwargs)
    return small_study_slope(trace, prob), trace


def deeks_json(data) -> dict:
    """Return :meth:`DeeksResult.to_dict` for JSON output, or the reason it is missing.

    When fewer than three tables have both margins, ``slope`` and ``p_value`` are None
    and ``message`` gives the reason.
    """
    try:
        return deeks_test(data).to_dict()
    except ValueError as error:
        return {"slope": None, "p_value": None, "n_corrected_tables": 0,
                "message": str(error)}


def format_deeks(result: DeeksResult) -> str:
    """Return one line with the slope, its p-value and the corrected tables."""
    return (
        f"Deeks' funnel plot asymmetry test: slope {result.slope:.3f} (SE {result.slope_se:.3f}), "
        f"p = {result.p_value:.3f}, {result.n_studies} studies, 0.5 added to every cell of "
        f"{result.n_corrected_tables} table(s) with a zero cell"
    )
