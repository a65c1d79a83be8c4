"""Pooled executors and deadlines without a thread per call (executor.py), on the real engine."""

from __future__ import annotations

import time

import pytest

import wasmedge_py as w
from wasmedge_py.compiler import AotCache, CompileOptions, load_aot

from test_compiler import SPIN as SOURCE  # spin() runs away, count(n) loops n times


@pytest.fixture(params=["interpreter", "aot"])
def module(request, wat, tmp_path):
    wasm = wat(source=SOURCE).read_bytes()
    if request.param == "interpreter":
        module = w.Module.from_bytes(wasm)
    else:
        module = load_aot(wasm, options=CompileOptions(interruptible=True), cache=AotCache(tmp_path / "aot"))
    with module:
        yield module


def test_a_runaway_call_is_stopped_at_its_deadline_and_the_instance_goes_on(module):
    with w.Instance(module) as instance:
        started = time.perf_counter()
        with pytest.raises(w.Interrupted, match="timed out after 50 ms"):
            instance.function("spin")(timeout=0.05)
        assert 0.05 <= time.perf_counter() - started < 1.0
        assert instance.function("count")(1000, timeout=1.0) == 1000
        assert instance.call("count", 10) == 10


def test_a_stop_that_lands_after_the_call_never_reaches_the_next_one(module):
    # Deadlines about as long as the call: many fire just after it has returned. Each call must
    # either finish with the right answer or be interrupted, and the call after it must never see
    # a stale stop.
    outcomes = set()
    with w.Instance(module) as instance:
        count = instance.function("count")
        for i in range(3000):
            try:
                outcomes.add(count(2000, timeout=2e-6 * (i % 20 + 1)) == 2000)
            except w.Interrupted:
                outcomes.add("interrupted")
            assert instance.call("count", 5) == 5
    assert outcomes <= {True, "interrupted"}


def test_instances_reuse_the_pooled_executor(module):
    with w.Instance(module) as first:
        executor = int(w.ffi.cast("uintptr_t", first._executor))
    for _ in range(5):
        with w.Instance(module) as later:
            assert int(w.ffi.cast("uintptr_t", later._executor)) == executor
    with w.Instance(module) as a, w.Instance(module) as b:  # alive at once: never shared
        assert a._executor != b._executor


def test_a_reused_executor_starts_with_fresh_statistics(wat):
    config = w.Config(cost_measuring=True, instruction_counting=True)
    with config, w.Module.from_bytes(wat(source=SOURCE).read_bytes(), config) as module:
        with w.Instance(module, fuel=10_000) as spent:
            with pytest.raises(w.CostLimitExceeded):
                spent.call("count", 1_000_000)
            executor = spent._executor
        with w.Instance(module) as unlimited:  # same executor, no budget of its own
            assert unlimited._executor == executor
            assert unlimited.instruction_count == 0
            assert unlimited.call("count", 100_000) == 100_000
        with w.Instance(module, fuel=10_000) as budgeted:  # a whole budget again
            assert budgeted.call("count", 100) == 100
            with pytest.raises(w.CostLimitExceeded):
                budgeted.call("count", 1_000_000)


def test_closing_the_config_frees_idle_executors_and_later_instances_still_work(wat):
    config = w.Config()
    module = w.Module.from_bytes(wat(source=SOURCE).read_bytes(), config)
    with w.Instance(module) as instance:
        assert instance.call("count", 3) == 3
    assert len(config.executor_pool(False)._idle) == 1
    config.close()
    assert config._pools[False]._idle == []
    module.close()
