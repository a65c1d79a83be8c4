"""Where does a warm ``instance.function("process")(21)`` spend its time?

    .venv/bin/python bench/profile_call.py [--calls 200000] [--no-api-mode]

Peels the call into layers and times each (ns per call, best of several runs), then shows a cProfile
of the real ``Function.__call__``. The package runs in cffi API mode by default (the compiled
extension ``wasmedge_py._wasmedge_cffi``, see ``_ffi.py``); rows marked "ABI mode" use ``ffi.dlopen``
of the same library for comparison, and the last Python row runs the package itself in ABI mode
(``WASMEDGE_LIB`` set) in a child process.

- ``Function.__call__`` -> ``Function._call``, the call specialised for the signature, which stores
  the argument, calls ``_ffi.invoke`` (the extension's ``wpy_invoke``: one packed ``wpy_call``
  pointer in, the result code out) and reads the result;
- ``bench/fastcall.c``, which also packs the ``WasmEdge_Value`` in C so Python makes one foreign call
  with a plain int: once through ``ffi.dlopen`` (ABI mode) and once as a compiled cffi API-mode
  extension, built under build/bench/ (needs Python.h; skipped with --no-api-mode).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "bench"
PLUGIN = REPO / "cpp" / "plugin_abi.wasm"
WASMEDGE_INCLUDE = "/usr/include"
sys.path.insert(0, str(REPO))

from cffi import FFI  # noqa: E402

import wasmedge_py as w  # noqa: E402
from wasmedge_py import _ffi  # noqa: E402
from wasmedge_py._ffi import ffi, lib  # noqa: E402
from wasmedge_py.types import ValType  # noqa: E402
from wasmedge_py.values import load, store  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved_best  # noqa: E402

HELPER_DECL = "int64_t wpy_call_i32_i32(void *exec, void *func, int32_t x);"


def abi_mode_invoke(executor, native):
    """``WasmEdge_ExecutorInvoke`` through ``ffi.dlopen`` (ABI mode) on the same executor and function,
    with its own value arrays; returns a body for interleaved_best."""
    abi = _ffi.abi_ffi()
    abi_lib = abi.dlopen("libwasmedge.so.0")
    exec_abi = abi.cast("WasmEdge_ExecutorContext *", int(ffi.cast("uintptr_t", executor)))
    func_abi = abi.cast("WasmEdge_FunctionInstanceContext *", int(ffi.cast("uintptr_t", native)))
    params, results = abi.new("WasmEdge_Value[]", 1), abi.new("WasmEdge_Value[]", 1)
    params[0].Type = abi_lib.WasmEdge_ValTypeGenI32()
    params[0].Value.Words[0] = 21
    invoke = abi_lib.WasmEdge_ExecutorInvoke
    assert invoke(exec_abi, func_abi, params, 1, results, 1).Code == 0 and results[0].Value.I32 == 43

    def body(n):
        for _ in range(n):
            invoke(exec_abi, func_abi, params, 1, results, 1)

    return body


def package_in_abi_mode(calls: int) -> float | None:
    """ns per full ``Function.__call__`` with the package in ABI mode (a child with WASMEDGE_LIB)."""
    library = loaded_library()
    if library is None:
        return None
    code = (
        "import gc, sys, time, wasmedge_py as w\n"
        "from wasmedge_py import _ffi\n"
        "assert _ffi.MODE == 'abi', _ffi.MODE\n"
        f"i = w.Instance(w.Module.from_file({str(PLUGIN)!r})); i.call('init'); f = i.function('process')\n"
        "best = float('inf')\n"
        "for _ in range(7):\n"
        "    gc.collect(); t = time.perf_counter_ns()\n"
        f"    for _ in range({calls}): f(21)\n"
        f"    best = min(best, (time.perf_counter_ns() - t) / {calls})\n"
        "print(best)\n"
    )
    env = dict(os.environ, WASMEDGE_LIB=library, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return float(done.stdout) if done.returncode == 0 else None


def loaded_library() -> str | None:
    """The real path of the libwasmedge the extension loaded (for WASMEDGE_LIB)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        if "libwasmedge" in line:
            return line.split()[-1]
    return None


def build_helper_abi() -> Path:
    target = BUILD / "libwpy_fastcall.so"
    source = REPO / "bench" / "fastcall.c"
    if not target.exists() or source.stat().st_mtime > target.stat().st_mtime:
        subprocess.run(
            ["gcc", "-O2", "-shared", "-fPIC", f"-I{WASMEDGE_INCLUDE}", "-o", str(target), str(source), "-lwasmedge"],
            check=True,
        )
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
    process(21), process(21)  # warm: the second untimed call binds the specialised call
    call_context, native = process._calls, process._native
    executor = call_context.native_executor
    params, results = process._params, process._results
    invoke = lib.WasmEdge_ExecutorInvoke
    store(params[0], ValType.I32, 21, 0)

    rows: list[tuple[str, float]] = []
    mode = _ffi.MODE.upper()

    def loop(n):
        for _ in range(n):
            pass

    context, packed = process._context, _ffi.invoke

    def packed_invoke(n):
        for _ in range(n):
            packed(context)

    def raw(n):
        for _ in range(n):
            invoke(executor, native, params, 1, results, 1)

    def raw_pokes(n):
        words, value = params[0].Value.Words, results[0].Value
        for _ in range(n):
            words[0] = 21
            packed(context)
            value.I32

    def raw_store_load(n):
        p0, r0, i32 = params[0], results[0], ValType.I32
        for _ in range(n):
            store(p0, i32, 21, 0)
            packed(context)
            load(r0, i32)

    def invoke_method(n):
        p0, r0, i32 = params[0], results[0], ValType.I32
        for _ in range(n):
            store(p0, i32, 21, 0)
            call_context.invoke(native, params, 1, results, 1, None)
            load(r0, i32)

    specialised, args = process._call, (21,)
    assert specialised(args) == 43

    def specialised_call(n):
        for _ in range(n):
            specialised(args)

    def full(n):
        for _ in range(n):
            process(21)

    bodies = {
        "empty Python loop": loop,
        f"_ffi.invoke(context) only (args preset), {mode} mode": packed_invoke,
        f"lib.WasmEdge_ExecutorInvoke only (args preset), {mode} mode": raw,
        "lib.WasmEdge_ExecutorInvoke only (args preset), ABI mode": abi_mode_invoke(executor, native),
        "_ffi.invoke + poke param word, read result .I32": raw_pokes,
        "_ffi.invoke + values.store / values.load instead": raw_store_load,
        "CallContext.invoke + values.store / load (the timeout path's pieces)": invoke_method,
        "Function._call (specialised for (i32) -> (i32): lock, checks)": specialised_call,
        "full Function.__call__": full,
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

    rows.extend((name, seconds * 1e9) for name, seconds in interleaved_best(bodies, calls, rounds=7).items())
    abi_full = package_in_abi_mode(calls)
    if abi_full is not None:
        after_full = [name for name, _ in rows].index("full Function.__call__") + 1
        rows.insert(after_full, ("full Function.__call__, package in ABI mode (child, WASMEDGE_LIB)", abi_full))

    c_floor = BUILD / "c_floor"
    source = REPO / "bench" / "c_floor.c"
    header = REPO / "bench" / "bench_util.h"  # included by c_floor.c
    if not c_floor.exists() or max(source.stat().st_mtime, header.stat().st_mtime) > c_floor.stat().st_mtime:
        subprocess.run(
            ["gcc", "-O2", f"-I{WASMEDGE_INCLUDE}", "-o", str(c_floor), str(source), "-lwasmedge"], check=True
        )
    floor = subprocess.run([str(BUILD / "c_floor"), str(PLUGIN), str(calls), "10", "7"], capture_output=True, text=True)
    if floor.returncode == 0:
        rows.append(("C floor (bench/c_floor.c), no Python", float(floor.stdout.split()[1])))

    full_ns = dict(rows)["full Function.__call__"]
    width = max(len(name) for name, _ in rows)
    print(
        f"warm process(21), {calls} calls per run, best of 7 interleaved runs (ns per call); "
        f"package in {_ffi.MODE} mode ({_ffi.MODE_REASON})"
    )
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
