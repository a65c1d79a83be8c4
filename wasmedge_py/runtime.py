"""The plugin runtime's lifecycle: one request to a plugin, from input check to freed instance.

``run_plugin`` runs a whole request in an instance of its own, built from a (cached) ``Module``:

1. the input is checked against the plugin's ABI (v1: a 32-bit signed integer; v2: JSON or bytes)
   before anything is instantiated when the module alone tells the ABI, else right after;
2. ``init`` -> ``process`` (v1), ``call_json``/``call_bytes`` (v2) -> ``cleanup``, then the
   instance is freed. After an error code (``PluginCodeError``) the plugin's state is sound: it
   is cleaned up before the error is raised. After a trap or a timeout the instance is in an
   undefined state: it is discarded without another call into it. Once ``process`` has answered
   the answer stands: a cleanup that fails is logged, not raised;
3. a failed step is raised as ``PluginStepError`` naming the step, with the step's error as its
   cause; a bad input as ``PluginInputError``.

Nothing but the module is shared between requests, so a plugin cannot carry state from one
caller to the next, and a trap loses only that request's instance.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Callable, Sequence

from .errors import ArgumentError, ValueRangeError, WasmEdgeError
from .host import HostFunction
from .limits import PluginLimits
from .module import Module
from .plugin import Plugin, json_input, known_abi_major, load_module, load_plugin
from .plugin_errors import PluginCodeError, PluginInputError, PluginStepError

log = logging.getLogger(__name__)

I32_MIN, I32_MAX = -(2**31), 2**31 - 1

# A plugin's name: its store directory and file (``<name>/<name>.wasm``), checked before any path
# is built from it, so "..", "/", NUL and absolute paths never reach the filesystem.
PLUGIN_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
PLUGIN_NAME_RULE = "1-64 characters of A-Z a-z 0-9 _ -"


def is_plugin_name(name: str) -> bool:
    """Whether ``name`` may name a plugin (fullmatch: "$" would accept a trailing newline)."""
    return PLUGIN_NAME.fullmatch(name) is not None


Call = Callable[[Plugin], Any]


def prepare_input(abi_major: int, value: Any) -> Call:
    """Check ``value`` against ABI ``abi_major`` (``PluginInputError``) and return the call that
    passes it: ``process(value)`` for v1, ``call_bytes`` for bytes and ``call_json`` otherwise for v2."""
    if abi_major == 1:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PluginInputError("input must be an integer")
        if not I32_MIN <= value <= I32_MAX:
            raise PluginInputError(f"input out of range: must be a 32-bit signed integer ({I32_MIN}..{I32_MAX})")
        return lambda plugin: plugin.execute(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return lambda plugin: plugin.call_bytes(data)
    try:
        encoded = json_input(value, "input")
    except (ValueRangeError, ArgumentError) as exc:
        raise PluginInputError(str(exc)) from None
    return lambda plugin: plugin.call_json(value, encoded=encoded)


def run_plugin(
    path: str | os.PathLike[str],
    value: Any,
    limits: PluginLimits | None = None,
    *,
    module: Module | None = None,
    host_functions: Sequence[HostFunction] = (),
    on_step: Callable[[str], None] | None = None,
    on_answer: Callable[[Any, BaseException | None], None] | None = None,
) -> Any:
    """The plugin at ``path``'s answer to ``value``, from a fresh instance (see the module's doc).

    Pass a ``module`` from ``load_module`` (loaded under the same ``limits``) to skip loading.
    ``on_step(step)`` is called as each step after "load" begins ("initialize", "execute",
    "cleanup"). ``on_answer(output, error)`` is called with the request's outcome once it is
    known and before a ``cleanup`` export runs, so a caller can answer without waiting for it."""
    limits = limits or PluginLimits()
    owned = None
    if module is None:
        try:
            module = owned = load_module(path, limits)
        except WasmEdgeError as exc:
            raise PluginStepError("load", exc) from exc
    try:
        return _run(path, value, limits, module, host_functions, on_step or _ignore, on_answer)
    finally:
        if owned is not None:
            owned.close()


def _ignore(step: str) -> None:
    pass


def _run(
    path: str | os.PathLike[str],
    value: Any,
    limits: PluginLimits,
    module: Module,
    host_functions: Sequence[HostFunction],
    on_step: Callable[[str], None],
    on_answer: Callable[[Any, BaseException | None], None] | None,
) -> Any:
    major = known_abi_major(module)
    call = prepare_input(major, value) if major is not None else None  # before instantiating
    try:
        plugin = load_plugin(path, limits, module=module, host_functions=host_functions)
    except WasmEdgeError as exc:
        raise PluginStepError("load", exc) from exc
    with plugin:  # frees the instance whatever happens below
        if call is None:
            call = prepare_input(plugin.abi_major, value)
        on_step("initialize")
        try:
            plugin.init()
        except WasmEdgeError as exc:
            raise PluginStepError("initialize", exc) from exc
        on_step("execute")
        try:
            output = call(plugin)
        except PluginCodeError as exc:  # the plugin answered normally: its state is sound
            failure = PluginStepError("execute", exc)
            failure.__cause__ = exc
            _cleanup(plugin, on_step, on_answer, None, failure)
            raise failure from exc
        except WasmEdgeError as exc:  # a trap or timeout: discarded without another call
            raise PluginStepError("execute", exc) from exc
        _cleanup(plugin, on_step, on_answer, output, None)
        return output


def _cleanup(
    plugin: Plugin,
    on_step: Callable[[str], None],
    on_answer: Callable[[Any, BaseException | None], None] | None,
    output: Any,
    error: PluginStepError | None,
) -> None:
    """Hand the outcome over first when there is a cleanup to wait for, then clean up: a failing
    or looping cleanup is the plugin's problem, not the caller's, so it is logged."""
    if on_answer is not None and "cleanup" in plugin.exports:
        on_answer(output, error)
    on_step("cleanup")
    try:
        plugin.cleanup()
    except WasmEdgeError as exc:
        log.warning("plugin %s: cleanup failed (the request still succeeds): %s", plugin.name, exc)
