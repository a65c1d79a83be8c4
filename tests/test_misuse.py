"""The binding used carelessly or with hostile intent (issue: hardening the binding): bad
arguments, deadlines past the OS clock, a Caller kept past its call, an instance closed from
inside its own host function, a damaged AOT cache entry. Whatever can crash the process on
failure runs in a child process, so a regression is a failed test, not a dead test run."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
import threading
import time

import pytest

import wasmedge_py as w
from server.settings import Settings, SettingsError
from wasmedge_py.compiler import AotCache, CompileOptions, load_aot
from wasmedge_py.executor import WATCHDOG

HOST = """
(module
  (import "env" "cb" (func $cb (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "go") (param i32) (result i32) (call $cb (local.get 0)))
  (func (export "id") (param i32) (result i32) (local.get 0))
  (func (export "spin") (loop $l (br $l))))
"""

BAD_TIMEOUTS = [
    (1e10, w.ValueRangeError),
    (math.inf, w.ValueRangeError),
    (math.nan, w.ValueRangeError),
    (-1, w.ValueRangeError),
    (0, w.ValueRangeError),
    (2**1000, w.ValueRangeError),
    ("x", w.ArgumentError),
    (True, w.ArgumentError),
    ([], w.ArgumentError),
]


def host_env(callback):
    return w.HostModule("env", [w.host_function(params=["i32"], results=["i32"], name="cb")(callback)])


@pytest.fixture
def host_module(wat):
    with w.Module.from_file(wat(source=HOST)) as module:
        yield module


def stops_a_runaway_within(instance: w.Instance, timeout: float = 0.3) -> float:
    started = time.monotonic()
    with pytest.raises(w.Interrupted):
        instance.function("spin")(timeout=timeout)
    return time.monotonic() - started


def run_child(code: str, wasm_path) -> str:
    """Run ``code`` in a fresh interpreter with ``module`` loaded from ``wasm_path``; a crash
    (signal) or any uncaught exception fails the test with the child's output."""
    prelude = (
        "import threading, wasmedge_py as w\n"
        f"module = w.Module.from_file({str(wasm_path)!r})\n"
        "def env(cb):\n"
        "    return w.HostModule('env', [w.host_function(params=['i32'], results=['i32'], name='cb')(cb)])\n"
    )
    done = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"child exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


# -- 1. deadlines ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad, error", BAD_TIMEOUTS, ids=repr)
@pytest.mark.slow
def test_a_bad_timeout_is_refused_and_a_later_timeout_still_stops_a_loop(host_module, bad, error):
    with w.Instance(host_module, host_modules=[host_env(lambda _c, x: x)]) as instance:
        with pytest.raises(error, match="timeout must be None .no limit. or"):
            instance.function("spin")(timeout=bad)
        with pytest.raises(error, match="init_timeout"):
            w.Instance(host_module, host_modules=[host_env(lambda _c, x: x)], init_timeout=bad)
        assert stops_a_runaway_within(instance) < 2.0


@pytest.mark.parametrize("timeout_ms", [10_000_000_000_000, -1, 0, 1.5, "x", True])
def test_plugin_limits_and_server_flags_refuse_the_same_timeouts(timeout_ms):
    with pytest.raises((w.ArgumentError, w.ValueRangeError), match="timeout_ms must be None .no limit. or"):
        w.PluginLimits(timeout_ms=timeout_ms)
    with pytest.raises(SettingsError, match="WASMEDGE_PY_TIMEOUT_MS"):
        Settings.resolve(environ={"WASMEDGE_PY_TIMEOUT_MS": str(timeout_ms)})


def test_the_watchdog_survives_an_error_and_any_deadline(host_module):
    # A stop handle that is not one makes the cancel itself raise inside the watchdog thread;
    # a deadline beyond the OS clock once killed it with OverflowError.
    tokens = [WATCHDOG.arm(object(), 0.0), WATCHDOG.arm(w.ffi.NULL, 1e300), WATCHDOG.arm(w.ffi.NULL, math.nan)]
    time.sleep(0.1)
    try:
        assert WATCHDOG._thread.is_alive()
        with w.Instance(host_module, host_modules=[host_env(lambda _c, x: x)]) as instance:
            assert stops_a_runaway_within(instance) < 2.0
    finally:
        for token in tokens:
            WATCHDOG.disarm(token)


# -- 2. a Caller outlives its call ----------------------------------------------------------------


def test_a_caller_kept_past_its_call_refuses_to_touch_memory(wat):
    out = run_child(
        "kept = []\n"
        "def cb(caller, x):\n"
        "    kept.append(caller)\n"
        "    caller.write(0, b'during')\n"
        "    return x + 1\n"
        "instance = w.Instance(module, host_modules=[env(cb)])\n"
        "assert instance.call('go', 1) == 2\n"
        "assert instance.memory().read(0, 6) == b'during'\n"
        "for use in (lambda: kept[0].read(0, 65536), lambda: kept[0].write(0, b'x' * 65536)):\n"
        "    try:\n"
        "        use()\n"
        "    except w.ClosedError as exc:\n"
        "        print('refused:', exc)\n"
        "instance.close()\n"
        "for use in (lambda: kept[0].read(0, 65536), lambda: kept[0].write(0, b'x' * 65536)):\n"
        "    try:\n"
        "        use()\n"
        "    except w.ClosedError as exc:\n"
        "        print('refused:', exc)\n",
        wat(source=HOST),
    )
    assert out.count("refused: this Caller is only valid during the host function call") == 4


# -- 3. closing an instance under its own call ----------------------------------------------------


def test_an_instance_closed_from_its_own_host_function_is_freed_after_the_call(wat):
    out = run_child(
        "box = []\n"
        "def cb(caller, x):\n"
        "    box[0].close()\n"
        "    caller.read(0, 4)\n"  # the call is still running: its memory is still there
        "    return x\n"
        "for round in range(200):\n"
        "    box[:] = [w.Instance(module, host_modules=[env(cb)])]\n"
        "    try:\n"
        "        box[0].call('go', 1)\n"
        "    except w.ClosedError as exc:\n"
        "        message = str(exc)\n"
        "    assert box[0].closed\n"
        "    try:\n"
        "        box[0].call('id', 1)\n"
        "    except w.ClosedError:\n"
        "        pass\n"
        "print(message)\n"
        "with w.Instance(module, host_modules=[env(lambda c, x: x + 1)]) as fresh:\n"
        "    print('fresh', fresh.call('go', 41))\n",
        wat(source=HOST),
    )
    assert "instance was closed while go() ran; the call was stopped" in out
    assert "fresh 42" in out


def test_a_nested_call_that_closes_the_instance_unwinds_both_calls(wat):
    out = run_child(
        "box, seen = [], []\n"
        "def cb(caller, x):\n"
        "    if x == 0:\n"
        "        box[0].close()\n"
        "        return 0\n"
        "    try:\n"
        "        return box[0].call('go', x - 1)\n"  # calls back into the same instance
        "    except w.ClosedError as exc:\n"
        "        seen.append(str(exc))\n"
        "        return 7\n"  # swallowing it does not let the outer call go on
        "box.append(w.Instance(module, host_modules=[env(cb)]))\n"
        "try:\n"
        "    box[0].call('go', 3)\n"
        "except w.ClosedError as exc:\n"
        "    print('outer:', exc)\n"
        "print('inner:', seen)\n",
        wat(source=HOST),
    )
    assert "outer: instance was closed while go() ran" in out
    assert "inner: ['instance was closed while go() ran" in out


def test_closing_from_another_thread_waits_for_the_running_call(wat):
    entered, release = threading.Event(), threading.Event()

    def cb(caller, x):
        entered.set()
        release.wait(5)
        caller.write(0, b"late")  # still this call's memory: the close has not happened
        return x + 1

    config = w.Config()
    module = w.Module.from_file(wat(source=HOST), config)
    instance = w.Instance(module, host_modules=[host_env(cb)])
    result = []
    caller_thread = threading.Thread(target=lambda: result.append(instance.call("go", 1)))
    caller_thread.start()
    assert entered.wait(5)
    # The config and the module go at once (only marked closed: the instance retains them) ...
    for closed_at_once in (config, module):
        closer = threading.Thread(target=closed_at_once.close)
        closer.start()
        closer.join(5)
        assert not closer.is_alive() and closed_at_once.closed
    assert config._owned.ptr is not None and module._owned.ptr is not None
    # ... the instance waits for its call.
    closer = threading.Thread(target=instance.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()
    release.set()
    caller_thread.join(5)
    closer.join(5)
    assert result == [2] and instance.closed
    assert config._owned.ptr is None and module._owned.ptr is None  # freed with the last user


# -- 4. bad arguments: refused before any native call, nothing retained ---------------------------


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def test_ten_thousand_refusals_leave_nothing_behind(wat):
    config = w.Config(cost_measuring=True)
    with (
        config,
        w.Module.from_file(wat(source=HOST), config) as module,
        w.Instance(module, host_modules=[host_env(lambda _c, x: x)]) as instance,
    ):
        refusals = [
            (lambda: w.Instance(module, fuel=-1), w.ValueRangeError),
            (lambda: w.Instance(module, fuel=2**64), w.ValueRangeError),
            (lambda: w.Instance(module, fuel=1.5), w.ArgumentError),
            (lambda: w.Instance(module, host_modules="env"), w.ArgumentError),
            (lambda: w.Instance(module, wasi=True), w.ArgumentError),
            (lambda: instance.function(None), w.ArgumentError),
            (lambda: instance.memory(3), w.ArgumentError),
            (lambda: instance.function("id")(1, timeout="x"), w.ArgumentError),
            (lambda: instance.memory().write(0, 5), w.ArgumentError),
        ]
        for refuse, error in refusals:  # warm up allocator and caches
            with pytest.raises(error):
                refuse()
        references, rss = sys.getrefcount(module), _rss()
        for _ in range(10_000 // len(refusals) + 1):
            for refuse, error in refusals:
                try:
                    refuse()
                except error:
                    pass
        assert sys.getrefcount(module) == references
        assert module._owned.retained == 1  # the one live instance
        assert _rss() - rss < 2 << 20, "RSS grew by more than 2 MiB over 10,000 refusals"
        assert instance.call("id", 5) == 5


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda m: w.Instance("not a module"), "module must be a Module, not str"),
        (lambda m: w.Instance(m, fuel=-1), r"fuel must be None \(no limit\) or in 1..18446744073709551614, got -1"),
        (lambda m: w.Instance(m, run_initializer=None), "run_initializer must be True or False"),
        (lambda m: w.Instance(m, config="cfg"), "config must be a Config or None, not str"),
        (lambda m: w.PluginLimits(fuel=0), r"fuel must be None \(no limit\) or in 1..18446744073709551614, got 0"),
        (lambda m: w.PluginLimits(max_memory_pages=0), "max_memory_pages must be in 1..65536, got 0"),
        (lambda m: w.PluginLimits(aot="yes"), "aot must be True or False, not str"),
        (
            lambda m: w.Instance(m, host_modules=[host_env(lambda c, x: x)]).function("\udcff"),
            "name must be valid UTF-8",
        ),
        (lambda m: w.Instance(m, host_modules=[host_env(lambda c, x: x)]).memory("a\0b"), "name must not contain NUL"),
        (lambda m: w.host_function(params=["i33"]), r"params must hold value types \(i32, i64, f32, f64\)"),
        (
            lambda m: w.HostModule("env", [print]),
            "functions item must be a HostFunction, not builtin_function_or_method",
        ),
        (lambda m: w.Wasi(args="ab"), "args must be a list of str, not str"),
        (lambda m: w.Config(max_memory_pages=0), "max_memory_pages must be in 1..65536, got 0"),
        (lambda m: w.Module.from_bytes("(module)"), "data must be bytes, bytearray or memoryview, not str"),
    ],
)
def test_refusals_name_the_argument_and_its_range(host_module, make, message):
    with pytest.raises((w.ArgumentError, w.ValueRangeError), match=message):
        make(host_module)


@pytest.mark.parametrize(
    "value, error",
    [
        (math.nan, w.ValueRangeError),
        (math.inf, w.ValueRangeError),
        (object(), w.ArgumentError),
        ({1j: 2}, w.ArgumentError),
    ],
    ids=repr,
)
def test_call_json_refuses_what_json_cannot_say(built_plugins, value, error):
    with w.load_plugin(built_plugins / "plugins" / "upper" / "upper.wasm", w.PluginLimits(aot=False)) as plugin:
        plugin.init()
        with pytest.raises(error, match="call_json: the value"):
            plugin.call_json(value)
        assert plugin.call_json("ok") == "OK"


# -- 5. a damaged AOT cache entry is the cache's fault, not the plugin's --------------------------


@pytest.mark.slow
def test_an_entry_that_matches_its_sidecar_but_does_not_load_is_rebuilt(wat, tmp_path):
    wasm = wat("unit_pure").read_bytes()
    cache = AotCache(tmp_path / "aot")
    options = CompileOptions(interruptible=True)
    with load_aot(wasm, options=options, cache=cache):
        pass
    entry = next(cache.directory.glob("*.so"))
    garbage = b"this is not a shared object" * 100
    entry.write_bytes(garbage)
    sidecar = entry.with_suffix(".json")
    facts = json.loads(sidecar.read_text())
    facts.update(size=len(garbage), sha256=hashlib.sha256(garbage).hexdigest())
    sidecar.write_text(json.dumps(facts))

    fresh = AotCache(cache.directory)  # a new process: it trusts the matching sidecar
    with load_aot(wasm, options=options, cache=fresh) as module, w.Instance(module) as instance:
        assert module.engine == "aot"
        assert instance.call("add_i32", 2, 3) == 5
    assert fresh.compiles == 1
    assert entry.read_bytes() != garbage


def test_a_plugin_closed_from_its_own_host_function(wat):
    plugin_wat = wat(
        source="""
    (module
      (import "env" "cb" (func $cb (param i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "process") (param i32) (result i32) (call $cb (local.get 0))))
    """
    )
    out = run_child(
        "box = []\n"
        "@w.host_function(params=['i32'], results=['i32'])\n"
        "def cb(caller, x):\n"
        "    box[0].close()\n"
        "    return x\n"
        f"box.append(w.load_plugin({str(plugin_wat)!r}, w.PluginLimits(aot=False), host_functions=[cb]))\n"
        "try:\n"
        "    box[0].execute(1)\n"
        "except w.ClosedError as exc:\n"
        "    print('stopped:', exc)\n"
        "print('closed:', box[0].closed)\n"
        "try:\n"
        "    box[0].execute(1)\n"
        "except w.PluginClosedError as exc:\n"
        "    print('after:', exc)\n",
        wat(source=HOST),
    )
    assert "stopped: instance was closed while process() ran" in out
    assert "closed: True" in out and "after: plugin is closed" in out


# -- found by the API fuzzer -----------------------------------------------------------------------

SPIN_HOST = """
(module
  (import "env" "cb" (func $cb (param i32) (result i32)))
  (func (export "spin_host") (param i32) (loop $l (drop (call $cb (local.get 0))) (br $l)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))
"""


@pytest.mark.parametrize("nested_timeout", [None, 0.05])
def test_a_nested_call_cannot_swallow_the_outer_calls_deadline(wat, nested_timeout):
    # The outer deadline passes inside a host function, whose nested call on the same instance
    # (same executor) takes the stop; the host function swallows it. The outer call must still
    # stop: the watchdog keeps stopping an expired call until it returns.
    out = run_child(
        "import time\n"
        "first = []\n"
        "def cb(caller, x):\n"
        "    if not first:\n"
        "        first.append(1)\n"
        "        time.sleep(0.05)\n"
        "        try:\n"
        f"            instance.function('add')(1, 2, timeout={nested_timeout!r})\n"
        "        except w.Interrupted as exc:\n"
        "            print('nested stopped:', exc)\n"
        "    return x\n"
        "instance = w.Instance(module, host_modules=[env(cb)])\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    instance.function('spin_host')(0, timeout=0.01)\n"
        "except w.Interrupted as exc:\n"
        "    print('outer stopped after', round(time.monotonic() - started, 2), exc)\n"
        "assert instance.call('add', 2, 3) == 5\n"  # no stale stop left behind
        "print('next call ok')\n",
        wat(source=SPIN_HOST),
    )
    assert "outer stopped after" in out and "next call ok" in out
    seconds = float(out.split("outer stopped after ")[1].split()[0])
    assert seconds < 1.0


@pytest.mark.slow
def test_the_process_exits_cleanly_with_a_call_running_on_a_daemon_thread(wat):
    # At exit, finalizers must not free an instance under a running call, and a daemon thread
    # must not be ended inside a host function (C++ frames on its stack).
    for body in ("x", "x + 1"):
        run_child(
            "import time\n"
            f"instance = w.Instance(module, host_modules=[env(lambda caller, x: {body})])\n"
            "threading.Thread(target=lambda: instance.function('spin_host')(1, timeout=5), daemon=True).start()\n"
            "untimed = w.Instance(module, host_modules=[env(lambda caller, x: x)])\n"
            "threading.Thread(target=lambda: untimed.function('spin_host')(1), daemon=True).start()\n"
            "time.sleep(0.2)\n",
            wat(source=SPIN_HOST),
        )
