"""Assemble a :class:`~bayesdta.report.content.Report` from a trace and its specification."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import xarray as xr

from ..spec import AnalysisSpec, parse_spec, spec_from_trace
from ..trace import read_spec
from .analysis import ANALYSIS_DIR_ATTR, ANALYSIS_SPEC_ATTR
from .content import Paragraph, Report, Section
from .criticism_sections import diagnostics_section, prior_sensitivity_section
from .regression_sections import forest_section, is_regression, sroc_section, subgroups_section
from .sections import (
    convergence_section,
    data_section,
    model_section,
    reproducibility_section,
    results_section,
)

__all__ = ["build_report", "spec_of_trace"]

logger = logging.getLogger(__name__)


def spec_of_trace(trace: xr.DataTree, base_dir: str | Path | None = None) -> AnalysisSpec:
    """Return the analysis specification of a trace.

    A trace written by :func:`bayesdta.report.run_analysis` carries its TOML specification;
    any other trace from :func:`bayesdta.fit` gets one rebuilt from its recorded model,
    priors and sampler settings (:func:`bayesdta.spec.spec_from_trace`), with the default
    report sections.
    """
    text = trace.attrs.get(ANALYSIS_SPEC_ATTR)
    if text is None:
        return spec_from_trace(trace, base_dir=base_dir)
    if base_dir is None:
        base_dir = trace.attrs.get(ANALYSIS_DIR_ATTR)
    return parse_spec(tomllib.loads(text), base_dir=base_dir, source="the trace", check_data=False)


def build_report(
    trace: xr.DataTree,
    spec: AnalysisSpec | None = None,
    *,
    spec_path: str | None = None,
    refit: bool = True,
) -> Report:
    """Build the report content of a fitted analysis.

    Parameters
    ----------
    trace : xarray.DataTree
        From :func:`bayesdta.fit` or :func:`bayesdta.report.run_analysis`, or read back
        from netCDF.
    spec : AnalysisSpec, optional
        The title, sections and interval probability; by default :func:`spec_of_trace`.
    spec_path : str, optional
        Specification file named in the reproducibility block.
    refit : bool, default True
        Allow the refits of the prior sensitivity section. Without them that section says
        how to get it, so a report rebuilt from a saved trace samples nothing.

    Returns
    -------
    Report
    """
    if spec is None:
        spec = spec_of_trace(trace)
    prob = spec.report.prob
    recorded = read_spec(trace)
    settings = recorded["sampler"]
    subtitle = (
        f"{recorded['data']['n_studies']} studies from {recorded['data']['source']}; "
        f"{settings['chains']} chains x {settings['draws']} draws; intervals are "
        f"{100 * prob:g}% credible intervals"
    )
    report = Report(spec.title, subtitle)
    report.sections.append(data_section(trace, covariates=spec.model.covariates or None))
    report.sections.append(model_section(trace, prob=prob))
    report.sections.append(convergence_section(trace))
    report.sections.append(results_section(trace, prob=prob))
    optional = []
    if spec.report.sroc:
        optional.append(sroc_section(trace, prob=prob))
    if spec.report.forest:
        optional.append(forest_section(trace, prob=prob))
    if spec.report.subgroups and is_regression(trace):
        optional.append(subgroups_section(trace, prob=prob))
    if spec.report.prior_sensitivity and refit:
        optional.append(prior_sensitivity_section(trace, spec))
    elif spec.report.prior_sensitivity:
        optional.append(_sensitivity_not_refitted(spec))
    if spec.report.diagnostics:
        optional.append(diagnostics_section(trace, prob=prob))
    report.sections += [section for section in optional if section is not None]
    report.sections.append(
        reproducibility_section(
            trace, spec_sha256=spec.sha256(), spec_path=spec_path, spec_text=_spec_text(spec)
        )
    )
    logger.info("built a report with %d sections", len(report.sections))
    return report


def _sensitivity_not_refitted(spec: AnalysisSpec) -> Section:
    names = ", ".join(spec.report.prior_sensitivity)
    text = (
        f"Prior sensitivity under {names} needs one refit per prior set, which a report "
        "rebuilt from a saved trace does not run. Run bayesdta report on the specification "
        "to include it."
    )
    return Section("prior-sensitivity", "Prior sensitivity", [Paragraph(text, kind="note")])


def _spec_text(spec: AnalysisSpec) -> str:
    from ..spec import spec_to_toml

    return spec_to_toml(spec)
