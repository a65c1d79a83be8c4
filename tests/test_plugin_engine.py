"""Which engine a plugin runs in: native code compiled ahead of time by default, the interpreter
on request (``aot = false``) or when the compiler fails on the module."""

from __future__ import annotations

import logging

import pytest

import wasmedge_py as w
import wasmedge_py.compiler as compiler
from wasmedge_py import PluginLimits, load_plugin
from wasmedge_py.compiler import AotCache, CompileLimits


@pytest.fixture
def hello(built_plugins):
    return built_plugins / "plugins" / "hello" / "hello.wasm"


def test_plugins_run_compiled_by_default(hello):
    with load_plugin(hello) as plugin:
        module = plugin._instance.module
        assert module.engine == "aot" and module.interpreter_fallback_reason is None
        # The default limits have a timeout, so the code must be cancellable, and no fuel.
        assert module.compiled_with.interruptible and not module.compiled_with.cost_measuring
        plugin.init()
        assert plugin.execute(21) == 43


def test_aot_false_runs_in_the_interpreter(hello):
    with load_plugin(hello, PluginLimits(aot=False)) as plugin:
        assert plugin._instance.module.engine == "interpreter"
        plugin.init()
        assert plugin.execute(21) == 43


def test_compile_options_follow_the_limits(hello):
    # No timeout to enforce: no interruption checks (full native speed). Fuel: cost measuring.
    module = w.load_module(hello, PluginLimits(timeout_ms=None))
    assert module.engine == "aot" and not module.compiled_with.interruptible
    module.close()
    module = w.load_module(hello, PluginLimits(fuel=10_000))
    assert module.compiled_with.cost_measuring and module.compiled_with.interruptible
    module.close()


def test_a_module_the_compiler_fails_on_runs_in_the_interpreter(hello, tmp_path, monkeypatch, caplog):
    # A real compile that exceeds its (tiny) time limit in the child process.
    monkeypatch.setattr(
        compiler, "_default_cache", AotCache(tmp_path / "aot", compile_limits=CompileLimits(timeout=0.01))
    )
    with caplog.at_level(logging.WARNING, logger="wasmedge_py.plugin"):
        with load_plugin(hello) as plugin:
            module = plugin._instance.module
            plugin.init()
            assert plugin.execute(21) == 43
    assert module.engine == "interpreter"
    assert (
        "running in the interpreter" in module.interpreter_fallback_reason
        and "longer than 0.01 s" in module.interpreter_fallback_reason
    )
    assert any("running in the interpreter" in r.getMessage() and str(hello) in r.getMessage() for r in caplog.records)


def test_manifest_can_choose_the_interpreter(tmp_path, hello):
    (tmp_path / "plugin.toml").write_text("aot = false\n")
    assert not PluginLimits().with_manifest(tmp_path / "plugin.toml").aot
    assert PluginLimits().aot
