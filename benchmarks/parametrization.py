"""Compare the centered and non-centered bivariate model on each dataset.

Usage::

    python benchmarks/parametrization.py [--no-bundled] [CSV ...]

Fits both forms to every bundled dataset (and to the given CSV files) with nutpie, 4 chains
of 1000 warm-up and 1000 kept draws and seeds 1 and 2. For each dataset it prints one JSON
line with the median within-study logit SD that ``choose_parametrization`` uses and the form
it chooses. For each form the line holds the smallest bulk ESS over ``mu``, ``tau`` and
``rho``, that ESS per 1000 gradient evaluations and per second of sampling, and the
divergences, as means over the seeds. ESS per
gradient evaluation does not depend on the load of the machine, so it decides ties.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import arviz as az
import numpy as np

import bayesdta
from bayesdta import sampling
from bayesdta.datasets import list_datasets
from bayesdta.models.bivariate import choose_parametrization, within_study_logit_sd

FORMS = ("centered", "noncentered")
SEEDS = (1, 2)


def measure(data, form: str, seed: int) -> dict:
    """Fit one form once and return its efficiency numbers."""
    built = bayesdta.build_bivariate_model(data, parametrization=form)
    sampling.compiled_model(built)
    started = time.perf_counter()
    trace = bayesdta.fit(built, seed=seed, progressbar=False, check=False)
    seconds = time.perf_counter() - started
    posterior = trace["posterior"].to_dataset()[["mu", "tau", "rho"]]
    ess = az.ess(posterior, method="bulk")
    min_ess = float(min(np.min(ess[name].values) for name in ess.data_vars))
    gradients = float(trace["sample_stats"]["n_steps"].sum())
    return {
        "min_ess_bulk": min_ess,
        "ess_per_1000_gradients": 1000 * min_ess / gradients,
        "ess_per_second": min_ess / seconds,
        "divergences": int(trace["sample_stats"]["diverging"].sum()),
    }


def main(argv: list[str]) -> int:
    """Print one JSON line per dataset."""
    bundled = [] if "--no-bundled" in argv else list_datasets()
    paths = [argument for argument in argv if argument != "--no-bundled"]
    warnings.simplefilter("ignore")
    for data in [*bundled, *paths]:
        table = bayesdta.read_studies(data)
        line = {
            "data": str(data),
            "studies": table.n_studies,
            "median_within_sd": round(within_study_logit_sd(table), 3),
            "auto": choose_parametrization(table),
        }
        for form in FORMS:
            runs = [measure(table, form, seed) for seed in SEEDS]
            line[form] = {
                key: round(float(np.mean([run[key] for run in runs])), 2) for key in runs[0]
            }
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
