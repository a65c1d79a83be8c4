"""The plugin runtime's lifecycle (wasmedge_py/runtime.py): one request, start to end, in a fresh
instance, with the documented policy after error codes, traps and failing cleanups."""

from __future__ import annotations

import logging
import time

import pytest

import wasmedge_py as w
from wasmedge_py import PluginInputError, PluginLimits, PluginStepError, load_module, run_plugin
from wasmedge_py.runtime import I32_MAX, I32_MIN, is_plugin_name

FAST = PluginLimits(timeout_ms=200)


def traced(path, value, limits=FAST, **kwargs):
    """``run_plugin`` with its steps and its early answer recorded, in order."""
    events: list = []
    try:
        result = run_plugin(
            path,
            value,
            limits,
            on_step=events.append,
            on_answer=lambda output, error: events.append(("answer", output, error)),
            **kwargs,
        )
    except PluginStepError as exc:
        return exc, events
    return result, events


def test_a_request_runs_init_process_cleanup_and_answers_before_the_cleanup(built_plugins):
    path = built_plugins / "plugins" / "hello" / "hello.wasm"
    module = load_module(path, FAST)
    try:
        for _ in range(2):  # a fresh instance each time: no state carried over
            assert traced(path, 21, module=module) == (43, ["initialize", "execute", ("answer", 43, None), "cleanup"])
        assert not module.closed  # the caller's module is the caller's to close
    finally:
        module.close()


def test_bad_v1_input_is_refused_before_instantiating(wat):
    """loop_start's start function runs 200 ms before the timeout stops it: a bad input must not
    wait for that, because the module alone says the plugin speaks v1."""
    path = wat("loop_start")
    with load_module(path, FAST) as module:
        for value, message in [
            ("21", "input must be an integer"),
            (True, "input must be an integer"),
            (I32_MAX + 1, "input out of range"),
            (I32_MIN - 1, "input out of range"),
        ]:
            started = time.perf_counter()
            with pytest.raises(PluginInputError, match=message):
                run_plugin(path, value, FAST, module=module)
            assert time.perf_counter() - started < 0.1
        failure, events = traced(path, 1, module=module)
        assert failure.step == "load" and isinstance(failure.cause.__cause__, w.Interrupted) and events == []


def test_bad_v2_input_is_refused_before_instantiating(wat):
    path = wat("v2_reverse")
    assert run_plugin(path, b"abc") == b"cba"
    assert run_plugin(path, "abc") == "cba"  # JSON text in, JSON text out: '"abc"' reversed is '"cba"'
    with load_module(path) as module:
        with pytest.raises(PluginInputError, match="^input is not valid JSON: Out of range float"):
            run_plugin(path, float("nan"), module=module)
        with pytest.raises(PluginInputError, match="^input cannot be written as JSON"):
            run_plugin(path, {1, 2}, module=module)


def test_an_error_code_is_cleaned_up_before_it_is_raised(wat):
    failure, events = traced(wat("negative_code"), -1)
    assert failure.step == "execute" and isinstance(failure.cause, w.PluginCodeError)
    assert failure.__cause__ is failure.cause and "ABI_ERROR_INVALID_INPUT" in str(failure)
    assert events == ["initialize", "execute", ("answer", None, failure), "cleanup"]


def test_a_trap_discards_the_instance_without_cleaning_up(wat):
    failure, events = traced(wat("trap"), 1)
    assert failure.step == "execute" and isinstance(failure.cause, w.TrapError)
    assert events == ["initialize", "execute"]


def test_a_failing_init_is_the_initialize_step(wat):
    failure, events = traced(wat("init_traps"), 1)
    assert failure.step == "initialize" and isinstance(failure.cause, w.TrapError)
    assert events == ["initialize"]


def test_a_failing_cleanup_keeps_the_answer_and_is_logged(wat, caplog):
    with caplog.at_level(logging.WARNING, logger="wasmedge_py.runtime"):
        assert traced(wat("cleanup_traps"), 5) == (7, ["initialize", "execute", ("answer", 7, None), "cleanup"])
    assert any("cleanup failed (the request still succeeds)" in r.getMessage() for r in caplog.records)


def test_a_file_that_does_not_load_is_the_load_step(tmp_path):
    with pytest.raises(PluginStepError, match="failed to load plugin: plugin file not found") as info:
        run_plugin(tmp_path / "absent.wasm", 1)
    assert info.value.step == "load" and isinstance(info.value.cause, w.PluginLoadError)


@pytest.mark.parametrize(
    "name, ok",
    [
        ("hello", True),
        ("a-b_C9", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("", False),
        ("../x", False),
        ("a.b", False),
        ("hello\n", False),
    ],
)
def test_one_plugin_name_rule(name, ok):
    assert is_plugin_name(name) is ok
