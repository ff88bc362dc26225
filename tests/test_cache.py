"""The on-disk cache of compiled models: concurrent processes, version changes, broken entries.

Compilation is observed through ``sampling.COMPILE_COUNT`` and ``cache.CACHE_STATS``, never
through timing. Each process uses a cache folder of its own test run (``BAYESDTA_CACHE_DIR``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from bayesdta import cache, sampling
from bayesdta.models import build_bivariate_model

DATASET = "glas_telomerase"

# Builds the model, gets it through the cache, evaluates the compiled C callbacks of nutpie
# (signatures as in nutpie 0.16) at fixed points, samples briefly, and prints one JSON line.
WORKER = textwrap.dedent(
    f"""
    import ctypes
    import json

    import numpy as np
    import nutpie

    from bayesdta import cache, sampling
    from bayesdta.models import build_bivariate_model

    built = build_bivariate_model({DATASET!r}, parametrization="noncentered")
    compiled = sampling.compiled_model(built)

    double_pointer = ctypes.POINTER(ctypes.c_double)
    logp_type = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, double_pointer,
                                 double_pointer, double_pointer, ctypes.c_void_p)
    expand_type = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ctypes.c_uint64,
                                   double_pointer, double_pointer, ctypes.c_void_p)
    logp_function = logp_type(compiled.compiled_logp_func.address)
    expand_function = expand_type(compiled.compiled_expand_func.address)
    points = np.random.default_rng(3).normal(size=(20, compiled.n_dim))
    values = []
    for point in points:
        point = np.ascontiguousarray(point)
        gradient, logp = np.zeros(compiled.n_dim), np.zeros(1)
        expanded = np.zeros(compiled.n_expanded)
        status = logp_function(compiled.n_dim, point.ctypes.data_as(double_pointer),
                               gradient.ctypes.data_as(double_pointer),
                               logp.ctypes.data_as(double_pointer), compiled.user_data.ctypes.data)
        status += expand_function(compiled.n_dim, compiled.n_expanded,
                                  point.ctypes.data_as(double_pointer),
                                  expanded.ctypes.data_as(double_pointer),
                                  compiled.user_data.ctypes.data)
        values.append([float(status), *logp, *gradient, *expanded])

    trace = nutpie.sample(compiled, draws=100, tune=100, chains=2, seed=5, progress_bar=False)
    print(json.dumps({{
        "compilations": sampling.COMPILE_COUNT["nutpie"],
        "stats": cache.CACHE_STATS,
        "values": values,
        "initial_point": compiled.initial_point_func(5).tolist(),
        "mu_finite": bool(np.isfinite(trace.posterior["mu"].values).all()),
    }}))
    """
)


def _start_worker(folder):
    environment = dict(os.environ, BAYESDTA_CACHE_DIR=str(folder))
    return subprocess.Popen(
        [sys.executable, "-c", WORKER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def _result(process) -> dict:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cache_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("compiled")


@pytest.fixture(scope="module")
def concurrent_runs(cache_folder):
    """Two processes that need the same model, started together on an empty cache, then a
    third one started after both finished."""
    first, second = _start_worker(cache_folder), _start_worker(cache_folder)
    together = [_result(first), _result(second)]
    later = _result(_start_worker(cache_folder))
    return together, later


@pytest.fixture
def use_folder(cache_folder, monkeypatch):
    monkeypatch.setenv("BAYESDTA_CACHE_DIR", str(cache_folder))
    sampling.clear_compiled_models()
    yield cache_folder
    sampling.clear_compiled_models()


def test_concurrent_processes_compile_once(concurrent_runs):
    together, _ = concurrent_runs
    # The entry lock makes the second process wait for the first one's entry.
    assert sorted(run["compilations"] for run in together) == [0, 1]
    assert sorted(run["stats"]["hits"] for run in together) == [0, 1]
    assert all(run["stats"]["load_failures"] == 0 for run in together)


def test_concurrent_processes_leave_one_whole_entry(concurrent_runs, cache_folder):
    assert len(list(cache_folder.glob("*.pkl"))) == 1
    assert list(cache_folder.glob("*.tmp")) == []


def test_later_process_loads_without_compiling(concurrent_runs):
    _, later = concurrent_runs
    assert later["compilations"] == 0
    assert later["stats"]["hits"] == 1


def test_loaded_model_matches_compiled(concurrent_runs):
    # Same density, gradient, expanded variables and initial point as the freshly compiled
    # model. Sampling runs of the two differed in the last digits (step sizes at a relative
    # 1e-14), so the stored code may round differently from the code that ran in the
    # compiling process. A tolerance of rtol 1e-9 allows that rounding and still catches a
    # wrong data binding or layout, which changes values by order 1.
    together, later = concurrent_runs
    compiled_run = next(run for run in together if run["compilations"] == 1)
    expected = np.array(compiled_run["values"])
    assert np.all(expected[:, 0] == 0), "compiled callbacks returned an error status"
    for loaded_run in [*(run for run in together if run["compilations"] == 0), later]:
        np.testing.assert_allclose(np.array(loaded_run["values"]), expected, rtol=1e-9)
        np.testing.assert_array_equal(loaded_run["initial_point"], compiled_run["initial_point"])
        assert loaded_run["mu_finite"]


def test_version_change_compiles_again(concurrent_runs, use_folder, monkeypatch):
    built = build_bivariate_model(DATASET, parametrization="noncentered")
    real_versions = cache.library_versions()
    changed = dict(real_versions, numba="0.0.0")
    monkeypatch.setattr(cache, "library_versions", lambda: changed)
    stored_path = cache.entry_path(built.cache_key())

    before = sampling.COMPILE_COUNT["nutpie"]
    sampling.compiled_model(built)
    assert sampling.COMPILE_COUNT["nutpie"] == before + 1
    assert stored_path.is_file()
    assert len(list(use_folder.glob("*.pkl"))) == 2

    # Back on the real versions, the entry the worker processes wrote is loaded again.
    monkeypatch.setattr(cache, "library_versions", lambda: real_versions)
    sampling.clear_compiled_models()
    hits = cache.CACHE_STATS["hits"]
    sampling.compiled_model(built)
    assert sampling.COMPILE_COUNT["nutpie"] == before + 1
    assert cache.CACHE_STATS["hits"] == hits + 1


def test_broken_entry_compiles_again(concurrent_runs, use_folder):
    built = build_bivariate_model(DATASET, parametrization="noncentered")
    path = cache.entry_path(built.cache_key())
    path.write_bytes(b"not a pickle")
    calls = []

    def compile_function(model):
        calls.append(model)
        return sampling._compile_nutpie(model)

    failures = cache.CACHE_STATS["load_failures"]
    cache.load_or_compile(built, compile_function)
    assert len(calls) == 1
    # Checked before and again after taking the entry lock, so one or two failed loads.
    assert cache.CACHE_STATS["load_failures"] > failures

    # The broken entry was replaced by a whole one.
    cache.load_or_compile(built, compile_function)
    assert len(calls) == 1


def test_missing_symbol_compiles_again(concurrent_runs, use_folder):
    """Code that needs a symbol this process lacks would crash on its first call, because
    LLVM links the symbol to address 0, so the entry must be rejected and compiled anew."""
    import pickle

    built = build_bivariate_model(DATASET, parametrization="noncentered")
    calls = []

    def compile_function(model):
        calls.append(model)
        return sampling._compile_nutpie(model)

    cache.load_or_compile(built, compile_function)
    path = cache.entry_path(built.cache_key())
    record = pickle.loads(path.read_bytes())
    record["logp"]["external_symbols"].append("bayesdta_test_symbol_that_does_not_exist")
    path.write_bytes(pickle.dumps(record))
    calls.clear()

    failures = cache.CACHE_STATS["load_failures"]
    cache.load_or_compile(built, compile_function)
    assert len(calls) == 1
    assert cache.CACHE_STATS["load_failures"] > failures


def test_empty_folder_setting_turns_cache_off(monkeypatch):
    monkeypatch.setenv("BAYESDTA_CACHE_DIR", "")
    built = build_bivariate_model(DATASET, parametrization="noncentered")
    assert cache.entry_path(built.cache_key()) is None


def test_key_changes_with_structure(monkeypatch, tmp_path):
    monkeypatch.setenv("BAYESDTA_CACHE_DIR", str(tmp_path))
    centered = build_bivariate_model(DATASET, parametrization="centered")
    noncentered = build_bivariate_model(DATASET, parametrization="noncentered")
    assert cache.entry_path(centered.cache_key()) != cache.entry_path(
        noncentered.cache_key()
    )


def test_key_changes_with_graph_not_values(monkeypatch, tmp_path):
    """An edit of the model-building code that changes the graph but not the structure key
    (kind, form, prior families, size) must select another entry, while other data and
    hyperparameter values of the same graph must share one."""
    import pymc as pm

    monkeypatch.setenv("BAYESDTA_CACHE_DIR", str(tmp_path))
    built = build_bivariate_model(DATASET, parametrization="centered")
    tighter = build_bivariate_model(
        DATASET, parametrization="centered",
        priors={"tau_sens": {"dist": "HalfNormal", "sigma": 0.5}},
    )
    assert cache.entry_path(built.cache_key()) == cache.entry_path(tighter.cache_key())

    edited = build_bivariate_model(DATASET, parametrization="centered")
    with edited.model:
        pm.Deterministic("extra", edited.model["mu"] * 2.0)
    assert edited.structure_key() == built.structure_key()
    assert cache.entry_path(edited.cache_key()) != cache.entry_path(built.cache_key())


def test_unusable_folder_compiles_without_cache(monkeypatch, tmp_path):
    # A cache folder below a regular file cannot be created; the fit must still get a model.
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    monkeypatch.setenv("BAYESDTA_CACHE_DIR", str(blocker / "compiled"))
    built = build_bivariate_model(DATASET, parametrization="noncentered")
    calls = []

    def compile_function(model):
        calls.append(model)
        return "compiled without cache"

    assert cache.load_or_compile(built, compile_function) == "compiled without cache"
    assert len(calls) == 1


def test_graph_fingerprint_same_in_new_process():
    """The key must not depend on anything that differs between processes, such as object
    addresses in printed random generators, or no later process would find an entry."""
    script = (
        "from bayesdta.models import build_bivariate_model\n"
        f"built = build_bivariate_model({DATASET!r}, parametrization='centered')\n"
        "print(built.graph_fingerprint())\n"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
        ).stdout.strip()
        for _ in range(2)
    ]
    in_this_process = build_bivariate_model(DATASET, parametrization="centered")
    assert outputs[0] == outputs[1]
    assert outputs[0] == in_this_process.graph_fingerprint()
