"""The one-call lifecycle (wasmedge_py/_lifecycle.py, _native/lifecycle.c): ``run_plugin`` in API
mode runs a request in one call into the extension and, at the first unhappy turn, replays it on
the Python path. The same requests -- answers, traps, timeouts, error codes, bad v2 output,
missing exports, stack exhaustion, fuel, callbacks, host_log (within and over its per-call
budget), config_get, host functions that fail, WASI stdio -- give the same answers, exceptions,
log lines, callbacks, fuel and output in API mode and in ABI mode (always the Python path), each
in a fresh interpreter."""

from __future__ import annotations

import json
import logging
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

# A v1 plugin importing env: init logs "hello", cleanup nothing; process(1) logs from outside its
# memory and process(2) reads a config key from outside it (the host function fails: a trap);
# process(3) logs "hello" 120 times first (over the budget, and no later call logs); process(x)
# then logs the value of the config key "greeting" (copied to 100) and returns its length (-1
# when there is none: an error code).
ENV_PICKY = """
(module
  (import "env" "host_log" (func $log (param i32 i32 i32)))
  (import "env" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "greeting")
  (data (i32.const 16) "hello")
  (func (export "init") (result i32) (call $log (i32.const 1) (i32.const 16) (i32.const 5)) (i32.const 0))
  (func (export "cleanup") (result i32) (i32.const 0))
  (func (export "process") (param $x i32) (result i32)
    (local $i i32)
    (if (i32.eq (local.get $x) (i32.const 3))
      (then (loop $again
        (call $log (i32.const 1) (i32.const 16) (i32.const 5))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $again (i32.lt_u (local.get $i) (i32.const 120))))))
    (if (i32.eq (local.get $x) (i32.const 1)) (then (call $log (i32.const 1) (i32.const 70000) (i32.const 10))))
    (if (i32.eq (local.get $x) (i32.const 2))
      (then (drop (call $config_get (i32.const 70000) (i32.const 8) (i32.const 0) (i32.const 0)))))
    (local.set $x (call $config_get (i32.const 0) (i32.const 8) (i32.const 100) (i32.const 64)))
    (call $log (i32.const 2) (i32.const 100) (local.get $x))
    (local.get $x)))
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
    return cases + _import_cases(wat, built_plugins)


def _import_cases(wat, built_plugins) -> list[tuple[str, object, dict, bool, bool | None]]:
    """Requests to plugins importing env (host_log, config_get) or WASI."""
    flood, env_picky, stdio = str(wat("log_flood")), str(wat(source=ENV_PICKY)), str(wat("wasi_stdio"))
    upper = str(built_plugins / "plugins" / "upper" / "upper.wasm")
    greeting = {"plugin_config": {"greeting": "hi there"}}
    cases: list[tuple[str, object, dict, bool, bool | None]] = []
    for engine in (INTERPRETER, AOT):
        cases += [
            (flood, 3, engine, True, False),
            (flood, 150, engine, True, False),  # over 100 messages in process
            (flood, -20, engine, False, False),  # over 64 KiB in process
            (upper, {"bytes": "hello, world"}, engine, True, False),
            (upper, {"bytes": ""}, engine, False, True),  # error -3 with a message
            (env_picky, 5, engine | greeting, True, False),
            (env_picky, 3, engine | greeting, False, False),  # the dropped messages said at the end
            (env_picky, 5, engine, True, True),  # no such key: error code -1, then cleanup
            (env_picky, 1, engine | greeting, False, True),  # host_log raises
            (env_picky, 2, engine | greeting, True, True),  # config_get raises
            (stdio, 7, engine | {"wasi": {}}, True, False),
            (stdio, 7, engine, False, None),  # WASI disabled: the Python path says so
        ]
    cases += [
        (flood, 150, INTERPRETER | {"fuel": 1_000_000}, False, False),
        (flood, 150, INTERPRETER | {"fuel": 500}, False, True),  # out of fuel amid the flood
        (
            stdio,
            7,
            INTERPRETER | {"wasi": {"args": ["a"], "env": {"K": "v"}, "preopens": ["/data:/tmp"]}},
            False,
            False,
        ),
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
    if "wasi" in limits:
        limits["wasi"] = w.Wasi(**limits["wasi"])
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
        [sys.executable, "-c", PROBE, json.dumps(cases)],
        env=environment,
        stdin=subprocess.DEVNULL,  # what a WASI plugin reads
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    *written, last = done.stdout.strip().splitlines()
    return json.loads(last) | {"stdout": written}  # what WASI plugins wrote


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
    assert api["stdout"] == abi["stdout"] and api["stdout"].count("hello from WASI") == 3


@api_only
def test_host_log_keeps_its_budget_per_call_in_one_native_run(wat, caplog, monkeypatch):
    """init, process and cleanup run in one call into the C, yet each has its own budget: the
    101st to 150th messages of process are dropped and said so right after them, and cleanup's
    message is shown."""
    path = wat("log_flood")
    limits = w.PluginLimits(aot=False)
    stopped = _count_stops(monkeypatch)
    with caplog.at_level(logging.INFO, "wasmedge_py.plugin"), w.load_module(path, limits) as module:
        assert w.run_plugin(path, 150, limits, module=module) == 150
    assert stopped == [False]
    lines = [record.getMessage() for record in caplog.records if record.name == "wasmedge_py.plugin.log_flood"]
    assert len(lines) == 1 + 100 + 1 + 1
    assert lines[0].endswith(f"[... {0x7FFFFFFF - 4096} more bytes not shown]")
    assert lines[101].startswith("plugin log_flood: 50 more log messages (2750 bytes) dropped")
    assert lines[102] == "plugin log_flood: cleaned up"


def _count_stops(monkeypatch) -> list[bool]:
    """Whether each native run (of the stages up to a pause) stopped, from now on."""
    stopped: list[bool] = []
    run = _lifecycle.NativeRun.run

    def counted(self, until):
        done = run(self, until)
        stopped.append(not done)
        return done

    monkeypatch.setattr(_lifecycle.NativeRun, "run", counted)
    return stopped


@api_only
def test_which_imports_the_native_lifecycle_takes(wat):
    """env and WASI (when the limits link it) are made per request; an import from elsewhere, or
    WASI that the limits do not link, is left to the Python path, which names it."""
    limits, with_wasi = w.PluginLimits(aot=False), w.PluginLimits(aot=False, wasi=w.Wasi())
    other = wat(
        source='(module (import "other" "f" (func)) (func (export "process") (param i32) (result i32) i32.const 1))'
    )
    with w.load_module(wat("v2_reverse"), limits) as reverse, w.load_module(other, limits) as elsewhere:
        assert _lifecycle.takes(reverse, limits) is not None
        assert w.run_plugin(wat("v2_reverse"), b"abc", limits, module=reverse) == b"cba"
        assert _lifecycle.takes(elsewhere, limits) is None
    with w.load_module(wat("wasi_stdio"), limits) as stdio:
        assert _lifecycle.takes(stdio, limits) is None
        assert _lifecycle.takes(stdio, with_wasi) is not None


# env.twice(x) -> 2x, called by process; a module instance needs the caller's host function.
TWICE = """
(module
  (import "env" "host_log" (func $log (param i32 i32 i32)))
  (import "env" "twice" (func $twice (param i32) (result i32)))
  (func (export "process") (param i32) (result i32) (call $twice (local.get 0))))
"""


@api_only
def test_the_callers_host_functions_run_natively_and_fail_as_on_the_python_path(wat, monkeypatch):
    path, limits = wat(source=TWICE), w.PluginLimits(aot=False)
    twice = w.host_function(["i32"], ["i32"], name="twice")(lambda caller, x: 2 * x if x < 100 else 1 // 0)
    stopped = _count_stops(monkeypatch)
    failures = []
    with w.load_module(path, limits) as module:
        assert w.run_plugin(path, 21, limits, module=module, host_functions=[twice]) == 42
        for native in (True, False):
            monkeypatch.setattr(_lifecycle, "NATIVE", native)
            with pytest.raises(w.PluginStepError) as caught:
                w.run_plugin(path, 100, limits, module=module, host_functions=[twice])
            failures.append((str(caught.value), str(caught.value.__cause__), type(caught.value.__cause__.__cause__)))
        monkeypatch.setattr(_lifecycle, "NATIVE", True)
        with pytest.raises(w.PluginStepError, match="unknown import env.twice"):
            w.run_plugin(path, 21, limits, module=module)  # the C cannot instantiate: the Python path says why
    assert stopped == [False, True]
    assert failures[0] == failures[1]
    assert "host function twice raised ZeroDivisionError" in failures[0][1]
    assert failures[0][2] is ZeroDivisionError


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
