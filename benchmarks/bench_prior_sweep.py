"""Time prior sweeps against one fit of the same model, all in one process.

Three measurements, each starting from an empty compiled-model cache so that every one pays
for the compilations it needs:

1. one fit of the bivariate model with the default priors (one compilation and one run),
   then a refit and nutpie's sampling alone, to show what a refit spends outside the sampler;
2. a sweep over 8 prior sets of the same families (the default set with the between-study
   SD scale set to 8 values), which needs one compilation and 8 runs: once as given, where
   the 7 sets after the first are warm-started (``bayesdta.refit``) unless ``--tune`` is
   given, and once with every set cold;
3. a sweep over every named prior set in ``bayesdta.prior_sets.PRIOR_SETS``.

The on-disk cache of compiled models (:mod:`bayesdta.cache`) is turned off unless
``--disk-cache`` is given, so that (1) and (2) each include the one compilation they need.

The target is a ratio (2) / (1) of at most 1.5. Run::

    python benchmarks/bench_prior_sweep.py [--dataset auditc] [--draws 1000] [--disk-cache]

and compare runs on the same machine only: compilation dominates, and it depends on the CPU,
the C compiler and other load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

TAU_SCALES = [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="auditc", help="bundled dataset or CSV (auditc)")
    parser.add_argument("--draws", type=int, default=1000, help="kept draws per chain (1000)")
    parser.add_argument(
        "--tune",
        type=int,
        help="warm-up draws per chain of every fit, which turns the sweeps' warm start off "
        "(by default 1000, and 100 for warm-started sweep fits)",
    )
    parser.add_argument("--chains", type=int, default=4, help="chains (4)")
    parser.add_argument("--seed", type=int, default=1, help="seed (1)")
    parser.add_argument(
        "--disk-cache",
        action="store_true",
        help="keep the on-disk cache of compiled models on (off by default)",
    )
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    return parser.parse_args()


def time_one_fit(dataset: str, sampler: dict) -> dict:
    from bayesdta import build_bivariate_model, fit
    from bayesdta.sampling import COMPILE_COUNT, clear_compiled_models

    clear_compiled_models()
    compiled_before = COMPILE_COUNT["nutpie"]
    started = time.perf_counter()
    fit(build_bivariate_model(dataset), progressbar=False, check=False, **sampler)
    cold = time.perf_counter() - started

    started = time.perf_counter()
    fit(build_bivariate_model(dataset), progressbar=False, check=False, **sampler)
    warm = time.perf_counter() - started
    return {
        "fit_seconds": cold,
        "refit_seconds": warm,
        "sampling_seconds": time_sampling_only(build_bivariate_model(dataset), sampler),
        "compilations": COMPILE_COUNT["nutpie"] - compiled_before,
    }


def time_sampling_only(built, sampler: dict) -> float:
    """Time nutpie alone on the kept compiled model, without the trace post-processing."""
    import nutpie

    from bayesdta.sampling import compiled_model

    compiled = compiled_model(built)
    started = time.perf_counter()
    nutpie.sample(
        compiled,
        draws=sampler["draws"],
        tune=sampler["tune"],
        chains=sampler["chains"],
        seed=sampler["seed"],
        progress_bar=False,
    )
    return time.perf_counter() - started


def time_sweep(dataset: str, prior_sets, sampler: dict) -> dict:
    from bayesdta.sampling import clear_compiled_models
    from bayesdta.sensitivity import sensitivity_analysis

    clear_compiled_models()
    started = time.perf_counter()
    result = sensitivity_analysis(dataset, prior_sets, progressbar=False, **sampler)
    return {
        "seconds": time.perf_counter() - started,
        "prior_sets": len(result.prior_sets),
        "compilations": result.compilations,
        "warm_starts": len(result.warm_starts),
        "fallbacks": len(result.fallbacks),
    }


def main() -> None:
    args = parse_args()
    if not args.disk_cache:
        os.environ["BAYESDTA_CACHE_DIR"] = ""
    from bayesdta.prior_sets import prior_set_names, vary_prior_set

    sampler = {"draws": args.draws, "chains": args.chains, "seed": args.seed}
    if args.tune is not None:
        sampler["tune"] = args.tune
    cold = {**sampler, "tune": 1000 if args.tune is None else args.tune}
    tau = ("tau_sens", "tau_spec")
    same_family = vary_prior_set("weakly-informative", tau, "sigma", TAU_SCALES)

    load_at_start = os.getloadavg()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = time_one_fit(args.dataset, cold)
        eight = time_sweep(args.dataset, same_family, sampler)
        eight_cold = time_sweep(args.dataset, same_family, cold)
        named = time_sweep(args.dataset, prior_set_names(), sampler)

    numbers = {
        "dataset": args.dataset,
        "sampler": (
            f"nutpie, {args.chains} chains x {args.draws} draws after {cold['tune']} warm-up"
        ),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "disk_cache": args.disk_cache,
        "load_average_1min": f"{load_at_start:.2f} at start, {os.getloadavg()[0]:.2f} at end",
        "one_fit_seconds": round(one["fit_seconds"], 2),
        "one_refit_seconds": round(one["refit_seconds"], 2),
        "nutpie_sampling_seconds": round(one["sampling_seconds"], 2),
        "same_family_sweep_seconds": round(eight["seconds"], 2),
        "same_family_sweep_sets": eight["prior_sets"],
        "same_family_sweep_compilations": eight["compilations"],
        "same_family_sweep_warm_starts": eight["warm_starts"],
        "same_family_sweep_fallbacks": eight["fallbacks"],
        "sweep_to_fit_ratio": round(eight["seconds"] / one["fit_seconds"], 2),
        "same_family_cold_sweep_seconds": round(eight_cold["seconds"], 2),
        "cold_sweep_to_fit_ratio": round(eight_cold["seconds"] / one["fit_seconds"], 2),
        "named_sweep_seconds": round(named["seconds"], 2),
        "named_sweep_sets": named["prior_sets"],
        "named_sweep_compilations": named["compilations"],
        "named_sweep_warm_starts": named["warm_starts"],
    }
    if args.json:
        print(json.dumps(numbers, indent=2))
        return
    width = max(len(key) for key in numbers)
    for key, value in numbers.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
