"""Host functions: typed Python callables linked into an instance; their exceptions become traps."""

from __future__ import annotations

import pytest

import wasmedge_py as w
from wasmedge_py import HostModule, host_function

GUEST = """(module
  (import "env" "add" (func $add (param i32 i32) (result i32)))
  (import "env" "scale" (func $scale (param i64 f64) (result f64 i64)))
  (import "env" "shout" (func $shout (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "quiet")
  (func (export "add") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))
  (func (export "scale") (param i64 f64) (result f64 i64) (call $scale (local.get 0) (local.get 1)))
  (func (export "shout") (result i32) (call $shout (i32.const 16) (i32.const 5)) (i32.load8_u (i32.const 16))))"""


@pytest.fixture
def env():
    calls = []

    @host_function(params=["i32", "i32"], results=["i32"])
    def add(caller, a, b):
        calls.append((a, b))
        if a == 13:
            raise RuntimeError("unlucky number")
        if a == 14:
            return "not an int"
        return a + b

    @host_function(params=["i64", "f64"], results=["f64", "i64"])
    def scale(caller, n, factor):
        return n * factor, -n

    @host_function(params=["i32", "i32"])
    def shout(caller, ptr, length):
        caller.write(ptr, caller.read(ptr, length).upper())

    return HostModule("env", [add, scale, shout]), calls


@pytest.fixture
def guest(wat):
    with w.Module.from_file(wat(source=GUEST)) as module:
        yield module


def test_host_functions_are_called_with_typed_values(guest, env):
    host, calls = env
    with w.Instance(guest, host_modules=[host]) as instance:
        assert instance.call("add", 2, 40) == 42
        assert calls == [(2, 40)]
        assert instance.call("scale", -(2**40), 0.5) == (-(2**39), 2**40)


def test_host_function_can_read_and_write_guest_memory(guest, env):
    with w.Instance(guest, host_modules=[env[0]]) as instance:
        assert instance.call("shout") == ord("Q")
        assert instance.memory().read(16, 5) == b"QUIET"


@pytest.mark.parametrize("timeout", [None, 1.0])
def test_exception_in_host_function_becomes_a_trap(guest, env, timeout):
    with w.Instance(guest, host_modules=[env[0]]) as instance:
        add = instance.function("add")
        with pytest.raises(w.HostFunctionError, match="host function add raised RuntimeError: unlucky number") as info:
            add(13, 1, timeout=timeout)
        assert isinstance(info.value, w.TrapError)
        assert isinstance(info.value.__cause__, RuntimeError)
        assert add(1, 1, timeout=timeout) == 2  # the instance carries on


def test_bad_return_value_is_a_host_function_error(guest, env):
    with w.Instance(guest, host_modules=[env[0]]) as instance:
        with pytest.raises(w.HostFunctionError, match="must be an int"):
            instance.call("add", 14, 0)


def test_missing_host_function_is_named(guest, env):
    partial = HostModule("env", [f for f in env[0].functions if f.name != "scale"])
    with pytest.raises(w.InstantiationError, match=r"unknown import env\.scale \(\(i64, f64\) -> \(f64, i64\)\)"):
        w.Instance(guest, host_modules=[partial])


def test_instances_get_their_own_host_state(guest, env):
    with w.Instance(guest, host_modules=[env[0]]) as a, w.Instance(guest, host_modules=[env[0]]) as b:
        with pytest.raises(w.HostFunctionError):
            a.call("add", 13, 0)
        assert b.call("add", 1, 2) == 3  # b never sees a's pending error
