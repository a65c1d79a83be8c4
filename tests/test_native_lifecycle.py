"""The one-call lifecycle (wasmedge_py/_lifecycle.py, _native/lifecycle.c): ``run_plugin`` in API
mode runs a request in one call into the extension and, at the first unhappy turn, replays it on
the Python path. The same requests -- answers, traps, timeouts, error codes, bad v2 output,
missing exports, stack exhaustion, fuel, callbacks -- give the same answers, exceptions, log
lines, callbacks and fuel in API mode and in ABI mode (always the Python path), each in a fresh
interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import wasmedge_py as w
from wasmedge_py import _ffi, _lifecycle

SYSTEM_LIBRARY = "/usr/lib/x86_64-linux-gnu/libwasmedge.so.0"
api_only = pytest.mark.skipif(_ffi.MODE != "api", reason="the one-call lifecycle is part of the compiled extension")

# A v2 plugin without imports (so it runs natively) whose input's first byte picks its answer:
# "o" or "{" a buffer outside its memory, "b" or "[" the text [1,2 (not JSON), "n" (JSON null)
# error -3 with a message, "t" (JSON true) a trap, "e" an empty answer, "x" 2000 bytes; anything
# else 42. alloc(7) fails (returns 0).
V2_PICKY = """
(module
  (memory (export "memory") 1)
  (data (i32.const 100) "42")
  (data (i32.const 110) "[1,2")
  (data (i32.const 120) "no way")
  (func (export "get_abi_version") (result i32) (i32.const 20000))
  (func (export "init") (result i32) (i32.const 0))
  (func (export "cleanup") (result i32) (i32.const 0))
  (func (export "alloc") (param $n i32) (result i32)
    (if (result i32) (i32.eq (local.get $n) (i32.const 7)) (then (i32.const 0)) (else (i32.const 1024))))
  (func (export "dealloc") (param i32 i32))
  (func (export "get_error_message") (result i64) (call $pack (i32.const 120) (i32.const 6)))
  (func $pack (param $p i32) (param $l i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $l))))
  (func $is (param $c i32) (param $a i32) (param $b i32) (result i32)
    (i32.or (i32.eq (local.get $c) (local.get $a)) (i32.eq (local.get $c) (local.get $b))))
  (func (export "process_bytes") (param $ptr i32) (param $len i32) (result i64)
    (local $c i32)
    (local.set $c (i32.load8_u (local.get $ptr)))
    (if (call $is (local.get $c) (i32.const 0x6f) (i32.const 0x7b))
      (then (return (call $pack (i32.const 65000) (i32.const 1000)))))
    (if (call $is (local.get $c) (i32.const 0x62) (i32.const 0x5b))
      (then (return (call $pack (i32.const 110) (i32.const 4)))))
    (if (i32.eq (local.get $c) (i32.const 0x6e)) (then (return (i64.const -3))))
    (if (i32.eq (local.get $c) (i32.const 0x74)) (then (unreachable)))
    (if (i32.eq (local.get $c) (i32.const 0x65)) (then (return (i64.const 0))))
    (if (i32.eq (local.get $c) (i32.const 0x78)) (then (return (call $pack (i32.const 100) (i32.const 2000)))))
    (call $pack (i32.const 100) (i32.const 2))))
"""

# Each case: (module, input, limits as PluginLimits keywords, callbacks, how it runs in API mode:
# False natively to the end, True natively until the C stops and Python replays, None on the
# Python path alone). An input {"bytes": text} is passed as bytes.
INTERPRETER = {"aot": False}
AOT = {}  # the defaults: AOT, 1000 ms


def _cases(wat, built_plugins) -> list[tuple[str, object, dict, bool, bool | None]]:
    plugin_abi = str(built_plugins / "cpp" / "plugin_abi.wasm")
    picky = str(wat(source=V2_PICKY))
    cases: list[tuple[str, object, dict, bool, bool | None]] = []
    for engine in (INTERPRETER, AOT):
        cases += [
            (plugin_abi, 21, engine, False, False),
            (plugin_abi, 21, engine, True, False),
            (plugin_abi, "not a number", engine, False, None),
            (str(wat("hostile/runaway_loop")), 1, engine | {"timeout_ms": 50}, True, True),
            (str(wat("hostile/deep_recursion")), 1, engine | {"max_stack_bytes": 64 * 1024}, False, True),
            (str(wat("cleanup_traps")), 1, engine, True, True),
            (picky, "fine", engine, True, False),
            (picky, None, engine, False, True),
            (picky, True, engine, True, True),
        ]
    for name, value, stops in [
        ("trap", 1, True),
        ("negative_code", -1, True),
        ("negative_code", 77, True),
        ("init_fails", 1, True),
        ("init_traps", 1, True),
        ("cleanup_fails", 1, True),
        ("no_process", 1, None),
        ("abi_v9", 1, None),
        ("loop_abi_version", 1, None),
        ("hostile/division_by_zero", 0, True),
        ("hostile/process_without_init", 1, False),
    ]:
        cases.append((str(wat(name)), value, INTERPRETER, False, stops))
    cases += [
        (str(wat("loop_cleanup")), 5, INTERPRETER | {"timeout_ms": 50}, True, True),
        (str(wat("loop_initialize")), 5, INTERPRETER | {"timeout_ms": 50}, False, True),
        (str(wat("hostile/runaway_loop")), 1, INTERPRETER | {"fuel": 100_000}, False, True),
        (plugin_abi, 21, INTERPRETER | {"fuel": 100_000}, True, False),
        (str(wat("cleanup_traps")), 1, INTERPRETER | {"fuel": 100_000, "max_stack_bytes": 64 * 1024}, False, True),
        (picky, {"bytes": ""}, INTERPRETER | {"fuel": 100_000}, False, False),
        (picky, {"bytes": "e"}, INTERPRETER, False, False),
        (picky, {"bytes": "o"}, INTERPRETER, False, True),
        (picky, {"bytes": "b"}, INTERPRETER, True, False),
        (picky, {"bytes": "x"}, INTERPRETER | {"max_output_bytes": 1000}, False, True),
        (picky, {"bytes": "x"}, INTERPRETER, False, False),
        (picky, {"bytes": "zzzzzzz"}, INTERPRETER, False, True),
        (picky, {"bytes": "t"}, INTERPRETER | {"fuel": 100_000}, False, True),
        (picky, [1], INTERPRETER, True, False),  # the C's run is fine; Python replays for the bad JSON
        (picky, {"a": 1}, INTERPRETER, False, True),
    ]
    return cases


PROBE = """
import json, logging, sys
import wasmedge_py as w
from wasmedge_py import _ffi, _lifecycle
from wasmedge_py.runtime import RunUsage

logs = []
class Collect(logging.Handler):
    def emit(self, record):
        logs.append(f"{record.levelname} {record.name}: {record.getMessage()}")
logging.getLogger().addHandler(Collect())
logging.getLogger().setLevel(logging.DEBUG)
stops = []
if _lifecycle.NATIVE:
    original = _lifecycle.NativeRun.run
    def counted(self, until):
        done = original(self, until)
        stops.append(not done)
        return done
    _lifecycle.NativeRun.run = counted

def chain(exc):
    found = []
    while exc is not None:
        found.append([type(exc).__name__, str(exc), getattr(exc, "step", None), getattr(exc, "code", None),
                      getattr(exc, "__notes__", None)])
        exc = exc.__cause__
    return found

out = {"mode": _ffi.MODE, "results": []}
modules = {}
for path, value, limits, callbacks, _ in json.loads(sys.argv[1]):
    if isinstance(value, dict) and list(value) == ["bytes"]:
        value = value["bytes"].encode()
    limits = w.PluginLimits(**limits)
    events, usage = [], RunUsage()
    logs.clear(); stops.clear()
    try:
        key = (path, repr(limits))
        if key not in modules:
            modules[key] = w.load_module(path, limits)
        kwargs = {"on_step": events.append, "on_answer": lambda o, e: events.append(["answer", o, repr(e)])} if callbacks else {}
        outcome = ["ok", w.run_plugin(path, value, limits, module=modules[key], usage=usage, **kwargs)]
    except w.WasmEdgeError as exc:
        outcome = chain(exc)
    out["results"].append({"outcome": outcome, "events": events, "logs": list(logs), "fuel": usage.fuel_used,
                           "cpu": usage.cpu_seconds > 0, "stops": list(stops)})
print(json.dumps(out, default=lambda data: data.decode("latin-1")))  # bytes answers
"""


def _probe(cases: list, **env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k != "WASMEDGE_LIB"} | env
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(cases)], env=environment, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@api_only
@pytest.mark.skipif(not os.path.exists(SYSTEM_LIBRARY), reason="libwasmedge0 is not installed where Debian puts it")
def test_requests_give_the_same_outcomes_natively_and_on_the_python_path(wat, built_plugins):
    cases = _cases(wat, built_plugins)
    api = _probe(cases)
    abi = _probe(cases, WASMEDGE_LIB=SYSTEM_LIBRARY)
    assert (api["mode"], abi["mode"]) == ("api", "abi")
    for case, native, python in zip(cases, api["results"], abi["results"]):
        stops = native.pop("stops")
        assert python.pop("stops") == []
        assert native == python, case
        if case[4] is None:
            assert stops == [], case
        else:
            assert stops and stops[-1] == case[4], (case, stops)
    assert api["results"][0]["outcome"] == ["ok", 43]


@api_only
def test_a_module_with_imports_takes_the_python_path(wat):
    limits = w.PluginLimits(aot=False)
    with w.load_module(wat("v2_reverse"), limits) as module:
        assert _lifecycle.takes(module, limits) is None
        assert w.run_plugin(wat("v2_reverse"), b"abc", limits, module=module) == b"cba"


@api_only
def test_a_replay_that_diverges_from_the_journal_is_an_internal_error(wat, monkeypatch):
    """The replay checks that each replayed call is the one the C made (here every recorded call
    names another function)."""
    path = wat("cleanup_traps")  # the C stops at cleanup: init and process are replayed
    limits = w.PluginLimits(aot=False)
    original = _lifecycle._journal
    monkeypatch.setattr(_lifecycle, "_journal", lambda state: [(f + 8, *rest) for f, *rest in original(state)])
    with w.load_module(path, limits) as module, pytest.raises(RuntimeError, match="replay diverged"):
        w.run_plugin(path, 1, limits, module=module)
