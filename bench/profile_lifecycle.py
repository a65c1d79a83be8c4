"""Where does one isolated plugin lifecycle spend its time?

    .venv/bin/python bench/profile_lifecycle.py [--quick] [--cprofile] [--no-c] [--repo PATH]

(It runs `make plugins` if cpp/plugin_abi.wasm, plugins/hello/hello.wasm or plugins/upper/upper.wasm
is missing, and builds build/bench/runaway.wasm from tests/wat/hostile/runaway_loop.wat with wat2wasm;
AOT rows compile through the default AOT cache, section 3b's AOT checks through a throwaway cache
in a temporary directory.) Times are µs per operation, the best of several runs, with the rows of a
group taking turns within each run so that background load hits them alike. Sections:

1. totals -- one lifecycle from a cached, validated module: the plain binding (``Instance(module)``
   + init/process/cleanup + close, as bench/run.py's lifecycle row) without and with a timeout on
   each call, and what the server does per request (``run_plugin(path, value, limits,
   module=cached)``: instantiate, init, process or call_bytes, cleanup, close) in the interpreter
   with a 1000 ms timeout on every call and with none, then with the server's defaults (AOT,
   1000 ms).
2. steps -- the interpreter lifecycle taken apart: the sub-steps of ``Instance(...)`` as
   wasmedge_py/instance.py does them (import checks, module retain, store create, an executor
   taken from the config's pool and given back, linking host imports, instantiate, the Handle
   base, which initializers run), what a pool miss costs instead (an executor and its stop handle
   made and deleted: paid once per pooled executor, not per instance), function lookups, calls
   with and without a timeout, close, and the plugin-level extras (export checks,
   ``Plugin.__init__`` + negotiation). Native steps are timed straight through the cffi ``lib``
   (with the executor from the pool, as Instance takes it), so the Python share of a step is what
   it costs beyond them.
3. timed calls -- (a) bench/timed_call.c against the C API (built here with gcc): ExecutorInvoke vs
   ExecutorAsyncInvoke+WaitFor+Get+Delete vs a bare thread per call vs a stop handle + one watchdog
   thread, per call and per lifecycle, with soundness checks: why the package does not use
   ExecutorAsyncInvoke (a thread per call); (b) the package's mechanism (wasmedge_py/executor.py:
   pooled executors with a stop handle each, one watchdog thread) measured through the binding: an
   untimed vs a timed call on a warm instance, in the interpreter and in AOT, with the watchdog's
   arm + disarm alone; a lifecycle with 3 untimed vs 3 timed calls; and checks that a runaway loop
   is stopped at a 50 ms timeout in the interpreter and in AOT, that a second call on the same
   instance runs until its own deadline, and that the executor goes back to the pool and serves
   the next instance normally.
4. with --cprofile: the top of a cProfile of 2000 run_plugin cycles.

``--repo PATH`` imports ``wasmedge_py`` from another copy of the package (e.g. the tree with a
change's files taken from HEAD) to compare before/after with the same script. Sections 2 and 3b
reach into the package's internals, so that copy must have pooled executors
(``executor.pool_for``, wasmedge_py/executor.py) and its own built cffi extension (else it runs
in ABI mode and its numbers are not comparable).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import io
import pstats
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "bench"
WASMEDGE_INCLUDE = "/usr/include"
PLUGINS = {
    "plugin_abi": REPO / "cpp" / "plugin_abi.wasm",  # v1, get_abi_version, init/process/cleanup
    "hello": REPO / "plugins" / "hello" / "hello.wasm",  # v1, no get_abi_version
    "upper": REPO / "plugins" / "upper" / "upper.wasm",  # v2, _initialize, imports env.host_log
}
RUNAWAY_WAT = REPO / "tests" / "wat" / "hostile" / "runaway_loop.wat"
PROCESS_21 = 43  # cpp/plugin_abi.wasm: process(x) = 2x + 1


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (noisier)")
    parser.add_argument("--cprofile", action="store_true", help="also print a cProfile of run_plugin cycles")
    parser.add_argument("--no-c", action="store_true", help="skip building and running bench/timed_call.c")
    parser.add_argument("--repo", type=Path, default=REPO, help="import wasmedge_py from this checkout")
    return parser.parse_args()


OPTIONS = _parse_args()
sys.path.insert(0, str(OPTIONS.repo.resolve()))

import wasmedge_py as w  # noqa: E402
from wasmedge_py import instance as instance_mod  # noqa: E402
from wasmedge_py._ffi import ffi, lib  # noqa: E402
from wasmedge_py.compiler import AotCache, CompileOptions, load_aot  # noqa: E402
from wasmedge_py.executor import WATCHDOG, Executor, pool_for  # noqa: E402
from wasmedge_py.host import HostCallState, create_native  # noqa: E402
from wasmedge_py.plugin import _module_facts, known_abi_major  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved_best  # noqa: E402

SCALE = 0.25 if OPTIONS.quick else 1.0
ROUNDS = 5 if OPTIONS.quick else 7


# -- timing --------------------------------------------------------------------------------------


def best_us(bodies: dict[str, Callable[[int], None]], count: int, rounds: int = ROUNDS) -> dict[str, float]:
    """µs per operation for each body (``body(n)`` does n operations), best of ``rounds``; the
    bodies take turns within each round."""
    found = interleaved_best(bodies, max(1, int(count * SCALE)), rounds)
    return {name: seconds * 1e6 for name, seconds in found.items()}


def close_only(make: Callable[[], w.Instance], count: int, rounds: int = ROUNDS) -> float:
    """µs per ``close()`` of instances made beforehand, best of ``rounds``."""
    count = max(1, int(count * SCALE))
    best = float("inf")
    for _ in range(rounds):
        instances = [make() for _ in range(count)]
        gc.collect()
        started = time.perf_counter_ns()
        for instance in instances:
            instance.close()
        best = min(best, (time.perf_counter_ns() - started) / count / 1000)
    return best


def repeat(operation: Callable[[], object]) -> Callable[[int], None]:
    def body(n: int) -> None:
        for _ in range(n):
            operation()

    return body


def show(title: str, rows: dict[str, float], reference: str | None = None) -> None:
    print(f"\n{title}")
    width = max(map(len, rows))
    for name, value in rows.items():
        ratio = f"  {value / rows[reference]:5.2f}x" if reference and rows.get(reference) else ""
        print(f"  {name:<{width}}  {value:9.2f} µs{ratio}")


# -- 1. totals -----------------------------------------------------------------------------------


def binding_cycle(module: w.Module, timeout: float | None) -> Callable[[], None]:
    def cycle() -> None:
        with w.Instance(module) as instance:
            instance.function("init")(timeout=timeout)
            instance.function("process")(21, timeout=timeout)
            instance.function("cleanup")(timeout=timeout)

    return cycle


def plugin_cycle(path: Path, limits: w.PluginLimits, module: w.Module, calls: bool = True) -> Callable[[], None]:
    """What the server does per request (``run_plugin``), or with ``calls=False`` only the instance."""
    if not calls:
        return lambda: w.load_plugin(path, limits, module=module).close()
    value = b"hello, world" if known_abi_major(module) == 2 else 21

    def cycle() -> None:
        w.run_plugin(path, value, limits, module=module)

    return cycle


def totals() -> dict[str, float]:
    """Interpreter rows (comparable with bench/c_floor.c), then the server's default engine (AOT)."""
    timed, untimed = w.PluginLimits(aot=False), w.PluginLimits(aot=False, timeout_ms=None)
    aot_timed, aot_untimed = w.PluginLimits(aot=True), w.PluginLimits(aot=True, timeout_ms=None)
    modules: list[w.Module] = []

    def keep(module: w.Module) -> w.Module:
        modules.append(module)
        return module

    results: dict[str, float] = {}
    try:
        for name in ("plugin_abi", "hello"):
            path = PLUGINS[name]
            plain = keep(w.Module.from_file(path))  # what bench/run.py's binding row uses
            interpreted = keep(w.load_module(path, untimed))
            rows = {
                f"{name}: binding Instance + 3 calls + close": repeat(binding_cycle(plain, None)),
                f"{name}: binding, timeout=1.0 on each call": repeat(binding_cycle(plain, 1.0)),
                f"{name}: run_plugin (3 calls), interpreter, timeout 1000 ms": repeat(
                    plugin_cycle(path, timed, keep(w.load_module(path, timed)))
                ),
                f"{name}: run_plugin (3 calls), interpreter, no timeout": repeat(
                    plugin_cycle(path, untimed, interpreted)
                ),
                f"{name}: load_plugin + close only, interpreter, no timeout": repeat(
                    plugin_cycle(path, untimed, interpreted, calls=False)
                ),
                f"{name}: run_plugin (3 calls), AOT, timeout 1000 ms (server default)": repeat(
                    plugin_cycle(path, aot_timed, keep(w.load_module(path, aot_timed)))
                ),
                f"{name}: run_plugin (3 calls), AOT, no timeout": repeat(
                    plugin_cycle(path, aot_untimed, keep(w.load_module(path, aot_untimed)))
                ),
            }
            found = best_us(rows, 1500)
            show(f"1. totals: {name} (µs per lifecycle)", found, f"{name}: binding Instance + 3 calls + close")
            results.update(found)
        path = PLUGINS["upper"]
        interpreted = keep(w.load_module(path, untimed))
        rows = {
            "upper: run_plugin (call_bytes), interpreter, timeout 1000 ms": repeat(
                plugin_cycle(path, timed, keep(w.load_module(path, timed)))
            ),
            "upper: run_plugin (call_bytes), interpreter, no timeout": repeat(plugin_cycle(path, untimed, interpreted)),
            "upper: load_plugin + close only, interpreter, no timeout": repeat(
                plugin_cycle(path, untimed, interpreted, calls=False)
            ),
            "upper: run_plugin (call_bytes), AOT, timeout 1000 ms (server default)": repeat(
                plugin_cycle(path, aot_timed, keep(w.load_module(path, aot_timed)))
            ),
        }
        found = best_us(rows, 600)
        show("1. totals: upper (v2, _initialize, env.host_log) (µs per lifecycle)", found)
        results.update(found)
    finally:
        for module in modules:
            module.close()
    return results


# -- 2. steps ------------------------------------------------------------------------------------


def steps() -> None:
    """The lifecycle taken apart, in the interpreter (native steps comparable with the C floor)."""
    limits = w.PluginLimits(aot=False, timeout_ms=None)
    for name in ("plugin_abi", "upper"):
        path = PLUGINS[name]
        module = w.load_module(path, limits)
        try:
            _steps_for(name, path, module, limits)
        finally:
            module.close()


def _steps_for(name: str, path: Path, module: w.Module, limits: w.PluginLimits) -> None:
    config = module.config
    needs_env = any(item.module == "env" for item in module.imports)
    host_modules = [w.HostModule("env", [_noop_host_log()])] if needs_env else []
    rows: dict[str, Callable[[int], None]] = {}
    instance = w.Instance(module, host_modules=host_modules)
    with_statistics = instance._statistics != ffi.NULL  # which of the config's pools Instance takes from

    # Instance(...) sub-steps, in its order.
    rows["import checks"] = repeat(lambda: instance_mod._check_imports_resolve(module, False, host_modules))
    rows["module retain + release"] = repeat(lambda: module._retain()())
    rows["store create/delete (native)"] = repeat(lambda: lib.WasmEdge_StoreDelete(lib.WasmEdge_StoreCreate()))

    def pooled_executor() -> None:
        pool = pool_for(config._ptr, with_statistics)
        pool.give(pool.take())

    rows["executor from the pool: executor.pool_for + take + give"] = repeat(pooled_executor)

    def native_work(link: bool, instantiate: bool) -> Callable[[], None]:
        """Instance's native work (store, pooled executor, then host imports, instantiation) up
        to a point, undone in close()'s order."""

        def work() -> None:
            store = lib.WasmEdge_StoreCreate()
            pool = pool_for(config._ptr, with_statistics)
            executor = pool.take()
            natives = []
            if link:
                natives.append(create_native(host_modules[0], HostCallState(), []))
                lib.WasmEdge_ExecutorRegisterImport(executor.executor, store, natives[0])
            if instantiate:
                out = ffi.new("WasmEdge_ModuleInstanceContext **")
                assert lib.WasmEdge_ExecutorInstantiate(executor.executor, out, store, module._ptr).Code == 0
                natives.insert(0, out[0])
            for native in natives:
                lib.WasmEdge_ModuleInstanceDelete(native)
            pool.give(executor)
            lib.WasmEdge_StoreDelete(store)

        return work

    if host_modules:
        rows["store + pooled executor + create env host module + register it"] = repeat(native_work(True, False))
    rows["store + pooled executor + imports + instantiate + delete (Instance's native work)"] = repeat(
        native_work(bool(host_modules), True)
    )
    rows["Handle base: weakref.finalize + detach"] = repeat(lambda: weakref.finalize(module, int).detach())
    rows["which initializers (Module.initializers, cached)"] = repeat(lambda: module.initializers)
    rows["Instance(module, run_initializer=False) + close"] = repeat(
        lambda: w.Instance(module, host_modules=host_modules, run_initializer=False).close()
    )
    rows["Instance(module) + close (runs _initialize if exported)"] = repeat(
        lambda: w.Instance(module, host_modules=host_modules).close()
    )
    rows["Instance(module, init_timeout=1.0) + close"] = repeat(
        lambda: w.Instance(module, host_modules=host_modules, init_timeout=1.0).close()
    )
    rows["a pool miss instead (not per instance): executor + stop handle made, deleted"] = repeat(
        lambda: Executor(config._ptr, with_statistics).delete()
    )

    # Function lookups, calls and close on a live instance.
    probe = "init" if name == "plugin_abi" else "get_abi_version"
    encoded = probe.encode()
    rows["FindFunction (native)"] = repeat(
        lambda: lib.WasmEdge_ModuleInstanceFindFunction(instance._ptr, lib.WasmEdge_StringWrap(encoded, len(encoded)))
    )

    def cold_lookup() -> None:
        instance._functions.pop(probe, None)
        instance.function(probe)

    rows[f"instance.function({probe!r}), first lookup"] = repeat(cold_lookup)
    rows[f"instance.function({probe!r}), cached"] = repeat(lambda: instance.function(probe))
    function = instance.function("get_call_count" if name == "plugin_abi" else "get_abi_version")
    rows[f"{function.name}() untimed"] = repeat(function)
    rows[f"{function.name}(timeout=1.0)"] = repeat(lambda: function(timeout=1.0))
    results = best_us(rows, 2000)
    instance.close()
    results["Instance.close() alone"] = close_only(lambda: w.Instance(module, host_modules=host_modules), 2000)

    # Plugin level.
    plugin_rows: dict[str, Callable[[int], None]] = {
        "plugin export checks (cached per Module)": repeat(lambda: _module_facts(module)),
        "Instance(module, host_modules=env-if-imported) + close": repeat(
            lambda: w.Instance(module, fuel=limits.fuel, wasi=limits.wasi, host_modules=host_modules).close()
        ),
        "load_plugin(module=cached) + close, timeout_ms=None": repeat(
            lambda: w.load_plugin(path, limits, module=module).close()
        ),
        "load_plugin(module=cached) + close, timeout 1000 ms": repeat(
            lambda: w.load_plugin(path, w.PluginLimits(aot=False), module=module).close()
        ),
    }
    results.update(best_us(plugin_rows, 2000))
    show(f"2. steps: {name} (µs per step)", results)


def _noop_host_log():
    @w.host_function(params=["i32", "i32", "i32"], name="host_log")
    def host_log(caller, level, ptr, length):
        return None

    return host_log


# -- 3. timed calls ------------------------------------------------------------------------------


def runaway_wasm() -> Path:
    """tests/wat/hostile/runaway_loop.wat as a binary: process(i32) -> i32 never returns."""
    path = BUILD / "runaway.wasm"
    if not path.exists():
        BUILD.mkdir(parents=True, exist_ok=True)
        subprocess.run(["wat2wasm", str(RUNAWAY_WAT), "-o", str(path)], check=True)
    return path


def timed_calls_in_c() -> None:
    BUILD.mkdir(parents=True, exist_ok=True)
    binary = BUILD / "timed_call"
    source = REPO / "bench" / "timed_call.c"
    header = REPO / "bench" / "bench_util.h"  # included by timed_call.c
    if not binary.exists() or max(source.stat().st_mtime, header.stat().st_mtime) > binary.stat().st_mtime:
        subprocess.run(
            ["gcc", "-O2", "-Wall", f"-I{WASMEDGE_INCLUDE}", "-o", str(binary), str(source), "-lwasmedge", "-lpthread"],
            check=True,
        )
    calls = max(1000, int(20_000 * SCALE))
    output = subprocess.run(
        [str(binary), str(PLUGINS["plugin_abi"]), str(runaway_wasm()), str(calls), str(ROUNDS)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    print("\n3a. timed calls against the C API (bench/timed_call.c; µs, best of runs)")
    for line in output.splitlines():
        if line.startswith("check "):
            print(f"  {line}")
        else:
            label, ns = line.split()
            print(f"  {label:<40}  {float(ns) / 1000:9.2f} µs")


def timed_calls_in_python() -> None:
    """Section 3b: the package's timed calls (executor.py), measured and checked through the binding."""
    path = PLUGINS["plugin_abi"]
    # Loaded as the server loads it with its default 1000 ms timeout (AOT code then checks for stops).
    with (
        w.load_module(path, w.PluginLimits(aot=False)) as module,
        w.load_module(path, w.PluginLimits(aot=True)) as compiled,
        w.Instance(module) as warm,
        w.Instance(compiled) as compiled_warm,
    ):
        rows: dict[str, Callable[[int], None]] = {}
        for engine, instance in (("interpreter", warm), ("AOT", compiled_warm)):
            instance.call("init")
            process = instance.function("process")
            assert process(21) == process(21, timeout=1.0) == PROCESS_21
            rows[f"{engine}: process(21)"] = repeat(functools.partial(process, 21))
            rows[f"{engine}: process(21, timeout=1.0)"] = repeat(functools.partial(process, 21, timeout=1.0))
        stop_handle = warm._calls.executor.stop_handle
        rows["the watchdog alone (part of every timed call): arm + disarm"] = repeat(
            lambda: WATCHDOG.disarm(WATCHDOG.arm(stop_handle, 1.0))
        )
        found = best_us(rows, 3000)
        untimed = "lifecycle: Instance + 3 calls + close, no timeout"
        timed = "lifecycle: Instance + 3 calls + close, timeout=1.0 on each call"
        cycles = {untimed: repeat(binding_cycle(module, None)), timed: repeat(binding_cycle(module, 1.0))}
        found |= best_us(cycles, 1000)
    show("3b. timed calls through the binding (wasmedge_py/executor.py; µs)", found)
    print(f"  a timeout adds {(found[timed] - found[untimed]) / 3:.2f} µs per call to a lifecycle")

    # Soundness: a runaway loop is stopped at its deadline in both engines; the instance goes on;
    # the executor it ran on goes back to the pool and serves the next instance normally.
    runaway = runaway_wasm().read_bytes()
    interpreter_config = w.Config()
    with (
        w.Module.from_bytes(runaway, interpreter_config, source="runaway") as spinning,
        w.Module.from_file(path, interpreter_config) as after,
    ):
        _check_runaway("interpreter", spinning, after)
    with tempfile.TemporaryDirectory() as directory:
        cache, aot_config = AotCache(Path(directory) / "aot"), w.Config()
        options = CompileOptions(interruptible=True)  # the default; code compiled without it ignores stops
        with (
            load_aot(runaway, aot_config, options=options, cache=cache, source="runaway") as spinning,
            load_aot(path.read_bytes(), aot_config, options=options, cache=cache, source=path.name) as after,
        ):
            _check_runaway("AOT", spinning, after)


def _check_runaway(engine: str, runaway: w.Module, after: w.Module) -> None:
    """``runaway`` (tests/wat/hostile/runaway_loop.wat) is stopped at a 50 ms deadline, twice on one
    instance (so the first stop was not left over); then an instance of ``after``, made from the
    same Config, gets the same pooled executor and its calls run normally."""
    with w.Instance(runaway) as spinning:
        process = spinning.function("process")
        print(f"  check a runaway {engine} call is stopped at 50 ms: {_stopped_at_deadline(process, 0.05)}")
        print(f"  check a second one there runs to its own deadline: {_stopped_at_deadline(process, 0.05)}")
        executor = spinning._calls.executor
    with w.Instance(after) as fresh:
        fresh.call("init")
        reused = fresh._calls.executor is executor
        ok = reused and fresh.call("process", 21) == fresh.function("process")(21, timeout=1.0) == PROCESS_21
        verdict = "ok" if ok else "FAIL" if reused else "FAIL (the executor was not reused)"
        print(f"  check its executor, back in the pool, serves the next instance: {verdict}")


def _stopped_at_deadline(function: w.Function, timeout: float) -> str:
    started = time.monotonic()
    try:
        function(0, timeout=timeout)
    except w.Interrupted as exc:
        took_ms = 1000 * (time.monotonic() - started)
        verdict = "ok" if 1000 * timeout - 1 <= took_ms < 1000 * timeout + 450 else "FAIL"
        return f"{verdict} ({exc}; after {took_ms:.1f} ms)"
    return "FAIL (it returned)"


# -- 4. cProfile ---------------------------------------------------------------------------------


def profile_cycles() -> None:
    limits = w.PluginLimits(aot=False, timeout_ms=None)
    path = PLUGINS["plugin_abi"]
    module = w.load_module(path, limits)
    cycle = plugin_cycle(path, limits, module)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(2000):
        cycle()
    profiler.disable()
    module.close()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    print("\n4. cProfile: 2000 run_plugin(module=cached), timeout_ms=None (by own time)")
    print(out.getvalue())


def main() -> int:
    missing = [str(p) for p in PLUGINS.values() if not p.exists()]
    if missing:
        subprocess.run(["make", "-s", "-C", str(REPO), "plugins"], check=True)
    print(f"wasmedge_py from {Path(w.__file__).parent}; WasmEdge {ffi.string(lib.WasmEdge_VersionGet()).decode()}")
    totals()
    steps()
    if not OPTIONS.no_c:
        timed_calls_in_c()
    timed_calls_in_python()
    if OPTIONS.cprofile:
        profile_cycles()
    return 0


if __name__ == "__main__":
    sys.exit(main())
