"""The SDK's example plugins (plugins/upper in C, plugins/json_stats in C++ with libc++), built by
`make plugins`, through the runtime: text and JSON round trips, errors with messages, 1 MiB."""

from __future__ import annotations

import json
import logging

import pytest

import wasmedge_py as w
from wasmedge_py import PluginLimits, load_plugin


def plugin_path(root, name):
    return root / "plugins" / name / f"{name}.wasm"


@pytest.fixture
def upper(built_plugins):
    with load_plugin(plugin_path(built_plugins, "upper")) as plugin:
        yield plugin


@pytest.fixture
def stats(built_plugins):
    limits = PluginLimits().with_manifest(built_plugins / "plugins" / "json_stats" / "plugin.toml")
    with load_plugin(plugin_path(built_plugins, "json_stats"), limits) as plugin:
        yield plugin


def test_upper_transforms_text_and_logs(upper, caplog):
    assert upper.abi_major == 2
    with caplog.at_level(logging.INFO, logger="wasmedge_py.plugin.upper"):
        assert upper.call_bytes(b"hello, world") == b"HELLO, WORLD"
    assert any("upper" in record.getMessage() for record in caplog.records)


def test_upper_refuses_bad_input_with_a_message(upper):
    with pytest.raises(w.PluginCodeError, match="ABI_ERROR_INVALID_INPUT: empty input"):
        upper.call_bytes(b"")
    with pytest.raises(w.PluginCodeError, match="error code -3") as info:
        upper.call_bytes(b"caf\xc3")  # truncated UTF-8
    assert "UTF-8" in str(info.value)


def test_upper_one_mebibyte(upper):
    text = (b"abcdefghij" * 104858)[: 1 << 20]
    assert upper.call_bytes(text) == text.upper()


def test_json_stats(stats):
    assert stats.call_json({"values": [1, 2.5, 3]}) == {"count": 3, "sum": 6.5, "mean": 6.5 / 3, "min": 1, "max": 3}
    values = [0.1 * i for i in range(1000)]
    result = stats.call_json({"values": values})
    assert result["count"] == 1000 and result["max"] == max(values)


@pytest.mark.parametrize("payload", [b"{", b'{"values": [1, }', b'{"values": "nope"}', b"[1, 2]"])
def test_json_stats_errors_name_the_problem(stats, payload):
    with pytest.raises(w.PluginCodeError, match=r"error code -3: ABI_ERROR_INVALID_INPUT: \S"):
        stats.call_bytes(payload)


def test_json_stats_output_is_json_python_reads_back_exactly(stats):
    values = [1e-300, 123456789.123456789, 2**53 + 1.0, -0.0, 5e-324]
    out = json.loads(stats.call_bytes(json.dumps({"values": values}).encode()))
    assert out["min"] == min(values) and out["max"] == max(values)
