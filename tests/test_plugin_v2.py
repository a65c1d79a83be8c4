"""ABI v2 through the runtime: bytes and JSON in and out, bounds checks, messages, logging, and
v1 and v2 plugins side by side."""

from __future__ import annotations

import logging
import os

import pytest

import wasmedge_py as w
from wasmedge_py import PluginLimits, host_function, load_plugin
from wasmedge_py.plugin import PluginOutputError


@pytest.fixture
def reverse(wat):
    with load_plugin(wat("v2_reverse")) as plugin:
        yield plugin


def test_v2_is_negotiated(reverse):
    assert reverse.abi_major == 2 and reverse.abi_version == "v2.0.0"
    assert {"alloc", "dealloc", "process_bytes"} <= reverse.exports


def test_bytes_round_trip(reverse):
    assert reverse.call_bytes(b"hello") == b"olleh"
    assert reverse.call_bytes(bytes(range(256))) == bytes(reversed(range(256)))
    assert reverse.call_count == 2


def test_one_mebibyte_payload(reverse):
    payload = b"a" + os.urandom((1 << 20) - 1)  # '!' or '#' first would make v2_reverse lie (its bounds tests)
    for _ in range(3):  # and memory is reused, not grown per call
        assert reverse.call_bytes(payload) == payload[::-1]


def test_json_round_trip_and_non_json_output(reverse):
    assert reverse.call_json(1) == 1
    assert reverse.call_json("ab") == "ba"
    with pytest.raises(PluginOutputError, match="not valid JSON"):
        reverse.call_json([1, 2])  # "[1,2]" reversed is "]2,1["


def test_error_code_carries_the_plugins_message(reverse):
    with pytest.raises(w.PluginCodeError, match=r"error code -3: ABI_ERROR_INVALID_INPUT: empty input") as info:
        reverse.call_bytes(b"")
    assert info.value.code == -3


@pytest.mark.parametrize("payload, message", [(b"!x", "outside its memory"), (b"#x", "over the output limit")])
def test_lying_plugin_gets_a_clear_error(reverse, payload, message):
    with pytest.raises(w.PluginABIError, match=message):
        reverse.call_bytes(payload)
    assert reverse.call_bytes(b"ok") == b"ko"  # and the plugin still works


def test_output_is_capped(wat):
    with load_plugin(wat("v2_reverse"), PluginLimits(max_output_bytes=1000)) as plugin:
        assert plugin.call_bytes(b"x" * 1000) == b"x" * 1000
        with pytest.raises(w.PluginABIError, match="over the output limit of 1000"):
            plugin.call_bytes(b"x" * 1001)


def test_input_larger_than_memory_cap_fails_cleanly(wat):
    with load_plugin(wat("v2_reverse"), PluginLimits(max_memory_pages=4)) as plugin:
        with pytest.raises(w.PluginCodeError, match=r"alloc\(\d+\) failed"):
            plugin.call_bytes(b"y" * (300 * 1024))
        assert plugin.call_bytes(b"fine") == b"enif"


def test_host_log_lands_in_logging(reverse, caplog):
    with caplog.at_level(logging.INFO, logger="wasmedge_py.plugin.v2_reverse"):
        reverse.call_bytes(b"abc")
    assert [r.getMessage() for r in caplog.records] == ["plugin v2_reverse: reversing"]


def test_v1_and_v2_side_by_side(reverse, built_plugins):
    with load_plugin(built_plugins / "cpp" / "plugin_abi.wasm") as v1:
        v1.init()
        assert v1.abi_major == 1 and v1.execute(21) == 43
        with pytest.raises(w.PluginABIError, match="call_bytes needs an ABI v2 plugin"):
            v1.call_bytes(b"x")
    with pytest.raises(w.PluginABIError, match="exports no process"):
        reverse.execute(1)


def test_v2_without_required_exports_is_refused(wat):
    path = wat(
        source="""(module (memory (export "memory") 1)
        (func (export "get_abi_version") (result i32) (i32.const 20100))
        (func (export "process_bytes") (param i32 i32) (result i64) (i64.const 0)))"""
    )
    with pytest.raises(w.PluginABIError, match="speaks ABI v2 but does not export alloc, dealloc"):
        load_plugin(path)


def test_user_host_functions_are_linked(wat):
    path = wat(
        source="""(module (import "env" "triple" (func $t (param i32) (result i32)))
        (func (export "process") (param i32) (result i32) (call $t (local.get 0))))"""
    )

    @host_function(params=["i32"], results=["i32"])
    def triple(caller, x):
        if x == 0:
            raise ValueError("zero is not allowed")
        return 3 * x

    with load_plugin(path, host_functions=[triple]) as plugin:
        assert plugin.execute(7) == 21
        with pytest.raises(w.HostFunctionError, match="host function triple raised ValueError: zero is not allowed"):
            plugin.execute(0)
