"""The plugin runtime: the original Go runtime suite, ported, plus the ABI v1 rules.

Runs the C++ plugins built by `make plugins` and small WAT plugins for the edge cases."""

from __future__ import annotations

import pytest

import wasmedge_py as w
from wasmedge_py import load_plugin


@pytest.fixture(scope="session")
def abi_path(built_plugins):
    return str(built_plugins / "cpp" / "plugin_abi.wasm")


@pytest.fixture(scope="session")
def simple_path(built_plugins):
    return str(built_plugins / "cpp" / "plugin.wasm")


@pytest.fixture
def abi_plugin(abi_path):
    with load_plugin(abi_path) as plugin:
        yield plugin


def lifecycle_plugin(
    wat, *, version=None, init=0, cleanup=0, process="local.get 0 i32.const 2 i32.mul i32.const 1 i32.add"
):
    """A WAT plugin whose init/cleanup return fixed codes; ``version`` adds get_abi_version."""
    version_export = (
        f'(func (export "get_abi_version") (result i32) i32.const {version})' if version is not None else ""
    )
    return wat(
        source=f"""(module {version_export}
          (func (export "init") (result i32) i32.const {init})
          (func (export "cleanup") (result i32) i32.const {cleanup})
          (func (export "process") (param i32) (result i32) {process}))"""
    )


# -- the original runtime suite ---------------------------------------------------------------


def test_load_missing_file(tmp_path):
    missing = tmp_path / "missing.wasm"
    with pytest.raises(w.PluginLoadError, match="plugin file not found") as info:
        load_plugin(missing)
    assert str(missing) in str(info.value)


def test_load_file_that_is_not_wasm(tmp_path):
    bogus = tmp_path / "bogus.wasm"
    bogus.write_text("this is not webassembly")
    with pytest.raises(w.PluginLoadError, match="failed to load WASM file") as info:
        load_plugin(bogus)
    assert "magic header not detected" in str(info.value)
    assert isinstance(info.value.__cause__, w.LoadError)


def test_validation_failure_is_reported_with_the_path(wat):
    path = wat(source='(module (func (export "process") (param i32) (result i32) i64.const 1))', check=False)
    with pytest.raises(w.PluginLoadError, match="failed to validate WASM file") as info:
        load_plugin(path)
    assert str(path) in str(info.value) and "type mismatch" in str(info.value)


def test_instantiation_failure_is_reported_with_the_path(wat):
    path = wat(
        source='(module (import "env" "f" (func)) (func (export "process") (param i32) (result i32) local.get 0))'
    )
    with pytest.raises(w.PluginLoadError, match="failed to instantiate plugin") as info:
        load_plugin(path)
    assert "unknown import" in str(info.value) and str(path) in str(info.value)


def test_closed_plugin_refuses_everything(abi_path):
    plugin = load_plugin(abi_path)
    plugin.close()
    plugin.close()  # harmless
    for call in (plugin.init, lambda: plugin.execute(1), plugin.cleanup):
        with pytest.raises(w.PluginClosedError, match="plugin is closed"):
            call()


@pytest.mark.parametrize("x, expected", [(21, 43), (10, 21), (50, 101), (0, 1)])
def test_execute_after_init(abi_plugin, x, expected):
    abi_plugin.init()
    assert abi_plugin.execute(x) == expected


def test_several_calls_in_a_row(abi_plugin):
    abi_plugin.init()
    assert [abi_plugin.execute(x) for x in range(5)] == [1, 3, 5, 7, 9]
    assert abi_plugin.call_count == 5


def test_execute_before_init_fails(abi_plugin):
    with pytest.raises(w.PluginCodeError, match="ABI_ERROR_NOT_INITIALIZED") as info:
        abi_plugin.execute(21)
    assert info.value.code == -1


def test_negative_code_names_the_abi_error(abi_plugin):
    abi_plugin.init()
    with pytest.raises(w.PluginCodeError, match=r"process\(\) returned error code -3: ABI_ERROR_INVALID_INPUT") as info:
        abi_plugin.execute(-5)
    assert (info.value.code, info.value.code_name) == (-3, "ABI_ERROR_INVALID_INPUT")
    with pytest.raises(w.PluginCodeError, match="error code -4: ABI_ERROR_INTERNAL"):
        abi_plugin.execute(2**30 + 5)  # 2x+1 overflows i32


def test_cleanup_without_init_fails(abi_plugin):
    with pytest.raises(w.PluginCodeError, match="error code -1"):
        abi_plugin.cleanup()


def test_plugin_keeps_its_path(abi_path):
    with load_plugin(abi_path) as plugin:
        assert plugin.path == abi_path


# -- ABI v1 rules -------------------------------------------------------------------------------


def test_abi_plugin_reports_version_and_diagnostics(abi_plugin):
    assert abi_plugin.abi_version == "v1.0.0"
    assert {"get_abi_version", "init", "process", "cleanup", "get_call_count", "is_initialized"} <= abi_plugin.exports
    assert not abi_plugin.is_initialized
    abi_plugin.init()
    assert abi_plugin.is_initialized
    abi_plugin.execute(1)
    assert abi_plugin.call_count == 1
    abi_plugin.cleanup()
    assert not abi_plugin.is_initialized and abi_plugin.call_count == 0
    abi_plugin.init()  # can start again after cleanup
    assert abi_plugin.execute(21) == 43


def test_init_twice_is_already_initialized(abi_plugin):
    abi_plugin.init()
    with pytest.raises(w.PluginCodeError, match="ABI_ERROR_ALREADY_INITIALIZED"):
        abi_plugin.init()


def test_simple_plugin_needs_no_lifecycle(simple_path):
    with load_plugin(simple_path) as plugin:
        assert plugin.exports == {"process"}
        assert not plugin.has_lifecycle and plugin.abi_version is None
        assert plugin.execute(21) == 43  # no init needed
        plugin.init()  # accepted and harmless
        plugin.cleanup()
        with pytest.raises(w.PluginCodeError, match="error code -9: ABI_ERROR_UNKNOWN"):
            plugin.execute(-5)  # negative results are error codes for every plugin (ABI.md)


def test_incompatible_major_version_is_refused(wat):
    with pytest.raises(w.PluginABIError, match=r"ABI version v3\.0\.0; this host supports v1\.x and v2\.x"):
        load_plugin(lifecycle_plugin(wat, version=30000))
    with pytest.raises(w.PluginABIError, match="v0.9.0"):
        load_plugin(lifecycle_plugin(wat, version=900))


def test_compatible_minor_version_is_accepted(wat):
    with load_plugin(lifecycle_plugin(wat, version=10203)) as plugin:
        assert plugin.abi_version == "v1.2.3"


def test_init_failure_raises(wat):
    with load_plugin(lifecycle_plugin(wat, init=-4)) as plugin:
        with pytest.raises(w.PluginCodeError, match=r"init\(\) returned error code -4: ABI_ERROR_INTERNAL"):
            plugin.init()
        assert not plugin.is_initialized


def test_cleanup_failure_raises(wat):
    with load_plugin(lifecycle_plugin(wat, cleanup=-2)) as plugin:
        plugin.init()
        with pytest.raises(w.PluginCodeError, match=r"cleanup\(\) returned error code -2"):
            plugin.cleanup()


def test_trap_in_process_is_a_trap_error(wat):
    with load_plugin(lifecycle_plugin(wat, process="unreachable")) as plugin:
        plugin.init()
        with pytest.raises(w.TrapError, match="unreachable"):
            plugin.execute(1)


def test_missing_process_is_a_load_error_naming_it(wat):
    path = wat(source='(module (func (export "init") (result i32) i32.const 0))')
    with pytest.raises(w.PluginABIError, match="does not export the required function process"):
        load_plugin(path)


def test_wrong_process_signature_is_refused(wat):
    path = wat(source='(module (func (export "process") (param i64) (result i32) i32.const 0))')
    with pytest.raises(
        w.PluginABIError, match=r"process has signature \(i64\) -> \(i32\), expected \(i32\) -> \(i32\)"
    ):
        load_plugin(path)


def test_two_instances_of_one_file_are_isolated(abi_path):
    with load_plugin(abi_path) as a, load_plugin(abi_path) as b:
        a.init()
        a.execute(1)
        a.execute(2)
        assert a.call_count == 2 and a.is_initialized
        assert b.call_count == 0 and not b.is_initialized
        with pytest.raises(w.PluginCodeError, match="ABI_ERROR_NOT_INITIALIZED"):
            b.execute(1)


def test_plugins_from_one_cached_module_are_isolated(abi_path):
    with w.Module.from_file(abi_path) as module:
        with load_plugin(abi_path, module=module) as a, load_plugin(abi_path, module=module) as b:
            a.init()
            assert a.execute(3) == 7 and not b.is_initialized
        assert not module.closed  # plugins built from a shared module leave it to its owner
