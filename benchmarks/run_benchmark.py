"""Time bayesdta against JAGS and Stan on simulated data and write the results page.

Usage::

    python benchmarks/run_benchmark.py [--studies 52 1000] [--skip-peers] [--output FILE]

For each number of studies the script writes a simulated CSV (true values: logit
sensitivity 1.4, logit specificity 1.5, between-study SDs 0.6 and 0.7, correlation -0.3).
It runs the JAGS and Stan fits of the peers script on that file when the script is present,
and then measures bayesdta on the same file in the same sitting:

- wall time of ``bayesdta analyze FILE --json`` in a fresh process, first with empty
  compilation caches (bayesdta's, PyTensor's and numba's, as on a fresh machine) and then
  again with the caches that run filled;
- peak resident memory of that process (``os.wait4``);
- wall time of ``bayesdta.fit`` alone inside one process, with the compiled model cached
  on disk, and of a second fit in the same process (sampling and post-processing only);
- the smallest rank-normalized bulk ESS over ``mu`` (2), ``tau`` (2) and ``rho``, as
  ``analyze --json`` reports it, and that ESS per second of end-to-end time;
- a prior sensitivity sweep over 8 prior sets and, when ``bayesdta.influence`` exists,
  exact leave-one-study-out refits of every study, each relative to one fit, both with the
  default warm-started refits and with cold ones (``bayesdta.refit``).

Every fit uses 4 chains with 1000 warm-up and 1000 kept draws, as the peers script does.
Timings on a shared machine vary from run to run, so compare within one run, as ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PEERS_DIR = Path(os.environ.get("BAYESDTA_PEERS_DIR", HERE.parent.parent / "shared/bench/peers"))
PYTHON = sys.executable
SEED = 1
CHAINS, TUNE, DRAWS = 4, 1000, 1000

PEER_LINE = re.compile(
    r"^\s*(?P<engine>\w+): total\s+(?P<total>[\d.]+) s \(build (?P<build>[\d.]+) s\)"
    r"\s+min bulk ESS\s+(?P<ess>[\d.]+)\s+ESS/s\s+(?P<ess_per_second>[\d.]+)"
)


def simulate_csv(studies: int, seed: int, path: Path) -> Path:
    """Write the simulated dataset of the peers script, or the same data made here."""
    script = PEERS_DIR / "simulate.py"
    if script.is_file():
        text = subprocess.run(
            [PYTHON, str(script), str(studies), str(seed)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        path.write_text(text)
        return path

    # The same draws in the same order as simulate.py, so both give identical files.
    rng = np.random.default_rng(seed)
    mean, sd, rho = np.array([1.4, 1.5]), np.array([0.6, 0.7]), -0.3
    covariance = np.array(
        [[sd[0] ** 2, rho * sd[0] * sd[1]], [rho * sd[0] * sd[1], sd[1] ** 2]]
    )
    logits = rng.multivariate_normal(mean, covariance, size=studies)
    diseased = rng.integers(20, 200, studies)
    healthy = rng.integers(40, 400, studies)
    tp = rng.binomial(diseased, 1 / (1 + np.exp(-logits[:, 0])))
    tn = rng.binomial(healthy, 1 / (1 + np.exp(-logits[:, 1])))
    lines = ["study,tp,fp,fn,tn"]
    for i in range(studies):
        lines.append(f"s{i + 1},{tp[i]},{healthy[i] - tn[i]},{diseased[i] - tp[i]},{tn[i]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run_peers(csv: Path) -> dict[str, dict]:
    """Run the JAGS and Stan fits of the peers script; return their line per engine."""
    script = PEERS_DIR / "run.sh"
    if not script.is_file():
        return {}
    completed = subprocess.run(["bash", str(script), str(csv)], capture_output=True, text=True)
    if completed.returncode != 0:
        print(completed.stderr[-2000:], file=sys.stderr)
        return {}
    results = {}
    for line in completed.stdout.splitlines():
        match = PEER_LINE.match(line)
        if match:
            results[match["engine"]] = {
                "total_seconds": float(match["total"]),
                "build_seconds": float(match["build"]),
                "min_ess_bulk": float(match["ess"]),
                "ess_per_second": float(match["ess_per_second"]),
            }
    return results


def _timed_child(command: list[str], environment: dict[str, str]) -> tuple[float, int, str]:
    """Run a command; return wall seconds, peak resident memory in bytes, and stdout."""
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=environment)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        output, errors = stdout.read(), stderr.read()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{errors[-3000:]}")
    # ru_maxrss is in kilobytes on Linux.
    return seconds, usage.ru_maxrss * 1024, output


def cache_environment(folder: Path) -> dict[str, str]:
    """Return an environment whose bayesdta, PyTensor and numba caches live in ``folder``."""
    return dict(
        os.environ,
        BAYESDTA_CACHE_DIR=str(folder / "bayesdta"),
        PYTENSOR_FLAGS=f"base_compiledir={folder / 'pytensor'}",
        NUMBA_CACHE_DIR=str(folder / "numba"),
    )


def run_analyze(csv: Path, sampler: str, parametrization: str, environment) -> dict:
    """Time one ``bayesdta analyze --json`` process."""
    command = [
        PYTHON, "-m", "bayesdta.cli.main", "analyze", str(csv), "--json", "--no-progress",
        "--seed", str(SEED), "--sampler", sampler, "--parametrization", parametrization,
        "--chains", str(CHAINS), "--tune", str(TUNE), "--draws", str(DRAWS),
    ]  # fmt: skip
    seconds, peak_bytes, output = _timed_child(command, environment)
    diagnostics = json.loads(output)["diagnostics"]
    ess = float(diagnostics["min_ess_bulk"])
    return {
        "seconds": seconds,
        "peak_rss_mb": peak_bytes / 2**20,
        "min_ess_bulk": ess,
        "ess_per_second": ess / seconds,
        "max_rhat": float(diagnostics["max_rhat"]),
        "divergences": int(diagnostics["divergences"]),
    }


LIBRARY_FIT = f"""
import json, sys, time, warnings
started = time.perf_counter()
import bayesdta
from bayesdta import cache, sampling
imported = time.perf_counter()
csv, sampler, parametrization = sys.argv[1:4]
settings = dict(draws={DRAWS}, tune={TUNE}, chains={CHAINS}, seed={SEED}, sampler=sampler,
                progressbar=False)
warnings.simplefilter("ignore")
built = bayesdta.build_bivariate_model(csv, parametrization=parametrization)
built_at = time.perf_counter()
bayesdta.fit(built, **settings)
first = time.perf_counter()
bayesdta.fit(built, **settings)
second = time.perf_counter()
print(json.dumps({{"import": imported - started, "build": built_at - imported,
                  "first_fit": first - built_at, "second_fit": second - first,
                  "compilations": sampling.COMPILE_COUNT["nutpie"],
                  "cache_hits": cache.CACHE_STATS["hits"]}}))
"""


def run_library_fit(csv: Path, sampler: str, parametrization: str, environment) -> dict:
    """Time ``bayesdta.fit`` alone, twice, in one fresh process."""
    command = [PYTHON, "-c", LIBRARY_FIT, str(csv), sampler, parametrization]
    _, _, output = _timed_child(command, environment)
    return json.loads(output.strip().splitlines()[-1])


SWEEP = f"""
import json, sys, time, warnings
import bayesdta
from bayesdta.prior_sets import PRIOR_SETS, vary_prior_set
from bayesdta.sensitivity import sensitivity_analysis
warnings.simplefilter("ignore")
csv = sys.argv[1]
settings = dict(draws={DRAWS}, chains={CHAINS}, seed={SEED})
sets = list(PRIOR_SETS.values())
sets += vary_prior_set("weakly-informative", ("tau_sens", "tau_spec"), "sigma",
                       [0.5, 2.0, 3.0])[: 8 - len(sets)]
# Compile or load every model structure first, so that neither timed sweep pays for it.
primed = sensitivity_analysis(csv, sets, progressbar=False, draws=10, tune=10, chains=2, seed=1)
started = time.perf_counter()
bayesdta.fit(bayesdta.build_bivariate_model(csv), progressbar=False, tune={TUNE}, **settings)
one_fit = time.perf_counter() - started
started = time.perf_counter()
warm = sensitivity_analysis(csv, sets, progressbar=False, **settings)
sweep = time.perf_counter() - started
started = time.perf_counter()
sensitivity_analysis(csv, sets, progressbar=False, tune={TUNE}, **settings)
sweep_cold = time.perf_counter() - started
print(json.dumps({{"one_fit": one_fit, "sweep": sweep, "sweep_cold": sweep_cold,
                  "prior_sets": len(sets), "compilations": primed.compilations,
                  "warm_starts": len(warm.warm_starts), "fallbacks": len(warm.fallbacks)}}))
"""


def run_sweep(csv: Path, environment) -> dict | None:
    """Time a sweep over 8 prior sets against one fit, in one process."""
    try:
        import bayesdta.sensitivity  # noqa: F401
    except ImportError:
        return None
    _, _, output = _timed_child([PYTHON, "-c", SWEEP, str(csv)], environment)
    return json.loads(output.strip().splitlines()[-1])


LEAVE_ONE_OUT = f"""
import json, sys, time, warnings
import bayesdta
from bayesdta.influence import leave_one_study_out
warnings.simplefilter("ignore")
csv = sys.argv[1]
settings = dict(draws={DRAWS}, tune={TUNE}, chains={CHAINS}, seed={SEED})
built = bayesdta.build_bivariate_model(csv)
started = time.perf_counter()
trace = bayesdta.fit(built, progressbar=False, **settings)
one_fit = time.perf_counter() - started
studies = [str(study) for study in trace["observed_data"]["study"].values]
started = time.perf_counter()
table = leave_one_study_out(trace, built, force_refit=studies)
refits = time.perf_counter() - started
started = time.perf_counter()
leave_one_study_out(trace, built, force_refit=studies, warm_start=False)
refits_cold = time.perf_counter() - started
print(json.dumps({{"one_fit": one_fit, "refits": refits, "refits_cold": refits_cold,
                  "studies": len(studies), "refitted": int((table["method"] == "refit").sum()),
                  "warm_refits": len(table.attrs.get("warm_refits", [])),
                  "fallbacks": len(table.attrs.get("refit_fallbacks", []))}}))
"""


def run_leave_one_out(csv: Path, environment) -> dict | None:
    """Time exact leave-one-study-out refits of every study against one fit."""
    if not influence_available():
        return None
    _, _, output = _timed_child([PYTHON, "-c", LEAVE_ONE_OUT, str(csv)], environment)
    return json.loads(output.strip().splitlines()[-1])


def influence_available() -> bool:
    """Return whether the leave-one-study-out module exists in this checkout."""
    try:
        import bayesdta.influence  # noqa: F401
    except ImportError:
        return False
    return True


def machine_description() -> dict[str, str]:
    """Return the CPU, core count, memory, load and library versions of this machine."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        kilobytes = int(meminfo.read_text().split()[1])
        memory = f"{kilobytes / 2**20:.1f} GiB"
    versions = {
        package: metadata.version(package)
        for package in ("bayesdta", "pymc", "pytensor", "nutpie", "numba", "arviz", "numpy")
    }
    for optional in ("numpyro", "jax"):
        try:
            versions[optional] = metadata.version(optional)
        except metadata.PackageNotFoundError:
            pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "load": " ".join(f"{value:.1f}" for value in os.getloadavg()),
        "python": platform.python_version(),
        "versions": ", ".join(f"{name} {version}" for name, version in versions.items()),
    }


def measure(studies: int, args, work: Path) -> dict:
    """Run every measurement for one number of studies."""
    csv = simulate_csv(studies, SEED, work / f"simulated_{studies}.csv")
    result = {"studies": studies, "peers": {}, "analyze": [], "library": [], "sweep": None}
    if not args.skip_peers:
        print(f"[{studies}] peers", file=sys.stderr)
        result["peers"] = run_peers(csv)

    for sampler in args.samplers:
        if sampler != "nutpie" and studies > args.max_studies_other_samplers:
            continue
        for parametrization in args.parametrizations:
            folder = work / f"cache_{studies}_{sampler}_{parametrization}"
            shutil.rmtree(folder, ignore_errors=True)
            environment = cache_environment(folder)
            for run in ("first", "cached"):
                print(f"[{studies}] analyze {sampler} {parametrization} {run}", file=sys.stderr)
                try:
                    row = run_analyze(csv, sampler, parametrization, environment)
                except RuntimeError as error:
                    print(error, file=sys.stderr)
                    continue
                row.update(sampler=sampler, parametrization=parametrization, run=run)
                result["analyze"].append(row)
            if sampler == "nutpie":
                print(f"[{studies}] library fit {parametrization}", file=sys.stderr)
                row = run_library_fit(csv, sampler, parametrization, environment)
                row.update(sampler=sampler, parametrization=parametrization)
                result["library"].append(row)

    if studies <= args.max_studies_sweep:
        print(f"[{studies}] prior sweep", file=sys.stderr)
        result["sweep"] = run_sweep(csv, cache_environment(work / f"cache_{studies}_sweep"))
        print(f"[{studies}] leave-one-study-out refits", file=sys.stderr)
        result["leave_one_out"] = run_leave_one_out(
            csv, cache_environment(work / f"cache_{studies}_sweep")
        )
    return result


def render_tables(record: dict) -> str:
    """Return Markdown tables of a JSON record, with ratios to JAGS and Stan."""
    machine = record["machine"]
    lines = [
        f"Run of {machine['date']} on {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory']}; load average {machine['load']} at the start and "
        f"{machine.get('load_after', '?')} at the end. Python {machine['python']}; "
        f"{machine['versions']}.",
    ]
    for run in record["runs"]:
        peers = run["peers"]
        lines += [
            "",
            f"### {run['studies']} studies",
            "",
            "| engine | run | wall time (s) | min bulk ESS | ESS/s | ESS/s vs JAGS "
            "| ESS/s vs Stan | time vs JAGS | peak RSS (MB) | divergences |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for engine, row in peers.items():
            lines.append(
                f"| {engine} | end to end | {row['total_seconds']:.1f} | {row['min_ess_bulk']:.0f} "
                f"| {row['ess_per_second']:.1f} | | | | | |"
            )
        jags = peers.get("JAGS")
        stan = peers.get("Stan")
        for row in run["analyze"]:
            versus_jags = row["ess_per_second"] / jags["ess_per_second"] if jags else float("nan")
            versus_stan = row["ess_per_second"] / stan["ess_per_second"] if stan else float("nan")
            time_ratio = row["seconds"] / jags["total_seconds"] if jags else float("nan")
            lines.append(
                f"| bayesdta analyze, {row['sampler']}, {row['parametrization']} | {row['run']} "
                f"| {row['seconds']:.1f} | {row['min_ess_bulk']:.0f} | {row['ess_per_second']:.1f} "
                f"| {versus_jags:.2f} | {versus_stan:.2f} | {time_ratio:.2f} "
                f"| {row['peak_rss_mb']:.0f} | {row['divergences']} |"
            )
        if run["library"]:
            lines += [
                "",
                "| library fit (nutpie) | import (s) | build (s) | first fit (s) "
                "| second fit (s) | compilations | cache loads |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            for row in run["library"]:
                lines.append(
                    f"| {row['parametrization']} | {row['import']:.1f} | {row['build']:.2f} "
                    f"| {row['first_fit']:.1f} | {row['second_fit']:.1f} "
                    f"| {row['compilations']} | {row['cache_hits']} |"
                )
        sweep = run.get("sweep")
        if sweep:
            lines += ["", _sweep_sentence(sweep)]
        refits = run.get("leave_one_out")
        if refits:
            lines += ["", _leave_one_out_sentence(refits)]
    return "\n".join(lines)


def _sweep_sentence(sweep: dict) -> str:
    """Describe the prior sweep timings of one run; records without a cold sweep are older."""
    ratio = sweep["sweep"] / sweep["one_fit"]
    text = (
        f"Prior sweep over {sweep['prior_sets']} sets: {sweep['sweep']:.1f} s against "
        f"{sweep['one_fit']:.1f} s for one fit ({ratio:.1f} x), "
        f"{sweep['compilations']} compilations."
    )
    if "sweep_cold" in sweep:
        cold_ratio = sweep["sweep_cold"] / sweep["one_fit"]
        text += (
            f" {sweep['warm_starts']} fits were warm-started ({sweep['fallbacks']} fell back to "
            f"the full warm-up); with every fit cold the sweep took {sweep['sweep_cold']:.1f} s "
            f"({cold_ratio:.1f} x)."
        )
    return text


def _leave_one_out_sentence(refits: dict) -> str:
    """Describe the leave-one-study-out timings of one run; records without cold refits are
    older."""
    ratio = refits["refits"] / refits["one_fit"]
    text = (
        f"Leave-one-study-out: {refits['refitted']} exact refits in "
        f"{refits['refits']:.1f} s against {refits['one_fit']:.1f} s for one fit "
        f"({ratio:.1f} x)."
    )
    if "refits_cold" in refits:
        cold_ratio = refits["refits_cold"] / refits["one_fit"]
        text += (
            f" {refits['warm_refits']} refits were warm-started ({refits['fallbacks']} fell "
            f"back to a cold refit); cold refits took {refits['refits_cold']:.1f} s "
            f"({cold_ratio:.1f} x)."
        )
    return text


def main(argv=None) -> int:
    """Run the benchmark and write the JSON record and the results page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, nargs="+", default=[52, 1000])
    parser.add_argument("--samplers", nargs="*", default=["nutpie", "pymc", "numpyro"])
    parser.add_argument("--parametrizations", nargs="+", default=["centered", "noncentered"])
    parser.add_argument("--max-studies-other-samplers", type=int, default=52,
                        help="largest dataset run with the pymc and numpyro samplers (52)")
    parser.add_argument("--max-studies-sweep", type=int, default=52,
                        help="largest dataset of the prior sweep (52)")
    parser.add_argument("--skip-peers", action="store_true", help="do not run JAGS and Stan")
    parser.add_argument("--work", type=Path, help="folder for data and caches (a temporary one)")
    parser.add_argument("--output", type=Path, default=HERE / "results.json",
                        help="JSON record of the run (benchmarks/results.json)")
    parser.add_argument("--render", type=Path,
                        help="print the Markdown tables of this JSON record and stop")
    args = parser.parse_args(argv)
    if args.render is not None:
        print(render_tables(json.loads(args.render.read_text())))
        return 0

    work = args.work or Path(tempfile.mkdtemp(prefix="bayesdta-benchmark-"))
    work.mkdir(parents=True, exist_ok=True)
    record = {"machine": machine_description(), "influence": influence_available(), "runs": []}
    for studies in args.studies:
        record["runs"].append(measure(studies, args, work))
        args.output.write_text(json.dumps(record, indent=2))
    record["machine"]["load_after"] = " ".join(f"{value:.1f}" for value in os.getloadavg())
    args.output.write_text(json.dumps(record, indent=2))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
