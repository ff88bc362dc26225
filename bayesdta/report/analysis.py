"""Run the analysis an :class:`~bayesdta.spec.AnalysisSpec` describes and return its trace."""

from __future__ import annotations

import logging

import xarray as xr

from ..spec import AnalysisSpec, spec_to_toml

__all__ = ["build_model", "builder_of", "read_table", "run_analysis", "ANALYSIS_SPEC_ATTR"]

logger = logging.getLogger(__name__)

#: Trace attribute holding the TOML text of the analysis specification, so that a saved
#: trace can be reported on again with the same title, sections and settings.
ANALYSIS_SPEC_ATTR = "bayesdta_analysis_spec"

#: Trace attribute holding the folder that relative paths of that specification start from.
ANALYSIS_DIR_ATTR = "bayesdta_analysis_spec_dir"

_MARGINS = {"both": "both", "sensitivity": "sens", "specificity": "spec"}


def read_table(spec: AnalysisSpec):
    """Read and check the studies of a specification."""
    from ..studytable import read_studies

    return read_studies(
        spec.data_source(), spec.data.columns or None, keep_duplicates=spec.data.keep_duplicates
    )


def builder_of(spec: AnalysisSpec):
    """Return the model builder of a specification and its arguments other than data and priors.

    Returns
    -------
    builder : callable
        :func:`bayesdta.build_bivariate_model` or
        :func:`bayesdta.models.build_regression_model`.
    kwargs : dict
    """
    if spec.model.kind == "bivariate":
        from ..models import build_bivariate_model

        return build_bivariate_model, {"parametrization": spec.model.parametrization}

    from ..covariates import Covariate
    from ..models.regression import build_regression_model

    requests = [
        Covariate(
            name,
            margin=_MARGINS[spec.model.acts_on.get(name, "both")],
            reference=spec.model.reference.get(name),
        )
        for name in spec.model.covariates
    ]
    separate = spec.model.covariance_by if spec.model.covariance == "separate" else None
    kwargs = {
        "covariates": requests,
        "separate_covariance": separate,
        "parametrization": spec.model.parametrization,
    }
    return build_regression_model, kwargs


def build_model(spec: AnalysisSpec, priors=None):
    """Build the PyMC model of a specification.

    Parameters
    ----------
    spec : AnalysisSpec
    priors : mapping, optional
        Priors to use in place of the specification's.

    Returns
    -------
    bayesdta.models.DTAModel
    """
    builder, kwargs = builder_of(spec)
    priors = spec.priors_dict() if priors is None else priors
    return builder(read_table(spec), priors=priors, **kwargs)


def run_analysis(spec: AnalysisSpec, *, progressbar: bool = False) -> xr.DataTree:
    """Build and fit the model of ``spec``, and store its TOML text in the trace attributes.

    Returns
    -------
    xarray.DataTree
        As :func:`bayesdta.fit` returns it, with ``attrs[ANALYSIS_SPEC_ATTR]``.
    """
    from ..sampling import fit

    built = build_model(spec)
    settings = spec.sampler
    trace = fit(
        built,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        seed=settings.seed,
        sampler=settings.sampler,
        target_accept=settings.target_accept,
        progressbar=progressbar,
    )
    trace.attrs[ANALYSIS_SPEC_ATTR] = spec_to_toml(spec)
    trace.attrs[ANALYSIS_DIR_ATTR] = str(spec.base_dir)
    logger.info("fitted %s", spec.title)
    return trace
