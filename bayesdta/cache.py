"""On-disk cache of nutpie-compiled models, so that a new process skips compilation.

``nutpie.compile_pymc_model`` spends most of its time compiling two numba C callbacks (the
log density with its gradient, and the function that expands a draw into every model
variable). PyTensor caches its own numba code on disk, but these callbacks are compiled
again in every process. This module stores their machine code (numba's
``serialize_using_object_code``, the representation numba's own cache uses) together with
the shapes and data layout nutpie needs, and rebuilds a ``CompiledPyMCModel`` from it.

An entry is keyed by the model's :meth:`~bayesdta.models.base.DTAModel.cache_key` (its
structure and a hash of its graph), and by the versions of Python, bayesdta, PyMC, PyTensor, nutpie, numba, llvmlite and NumPy, and the
host CPU. Machine code is valid only for the code generator and CPU that made it, so a
change in any of them selects another entry and stale code is never loaded.

Safe with several processes: an entry is written to a temporary file in the cache folder
and moved into place with :func:`os.replace`, so a reader sees a whole entry or none, and a
per-entry lock file (``fcntl.flock``, on POSIX systems) makes a second process that needs
the same model wait for the first one's compilation and then load it.

The folder is ``$BAYESDTA_CACHE_DIR``, else ``$XDG_CACHE_HOME/bayesdta/compiled``, else
``~/.cache/bayesdta/compiled``. Setting ``BAYESDTA_CACHE_DIR`` to an empty string turns the
cache off.

NOTE: rebuilding uses nutpie's ``CompiledPyMCModel`` fields and helpers of nutpie 0.16,
which are not public API. The nutpie version is part of the key, and any failure while
loading falls back to a normal compilation.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import pickle
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CACHE_STATS",
    "cache_dir",
    "clear_cache",
    "entry_path",
    "library_versions",
    "load_or_compile",
]

logger = logging.getLogger(__name__)

#: Layout version of an entry; raise it when the stored record changes.
FORMAT_VERSION = 2

#: Packages whose versions are part of every key.
KEY_PACKAGES = ("bayesdta", "pymc", "pytensor", "nutpie", "numba", "llvmlite", "numpy")

#: Counts of cache events in this process; tests read them to observe loads and stores.
CACHE_STATS = {"hits": 0, "misses": 0, "stores": 0, "load_failures": 0}


def cache_dir() -> Path | None:
    """Return the cache folder, or ``None`` when ``BAYESDTA_CACHE_DIR`` is set but empty."""
    configured = os.environ.get("BAYESDTA_CACHE_DIR")
    if configured is not None:
        return Path(configured).expanduser() if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bayesdta" / "compiled"


@functools.cache
def _versions_and_cpu() -> tuple[tuple[str, str], ...]:
    # Package metadata lookups and the LLVM CPU query take about 70 ms together, and a
    # cached fit needs the result twice. None of them change while a process runs.
    import llvmlite.binding as llvm

    versions = {"python": platform.python_version(), "implementation": sys.implementation.name}
    for package in KEY_PACKAGES:
        versions[package] = metadata.version(package)
    versions["cpu"] = llvm.get_host_cpu_name()
    versions["cpu_features"] = llvm.get_host_cpu_features().flatten()
    return tuple(versions.items())


def library_versions() -> dict[str, str]:
    """Return the versions and host CPU that compiled machine code depends on."""
    return dict(_versions_and_cpu())


def _key_text(structure_key: str) -> str:
    return json.dumps(
        {"format": FORMAT_VERSION, "structure": structure_key, "versions": library_versions()},
        sort_keys=True,
    )


def entry_path(structure_key: str) -> Path | None:
    """Return the file that contains the entry for a model structure, or ``None`` if the
    cache is off."""
    folder = cache_dir()
    if folder is None:
        return None
    digest = hashlib.sha256(_key_text(structure_key).encode()).hexdigest()
    return folder / f"{digest}.pkl"


def clear_cache() -> int:
    """Delete every cached entry and lock file; return the number of entries deleted."""
    folder = cache_dir()
    if folder is None or not folder.is_dir():
        return 0
    removed = 0
    for path in folder.glob("*.pkl"):
        path.unlink(missing_ok=True)
        removed += 1
    for path in folder.glob("*.lock"):
        path.unlink(missing_ok=True)
    return removed


@contextlib.contextmanager
def _entry_lock(path: Path):
    """Hold an exclusive lock on ``path`` + ``.lock`` while compiling and storing.

    The operating system releases the lock when the holder exits, even on a crash.
    Without ``fcntl`` (Windows) there is no lock; atomic replacement still keeps every
    entry whole, and two processes may then both compile.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path.with_suffix(".lock"), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_or_compile(built, compile_function):
    """Return a compiled model for ``built`` from the disk cache, or compile and store it.

    Parameters
    ----------
    built : DTAModel
        The model to compile.
    compile_function : callable
        Called with ``built`` when there is no usable entry; must return a nutpie
        ``CompiledPyMCModel`` compiled with the numba backend.

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
    """
    structure_key = built.cache_key()
    path = entry_path(structure_key)
    if path is None:
        return compile_function(built)

    key_text = _key_text(structure_key)
    loaded = _load(path, key_text, built.model)
    if loaded is not None:
        return loaded

    with contextlib.ExitStack() as stack:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(_entry_lock(path))
        except OSError as error:
            logger.warning("cannot use the compiled-model cache in %s (%s)", path.parent, error)
            return compile_function(built)

        # Another process may have stored the entry while this one waited for the lock.
        loaded = _load(path, key_text, built.model)
        if loaded is not None:
            return loaded
        CACHE_STATS["misses"] += 1
        compiled = compile_function(built)
        _store(path, key_text, compiled)
    return compiled


def _load(path: Path, key_text: str, model):
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as handle:
            record = pickle.load(handle)
        if record.get("key") != key_text:
            logger.info("cache entry %s was written for another key; ignoring it", path.name)
            return None
        compiled = _rebuild(record, model)
    except Exception as error:  # noqa: BLE001 - any broken entry means: compile again
        CACHE_STATS["load_failures"] += 1
        logger.warning("could not load the cached compiled model %s (%s); compiling", path, error)
        return None
    if compiled is not None:
        CACHE_STATS["hits"] += 1
        logger.info("loaded the compiled model from %s", path)
    return compiled


def _store(path: Path, key_text: str, compiled) -> None:
    try:
        payload = pickle.dumps(_record(compiled, key_text), protocol=pickle.HIGHEST_PROTOCOL)
    except (AttributeError, TypeError, ValueError, pickle.PicklingError) as error:
        logger.warning("this compiled model cannot be cached (%s)", error)
        return

    handle = tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=path.stem + ".", suffix=".tmp", delete=False
    )
    try:
        with handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except OSError as error:
        Path(handle.name).unlink(missing_ok=True)
        logger.warning("could not write the compiled-model cache entry %s (%s)", path, error)
        return
    CACHE_STATS["stores"] += 1
    logger.info("stored the compiled model in %s", path)


def _record(compiled, key_text: str) -> dict[str, Any]:
    """Return the picklable parts of a nutpie ``CompiledPyMCModel``."""
    shared = [
        {
            "name": variable.name,
            "key": key,
            "dtype": compiled.shared_data[key].dtype.str,
            "ndim": compiled.shared_data[key].ndim,
        }
        for variable, key in compiled.shared_var_keys.items()
    ]
    names = [entry["name"] for entry in shared]
    if len(set(names)) != len(names) or None in names:
        raise ValueError(f"shared variables need unique names, got {names}")
    return {
        "key": key_text,
        "logp": _callback_state(compiled.compiled_logp_func),
        "expand": _callback_state(compiled.compiled_expand_func),
        "n_dim": compiled.n_dim,
        "n_expanded": compiled.n_expanded,
        "shape_info": compiled.shape_info,
        "reparameterized_names": compiled.reparameterized_names,
        "shared": shared,
    }


def _callback_state(callback) -> dict[str, Any]:
    """Return the machine code of a ``numba.cfunc`` and the numba environments it uses."""
    from numba.core.environment import lookup_environment

    library = callback._library
    if library.has_dynamic_globals:
        # Such code contains addresses of objects of the process that compiled it.
        raise ValueError("the compiled callback refers to objects of this process")
    if library._reload_init:
        raise ValueError("the compiled callback needs initialization code on reload")

    # Each numba function has a global pointer to its Environment, the constants it turns
    # into Python objects. A reloaded library needs them set again, as numba's cache does.
    environments = []
    for variable in library._final_module.global_variables:
        environment = lookup_environment(variable.name)
        if variable.name.startswith("_ZN08NumbaEnv") and environment is not None:
            # None for the environments of functions numba generates (array expressions).
            module_name = environment.globals.get("__name__")
            environments.append((variable.name, module_name, list(environment.consts)))
    # Symbols the code calls or reads from outside itself (numba's runtime and helpers, the
    # C math library, the Python C API), checked before the code is loaded elsewhere.
    module = library._final_module
    external = sorted(
        symbol.name
        for symbol in [*module.functions, *module.global_variables]
        if symbol.is_declaration and not symbol.name.startswith("llvm.")
    )
    return {
        "name": callback.native_name,
        "library": library.serialize_using_object_code(),
        "environments": environments,
        "external_symbols": external,
    }


class _LoadedCallback:
    """A C callback loaded from the cache, used in place of a ``numba.cfunc`` result.

    nutpie reads only ``address``. The library and the environments are kept as
    attributes so that the code stays mapped and the environment pointers stay valid.
    """

    def __init__(self, state: dict[str, Any]):
        from numba.core.registry import cpu_target
        from numba.core.runtime import rtsys

        context = cpu_target.target_context
        # The stored code links against numba's runtime (NRT) symbols, which this installs.
        # Numba's own cache calls ``context.refresh()``, which also loads every lowering
        # registry (0.25-0.3 s) and with them the symbols some of them add. Here it runs only
        # when a symbol is missing. LLVM links a missing symbol to address 0 without an
        # error, and the first call would crash, so a symbol still missing raises, and the
        # caller then compiles instead.
        rtsys.initialize(context)
        if _missing_symbols(state["external_symbols"]):
            context.refresh()
        missing = _missing_symbols(state["external_symbols"])
        if missing:
            raise ValueError(f"the cached code needs symbols this process lacks: {missing}")
        codegen = context.codegen()
        self._library = codegen.unserialize_library(state["library"])
        self._environments = [
            _environment(*environment) for environment in state["environments"]
        ]
        for environment in self._environments:
            codegen.set_env(environment.env_name, environment)
        self.native_name = state["name"]
        self.address = self._library.get_pointer_to_function(state["name"])
        if not self.address:
            raise ValueError(f"symbol {state['name']} not found in the cached code")


def _missing_symbols(names: list[str]) -> list[str]:
    import llvmlite.binding as llvm

    return [name for name in names if not llvm.address_of_symbol(name)]


def _environment(name: str, module_name: str | None, consts: list):
    """Return the live numba Environment called ``name``, or make one holding ``consts``."""
    import importlib

    from numba.core.environment import Environment, lookup_environment

    existing = lookup_environment(name)
    if existing is not None:
        return existing
    # Modules that PyTensor generates for its numba code may not be importable in another
    # process, and functions numba generates have no module. Nopython code reads only the
    # constants, so the module name is all the globals need.
    namespace = {"__name__": module_name} if module_name is not None else {}
    if module_name is not None:
        with contextlib.suppress(ImportError, TypeError, ValueError):
            namespace = importlib.import_module(module_name).__dict__
    environment = Environment(namespace)
    environment.consts[:] = consts
    environment.env_name = name
    Environment._memo[name] = environment
    return environment


def _shared_variables(model) -> dict[str, Any]:
    variables = {variable.name: variable for variable in model.data_vars}
    for name, length in model.dim_lengths.items():
        variables.setdefault(getattr(length, "name", None) or name, length)
    return variables


def _rebuild(record: dict[str, Any], model):
    """Return a ``CompiledPyMCModel`` for ``model`` from a stored record, or ``None`` if the
    model's shared variables do not match the record."""
    from nutpie import compile_pymc as nutpie_pymc
    from pymc.initial_point import make_initial_point_fn

    available = _shared_variables(model)
    shared_var_keys = {}
    shared_data = {}
    for entry in record["shared"]:
        variable = available.get(entry["name"])
        if variable is None:
            logger.info("cached model uses shared variable %r, absent here", entry["name"])
            return None
        value = np.array(variable.get_value(), order="C", copy=True)
        if value.dtype.str != entry["dtype"] or value.ndim != entry["ndim"]:
            logger.info("shared variable %r changed type or rank", entry["name"])
            return None
        value.flags.writeable = False
        shared_var_keys[variable] = entry["key"]
        shared_data[entry["key"]] = value
    user_data = nutpie_pymc.make_user_data(shared_var_keys, shared_data)

    shape_info = record["shape_info"]
    n_free = len(model.free_RVs)
    point_function = make_initial_point_fn(
        model=model,
        default_strategy="support_point",
        jitter_rvs=set(model.free_RVs),
        return_transformed=True,
    )
    initial_point_func = nutpie_pymc._rv_dict_to_flat_array_wrapper(
        nutpie_pymc._wrap_with_lock(point_function),
        names=shape_info[0][:n_free],
        shapes=shape_info[2][:n_free],
    )
    reparameterized = record["reparameterized_names"]
    dims, coords = nutpie_pymc._prepare_dims_and_coords(model, shape_info, reparameterized)

    return nutpie_pymc.CompiledPyMCModel(
        _n_dim=record["n_dim"],
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=_LoadedCallback(record["logp"]),
        compiled_expand_func=_LoadedCallback(record["expand"]),
        initial_point_func=initial_point_func,
        shared_data=shared_data,
        shared_var_keys=shared_var_keys,
        user_data=user_data,
        n_expanded=record["n_expanded"],
        shape_info=shape_info,
        logp_func=None,
        expand_func=None,
        reparameterized_names=reparameterized,
    )
