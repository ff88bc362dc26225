"""PyMC model builders for diagnostic test accuracy meta-analysis."""

from .base import DTAModel
from .bivariate import build_bivariate_model, choose_parametrization
from .regression import build_regression_model

__all__ = [
    "DTAModel",
    "build_bivariate_model",
    "build_regression_model",
    "choose_parametrization",
]
