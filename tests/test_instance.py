"""Instance: isolation, export lookup, instantiation errors, and handle ownership."""

from __future__ import annotations

import pytest

import wasmedge_py as w
from wasmedge_py._handle import free_collected


@pytest.fixture
def module(wat):
    with w.Module.from_file(wat("unit_pure")) as module:
        yield module


def test_two_instances_share_nothing(module):
    with w.Instance(module) as a, w.Instance(module) as b:
        a.call("store", 64, 1234)
        assert a.call("bump") == 1 and a.call("bump") == 2
        assert b.call("load", 64) == 0
        assert b.call("bump") == 1
        assert a.memory().read(64, 4) == (1234).to_bytes(4, "little")
        assert b.memory().read(64, 4) == bytes(4)


def test_unknown_import_fails_at_instantiation_naming_it(wat):
    with w.Module.from_file(wat("unit_basics")) as module:
        with pytest.raises(w.InstantiationError, match=r"unknown import env\.host_add \(\(i32, i32\) -> \(i32\)\)"):
            w.Instance(module)


def test_missing_export_is_a_clear_error(module):
    with w.Instance(module) as instance:
        with pytest.raises(w.ExportNotFoundError, match="does not export a function named 'nope'"):
            instance.function("nope")
        with pytest.raises(KeyError):  # also catchable as a lookup failure
            instance.function("nope")
        with pytest.raises(w.ExportNotFoundError):
            instance.memory("nope")


def test_trap_raises_trap_error_with_engine_message(module):
    with w.Instance(module) as instance:
        with pytest.raises(w.TrapError, match="unreachable"):
            instance.call("boom")
        with pytest.raises(w.TrapError, match="integer divide by zero") as info:
            instance.call("div", 1, 0)
        assert info.value.engine_message == "integer divide by zero"
        assert instance.call("div", 7, 2) == 3  # the instance survives a trap


def test_memory_access_is_bounds_checked(module):
    with w.Instance(module) as instance:
        memory = instance.memory()
        assert memory.pages == 1
        with pytest.raises(w.TrapError, match="out of bounds memory access"):
            instance.call("load", 65536)
        with pytest.raises(w.TrapError):
            memory.read(65530, 100)
        assert instance.call("grow", 1) == 1 and memory.pages == 2
        assert instance.call("grow", 10) == -1  # the module's own maximum is 4 pages


def test_config_caps_memory_pages(wat):
    with w.Config(max_memory_pages=2) as config, w.Module.from_file(wat("unit_pure"), config) as module:
        with w.Instance(module) as instance:
            assert instance.call("grow", 1) == 1
            assert instance.call("grow", 1) == -1


def test_memory_declared_above_the_cap_is_refused_not_clamped(wat):
    # WasmEdge would silently clamp the memory to the cap and let the module trap later.
    path = wat(source='(module (memory (export "memory") 100))')
    with w.Config(max_memory_pages=10) as config, w.Module.from_file(path, config) as module:
        with pytest.raises(w.InstantiationError, match="declares 100 pages of memory but the limit is 10"):
            w.Instance(module)
    with w.Module.from_file(path) as module, w.Instance(module) as instance:
        assert instance.memory().pages == 100


def test_use_after_close_raises_and_close_is_idempotent(module):
    instance = w.Instance(module)
    add = instance.function("add_i32")
    instance.close()
    instance.close()
    with pytest.raises(w.ClosedError, match="instance is closed"):
        add(1, 2)
    with pytest.raises(w.ClosedError):
        instance.function("add_i32")


def test_module_closed_under_a_live_instance_stays_usable(wat):
    module = w.Module.from_file(wat("unit_pure"))
    instance = w.Instance(module)
    module.close()  # deferred: the instance still runs code from it
    assert module.closed
    assert instance.call("add_i32", 2, 3) == 5
    assert module._owned.ptr is not None
    instance.close()  # the last dependant lets go: now the module is freed
    assert module._owned.ptr is None


def test_finalizer_frees_what_was_never_closed(wat):
    module = w.Module.from_file(wat("unit_pure"))
    owned = module._owned
    instance = w.Instance(module)
    instance_owned = instance._owned
    del instance, module
    assert free_collected()  # the finalizers hand both to the reaper thread, which frees them
    assert instance_owned.ptr is None and owned.ptr is None


def test_instruction_counting_and_cost(wat):
    config = w.Config(instruction_counting=True, cost_measuring=True)
    with w.Module.from_file(wat("unit_pure"), config) as module, w.Instance(module) as instance:
        instance.call("add_i32", 1, 2)
        assert instance.instruction_count > 0
        assert instance.total_cost > 0


def test_cost_limit_stops_a_call(wat):
    loop = wat(source="""(module (func (export "spin") (loop $l (br $l))))""")
    config = w.Config(cost_measuring=True)
    with w.Module.from_file(loop, config) as module, w.Instance(module, fuel=10_000) as instance:
        with pytest.raises(w.CostLimitExceeded, match="cost limit exceeded"):
            instance.call("spin")
        with pytest.raises(w.CostLimitExceeded):
            instance.call("spin")


def test_fuel_is_a_budget_per_call(wat):
    count = wat(
        source="""(module (func (export "count") (param i32) (local i32)
        (loop $l (local.set 1 (i32.add (local.get 1) (i32.const 1)))
                 (br_if $l (i32.lt_s (local.get 1) (local.get 0))))))"""
    )
    with w.Config(cost_measuring=True) as config, w.Module.from_file(count, config) as module:
        with w.Instance(module, fuel=50_000) as instance:
            for _ in range(20):  # each call fits the budget; together they would not
                instance.call("count", 1_000)
            with pytest.raises(w.CostLimitExceeded):
                instance.call("count", 1_000_000)
            instance.call("count", 1_000)  # and the next call gets a fresh budget
        with pytest.raises(ValueError, match="cost_measuring"):
            w.Instance(w.Module.from_file(count), fuel=10)


WASI_HELLO = """(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "env_count") (result i32) (drop (call $env_sizes (i32.const 0) (i32.const 4))) (i32.load (i32.const 0))))"""


def test_wasi_is_off_by_default(wat):
    with w.Module.from_file(wat(source=WASI_HELLO)) as module:
        with pytest.raises(
            w.InstantiationError, match=r"imports WASI \(wasi_snapshot_preview1.fd_write\) but WASI is disabled"
        ):
            w.Instance(module)


def test_wasi_when_enabled_sees_only_what_is_configured(wat):
    with w.Module.from_file(wat(source=WASI_HELLO)) as module:
        with w.Instance(module, wasi=w.Wasi()) as instance:
            assert instance.call("env_count") == 0  # nothing inherited from the host
        with w.Instance(module, wasi=w.Wasi(env={"A": "1", "B": "2"})) as instance:
            assert instance.call("env_count") == 2


def test_reactor_initializer_runs_once_like_the_cli(wat):
    path = wat(
        source="""(module (global $ready (mut i32) (i32.const 0))
        (func (export "_initialize") global.get $ready i32.const 1 i32.add global.set $ready)
        (func (export "ready") (result i32) global.get $ready))"""
    )
    with w.Module.from_file(path) as module:
        with w.Instance(module) as instance:
            assert instance.call("ready") == 1
        with w.Instance(module, run_initializer=False) as instance:
            assert instance.call("ready") == 0


def test_trapping_initializer_fails_instantiation(wat):
    path = wat(source='(module (func (export "_initialize") unreachable))')
    with w.Module.from_file(path) as module:
        with pytest.raises(w.TrapError, match="unreachable"):
            w.Instance(module)
