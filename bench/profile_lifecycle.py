"""Where does one isolated plugin lifecycle spend its time?

    .venv/bin/python bench/profile_lifecycle.py [--quick] [--cprofile] [--no-c] [--repo PATH]

(It runs `make plugins` if cpp/plugin_abi.wasm, plugins/hello/hello.wasm or plugins/upper/upper.wasm
is missing; AOT rows compile through the default AOT cache.) Times are µs per operation, the best
of several runs, with the rows of a group taking turns within each run so that background load hits
them alike. Sections:

1. totals -- one lifecycle from a cached, validated module: the plain binding (``Instance(module)``
   + init/process/cleanup + close, as bench/run.py's lifecycle row) without and with a timeout on
   each call, and what the server does per request (``load_plugin(path, limits, module=cached)`` +
   init/execute-or-call_bytes/cleanup + close) in the interpreter with a 1000 ms timeout on every
   call and with none, then with the server's defaults (AOT, 1000 ms).
2. steps -- the interpreter lifecycle taken apart: the sub-steps of ``Instance(...)`` (import
   checks, store/executor create, linking host imports, instantiate, which initializers run),
   function lookups, calls with and without a timeout, close, and the plugin-level extras (export
   checks, ``Plugin.__init__`` + negotiation). Native steps are timed straight through the cffi
   ``lib``, so the Python share of a step is what it costs beyond them.
3. timed calls -- (a) bench/timed_call.c against the C API (built here with gcc): ExecutorInvoke vs
   ExecutorAsyncInvoke+WaitFor+Get+Delete vs a bare thread per call vs a stop handle + one watchdog
   thread, per call and per lifecycle, with soundness checks; (b) the same mechanism driven from
   Python (a prototype, not the package's code): a watchdog thread, one stop handle per executor,
   calls run synchronously on the calling thread, and pooled executors so that no thread at all is
   started per call or per instance; with checks that it stops runaway interpreted and AOT calls
   and that a stop landing after a call finished is drained.
4. with --cprofile: the top of a cProfile of 2000 load_plugin cycles.

``--repo PATH`` imports ``wasmedge_py`` from another copy of the package (e.g. the tree with this
change's files taken from HEAD) to compare before/after with the same script.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import subprocess
import sys
import threading
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
RUNAWAY_WAT = REPO / "tests" / "hostile" / "runaway_loop.wat"


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (noisier)")
    parser.add_argument("--cprofile", action="store_true", help="also print a cProfile of load_plugin cycles")
    parser.add_argument("--no-c", action="store_true", help="skip building and running bench/timed_call.c")
    parser.add_argument("--repo", type=Path, default=REPO, help="import wasmedge_py from this checkout")
    return parser.parse_args()


OPTIONS = _parse_args()
sys.path.insert(0, str(OPTIONS.repo.resolve()))

import wasmedge_py as w  # noqa: E402
from wasmedge_py import instance as instance_mod  # noqa: E402
from wasmedge_py._ffi import ffi, lib  # noqa: E402

SCALE = 0.25 if OPTIONS.quick else 1.0
ROUNDS = 5 if OPTIONS.quick else 7


# -- timing --------------------------------------------------------------------------------------


def best_us(bodies: dict[str, Callable[[int], None]], count: int, rounds: int = ROUNDS) -> dict[str, float]:
    """µs per operation for each body (``body(n)`` does n operations), best of ``rounds``; the
    bodies take turns within each round."""
    count = max(1, int(count * SCALE))
    best = dict.fromkeys(bodies, float("inf"))
    for _ in range(rounds):
        for name, body in bodies.items():
            gc.collect()
            started = time.perf_counter_ns()
            body(count)
            best[name] = min(best[name], (time.perf_counter_ns() - started) / count / 1000)
    return best


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
    def cycle() -> None:
        with w.load_plugin(path, limits, module=module) as plugin:
            if not calls:
                return
            plugin.init()
            if plugin.abi_major == 2:
                plugin.call_bytes(b"hello, world")
            else:
                plugin.execute(21)
            plugin.cleanup()

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
                f"{name}: load_plugin + 3 calls, interpreter, timeout 1000 ms": repeat(
                    plugin_cycle(path, timed, keep(w.load_module(path, timed)))
                ),
                f"{name}: load_plugin + 3 calls, interpreter, no timeout": repeat(plugin_cycle(path, untimed, interpreted)),
                f"{name}: load_plugin + close only, interpreter, no timeout": repeat(
                    plugin_cycle(path, untimed, interpreted, calls=False)
                ),
                f"{name}: load_plugin + 3 calls, AOT, timeout 1000 ms (server default)": repeat(
                    plugin_cycle(path, aot_timed, keep(w.load_module(path, aot_timed)))
                ),
                f"{name}: load_plugin + 3 calls, AOT, no timeout": repeat(
                    plugin_cycle(path, aot_untimed, keep(w.load_module(path, aot_untimed)))
                ),
            }
            found = best_us(rows, 1500)
            show(f"1. totals: {name} (µs per lifecycle)", found, f"{name}: binding Instance + 3 calls + close")
            results.update(found)
        path = PLUGINS["upper"]
        interpreted = keep(w.load_module(path, untimed))
        rows = {
            "upper: load_plugin + call_bytes, interpreter, timeout 1000 ms": repeat(
                plugin_cycle(path, timed, keep(w.load_module(path, timed)))
            ),
            "upper: load_plugin + call_bytes, interpreter, no timeout": repeat(plugin_cycle(path, untimed, interpreted)),
            "upper: load_plugin + close only, interpreter, no timeout": repeat(
                plugin_cycle(path, untimed, interpreted, calls=False)
            ),
            "upper: load_plugin + call_bytes, AOT, timeout 1000 ms (server default)": repeat(
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
    instance = probe_instance = w.Instance(module, host_modules=host_modules)

    # Instance(...) sub-steps.
    rows["import checks"] = repeat(lambda: instance_mod._check_imports_resolve(module, False, host_modules))
    rows["module retain + release"] = repeat(lambda: module._retain()())

    def store_executor() -> None:
        store = lib.WasmEdge_StoreCreate()
        executor = lib.WasmEdge_ExecutorCreate(config._ptr, ffi.NULL)
        lib.WasmEdge_ExecutorDelete(executor)
        lib.WasmEdge_StoreDelete(store)

    rows["store + executor create/delete (native)"] = repeat(store_executor)

    if host_modules:
        from wasmedge_py.host import HostCallState, create_native

        def link() -> None:
            store = lib.WasmEdge_StoreCreate()
            executor = lib.WasmEdge_ExecutorCreate(config._ptr, ffi.NULL)
            native = create_native(host_modules[0], HostCallState(), [])
            lib.WasmEdge_ExecutorRegisterImport(executor, store, native)
            lib.WasmEdge_ModuleInstanceDelete(native)
            lib.WasmEdge_ExecutorDelete(executor)
            lib.WasmEdge_StoreDelete(store)

        rows["... + create env host module + register it"] = repeat(link)

    def instantiate() -> None:
        store = lib.WasmEdge_StoreCreate()
        executor = lib.WasmEdge_ExecutorCreate(config._ptr, ffi.NULL)
        natives = []
        if host_modules:
            from wasmedge_py.host import HostCallState, create_native

            natives.append(create_native(host_modules[0], HostCallState(), []))
            lib.WasmEdge_ExecutorRegisterImport(executor, store, natives[0])
        out = ffi.new("WasmEdge_ModuleInstanceContext **")
        assert lib.WasmEdge_ExecutorInstantiate(executor, out, store, module._ptr).Code == 0
        lib.WasmEdge_ModuleInstanceDelete(out[0])
        for native in natives:
            lib.WasmEdge_ModuleInstanceDelete(native)
        lib.WasmEdge_ExecutorDelete(executor)
        lib.WasmEdge_StoreDelete(store)

    rows["... + instantiate + delete (all native work of Instance)"] = repeat(instantiate)
    rows["Handle base: weakref.finalize + detach"] = repeat(lambda: weakref.finalize(module, int).detach())
    if hasattr(module, "initializers"):  # the current tree: initializers are a per-module fact
        rows["which initializers (Module.initializers, cached)"] = repeat(lambda: module.initializers)
    else:
        rows["which initializers (Instance._initializers)"] = repeat(lambda: probe_instance._initializers(True))
    rows["Instance(module, run_initializer=False) + close"] = repeat(
        lambda: w.Instance(module, host_modules=host_modules, run_initializer=False).close()
    )
    rows["Instance(module) + close (runs _initialize if exported)"] = repeat(
        lambda: w.Instance(module, host_modules=host_modules).close()
    )
    rows["Instance(module, init_timeout=1.0) + close"] = repeat(
        lambda: w.Instance(module, host_modules=host_modules, init_timeout=1.0).close()
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
    plugin_rows: dict[str, Callable[[int], None]] = {}
    if hasattr(module, "memo"):
        from wasmedge_py.plugin import _module_facts

        plugin_rows["plugin export checks (Module.memo, cached)"] = repeat(lambda: module.memo("plugin", _module_facts))
    plugin_rows |= {
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


def timed_calls_in_c() -> None:
    BUILD.mkdir(parents=True, exist_ok=True)
    binary, runaway = BUILD / "timed_call", BUILD / "runaway.wasm"
    source = REPO / "bench" / "timed_call.c"
    if not binary.exists() or source.stat().st_mtime > binary.stat().st_mtime:
        subprocess.run(
            ["gcc", "-O2", "-Wall", f"-I{WASMEDGE_INCLUDE}", "-o", str(binary), str(source), "-lwasmedge", "-lpthread"],
            check=True,
        )
    if not runaway.exists():
        subprocess.run(["wat2wasm", str(RUNAWAY_WAT), "-o", str(runaway)], check=True)
    calls = max(1000, int(20_000 * SCALE))
    output = subprocess.run(
        [str(binary), str(PLUGINS["plugin_abi"]), str(runaway), str(calls), str(ROUNDS)],
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


class Watchdog:
    """A prototype of the cheaper timed call, driven from Python: one daemon thread that calls
    ``WasmEdge_AsyncCancel(handle)`` on a call still running at its deadline. Arming and disarming
    take a lock and touch a dict; the thread is only woken when a new deadline is earlier than the
    one it sleeps towards."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._armed: dict[int, list] = {}
        self._next = 0
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None

    def arm(self, handle, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._next += 1
            self._armed[self._next] = [deadline, handle, False]
            if deadline < self._wake_at:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="wasmedge-watchdog", daemon=True)
                    self._thread.start()
                self._wake_at = deadline
                self._cond.notify()
            return self._next

    def disarm(self, token: int) -> bool:
        """Whether the watchdog cancelled the call (under the lock: never after this returns)."""
        with self._cond:
            return self._armed.pop(token)[2]

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                wake_at = float("inf")
                for token, entry in list(self._armed.items()):
                    if entry[0] <= now:
                        lib.WasmEdge_AsyncCancel(entry[1])
                        entry[2] = True
                        entry[0] = float("inf")  # stays armed (fired) until the caller disarms
                    else:
                        wake_at = min(wake_at, entry[0])
                self._wake_at = wake_at
                self._cond.wait(None if wake_at == float("inf") else wake_at - now)


@ffi.callback("WasmEdge_Result(void *, const WasmEdge_CallingFrameContext *, const WasmEdge_Value *, WasmEdge_Value *)")
def _noop_callback(data, frame, params, returns):
    return {"Code": 0}


class PrototypeCall:
    """One export of an instance, called through the C API with (i32...) -> (i32) buffers of its
    own -- plainly, or under the watchdog. Independent of ``Function``'s internals, so the two
    ways differ only by the timeout mechanism."""

    INTERRUPTED = 0x07  # WasmEdge_ErrCode_Interrupted

    def __init__(self, instance: w.Instance, name: str, noop, stop_handle) -> None:
        self.instance, self.name, self.noop, self.stop_handle = instance, name, noop, stop_handle
        encoded = name.encode()
        self.native = lib.WasmEdge_ModuleInstanceFindFunction(instance._ptr, lib.WasmEdge_StringWrap(encoded, len(encoded)))
        signature = instance.module.function_types[name]
        self.n_params, self.n_results = len(signature.params), len(signature.results)
        self.params = ffi.new("WasmEdge_Value[]", max(self.n_params, 1))
        self.results = ffi.new("WasmEdge_Value[]", max(self.n_results, 1))
        for i in range(self.n_params):
            self.params[i].Type = lib.WasmEdge_ValTypeGenI32()

    def _invoke(self):
        return lib.WasmEdge_ExecutorInvoke(
            self.instance._executor, self.native, self.params, self.n_params, self.results, self.n_results
        )

    def plain(self, *args: int) -> int:
        with self.instance.lock:
            for i, value in enumerate(args):
                self.params[i].Value.Words[0] = value & 0xFFFFFFFF
            result = self._invoke()
            if result.Code:
                self.instance._raise_call_error(result, self.name)
            return self.results[0].Value.I32

    def watched(self, timeout: float, *args: int, pool: RunnerPool | None = None) -> int:
        """What Function._invoke_with_deadline would do instead of ExecutorAsyncInvoke: run the
        call on this thread, on the instance's executor (with its own stop handle) or on a pooled
        runner, while the watchdog holds the stop handle until the deadline."""
        instance = self.instance
        with instance.lock:
            for i, value in enumerate(args):
                self.params[i].Value.Words[0] = value & 0xFFFFFFFF
            runner = pool.take() if pool is not None else (instance._executor, self.stop_handle)
            executor, handle = runner
            token = WATCHDOG.arm(handle, timeout)
            try:
                result = lib.WasmEdge_ExecutorInvoke(
                    executor, self.native, self.params, self.n_params, self.results, self.n_results
                )
            finally:
                fired = WATCHDOG.disarm(token)
            if fired and result.Code != self.INTERRUPTED:
                # The stop landed after the call finished: consume it, or the next call would stop.
                lib.WasmEdge_ExecutorInvoke(executor, self.noop, ffi.NULL, 0, ffi.NULL, 0)
            if pool is not None:
                pool.give(runner)
            if result.Code:
                instance._raise_call_error(result, self.name, timeout)
            return self.results[0].Value.I32


WATCHDOG = Watchdog()


class RunnerPool:
    """Executors to run timed calls on, each with its stop handle made once: no thread per call or
    per instance. Valid for instances without a statistics context: WasmEdge 0.14.1 reads the
    executor's Configure at run time only for statistics (lib/executor/engine/engine.cpp), memory
    limits are fixed in the memory instance at instantiation, and a module instance holds no
    pointer to the executor that made it -- so invoking its functions through another executor
    runs the same code on the same state. One runner serves one call at a time (a nested call, from
    a host function, takes another), so a stop never reaches someone else's call."""

    def __init__(self, noop, bogus) -> None:
        self._free: list[tuple] = []
        self._config = w.Config()  # no statistics: matches instances whose _statistics is NULL
        self._noop, self._bogus = noop, bogus

    def take(self):
        try:
            return self._free.pop()
        except IndexError:
            executor = lib.WasmEdge_ExecutorCreate(self._config._ptr, ffi.NULL)
            handle = lib.WasmEdge_ExecutorAsyncInvoke(executor, self._noop, self._bogus, 1)
            lib.WasmEdge_AsyncWait(handle)  # once per runner, ever
            return executor, handle

    def give(self, runner) -> None:
        self._free.append(runner)


def timed_calls_in_python() -> None:
    """Section 3b: the stop-handle + watchdog mechanism driven from Python, against Function."""
    functype = lib.WasmEdge_FunctionTypeCreate(ffi.NULL, 0, ffi.NULL, 0)
    noop = lib.WasmEdge_FunctionInstanceCreate(functype, _noop_callback, ffi.NULL, 0)  # kept for the process
    lib.WasmEdge_FunctionTypeDelete(functype)
    bogus = ffi.new("WasmEdge_Value[]", 1)
    bogus[0].Type = lib.WasmEdge_ValTypeGenI32()

    def stop_handle(instance: w.Instance):
        """One Async per executor; it runs nothing (a signature mismatch: one argument for a
        function of none) and is kept only so that WasmEdge_AsyncCancel reaches this executor's
        Executor::stop(). Its thread must be done before the executor is deleted."""
        return lib.WasmEdge_ExecutorAsyncInvoke(instance._executor, noop, bogus, 1)

    module = w.Module.from_file(PLUGINS["plugin_abi"])
    instance = w.Instance(module)
    handle = stop_handle(instance)
    lib.WasmEdge_AsyncWait(handle)
    instance.call("init")
    process = instance.function("process")
    proto = PrototypeCall(instance, "process", noop, handle)
    assert proto.watched(1.0, 21) == 43 and proto.plain(21) == 43
    rows = {
        "Function: process(21)": repeat(lambda: process(21)),
        "Function: process(21, timeout=1.0) (a thread per call)": repeat(lambda: process(21, timeout=1.0)),
        "prototype: process(21), no timeout": repeat(lambda: proto.plain(21)),
        "prototype: process(21) under the watchdog, timeout 1.0": repeat(lambda: proto.watched(1.0, 21)),
    }
    pool = RunnerPool(noop, bogus)
    rows["prototype: process(21) on a pooled runner, timeout 1.0"] = repeat(lambda: proto.watched(1.0, 21, pool=pool))
    found = best_us(rows, 3000)

    def cycle_pooled() -> None:
        with w.Instance(module) as fresh:
            calls = [PrototypeCall(fresh, name, noop, None) for name in ("init", "process", "cleanup")]
            calls[0].watched(1.0, pool=pool)
            calls[1].watched(1.0, 21, pool=pool)
            calls[2].watched(1.0, pool=pool)

    def cycle_watched() -> None:
        with w.Instance(module) as fresh:
            h = stop_handle(fresh)
            try:
                calls = [PrototypeCall(fresh, name, noop, h) for name in ("init", "process", "cleanup")]
                calls[0].watched(1.0)
                calls[1].watched(1.0, 21)
                calls[2].watched(1.0)
            finally:
                lib.WasmEdge_AsyncWait(h)  # long done by now: no wait in practice
                lib.WasmEdge_AsyncDelete(h)

    def cycle_plain() -> None:
        with w.Instance(module) as fresh:
            calls = [PrototypeCall(fresh, name, noop, None) for name in ("init", "process", "cleanup")]
            calls[0].plain()
            calls[1].plain(21)
            calls[2].plain()

    found.update(
        best_us(
            {
                "lifecycle: Function, 3 calls, no timeout": repeat(binding_cycle(module, None)),
                "lifecycle: Function, 3 calls, timeout=1.0": repeat(binding_cycle(module, 1.0)),
                "lifecycle: prototype, 3 calls, no timeout": repeat(cycle_plain),
                "lifecycle: prototype, stop handle per instance + 3 watched calls": repeat(cycle_watched),
                "lifecycle: prototype, 3 watched calls on pooled runners": repeat(cycle_pooled),
            },
            1000,
        )
    )
    show("3b. timed calls through the binding (µs)", found)

    # Soundness through the binding: a runaway call is stopped at its deadline, the instance stays
    # usable, and a stop that lands after a call finished is drained rather than hitting the next.
    runaway_path = BUILD / "runaway.wasm"
    if not runaway_path.exists():
        subprocess.run(["wat2wasm", str(RUNAWAY_WAT), "-o", str(runaway_path)], check=True)
    with w.Module.from_file(runaway_path) as runaway, w.Instance(runaway) as spinning:
        h = stop_handle(spinning)
        lib.WasmEdge_AsyncWait(h)
        started = time.monotonic()
        try:
            PrototypeCall(spinning, "process", noop, h).watched(0.05, 0)
            outcome = "FAIL (returned)"
        except w.Interrupted as exc:
            outcome = f"ok ({exc}; after {1000 * (time.monotonic() - started):.0f} ms)"
        print(f"  check the watchdog stops a runaway call: {outcome}")
        started = time.monotonic()
        try:
            PrototypeCall(spinning, "process", noop, None).watched(0.05, 0, pool=pool)
            outcome = "FAIL (returned)"
        except w.Interrupted as exc:
            outcome = f"ok ({exc}; after {1000 * (time.monotonic() - started):.0f} ms)"
        print(f"  check the watchdog stops a runaway call on a pooled runner: {outcome}")
        spinning.close()
        lib.WasmEdge_AsyncDelete(h)
    print(f"  check the pooled runner is clean afterwards: {'ok' if proto.watched(1.0, 21, pool=pool) == 43 else 'FAIL'}")
    # Compiled code reads the same executor's token (through the thread's execution context).
    runaway_so = BUILD / "runaway_interruptible.so"
    if not runaway_so.exists():
        w.compile_module(runaway_path.read_bytes(), runaway_so, interruptible=True)
    with w.Module.from_compiled(runaway_so) as runaway, w.Instance(runaway) as spinning:
        started = time.monotonic()
        try:
            PrototypeCall(spinning, "process", noop, None).watched(0.05, 0, pool=pool)
            outcome = "FAIL (returned)"
        except w.Interrupted as exc:
            outcome = f"ok ({exc}; after {1000 * (time.monotonic() - started):.0f} ms)"
        print(f"  check the watchdog stops a runaway AOT (interruptible) call on a pooled runner: {outcome}")
    lib.WasmEdge_AsyncCancel(handle)  # as if the watchdog fired just after a call returned
    try:
        proto.plain(21)
        print("  check a late stop hits the next call: FAIL (it did not)")
    except w.Interrupted:
        print("  check a late stop hits the next call (so it must be drained): ok")
    lib.WasmEdge_AsyncCancel(handle)
    lib.WasmEdge_ExecutorInvoke(instance._executor, noop, ffi.NULL, 0, ffi.NULL, 0)
    print(f"  check one drain call clears it: {'ok' if proto.plain(21) == 43 else 'FAIL'}")
    lib.WasmEdge_AsyncDelete(handle)
    instance.close()
    module.close()


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
    print("\n4. cProfile: 2000 load_plugin(module=cached) + 3 calls, timeout_ms=None (by own time)")
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
