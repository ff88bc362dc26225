"""Complete a sampler's DataTree with what every later step needs: per-study
log-likelihood, observed and constant data, and provenance attributes."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime

import numpy as np
import xarray as xr
from scipy.special import gammaln, log_expit

from .studytable import StudyTable

__all__ = ["study_log_likelihood", "finish_trace", "data_groups", "SPEC_ATTR"]

#: Name of the root attribute that stores the analysis specification as JSON.
SPEC_ATTR = "bayesdta_spec"


def _binomial_logpmf(successes, trials, logit_p):
    log_choose = gammaln(trials + 1) - gammaln(successes + 1) - gammaln(trials - successes + 1)
    return log_choose + successes * log_expit(logit_p) + (trials - successes) * log_expit(-logit_p)


def study_log_likelihood(study_logit: xr.DataArray, table: StudyTable) -> xr.DataArray:
    """Return the log-likelihood of each study's 2x2 table, both margins summed.

    Parameters
    ----------
    study_logit : xarray.DataArray
        Dims ``(chain, draw, study, measure)``.
    table : StudyTable

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, study)``: ``log Bin(tp | n1, expit(A)) + log Bin(tn | n0, expit(B))``,
        so that PSIS-LOO leaves out whole studies.
    """
    sens = study_logit.sel(measure="sensitivity")
    spec = study_logit.sel(measure="specificity")
    tp = xr.DataArray(table.counts("tp"), dims="study")
    tn = xr.DataArray(table.counts("tn"), dims="study")
    n1 = xr.DataArray(table.n_diseased, dims="study")
    n0 = xr.DataArray(table.n_healthy, dims="study")
    total = _binomial_logpmf(tp, n1, sens) + _binomial_logpmf(tn, n0, spec)
    return total.transpose("chain", "draw", "study").rename("table")


def data_groups(table: StudyTable) -> tuple[xr.Dataset, xr.Dataset]:
    """Return ``(observed_data, constant_data)`` datasets on the ``study`` dimension."""
    coords = {"study": table.study_ids}
    observed = xr.Dataset(
        {"tp": ("study", table.counts("tp")), "tn": ("study", table.counts("tn"))},
        coords=coords,
    )
    constant = {
        "fp": ("study", table.counts("fp")),
        "fn": ("study", table.counts("fn")),
        "n_diseased": ("study", table.n_diseased),
        "n_healthy": ("study", table.n_healthy),
        "study_label": ("study", np.asarray(table.labels, dtype=str)),
        "row": ("study", np.asarray(table.rows, dtype=np.int64)),
    }
    for name in table.covariates:
        constant[f"covariate_{name}"] = ("study", _storable(table.frame[name].to_numpy()))
    return observed, xr.Dataset(constant, coords=coords)


def _storable(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "biuf":
        return values
    return np.asarray(["" if v is None or v != v else str(v) for v in values], dtype=str)


def finish_trace(trace: xr.DataTree, built, sampler_settings: dict) -> xr.DataTree:
    """Add log-likelihood, data and attributes to a sampler's DataTree, dropping warm-up.

    The ``study`` coordinate is set from the table, because a compiled model reused for
    another dataset of the same size still carries the labels it was compiled with.
    """
    import arviz
    import pymc

    from . import __version__

    table = built.table
    posterior = trace["posterior"].to_dataset()
    if "study" in posterior.dims:
        posterior = posterior.assign_coords(study=table.study_ids)
    observed, constant = data_groups(table)

    groups = {
        "posterior": posterior,
        "sample_stats": trace["sample_stats"].to_dataset(),
        "log_likelihood": _log_likelihood_group(posterior, built),
        "observed_data": observed,
        "constant_data": constant,
    }
    finished = xr.DataTree.from_dict(groups)
    spec = built.spec()
    spec["sampler"] = sampler_settings
    finished.attrs.update(
        {
            "bayesdta_version": __version__,
            "pymc_version": pymc.__version__,
            "arviz_version": arviz.__version__,
            "python_version": platform.python_version(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            SPEC_ATTR: json.dumps(spec, sort_keys=True),
        }
    )
    if getattr(built, "key_variables", ()):
        finished.attrs["bayesdta_key_variables"] = ",".join(built.key_variables)
    return finished


def _log_likelihood_group(posterior: xr.Dataset, built) -> xr.Dataset:
    """Return ``table``, the per-study log-likelihood conditional on the study effects.

    The marginal version (study effects integrated out), which leave-one-study-out needs,
    costs seconds per fit, so :func:`bayesdta.marginal_likelihood.add_marginal_log_likelihood`
    adds it on request.
    """
    return study_log_likelihood(posterior["study_logit"], built.table).to_dataset()


def table_from_trace(trace: xr.DataTree) -> StudyTable:
    """Rebuild the :class:`StudyTable` a trace was fitted to from its data groups."""
    import pandas as pd

    observed = trace["observed_data"]
    constant = trace["constant_data"]
    frame = pd.DataFrame(
        {
            "study": [str(label) for label in constant["study_label"].values],
            "tp": observed["tp"].values.astype(np.int64),
            "fp": constant["fp"].values.astype(np.int64),
            "fn": constant["fn"].values.astype(np.int64),
            "tn": observed["tn"].values.astype(np.int64),
        }
    )
    covariates = []
    for name in constant.data_vars:
        if name.startswith("covariate_"):
            covariates.append(name.removeprefix("covariate_"))
            frame[covariates[-1]] = constant[name].values
    source = read_spec(trace).get("data", {}).get("source", "trace")
    ids = tuple(str(study) for study in observed["study"].values)
    rows = tuple(int(row) for row in constant["row"].values)
    return StudyTable(frame, tuple(covariates), source, ids, rows)


def read_spec(trace: xr.DataTree) -> dict:
    """Return the analysis specification stored in a trace by :func:`finish_trace`."""
    try:
        return json.loads(trace.attrs[SPEC_ATTR])
    except KeyError:
        raise ValueError(
            "this trace has no bayesdta specification in its attributes; it was not made "
            "by bayesdta.fit"
        ) from None
