"""Per-plugin configuration: plugin.toml's [config] table, read by plugins through env.config_get
(from C with wp_config_get / wp_config_read, from C++ with wp::config_get, and raw from WAT),
within its limits; a plugin that does not import config_get is never offered it."""

from __future__ import annotations

import pytest

import wasmedge_py as w
import wasmedge_py.plugin as plugin_module
from wasmedge_py import ManifestError, PluginLimits, load_plugin
from wasmedge_py.plugin_config import MAX_CONFIG_KEY_BYTES, MAX_CONFIG_KEYS, MAX_CONFIG_VALUE_BYTES

CONFIG = {"greeting": "hello, world", "empty": "", "unicode": "grüße ✓", "big": "x" * MAX_CONFIG_VALUE_BYTES}


@pytest.fixture(params=["config_c", "config_cpp"])
def sdk_plugin(request, built_sdk_plugins):
    with load_plugin(built_sdk_plugins[request.param], PluginLimits(plugin_config=CONFIG)) as plugin:
        yield plugin


@pytest.mark.parametrize("key", sorted(CONFIG))
def test_sdk_plugins_read_their_config(sdk_plugin, key):
    assert sdk_plugin.call_bytes(key.encode()) == CONFIG[key].encode()


def test_sdk_plugins_get_not_found_for_a_missing_key(sdk_plugin):
    with pytest.raises(w.PluginCodeError, match="ABI_ERROR_INVALID_INPUT: config key not found: missing"):
        sdk_plugin.call_bytes(b"missing")


def test_c_read_reports_the_whole_length_and_copies_what_fits(built_sdk_plugins):
    with load_plugin(built_sdk_plugins["config_c"], PluginLimits(plugin_config=CONFIG)) as plugin:
        assert plugin.call_bytes(b"peek:greeting") == b"12:hell"  # 4-byte buffer
        assert plugin.call_bytes(b"peek:empty") == b"0:"


def test_config_comes_from_plugin_toml(built_sdk_plugins, tmp_path):
    manifest = tmp_path / "plugin.toml"
    manifest.write_text('timeout_ms = 300\n[config]\ngreeting = "from the manifest"\n')
    limits = PluginLimits().with_manifest(manifest)
    assert dict(limits.plugin_config) == {"greeting": "from the manifest"}
    assert limits.to_dict()["config_keys"] == ["greeting"]
    with load_plugin(built_sdk_plugins["config_cpp"], limits) as plugin:
        assert plugin.call_bytes(b"greeting") == b"from the manifest"


@pytest.mark.parametrize(
    "table, message",
    [
        ("config = 'x'", "config must be a table of strings"),
        ("[config]\nport = 8080", "config.port must be a string"),
        ("[config]\nnested = { a = 'b' }", "config.nested must be a string"),
        (f"[config]\n{'k' * (MAX_CONFIG_KEY_BYTES + 1)} = 'v'", f"over the limit of {MAX_CONFIG_KEY_BYTES} bytes"),
        (f"[config]\nk = '{'v' * (MAX_CONFIG_VALUE_BYTES + 1)}'", f"over the limit of {MAX_CONFIG_VALUE_BYTES} bytes"),
        ("[config]\n" + "".join(f"k{i} = 'v'\n" for i in range(MAX_CONFIG_KEYS + 1)), "over the limit of 64"),
    ],
)
def test_invalid_config_tables_are_refused(tmp_path, table, message):
    manifest = tmp_path / "plugin.toml"
    manifest.write_text(table + "\n")
    with pytest.raises(ManifestError, match=message):
        PluginLimits().with_manifest(manifest)


def test_python_api_checks_and_freezes_the_config():
    limits = PluginLimits(plugin_config={"a": "b"})
    with pytest.raises(TypeError):
        limits.plugin_config["a"] = "c"  # type: ignore[index]
    with pytest.raises(ValueError, match="plugin_config.a must be a string"):
        PluginLimits(plugin_config={"a": 1})  # type: ignore[dict-item]


# The raw ABI: config_get(key_ptr, key_len, buf_ptr, buf_cap) -> length or -1, from WAT.
# process(ptr) reads the 3-byte key at ptr into a 2-byte buffer at 64: 999 for not found, else
# length * 65536 + the two bytes copied (little-endian).
RAW = """(module
  (import "env" "config_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "key")
  (func (export "process") (param $ptr i32) (result i32) (local $rc i32)
    (local.set $rc (call $get (local.get $ptr) (i32.const 3) (i32.const 64) (i32.const 2)))
    (if (result i32) (i32.lt_s (local.get $rc) (i32.const 0))
      (then (i32.const 999))
      (else (i32.add (i32.mul (local.get $rc) (i32.const 65536)) (i32.load16_u (i32.const 64)))))))"""


def test_raw_abi_lengths_not_found_and_bounds(wat):
    with load_plugin(wat(source=RAW), PluginLimits(plugin_config={"key": "hello"})) as plugin:
        assert plugin.execute(16) == 5 * 65536 + ord("h") + (ord("e") << 8)
        assert plugin.execute(17) == 999  # "ey\0": no such key
        with pytest.raises(w.TrapError, match="config_get"):
            plugin.execute(65535)  # the key runs past the end of memory: the call traps
    with load_plugin(wat(source=RAW)) as plugin:  # no [config] at all: every key is not found
        assert plugin.execute(16) == 999


def test_plugins_that_do_not_import_config_get_are_not_offered_it(built_plugins, built_sdk_plugins, monkeypatch):
    def refuse(config):
        raise AssertionError("config_get linked for a plugin that does not import it")

    monkeypatch.setattr(plugin_module, "config_host_function", refuse)
    limits = PluginLimits(plugin_config=CONFIG)
    with load_plugin(built_plugins / "plugins" / "upper" / "upper.wasm", limits) as plugin:  # imports host_log
        assert plugin.call_bytes(b"abc") == b"ABC"
    with pytest.raises(AssertionError, match="config_get linked"):
        load_plugin(built_sdk_plugins["config_c"], limits)
