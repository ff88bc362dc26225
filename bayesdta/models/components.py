"""Building blocks shared by the model builders: priors as PyMC variables, and the
bivariate normal random effects with their binomial likelihood."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..priors import FAMILIES, Prior

__all__ = [
    "hyperparameter_name",
    "prior_variable",
    "correlate",
    "add_study_effects",
    "add_new_study",
    "add_likelihood",
]

_PYMC_FAMILIES = {
    "Normal": pm.Normal,
    "StudentT": pm.StudentT,
    "HalfNormal": pm.HalfNormal,
    "HalfStudentT": pm.HalfStudentT,
    "HalfCauchy": pm.HalfCauchy,
    "Exponential": pm.Exponential,
    "Beta": pm.Beta,
    "Uniform": pm.Uniform,
}


def hyperparameter_name(parameter: str, hyperparameter: str) -> str:
    """Return the name of the ``pm.Data`` that holds one hyperparameter."""
    return f"prior_{parameter}_{hyperparameter}"


def _hyperparameters(parameter: str, prior: Prior) -> dict[str, pt.TensorVariable]:
    return {
        key: pm.Data(hyperparameter_name(parameter, key), np.float64(prior.params[key]))
        for key in FAMILIES[prior.dist]
    }


def prior_variable(name: str, prior: Prior, dims=None) -> pt.TensorVariable:
    """Create the variable ``name`` with its prior, hyperparameters held in ``pm.Data``.

    Families that are not plain PyMC distributions are reparametrised so that ``name``
    is always a deterministic on the model scale (logit mean, SD or correlation):

    - ``Beta`` on a logit mean: ``p_<name> ~ Beta``, ``name = logit(p)``;
    - ``GammaPrecision`` on an SD: ``precision_<name> ~ Gamma``, ``name = precision^-1/2``;
    - ``LKJ(eta)`` and ``Uniform(lower, upper)`` on a correlation: a Beta(eta, eta) or a
      Uniform(0, 1) variable on ``(rho - lower) / (upper - lower)``.

    ``dims`` gives the variable a shape, for example one SD per subgroup; the hyperparameters
    stay scalars shared by every element.
    """
    hyper = _hyperparameters(name, prior)
    if prior.dist == "Beta":
        probability = pm.Beta(f"p_{name}", alpha=hyper["alpha"], beta=hyper["beta"], dims=dims)
        return pm.Deterministic(name, pt.log(probability) - pt.log1p(-probability), dims=dims)
    if prior.dist == "GammaPrecision":
        precision = pm.Gamma(
            f"precision_{name}", alpha=hyper["alpha"], beta=hyper["beta"], dims=dims
        )
        return pm.Deterministic(name, precision**-0.5, dims=dims)
    if prior.dist == "LKJ":
        unit = pm.Beta(f"{name}_unit", alpha=hyper["eta"], beta=hyper["eta"], dims=dims)
        return pm.Deterministic(name, 2.0 * unit - 1.0, dims=dims)
    if prior.dist == "Uniform" and name == "rho":
        unit = pm.Uniform(f"{name}_unit", 0.0, 1.0, dims=dims)
        lower, upper = hyper["lower"], hyper["upper"]
        return pm.Deterministic(name, lower + (upper - lower) * unit, dims=dims)
    return _PYMC_FAMILIES[prior.dist](name, **hyper, dims=dims)


def correlate(z: pt.TensorVariable, tau: pt.TensorVariable, rho: pt.TensorVariable):
    """Return ``L z`` for the lower Cholesky factor ``L`` of ``[[t0^2, r t0 t1], [r t0 t1, t1^2]]``.

    ``z`` has shape (..., 2), ``tau`` (2,) or (..., 2) and ``rho`` () or (...). The product
    is written out element by element, so the compiled graph needs no BLAS call. PyTensor's
    numba backend looks BLAS routines up in object mode, and numba compiles that code again
    in every process (about 0.15 s of each run on the benchmark machine).
    """
    first = tau[..., 0] * z[..., 0]
    second = tau[..., 1] * (rho * z[..., 0] + pt.sqrt(1.0 - rho**2) * z[..., 1])
    return pt.stack([first, second], axis=-1)


def add_study_effects(
    mu: pt.TensorVariable,
    tau: pt.TensorVariable,
    rho: pt.TensorVariable,
    parametrization: str,
) -> pt.TensorVariable:
    """Add each study's logits ~ N2(mu, Sigma(tau, rho)) and return them (dims ``study, measure``).

    ``mu`` has shape (2,) or (study, 2), ``tau`` (2,) or (study, 2), ``rho`` () or (study,).

    - Centered: the bivariate normal is added as its two factors, logit sensitivity
      ``A ~ N(mu_A, tau_A)`` and logit specificity given it,
      ``B | A ~ N(mu_B + rho tau_B (A - mu_A) / tau_A, tau_B sqrt(1 - rho^2))``, as free
      variables ``study_logit_sens`` and ``study_logit_spec``. Their joint density is the
      bivariate normal density of ``(A, B)``, in the same coordinates as ``pm.MvNormal``, so
      the posterior and the sampler's geometry are unchanged, and the log density is
      elementwise arithmetic without a triangular solve.
    - Non-centered: standard normal ``study_z`` (study, measure) and ``mu + L z``.

    Either way ``study_logit`` is a deterministic of both margins.
    """
    if parametrization == "centered":
        sens = pm.Normal("study_logit_sens", mu[..., 0], tau[..., 0], dims="study")
        shift = rho * tau[..., 1] * (sens - mu[..., 0]) / tau[..., 0]
        conditional_sd = tau[..., 1] * pt.sqrt(1.0 - rho**2)
        spec = pm.Normal("study_logit_spec", mu[..., 1] + shift, conditional_sd, dims="study")
        logits = pt.stack([sens, spec], axis=-1)
    else:
        z = pm.Normal("study_z", 0.0, 1.0, dims=("study", "measure"))
        logits = mu + correlate(z, tau, rho)
    return pm.Deterministic("study_logit", logits, dims=("study", "measure"))


def add_new_study(mu: pt.TensorVariable, tau: pt.TensorVariable, rho: pt.TensorVariable) -> None:
    """Add ``new_study_logit``, the logits of a new study, as ``mu + L z``.

    The standard normal ``new_study_z`` is a free variable, so its draws come with the
    posterior.
    """
    z_new = pm.Normal("new_study_z", 0.0, 1.0, dims="measure")
    pm.Deterministic("new_study_logit", mu + correlate(z_new, tau, rho), dims="measure")


def add_likelihood(study_logit: pt.TensorVariable, table) -> None:
    """Add the exact binomial likelihood of tp | tp + fn and tn | tn + fp (Chu & Cole 2006).

    Counts enter as ``pm.Data`` (``n_diseased``, ``n_healthy``, ``tp_observed``,
    ``tn_observed``). A table with ``n = 0`` in one margin adds log(1) = 0 there, so it
    informs the other margin only, and setting all four of a study's counts to 0 removes
    it from the likelihood without changing any shape (used for leave-one-out refits).
    """
    n_diseased = pm.Data("n_diseased", table.n_diseased, dims="study")
    n_healthy = pm.Data("n_healthy", table.n_healthy, dims="study")
    tp = pm.Data("tp_observed", table.counts("tp"), dims="study")
    tn = pm.Data("tn_observed", table.counts("tn"), dims="study")
    pm.Binomial("tp", n=n_diseased, logit_p=study_logit[:, 0], observed=tp, dims="study")
    pm.Binomial("tn", n=n_healthy, logit_p=study_logit[:, 1], observed=tn, dims="study")
