"""Prior distributions of the bivariate model, keyed by parameter name.

A prior is a distribution family and its parameters, for example
``Prior("HalfNormal", sigma=1.5)``, or the plain dictionary
``{"dist": "HalfNormal", "sigma": 1.5}``. The model builders turn every hyperparameter into
``pm.Data``, so priors that differ only in hyperparameters share one compiled model.

Parameters of the bivariate model (logit scale):

``mu_sens``, ``mu_spec``
    Pooled logit sensitivity and specificity. Families: ``Normal``, ``StudentT``, or
    ``Beta`` on the probability scale: the sampler then draws the pooled probability
    ``p ~ Beta(alpha, beta)`` and the model uses ``logit(p)``. That is the exact change of
    variables, so the implied prior of the pooled probability is that Beta.
``tau_sens``, ``tau_spec``
    Between-study SDs of the logits. Families: ``HalfNormal``, ``HalfStudentT``,
    ``HalfCauchy``, ``Exponential``, or ``GammaPrecision`` (a Gamma(alpha, beta) prior on
    the precision 1 / tau^2, as in the JAGS models of the Cochrane DTA Handbook).
``rho``
    Correlation of the logits. Families: ``LKJ`` (eta): ``(rho + 1) / 2 ~ Beta(eta, eta)``,
    which is the marginal of the LKJ(eta) distribution of a 2x2 correlation matrix;
    ``Uniform`` on (lower, upper) within (-1, 1).

Priors on the probability scale
    ``sensitivity`` and ``specificity`` are accepted as names of a ``Beta`` prior on the pooled
    probability. They are stored as the ``Beta`` prior of ``mu_sens`` and ``mu_spec``. A Normal
    prior on a logit mean implies a logit-normal prior on the probability;
    :func:`implied_probability_prior` draws it.

Other prior objects
    An object with the attributes ``distribution`` (family name) and ``parameters`` (numbers),
    such as ``pymc_extras.prior.Prior("HalfNormal", sigma=1)``, and its dictionary form
    ``{"dist": "HalfNormal", "kwargs": {"sigma": 1}}`` are accepted as well. pymc-extras 0.15.1,
    the release current with PyMC 6.4, requires ``pymc<6.4``, so bayesdta does not depend on
    it. Nested priors, ``dims``, ``transform`` and ``centered=False`` are rejected because the
    models here give each parameter one fixed-form prior.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Prior",
    "PARAMETERS",
    "FAMILIES",
    "DEFAULT_PRIORS",
    "PROBABILITY_ALIASES",
    "resolve_priors",
    "priors_to_json",
    "priors_from_json",
    "describe_priors",
    "implied_probability_prior",
]

#: Parameters of the bivariate model that take a prior, with the families each accepts.
PARAMETERS: dict[str, tuple[str, ...]] = {
    "mu_sens": ("Normal", "StudentT", "Beta"),
    "mu_spec": ("Normal", "StudentT", "Beta"),
    "tau_sens": ("HalfNormal", "HalfStudentT", "HalfCauchy", "Exponential", "GammaPrecision"),
    "tau_spec": ("HalfNormal", "HalfStudentT", "HalfCauchy", "Exponential", "GammaPrecision"),
    "rho": ("LKJ", "Uniform"),
}

#: Hyperparameters of each family, in the order PyMC takes them.
FAMILIES: dict[str, tuple[str, ...]] = {
    "Normal": ("mu", "sigma"),
    "StudentT": ("nu", "mu", "sigma"),
    "Beta": ("alpha", "beta"),
    "HalfNormal": ("sigma",),
    "HalfStudentT": ("nu", "sigma"),
    "HalfCauchy": ("beta",),
    "Exponential": ("lam",),
    "GammaPrecision": ("alpha", "beta"),
    "LKJ": ("eta",),
    "Uniform": ("lower", "upper"),
}


@dataclass(frozen=True)
class Prior:
    """One prior distribution: a family name from :data:`FAMILIES` and its hyperparameters.

    Examples
    --------
    >>> Prior("Normal", mu=0, sigma=2)
    Prior(dist='Normal', params={'mu': 0.0, 'sigma': 2.0})
    """

    dist: str
    params: dict[str, float] = field(default_factory=dict)

    def __init__(self, dist: str, **params: float):
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "params", {k: float(v) for k, v in params.items()})

    def to_dict(self) -> dict:
        """Return ``{"dist": ..., <hyperparameters>}``, the plain-dictionary form."""
        return {"dist": self.dist, **self.params}

    def describe(self) -> str:
        """Return the prior as text, for example ``HalfNormal(sigma=1.5)``."""
        inner = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.dist}({inner})"


#: The package default, ``weakly-informative``. Reasons:
#: mu ~ Normal(0, 2): 95% prior mass for a pooled probability in (0.02, 0.98), flat enough
#: that 10 or more studies dominate it;
#: tau ~ HalfNormal(1.5): logit SDs above 3 (study sensitivities spread over 0.05-0.95
#: around a pooled 0.5) get under 5% prior mass, and values near 0 are allowed;
#: rho ~ LKJ(2), that is (rho + 1) / 2 ~ Beta(2, 2): keeps the correlation away from
#: +-1, where few studies leave it unidentified, while allowing any sign.
DEFAULT_PRIORS: dict[str, Prior] = {
    "mu_sens": Prior("Normal", mu=0.0, sigma=2.0),
    "mu_spec": Prior("Normal", mu=0.0, sigma=2.0),
    "tau_sens": Prior("HalfNormal", sigma=1.5),
    "tau_spec": Prior("HalfNormal", sigma=1.5),
    "rho": Prior("LKJ", eta=2.0),
}


#: Probability-scale names of the pooled accuracy, and the logit mean each one sets.
PROBABILITY_ALIASES: dict[str, str] = {"sensitivity": "mu_sens", "specificity": "mu_spec"}

_FOREIGN_OPTIONS = ("dims", "transform", "centered")


def _as_prior(name: str, value) -> Prior:
    """Convert one user value to a :class:`Prior`; raise ValueError or TypeError naming ``name``."""
    if isinstance(value, Prior):
        return value
    if isinstance(value, Mapping):
        return _prior_from_mapping(name, dict(value))
    if hasattr(value, "distribution") and hasattr(value, "parameters"):
        return _prior_from_object(name, value)
    raise TypeError(
        f"prior for {name!r} must be a bayesdta.Prior, a pymc-extras Prior or a dict with "
        f"'dist', got {type(value).__name__}"
    )


def _prior_from_mapping(name: str, params: dict) -> Prior:
    if "dist" not in params:
        raise ValueError(
            f"prior for {name!r} is missing the key 'dist'; write it as "
            "{'dist': 'HalfNormal', 'sigma': 1.0}"
        )
    dist = params.pop("dist")
    if "kwargs" in params:
        # The dictionary form of pymc-extras: {"dist": ..., "kwargs": {...}, "dims": ...}.
        _reject_foreign_options(name, {key: params[key] for key in params if key != "kwargs"})
        params = dict(params["kwargs"])
    return _numeric_prior(name, dist, params)


def _prior_from_object(name: str, value) -> Prior:
    options = {
        "dims": getattr(value, "dims", None),
        "transform": getattr(value, "transform", None),
        "centered": None if getattr(value, "centered", True) else False,
    }
    _reject_foreign_options(name, options)
    return _numeric_prior(name, str(value.distribution), dict(value.parameters))


def _reject_foreign_options(name: str, options: Mapping) -> None:
    unknown = sorted(set(options) - set(_FOREIGN_OPTIONS))
    if unknown:
        raise ValueError(f"prior for {name!r} has unknown key(s) {unknown}")
    given = {key: value for key, value in options.items() if value not in (None, (), True)}
    if given:
        raise ValueError(
            f"prior for {name!r} sets {given}; bayesdta priors take only a family and numeric "
            "hyperparameters, because each model parameter has a fixed shape and form"
        )


def _numeric_prior(name: str, dist, params: Mapping) -> Prior:
    bad = {}
    for key, value in params.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            bad[key] = value
            continue
        if not math.isfinite(number):
            bad[key] = value
    if bad:
        raise ValueError(
            f"prior for {name!r}: hyperparameters must be finite numbers; invalid values "
            f"{bad!r} (nested priors are not supported)"
        )
    return Prior(str(dist), **params)


def _check_prior(name: str, prior: Prior, parameters=None) -> list[str]:
    problems = []
    valid_families = (PARAMETERS if parameters is None else parameters)[name]
    if prior.dist not in valid_families:
        problems.append(
            f"{name}: family {prior.dist!r} is not available; choose one of {list(valid_families)}"
        )
        return problems
    if prior.dist not in FAMILIES:
        problems.append(f"{name}: family {prior.dist!r} has no hyperparameter list in FAMILIES")
        return problems
    expected = set(FAMILIES[prior.dist])
    given = set(prior.params)
    if given != expected:
        problems.append(
            f"{name}: {prior.dist} takes hyperparameters {sorted(expected)}, got {sorted(given)}"
        )
        return problems
    problems += _check_values(name, prior)
    return problems


def _check_values(name: str, prior: Prior) -> list[str]:
    positive = {"sigma", "nu", "alpha", "beta", "lam", "eta"}
    problems = [
        f"{name}: {prior.dist} hyperparameter {key}={value:g} must be > 0"
        for key, value in prior.params.items()
        if key in positive and not value > 0
    ]
    if prior.dist == "Uniform":
        lower, upper = prior.params["lower"], prior.params["upper"]
        if not -1 <= lower < upper <= 1:
            problems.append(
                f"{name}: Uniform(lower={lower:g}, upper={upper:g}) must satisfy "
                "-1 <= lower < upper <= 1"
            )
    return problems


def resolve_priors(
    priors=None,
    *,
    parameters: Mapping[str, tuple[str, ...]] | None = None,
    defaults: Mapping[str, Prior] | None = None,
) -> dict[str, Prior]:
    """Merge user priors over the defaults and check them all.

    Parameters
    ----------
    priors : mapping, str or PriorSet, optional
        Parameter name to :class:`Prior`, plain dictionary or pymc-extras ``Prior``; or the
        name of a prior set in :data:`bayesdta.prior_sets.PRIOR_SETS`; or a
        :class:`bayesdta.prior_sets.PriorSet`. Missing parameters keep their default, and the
        caller's mapping is not modified. ``sensitivity`` and ``specificity`` take a ``Beta``
        prior on the pooled probability (see :data:`PROBABILITY_ALIASES`).
    parameters : mapping, optional
        Valid parameter names and the families each accepts; :data:`PARAMETERS` by default.
        Builders of other models pass their own.
    defaults : mapping, optional
        Priors of unnamed parameters; :data:`DEFAULT_PRIORS` by default.

    Returns
    -------
    dict of str to Prior
        One prior for every name in ``parameters``.

    Raises
    ------
    ValueError
        Listing every unknown parameter name, unavailable family and invalid hyperparameter.
    TypeError
        If a prior is neither a :class:`Prior`, a mapping nor a pymc-extras ``Prior``.

    Examples
    --------
    >>> resolve_priors({"tau_sens": {"dist": "HalfNormal", "sigma": 1.0}})["tau_sens"]
    Prior(dist='HalfNormal', params={'sigma': 1.0})
    >>> resolve_priors({"sensitivity": Prior("Beta", alpha=8, beta=2)})["mu_sens"].dist
    'Beta'
    """
    parameters = PARAMETERS if parameters is None else parameters
    merged = dict(DEFAULT_PRIORS if defaults is None else defaults)
    given, problems = _rename_probability_aliases(_as_mapping(priors), parameters)

    unknown = sorted(set(given) - set(parameters))
    if unknown:
        problems.append(
            f"unknown parameter name(s) {unknown}; valid names are "
            f"{sorted(parameters)}, and 'sensitivity' or 'specificity' for a Beta prior"
        )
    for name, value in given.items():
        if name not in parameters:
            continue
        try:
            merged[name] = _as_prior(name, value)
        except (TypeError, ValueError) as error:
            problems.append(str(error))
            continue
        problems += _check_prior(name, merged[name], parameters)
    if problems:
        raise ValueError("invalid priors:\n  - " + "\n  - ".join(problems))
    return merged


def _as_mapping(priors) -> dict:
    if priors is None:
        return {}
    if isinstance(priors, str):
        from .prior_sets import get_prior_set

        return dict(get_prior_set(priors).priors)
    if hasattr(priors, "priors") and isinstance(priors.priors, Mapping):
        return dict(priors.priors)
    if isinstance(priors, Mapping):
        return dict(priors)
    raise TypeError(
        "priors must be a mapping of parameter name to prior, a prior set name or a "
        f"PriorSet, got {type(priors).__name__}"
    )


def _rename_probability_aliases(given: dict, parameters) -> tuple[dict, list[str]]:
    problems = []
    renamed = {}
    for name, value in given.items():
        target = PROBABILITY_ALIASES.get(name)
        if target is None or target not in parameters or name in parameters:
            renamed[name] = value
            continue
        if target in given:
            problems.append(f"both {name!r} and {target!r} are given; give only one of them")
            continue
        try:
            prior = _as_prior(name, value)
        except (TypeError, ValueError) as error:
            problems.append(str(error))
            continue
        if prior.dist != "Beta":
            problems.append(
                f"{name}: a probability-scale prior must be 'Beta', got {prior.dist!r}; give "
                f"other families on the logit scale as {target!r}"
            )
            continue
        renamed[target] = prior
    return renamed, problems


def priors_to_json(priors: Mapping[str, Prior]) -> str:
    """Serialise resolved priors for the trace attributes."""
    return json.dumps({name: prior.to_dict() for name, prior in priors.items()}, sort_keys=True)


def priors_from_json(text: str) -> dict[str, Prior]:
    """Parse the output of :func:`priors_to_json` (or the ``priors`` of a trace spec)."""
    data = json.loads(text) if isinstance(text, str) else text
    return {name: _as_prior(name, value) for name, value in data.items()}


def describe_priors(priors: Mapping[str, Prior]) -> dict[str, str]:
    """Return each prior as text, for example ``{"tau_sens": "HalfNormal(sigma=1.5)"}``."""
    return {name: _as_prior(name, prior).describe() for name, prior in priors.items()}


def implied_probability_prior(
    prior: Prior | Mapping, draws: int = 10_000, seed: int | None = None
) -> np.ndarray:
    """Draw the prior of a pooled probability implied by the prior of its logit mean.

    ``Beta(alpha, beta)`` is the prior of the probability itself (the model uses
    ``logit(p)`` with ``p ~ Beta``). ``Normal(mu, sigma)`` and ``StudentT(nu, mu, sigma)`` on
    the logit give ``expit`` of their draws, a logit-normal or logit-t prior.

    Parameters
    ----------
    prior : Prior or mapping
        A prior for ``mu_sens`` or ``mu_spec``.
    draws : int, default 10000
    seed : int, optional

    Returns
    -------
    numpy.ndarray
        Shape ``(draws,)``, values in (0, 1).
    """
    from scipy.special import expit

    prior = _as_prior("mu", prior)
    problems = _check_prior("mu_sens", prior)
    if problems:
        raise ValueError("invalid prior: " + "; ".join(problems))
    rng = np.random.default_rng(seed)
    params = prior.params
    if prior.dist == "Beta":
        return rng.beta(params["alpha"], params["beta"], size=draws)
    if prior.dist == "Normal":
        return expit(rng.normal(params["mu"], params["sigma"], size=draws))
    return expit(params["mu"] + params["sigma"] * rng.standard_t(params["nu"], size=draws))
