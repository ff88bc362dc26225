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
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "Prior",
    "PARAMETERS",
    "FAMILIES",
    "DEFAULT_PRIORS",
    "resolve_priors",
    "priors_to_json",
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


def _as_prior(name: str, value: Prior | Mapping) -> Prior:
    if isinstance(value, Prior):
        return value
    if isinstance(value, Mapping):
        params = dict(value)
        if "dist" not in params:
            raise ValueError(
                f"prior for {name!r} is missing the key 'dist'; write it as "
                "{'dist': 'HalfNormal', 'sigma': 1.0}"
            )
        return Prior(params.pop("dist"), **params)
    raise TypeError(
        f"prior for {name!r} must be a bayesdta.Prior or a dict with 'dist', got "
        f"{type(value).__name__}"
    )


def _check_prior(name: str, prior: Prior) -> list[str]:
    problems = []
    valid_families = PARAMETERS[name]
    if prior.dist not in valid_families:
        problems.append(
            f"{name}: family {prior.dist!r} is not available; choose one of {list(valid_families)}"
        )
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


def resolve_priors(priors: Mapping[str, Prior | Mapping] | None = None) -> dict[str, Prior]:
    """Merge user priors over :data:`DEFAULT_PRIORS` and check them all.

    Parameters
    ----------
    priors : mapping, optional
        Parameter name to :class:`Prior` or plain dictionary. Missing parameters keep their
        default; the caller's mapping is not modified.

    Returns
    -------
    dict of str to Prior
        One prior for every parameter in :data:`PARAMETERS`.

    Raises
    ------
    ValueError
        Listing every unknown parameter name, unavailable family and bad hyperparameter.
    """
    priors = dict(priors or {})
    unknown = sorted(set(priors) - set(PARAMETERS))
    problems = []
    if unknown:
        problems.append(
            f"unknown parameter name(s) {unknown}; valid names are {sorted(PARAMETERS)}"
        )
    merged = dict(DEFAULT_PRIORS)
    for name, value in priors.items():
        if name in PARAMETERS:
            merged[name] = _as_prior(name, value)
            problems += _check_prior(name, merged[name])
    if problems:
        raise ValueError("invalid priors:\n  - " + "\n  - ".join(problems))
    return merged


def priors_to_json(priors: Mapping[str, Prior]) -> str:
    """Serialise resolved priors for the trace attributes."""
    return json.dumps({name: prior.to_dict() for name, prior in priors.items()}, sort_keys=True)
