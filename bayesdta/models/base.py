"""The built-model record that travels from a builder to :func:`bayesdta.fit`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pymc as pm

from ..priors import Prior
from ..studytable import StudyTable

__all__ = ["DTAModel", "MEASURES"]

#: Coordinates of the ``measure`` dimension, in this order everywhere.
MEASURES = ("sensitivity", "specificity")


@dataclass
class DTAModel:
    """A PyMC model together with the data and choices it was built from.

    Attributes
    ----------
    model : pymc.Model
        Free variables ``mu_sens``, ``mu_spec`` (or their probability-scale versions),
        ``tau_sens``, ``tau_spec``, the correlation, study effects, and a new study's
        effects; deterministics ``mu``, ``tau`` (dims ``measure``), ``rho``,
        ``study_logit`` (dims ``study, measure``) and ``new_study_logit`` (dims ``measure``).
    table : StudyTable
        The validated data.
    priors : dict of str to Prior
        The priors used, after merging user priors over the defaults.
    parametrization : {"centered", "noncentered"}
    kind : str
        ``"bivariate"`` or the name of another builder.
    options : dict
        Builder options that change the model structure (covariates and so on), as JSON-able
        values.
    key_variables : tuple of str
        Posterior variables that the convergence checks cover besides ``mu``, ``tau`` and
        ``rho`` (for example regression coefficients).
    """

    model: pm.Model
    table: StudyTable
    priors: dict[str, Prior]
    parametrization: str
    kind: str = "bivariate"
    options: dict = field(default_factory=dict)
    key_variables: tuple[str, ...] = ()

    def structure_key(self) -> str:
        """Return a text that is equal for two models exactly when their graphs are equal
        up to data and hyperparameter values, so that one compiled model serves both."""
        families = {name: prior.dist for name, prior in sorted(self.priors.items())}
        return json.dumps(
            {
                "kind": self.kind,
                "parametrization": self.parametrization,
                "families": families,
                "n_studies": self.table.n_studies,
                "options": self.options,
            },
            sort_keys=True,
        )

    def graph_fingerprint(self) -> str:
        """Return a SHA-256 hash of the model's generative graph.

        The text covers the random variables, potentials and deterministics with every
        operation and input name but no values, the transform of each free variable, and the
        data variable each observed variable is tied to. With the PyMC version, which is
        also part of the cache key, these determine the log density that nutpie compiles, so
        the hash changes when the code that builds the model changes what it computes. The
        on-disk cache of compiled models keys on it, because a version number does not change
        between edits of an unreleased checkout. Printing this graph takes milliseconds,
        whereas deriving the log-density graph to print it took about 0.2 s of every cached
        run.
        """
        import pytensor

        model = self.model
        outputs = [
            *model.free_RVs,
            *model.observed_RVs,
            *model.potentials,
            *model.deterministics,
        ]
        text = pytensor.printing.debugprint(outputs, file="str", print_type=True)
        transforms = [
            f"{variable.name}: {type(model.rvs_to_transforms.get(variable)).__name__}"
            for variable in model.free_RVs
        ]
        observed = [
            f"{variable.name} observes {model.rvs_to_values[variable].name}"
            for variable in model.observed_RVs
        ]
        text = "\n".join([text, *transforms, *observed])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def cache_key(self) -> str:
        """Return the key of the on-disk compiled-model cache: the structure and the graph."""
        return f"{self.structure_key()}\ngraph {self.graph_fingerprint()}"

    def spec(self) -> dict:
        """Return the analysis specification recorded in the trace attributes."""
        return {
            "kind": self.kind,
            "parametrization": self.parametrization,
            "priors": {name: prior.to_dict() for name, prior in self.priors.items()},
            "options": self.options,
            "data": {
                "source": self.table.source,
                "n_studies": self.table.n_studies,
                "sha256": self.table.fingerprint(),
            },
        }
