"""Reading plugin files: only regular files, never past a size limit, and a FIFO never blocks."""

from __future__ import annotations

import os
import time

import pytest

import wasmedge_py as w
from wasmedge_py.files import FileRefused, read_regular_file
from wasmedge_py.limits import DEFAULT_MAX_PLUGIN_BYTES


def test_special_files_are_refused_unopened(tmp_path):
    fifo = tmp_path / "plugin.toml"
    os.mkfifo(fifo)  # opening it for reading would block: there is no writer
    with pytest.raises(FileRefused, match="plugin.toml is not a regular file but a FIFO"):
        w.PluginLimits().with_manifest(fifo)
    with pytest.raises(FileRefused, match="is not a regular file but a FIFO"):
        w.load_module(fifo)
    with pytest.raises(FileRefused, match="is not a regular file but a character device"):
        read_regular_file("/dev/zero", 10)
    with pytest.raises(FileRefused, match="is not a regular file but a directory"):
        read_regular_file(tmp_path, 10)


def test_size_limits_are_checked_before_reading(tmp_path, wat):
    plugin = wat(source='(module (func (export "process") (param i32) (result i32) local.get 0))')
    huge = tmp_path / "huge.wasm"
    huge.write_bytes(plugin.read_bytes())
    os.truncate(huge, 1 << 30)  # sparse: reading it would cost a GiB
    started = time.monotonic()
    with pytest.raises(
        FileRefused, match=f"huge.wasm is 1073741824 bytes, over the limit of {DEFAULT_MAX_PLUGIN_BYTES}"
    ):
        w.load_module(huge)
    assert time.monotonic() - started < 0.1
    size = plugin.stat().st_size
    with pytest.raises(FileRefused, match=f"over the limit of {size - 1}"):
        w.load_module(plugin, max_bytes=size - 1)
    with w.load_module(plugin, max_bytes=size):
        pass
    manifest = tmp_path / "plugin.toml"
    manifest.write_text("timeout_ms = 100\n")
    with pytest.raises(FileRefused, match="plugin.toml is 17 bytes, over the limit of 16"):
        w.PluginLimits().with_manifest(manifest, max_bytes=16)
    assert w.PluginLimits().with_manifest(manifest, max_bytes=17).timeout_ms == 100


def test_a_file_larger_than_its_stat_says_is_read_only_to_the_limit():
    # /proc files say they are 0 bytes long: what stat said cannot bound the read, the limit does.
    assert os.stat("/proc/self/status").st_size == 0
    assert b"VmRSS" in read_regular_file("/proc/self/status", 1 << 20)
    with pytest.raises(FileRefused, match="grew past the limit of 100 bytes"):
        read_regular_file("/proc/self/status", 100)
