"""Where does a warm ``instance.function("process")(21)`` spend its time?

    .venv/bin/python bench/profile_call.py [--calls 200000] [--no-api-mode]

Peels the call into layers and times each (ns per call, best of several runs), then shows a cProfile
of the real ``Function.__call__`` and two ways to go faster:

- a specialised pure-Python closure for one signature (same checks: int type and range, lock,
  closed instance, error mapping), still on the package's ABI-mode ``lib``;
- ``bench/fastcall.c``, which packs the WasmEdge_Value in C so Python makes one foreign call with
  a plain int: once through ``ffi.dlopen`` (ABI mode) and once as a compiled cffi API-mode
  extension, built under build/bench/ (needs Python.h; skipped with --no-api-mode).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "bench"
PLUGIN = REPO / "cpp" / "plugin_abi.wasm"
WASMEDGE_INCLUDE = "/usr/include"
sys.path.insert(0, str(REPO))

from cffi import FFI  # noqa: E402

import wasmedge_py as w  # noqa: E402
from wasmedge_py._ffi import ffi, lib  # noqa: E402
from wasmedge_py.errors import ArgumentError, ClosedError, ValueRangeError  # noqa: E402
from wasmedge_py.types import ValType  # noqa: E402
from wasmedge_py.values import load, store  # noqa: E402

HELPER_DECL = "int64_t wpy_call_i32_i32(void *exec, void *func, int32_t x);"


def best_ns_interleaved(bodies: dict, calls: int, rounds: int = 7) -> dict[str, float]:
    """ns per call for each body, best of ``rounds``; the bodies take turns within each round so
    background load on a shared machine hits them all alike."""
    best = dict.fromkeys(bodies, float("inf"))
    for _ in range(rounds):
        for name, body in bodies.items():
            gc.collect()
            started = time.perf_counter_ns()
            body(calls)
            best[name] = min(best[name], (time.perf_counter_ns() - started) / calls)
    return best


def specialised_i32_i32(function: w.Function):
    """What Function.__call__ could compile itself into for an (i32) -> (i32) signature."""
    instance = function.instance
    lock, owned = instance.lock, instance._owned
    invoke, executor, native = lib.WasmEdge_ExecutorInvoke, instance._executor, function._native
    params, results = function._params, function._results
    params[0].Type = lib.WasmEdge_ValTypeGenI32()
    params[0].Value.Words[1] = 0
    words, result_value = params[0].Value.Words, results[0].Value
    name, fuel = function.name, instance.fuel is not None

    def call(x):
        if type(x) is not int or not -0x80000000 <= x <= 0xFFFFFFFF:
            if isinstance(x, int) and not isinstance(x, bool) and -0x80000000 <= x <= 0xFFFFFFFF:
                x = int(x)
            elif isinstance(x, int) and not isinstance(x, bool):
                raise ValueRangeError(f"argument 0 = {x} is out of range for i32")
            else:
                raise ArgumentError(f"argument 0 must be an int for i32, not {type(x).__name__}")
        with lock:
            if owned.closed:
                raise ClosedError(f"instance is closed; cannot call {name}")
            if fuel:
                lib.WasmEdge_StatisticsClear(instance._statistics)
            words[0] = x & 0xFFFFFFFF
            result = invoke(executor, native, params, 1, results, 1)
            if result.Code:
                instance._raise_call_error(result, name)
            return result_value.I32

    return call


def build_helper_abi() -> Path:
    target = BUILD / "libwpy_fastcall.so"
    source = REPO / "bench" / "fastcall.c"
    if not target.exists() or source.stat().st_mtime > target.stat().st_mtime:
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", f"-I{WASMEDGE_INCLUDE}", "-o", str(target), str(source), "-lwasmedge"], check=True)
    return target


def build_helper_api():
    """Compile bench/fastcall.c as a cffi API-mode extension module and import it."""
    out_dir = BUILD / "api"
    out_dir.mkdir(parents=True, exist_ok=True)
    builder = FFI()
    builder.cdef(HELPER_DECL)
    builder.set_source(
        "_wpy_fastcall_api",
        (REPO / "bench" / "fastcall.c").read_text(),
        include_dirs=[WASMEDGE_INCLUDE],
        libraries=["wasmedge"],
        extra_compile_args=["-O2"],
    )
    builder.compile(tmpdir=str(out_dir), verbose=False)
    sys.path.insert(0, str(out_dir))
    import _wpy_fastcall_api  # type: ignore[import-not-found]

    return _wpy_fastcall_api


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls per timed run (7 runs each)")
    parser.add_argument("--no-api-mode", action="store_true")
    options = parser.parse_args()
    calls = options.calls
    BUILD.mkdir(parents=True, exist_ok=True)

    module = w.Module.from_file(PLUGIN)
    instance = w.Instance(module)
    instance.call("init")
    process = instance.function("process")
    executor, native = instance._executor, process._native
    params, results = process._params, process._results
    invoke = lib.WasmEdge_ExecutorInvoke
    store(params[0], ValType.I32, 21, 0)

    rows: list[tuple[str, float]] = []

    def loop(n):
        for _ in range(n):
            pass

    def raw(n):
        for _ in range(n):
            invoke(executor, native, params, 1, results, 1)

    def raw_pokes(n):
        words, value = params[0].Value.Words, results[0].Value
        for _ in range(n):
            words[0] = 21
            words[1] = 0
            invoke(executor, native, params, 1, results, 1)
            value.I32

    def raw_store_load(n):
        p0, r0, i32 = params[0], results[0], ValType.I32
        for _ in range(n):
            store(p0, i32, 21, 0)
            invoke(executor, native, params, 1, results, 1)
            load(r0, i32)

    def invoke_method(n):
        p0, r0, i32 = params[0], results[0], ValType.I32
        for _ in range(n):
            store(p0, i32, 21, 0)
            process._invoke()
            load(r0, i32)

    def full(n):
        for _ in range(n):
            process(21)

    fast = specialised_i32_i32(process)
    assert fast(21) == 43

    def specialised(n):
        for _ in range(n):
            fast(21)

    bodies = {
        "empty Python loop": loop,
        "lib.WasmEdge_ExecutorInvoke only (args preset)": raw,
        "+ poke param words, read result .I32": raw_pokes,
        "+ values.store / values.load instead": raw_store_load,
        "+ Function._invoke (fuel check, attribute lookups)": invoke_method,
        "full Function.__call__": full,
        "specialised (i32)->(i32) closure, ABI mode": specialised,
    }

    helper_ffi = FFI()
    helper_ffi.cdef(HELPER_DECL)
    helper_lib = helper_ffi.dlopen(str(build_helper_abi()))
    exec_void = helper_ffi.cast("void *", int(ffi.cast("uintptr_t", executor)))
    func_void = helper_ffi.cast("void *", int(ffi.cast("uintptr_t", native)))
    helper = helper_lib.wpy_call_i32_i32
    assert helper(exec_void, func_void, 21) == 43

    def helper_abi(n):
        for _ in range(n):
            helper(exec_void, func_void, 21)

    bodies["C helper (fastcall.c) via ffi.dlopen, ABI mode"] = helper_abi

    if not options.no_api_mode:
        try:
            api = build_helper_api()
        except Exception as exc:  # no compiler or no Python.h: report and carry on
            print(f"(API mode skipped: {exc})")
        else:
            api_exec = api.ffi.cast("void *", int(ffi.cast("uintptr_t", executor)))
            api_func = api.ffi.cast("void *", int(ffi.cast("uintptr_t", native)))
            api_helper = api.lib.wpy_call_i32_i32
            assert api_helper(api_exec, api_func, 21) == 43

            def helper_api(n):
                for _ in range(n):
                    api_helper(api_exec, api_func, 21)

            bodies["C helper (fastcall.c), cffi API mode"] = helper_api

    rows.extend(best_ns_interleaved(bodies, calls).items())

    c_floor = BUILD / "c_floor"
    source = REPO / "bench" / "c_floor.c"
    if not c_floor.exists() or source.stat().st_mtime > c_floor.stat().st_mtime:
        subprocess.run(["gcc", "-O2", f"-I{WASMEDGE_INCLUDE}", "-o", str(c_floor), str(source), "-lwasmedge"], check=True)
    floor = subprocess.run([str(BUILD / "c_floor"), str(PLUGIN), str(calls), "10", "7"], capture_output=True, text=True)
    if floor.returncode == 0:
        rows.append(("C floor (bench/c_floor.c), no Python", float(floor.stdout.split()[1])))

    full_ns = dict(rows)["full Function.__call__"]
    width = max(len(name) for name, _ in rows)
    print(f"warm process(21), {calls} calls per run, best of 7 interleaved runs (ns per call)")
    for name, ns in rows:
        print(f"  {name:<{width}} {ns:8.0f} ns   {ns / full_ns * 100:5.1f} % of Function.__call__")

    profiler = cProfile.Profile()
    profiler.enable()
    full(calls // 4)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(10)
    print("\ncProfile of Function.__call__ (tottime; the profiler inflates small functions):")
    print("\n".join(line for line in text.getvalue().splitlines() if line.strip())[:4000])

    instance.close()
    module.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
