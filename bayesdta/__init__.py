"""Bayesian meta-analysis of diagnostic test accuracy with PyMC and ArviZ.

The data flow: :func:`read_studies` validates one 2x2 table per study,
:func:`build_bivariate_model` builds the PyMC model, :func:`fit` samples it and returns an
ArviZ DataTree, and :func:`summarize` turns the draws into a tidy table.
"""

from __future__ import annotations

import logging

from .errors import BayesDTAWarning, ConvergenceWarning, StudyDataError

__version__ = "0.1.0"

__all__ = [
    "BayesDTAWarning",
    "ConvergenceWarning",
    "DEFAULT_PRIORS",
    "Prior",
    "StudyDataError",
    "StudyTable",
    "build_bivariate_model",
    "build_regression_model",
    "fit",
    "prior_predictive_check",
    "read_studies",
    "sensitivity_analysis",
    "summarize",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = {
    "DEFAULT_PRIORS": ("bayesdta.priors", "DEFAULT_PRIORS"),
    "Prior": ("bayesdta.priors", "Prior"),
    "StudyTable": ("bayesdta.studytable", "StudyTable"),
    "read_studies": ("bayesdta.studytable", "read_studies"),
    "build_bivariate_model": ("bayesdta.models", "build_bivariate_model"),
    "build_regression_model": ("bayesdta.models", "build_regression_model"),
    "fit": ("bayesdta.sampling", "fit"),
    "prior_predictive_check": ("bayesdta.prior_predictive", "prior_predictive_check"),
    "sensitivity_analysis": ("bayesdta.sensitivity", "sensitivity_analysis"),
    "summarize": ("bayesdta.summary", "summarize"),
}


def __getattr__(name: str):
    # PyMC and ArviZ take about 1.5 s to import, and pandas about 0.5 s; load them on first
    # use only, so that the command line answers --help and bad-input errors at once.
    if name in _LAZY:
        import importlib

        module_name, attribute = _LAZY[name]
        return getattr(importlib.import_module(module_name), attribute)
    raise AttributeError(f"module 'bayesdta' has no attribute {name!r}")
