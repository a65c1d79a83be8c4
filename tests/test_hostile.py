"""Hostile plugins through the plugin runtime: each ends in a clean, typed error within its
limits, and the process (and every other plugin) carries on."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from support.hostile import HOSTILE, build

import wasmedge_py as w
from wasmedge_py import PluginLimits, load_plugin, run_plugin

FAST = PluginLimits(timeout_ms=200)


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    for name in [case.name for case in HOSTILE] + ["process_without_init"]:
        build(name, out)
    return out


def run_lifecycle(path, limits=FAST, x=1):
    return run_plugin(path, x, limits)


@pytest.mark.parametrize("aot", [False, True], ids=["interpreter", "aot"])
@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
def test_hostile_plugin_fails_cleanly(hostile_dir, case, aot):
    """Every limit holds in the interpreter and in AOT-compiled native code alike, and the
    runtime names the step that failed."""
    path = hostile_dir / case.name / f"{case.name}.wasm"
    with pytest.raises(w.PluginStepError) as info:
        run_lifecycle(path, PluginLimits(timeout_ms=200, aot=aot), x=0 if case.name == "division_by_zero" else 1)
    assert info.value.step == case.step
    assert isinstance(info.value.cause, getattr(w, case.error))
    assert info.value.__cause__ is info.value.cause
    assert case.message in str(info.value.cause)


@pytest.mark.parametrize("aot", [False, True], ids=["interpreter", "aot"])
@pytest.mark.slow
def test_runaway_loop_is_stopped_by_the_engine_on_time(hostile_dir, aot):
    path = hostile_dir / "runaway_loop" / "runaway_loop.wasm"
    with load_plugin(path, PluginLimits(timeout_ms=300, aot=aot)) as plugin:
        started = time.perf_counter()
        with pytest.raises(w.Interrupted, match=r"process\(\) timed out after 300 ms"):
            plugin.execute(1)
        elapsed = time.perf_counter() - started
        assert 0.3 <= elapsed < 0.4  # timeout + 100 ms
        with pytest.raises(w.Interrupted):  # and again: the instance is still usable
            plugin.execute(1)


@pytest.mark.parametrize("aot", [False, True], ids=["interpreter", "aot"])
def test_fuel_stops_a_runaway_loop_without_a_timeout(hostile_dir, aot):
    path = hostile_dir / "runaway_loop" / "runaway_loop.wasm"
    with load_plugin(path, PluginLimits(timeout_ms=None, fuel=1_000_000, aot=aot)) as plugin:
        with pytest.raises(w.CostLimitExceeded, match="cost limit exceeded"):
            plugin.execute(1)


def test_process_without_init_is_refused_by_the_host(hostile_dir):
    path = hostile_dir / "process_without_init" / "process_without_init.wasm"
    with load_plugin(path, FAST) as plugin:
        with pytest.raises(w.PluginCodeError, match="ABI_ERROR_NOT_INITIALIZED"):
            plugin.execute(5)
        plugin.init()
        assert plugin.execute(5) == 5


def test_wasi_enabled_by_manifest_sees_nothing_of_the_host(hostile_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    manifest = tmp_path / "plugin.toml"
    manifest.write_text("wasi = true\n")
    limits = FAST.with_manifest(manifest)
    assert run_lifecycle(hostile_dir / "wasi_import" / "wasi_import.wasm", limits) == 0
    manifest.write_text('[wasi]\nenv = { A = "1" }\n')
    assert run_lifecycle(hostile_dir / "wasi_import" / "wasi_import.wasm", FAST.with_manifest(manifest)) == 1


def test_memory_bomb_is_capped(hostile_dir):
    """The bomb grows until the cap refuses; RSS stays within the cap plus the runtime itself."""
    script = (
        "import wasmedge_py as w\n"
        f"p = w.load_plugin({str(hostile_dir / 'memory_bomb' / 'memory_bomb.wasm')!r}, w.PluginLimits(max_memory_pages=160))\n"
        "try:\n    p.execute(1)\nexcept w.TrapError as e:\n    print(e)\n"
        "print(p._instance.memory().pages)\n"
        "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    message, pages, peak_kib = done.stdout.splitlines()
    assert "out of bounds memory access" in message
    assert int(pages) == 160  # 10 MiB, and not a page more
    assert int(peak_kib) < 200_000


def test_other_plugins_keep_working_after_hostile_ones(hostile_dir, built_plugins):
    for case in HOSTILE:
        with pytest.raises(w.WasmEdgeError):
            run_lifecycle(hostile_dir / case.name / f"{case.name}.wasm", x=0)
    assert run_lifecycle(built_plugins / "plugins" / "hello" / "hello.wasm", x=21) == 43


@pytest.mark.parametrize(
    "text, message",
    [
        ("timeout_ms = 'soon'", "timeout_ms must be 0 (no limit) or an int in 1..86400000, not str"),
        ("timeout_ms = 10000000000000", "timeout_ms must be 0 (no limit) or in 1..86400000, got 10000000000000"),
        ("timeout_ms = -1", "timeout_ms must be 0 (no limit) or in 1..86400000, got -1"),
        ("timeout_ms = nan", "timeout_ms must be 0 (no limit) or an int in 1..86400000, not float"),
        ("timeout_ms = inf", "timeout_ms must be 0 (no limit) or an int in 1..86400000, not float"),
        ("max_memory_pages = 0", "max_memory_pages must be in 1..65536, got 0"),
        ("max_memory_pages = 70000", "max_memory_pages must be in 1..65536, got 70000"),
        ("fuel = -1", "fuel must be 0 (no limit) or in 1..18446744073709551614, got -1"),
        ("fuel = 18446744073709551616", "fuel must be 0 (no limit) or in 1..18446744073709551614"),
        ("aot = 1", "aot must be True or False, not int"),
        ("wasi = 'yes'", "wasi must be true, false or a table"),
        ("colour = 'blue'", "unknown setting(s) colour"),
        ("this is not toml", "invalid"),
    ],
)
def test_invalid_manifest_names_the_file(tmp_path, text, message):
    manifest = tmp_path / "plugin.toml"
    manifest.write_text(text)
    with pytest.raises(w.ManifestError, match="invalid .*plugin.toml") as info:
        PluginLimits().with_manifest(manifest)
    assert message in str(info.value)


def test_manifest_overrides_only_what_it_sets(tmp_path):
    manifest = tmp_path / "plugin.toml"
    manifest.write_text("timeout_ms = 250\nfuel = 1000\nmax_stack_bytes = 0\n")
    limits = PluginLimits(max_memory_pages=8).with_manifest(manifest)
    assert limits == PluginLimits(timeout_ms=250, max_memory_pages=8, max_stack_bytes=None, fuel=1000)
    assert PluginLimits().with_manifest(tmp_path / "absent.toml") == PluginLimits()
