"""Pooled executors and deadlines without a thread per call (executor.py), on the real engine."""

from __future__ import annotations

import time

import pytest

import wasmedge_py as w
from wasmedge_py import host_function
from wasmedge_py.compiler import AotCache, CompileOptions, load_aot
from wasmedge_py.executor import pool_for


def load(wasm: bytes, engine: str, tmp_path) -> w.Module:
    """``wasm`` in the interpreter or as interruptible AOT code."""
    if engine == "interpreter":
        return w.Module.from_bytes(wasm)
    return load_aot(wasm, options=CompileOptions(interruptible=True), cache=AotCache(tmp_path / "aot"))


@pytest.fixture(params=["interpreter", "aot"])
def module(request, wat, tmp_path):
    with load(wat("spin").read_bytes(), request.param, tmp_path) as module:
        yield module


def test_a_runaway_call_is_stopped_at_its_deadline_and_the_instance_goes_on(module):
    with w.Instance(module) as instance:
        started = time.perf_counter()
        with pytest.raises(w.Interrupted, match="timed out after 50 ms"):
            instance.function("spin")(timeout=0.05)
        assert 0.05 <= time.perf_counter() - started < 1.0
        assert instance.function("count")(1000, timeout=1.0) == 1000
        assert instance.call("count", 10) == 10


@host_function(params=["i32"], results=["i32"], name="pause")
def _pause(_caller, ms: int) -> int:
    time.sleep(ms / 1000)  # releases the GIL: the watchdog fires meanwhile
    return ms


@pytest.mark.parametrize("engine", ["interpreter", "aot"])
def test_a_stop_that_lands_after_the_call_never_reaches_the_next_one(wat, tmp_path, engine):
    """The late-stop case, made certain rather than left to a race: the call sleeps in a host
    function ten times past its deadline, so the watchdog fires while it runs; back in wasm it
    returns without passing a loop or call, where the engine would look at the stop. The call
    thus ends normally with the stop still set (executor.py consumes it); the next call must not
    see it."""
    with (
        load(wat("late_stop").read_bytes(), engine, tmp_path) as module,
        w.Instance(module, host_modules=[w.HostModule("env", [_pause])]) as instance,
    ):
        for _ in range(3):
            started = time.perf_counter()
            assert instance.function("pause_then_return")(50, timeout=0.005) == 50
            assert time.perf_counter() - started >= 0.05  # outlived its deadline: the stop was sent
            assert instance.call("count", 5) == 5


def test_instances_reuse_the_pooled_executor(module):
    with w.Instance(module) as first:
        executor = int(w.ffi.cast("uintptr_t", first._calls.native_executor))
    for _ in range(5):
        with w.Instance(module) as later:
            assert int(w.ffi.cast("uintptr_t", later._calls.native_executor)) == executor
    with w.Instance(module) as a, w.Instance(module) as b:  # alive at once: never shared
        assert a._calls.native_executor != b._calls.native_executor


def test_a_reused_executor_starts_with_fresh_statistics(wat):
    config = w.Config(cost_measuring=True, instruction_counting=True)
    with config, w.Module.from_bytes(wat("spin").read_bytes(), config) as module:
        with w.Instance(module, fuel=10_000) as spent:
            with pytest.raises(w.CostLimitExceeded):
                spent.call("count", 1_000_000)
            executor = spent._calls.native_executor
        with w.Instance(module) as unlimited:  # same executor, no budget of its own
            assert unlimited._calls.native_executor == executor
            assert unlimited.instruction_count == 0
            assert unlimited.call("count", 100_000) == 100_000
        with w.Instance(module, fuel=10_000) as budgeted:  # a whole budget again
            assert budgeted.call("count", 100) == 100
            with pytest.raises(w.CostLimitExceeded):
                budgeted.call("count", 1_000_000)


def test_closing_the_config_frees_idle_executors_and_later_instances_still_work(wat):
    config = w.Config()
    module = w.Module.from_bytes(wat("spin").read_bytes(), config)
    with w.Instance(module) as instance:
        assert instance.call("count", 3) == 3
    pool = pool_for(config._ptr, False)
    assert len(pool._idle) == 1
    config.close()
    assert pool._idle == []
    module.close()
