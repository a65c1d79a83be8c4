"""Per-module facts behind the lean per-request lifecycle: what is read once per Module (and when
a get_abi_version result may be read instead of called) must not change what a plugin sees."""

from __future__ import annotations

import logging

import pytest

import wasmedge_py as w
from wasmedge_py import load_module, load_plugin
from wasmedge_py._binary import constant_i32_exports
from wasmedge_py.plugin import _FACTS
from wasmedge_py.sandbox import RESET_EXPORT

INTERPRETED = w.PluginLimits(aot=False)


def plugin_source(version_body: str, *, extra: str = "") -> str:
    return f"""(module
      (global $calls (mut i32) (i32.const 0))
      (func (export "get_abi_version") (result i32) {version_body})
      (func (export "process") (param i32) (result i32) local.get 0)
      (func (export "get_call_count") (result i32) global.get $calls)
      {extra})"""


# -- reading constants from the binary --------------------------------------------------------


def test_constant_bodies_are_read_and_others_are_not(wat):
    path = wat(
        source="""(module
          (import "env" "f" (func))
          (func $ten (result i32) i32.const 10000)
          (export "get_abi_version" (func $ten))
          (export "also_ten" (func $ten))
          (func (export "negative") (result i32) i32.const -3)
          (func (export "big") (result i32) i32.const 2147483647)
          (func (export "with_local") (result i32) (local i32) i32.const 1)
          (func (export "two_steps") (result i32) i32.const 1 i32.const 2 i32.add)
          (func (export "from_global") (result i32) global.get 0)
          (func (export "wide") (result i64) i64.const 5)
          (global i32 (i32.const 7)))"""
    )
    assert constant_i32_exports(path.read_bytes()) == {
        "get_abi_version": 10000,
        "also_ten": 10000,
        "negative": -3,
        "big": 2147483647,
    }


@pytest.mark.parametrize(
    "data", [b"", b"\0asm\x01\0\0\0", b"not wasm at all", b"\0asm\x01\0\0\0\x0a\x05\x01\x03\x00\x41"]
)
def test_anything_unexpected_means_no_constants(data):
    assert constant_i32_exports(data) == {}


def test_the_repos_plugins_have_constant_versions(built_plugins):
    abi = load_module(built_plugins / "cpp" / "plugin_abi.wasm", INTERPRETED)
    upper = load_module(built_plugins / "plugins" / "upper" / "upper.wasm", INTERPRETED)
    with abi, upper:
        assert abi.constant_results.get("get_abi_version") == 10000
        assert upper.constant_results.get("get_abi_version") == 20000


def test_compiled_modules_take_their_constants_from_the_binary(wat, tmp_path):
    wasm = wat(source=plugin_source("i32.const 10100")).read_bytes()
    so = tmp_path / "p.so"
    w.compile_module(wasm, so)
    with w.Module.from_compiled(so) as without, w.Module.from_compiled(so, wasm=wasm) as with_binary:
        assert without.constant_results == {}
        assert with_binary.constant_results == {"get_abi_version": 10100}


# -- ABI negotiation ---------------------------------------------------------------------------


def test_a_constant_version_is_read_without_calling_it(wat):
    module = load_module(wat(source=plugin_source("i32.const 10203")), INTERPRETED)
    with module:
        for _ in range(2):
            with load_plugin("p.wasm", INTERPRETED, module=module) as plugin:
                assert plugin.abi_version == "v1.2.3" and plugin.abi_major == 1
                assert "get_abi_version" not in plugin._instance._functions  # never looked up


def test_an_unsupported_constant_version_is_refused_on_every_load(wat):
    module = load_module(wat(source=plugin_source("i32.const 30000")), INTERPRETED)
    with module:
        for _ in range(2):
            with pytest.raises(w.PluginABIError, match=r"reports ABI version v3\.0\.0; this host supports"):
                load_plugin("p.wasm", INTERPRETED, module=module)
    with load_module(wat(source=plugin_source("i32.const -1")), INTERPRETED) as negative:
        with pytest.raises(w.PluginABIError, match="reports ABI version -1;"):
            load_plugin("p.wasm", INTERPRETED, module=negative)


def test_a_version_with_side_effects_is_called_in_every_instance(wat):
    body = "global.get $calls i32.const 1 i32.add global.set $calls i32.const 10000"
    module = load_module(wat(source=plugin_source(body)), INTERPRETED)
    with module:
        assert "get_abi_version" not in module.constant_results
        for _ in range(3):  # a fresh instance each time, and each one was asked once
            with load_plugin("p.wasm", INTERPRETED, module=module) as plugin:
                assert plugin.abi_version == "v1.0.0" and plugin.call_count == 1


def test_a_trapping_version_is_refused_with_the_same_error_every_time(wat):
    module = load_module(wat(source=plugin_source("unreachable")), INTERPRETED)
    with module:
        messages = set()
        for _ in range(2):
            with pytest.raises(w.PluginABIError) as info:
                load_plugin("p.wasm", INTERPRETED, module=module)
            messages.add(str(info.value))
    assert messages == {"plugin p.wasm: get_abi_version failed: get_abi_version() failed: unreachable"}


def test_a_runaway_version_is_still_time_limited(wat):
    limits = w.PluginLimits(aot=False, timeout_ms=50)
    module = load_module(wat(source=plugin_source("(loop br 0) i32.const 10000")), limits)
    with module, pytest.raises(w.PluginABIError, match=r"get_abi_version\(\) timed out after 50 ms"):
        load_plugin("p.wasm", limits, module=module)


@pytest.mark.parametrize("aot", [False, True])
def test_a_fuel_budget_too_small_for_the_call_still_fails_it(wat, aot):
    path = wat(source=plugin_source("i32.const 10000"))
    for fuel, works in ((1, False), (2, True)):
        limits = w.PluginLimits(aot=aot, fuel=fuel)
        if works:
            with load_plugin(path, limits) as plugin:
                assert plugin.abi_version == "v1.0.0"
        else:
            with pytest.raises(w.PluginABIError, match="cost limit exceeded"):
                load_plugin(path, limits)


# -- facts made once per module ----------------------------------------------------------------


def test_export_checks_are_made_once_per_module_and_still_name_each_path(wat):
    bad = wat(source='(module (func (export "process") (param i64) (result i64) local.get 0))')
    module = load_module(bad, INTERPRETED)
    with module:
        for path in ("a.wasm", "b.wasm"):
            with pytest.raises(
                w.PluginABIError, match=rf"plugin {path}: export process has signature \(i64\) -> \(i64\), expected"
            ):
                load_plugin(path, INTERPRETED, module=module)
        assert module in _FACTS  # the runtime keeps the checks, per Module


def test_host_log_is_linked_per_instance_and_logs_under_the_plugins_name(built_plugins, caplog):
    path = str(built_plugins / "plugins" / "upper" / "upper.wasm")
    module = load_module(path, INTERPRETED)
    with module, caplog.at_level(logging.INFO, logger="wasmedge_py.plugin.upper"):
        for text in (b"ab", b"cde"):
            with load_plugin(path, INTERPRETED, module=module) as plugin:
                assert plugin.name == "upper" and plugin.logger.name == "wasmedge_py.plugin.upper"
                assert plugin.call_bytes(text) == text.upper()
    assert [r.getMessage() for r in caplog.records if r.name == "wasmedge_py.plugin.upper"] == [
        "plugin upper: upper: 2 bytes",
        "plugin upper: upper: 3 bytes",
    ]


def test_the_stack_guard_reset_is_looked_up_only_when_a_call_fails(wat):
    source = """(module
      (func $down (param i32) (result i32) local.get 0 call $down)
      (func (export "recurse") (param i32) (result i32) local.get 0 call $down)
      (func (export "ok") (result i32) i32.const 1))"""
    with w.Module.from_file(wat(source=source), max_stack_bytes=64 * 1024) as module, w.Instance(module) as instance:
        assert instance.function("ok")() == 1
        assert RESET_EXPORT not in instance._functions
        with pytest.raises(w.StackExhausted, match="call stack exhausted"):
            instance.function("recurse")(1)
        assert instance.function("ok")() == 1  # the guard was re-armed


def test_initializers_are_a_module_fact(wat):
    reactor = wat(
        source="""(module (global $g (mut i32) (i32.const 0))
          (func (export "_initialize") i32.const 5 global.set $g)
          (func (export "get") (result i32) global.get $g))"""
    )
    with w.Module.from_file(reactor) as module:
        assert module.initializers == ("_initialize",)
        with w.Instance(module) as ran, w.Instance(module, run_initializer=False) as skipped:
            assert ran.call("get") == 5 and skipped.call("get") == 0
