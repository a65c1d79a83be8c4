"""The native watchdog (wasmedge_py/_native/watchdog.c): in API mode a thread of the extension
stops timed calls, armed and disarmed in C around the call, with the Python Watchdog's rules
(repeat until disarmed, nested calls, clamped deadlines); ABI mode keeps the Python Watchdog and
gives the same results and errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time

import pytest

import wasmedge_py as w
from wasmedge_py import _ffi
from wasmedge_py._checks import MAX_TIMEOUT_S
from wasmedge_py.executor import NO_WATCHDOG, WATCHDOG

SYSTEM_LIBRARY = "/usr/lib/x86_64-linux-gnu/libwasmedge.so.0"
INTERRUPTED = 0x07
api_only = pytest.mark.skipif(_ffi.MODE != "api", reason="the native watchdog is part of the compiled extension")


@api_only
def test_the_c_constants_are_the_pythons():
    assert _ffi.lib.WPY_MAX_TIMEOUT_S == MAX_TIMEOUT_S
    assert _ffi.lib.WPY_NO_WATCHDOG == NO_WATCHDOG


@api_only
def test_a_runaway_is_stopped_by_the_native_watchdog_within_10_ms_of_its_deadline(wat):
    """(Interruptible AOT code with deadline checks is stopped by them instead: test_aot_interruption.)"""
    python_armed_before = len(WATCHDOG._armed)
    with w.Module.from_file(wat("spin")) as module, w.Instance(module) as instance:
        spin = instance.function("spin")
        overshoots = []
        for _ in range(5):  # the best of five: a loaded machine only ever delays a stop
            sent = _ffi.lib.wpy_watchdog_stops_sent()
            started = time.perf_counter()
            with pytest.raises(w.Interrupted, match="timed out after 30 ms"):
                spin(timeout=0.03)
            overshoots.append(time.perf_counter() - started - 0.03)
            assert _ffi.lib.wpy_watchdog_stops_sent() > sent  # the C thread stopped it
        assert 0 <= min(overshoots) < 0.010, overshoots
        assert instance.function("count")(1000, timeout=1.0) == 1000  # the stop did not linger
    assert len(WATCHDOG._armed) == python_armed_before  # the Python watchdog was not involved


@api_only
def test_many_arms_and_disarms_from_many_threads_leave_nothing_armed(wat):
    module = w.Module.from_file(wat("spin"))
    errors: list[BaseException] = []

    def calls() -> None:
        try:
            with w.Instance(module) as instance:
                count = instance.function("count")
                for i in range(5000):
                    assert count(i % 7, timeout=1.0) == max(i % 7, 1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=calls) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert _ffi.lib.wpy_watchdog_armed() == 0
    with w.Instance(module) as instance, pytest.raises(w.Interrupted):  # and it still stops a runaway
        instance.function("spin")(timeout=0.02)
    module.close()


@api_only
@pytest.mark.parametrize("timeout", [-1.0, 0.0, math.nan, math.inf, 1e300])
def test_deadlines_out_of_range_are_clamped_in_c(wat, timeout):
    """The public API refuses these; the C entry point clamps what gets past (as Watchdog.arm):
    below 0 to 0 (stopped at once), nan and above MAX_TIMEOUT_S to the maximum."""
    with w.Module.from_file(wat("spin")) as module, w.Instance(module) as instance:
        spin, count = instance.function("spin"), instance.function("count")
        if timeout <= 0:
            assert _ffi.lib.wpy_invoke_timed(spin._packed_context(), timeout) == INTERRUPTED
        else:
            count._params[0].Value.I32 = 10
            assert _ffi.lib.wpy_invoke_timed(count._packed_context(), timeout) == 0
            assert count._results[0].Value.I32 == 10
        assert _ffi.lib.wpy_watchdog_armed() == 0
        assert count(5, timeout=1.0) == 5  # no stop lingers


# The same calls in API and ABI mode (a fresh interpreter each): results, exception types and
# messages, through the general (first) and the bound (later) call paths.
PROBE = """
import json, sys
import wasmedge_py as w
from wasmedge_py import _ffi
out = {"mode": _ffi.MODE}
with w.Module.from_file(sys.argv[1], max_stack_bytes=1 << 20, sandbox=True) as module, w.Instance(module) as instance:
    for name, args, timeout in [("count", (1000,), 1.0), ("spin", (), 0.05), ("runaway", (), 1.0), ("fib", (20,), 1.0)]:
        outcomes = []
        for _ in range(3):
            try:
                outcomes.append(["ok", instance.function(name)(*args, timeout=timeout)])
            except w.WasmEdgeError as exc:
                outcomes.append([type(exc).__name__, str(exc)])
        out[name] = outcomes
print(json.dumps(out))
"""


def _probe(module_path, **env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k != "WASMEDGE_LIB"} | env
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(module_path)], env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not os.path.exists(SYSTEM_LIBRARY), reason="libwasmedge0 is not installed where Debian puts it")
def test_timed_calls_give_the_same_results_and_errors_in_api_and_abi_mode(wat):
    api = _probe(wat("spin"))
    abi = _probe(wat("spin"), WASMEDGE_LIB=SYSTEM_LIBRARY)
    assert abi.pop("mode") == "abi"
    api_mode = api.pop("mode")
    assert api == abi, (api_mode, api, abi)
    assert api["spin"][0][0] == "Interrupted" and api["runaway"][0][0] == "StackExhausted"
    assert api["fib"] == [["ok", 6765]] * 3
