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
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from . import _lifecycle
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


@dataclass
class RunUsage:
    """What one ``run_plugin`` cost, for metrics: the CPU time of the thread that ran the
    lifecycle (instantiate to cleanup), and the fuel its calls used (None without a fuel limit)."""

    cpu_seconds: float = 0.0
    fuel_used: int | None = None


def checked_input(abi_major: int, value: Any) -> tuple[str, Any]:
    """Check ``value`` against ABI ``abi_major`` (``PluginInputError``): ``("process", int)`` for
    v1, ``("bytes", bytes)`` for bytes and ``("json", (value, its JSON text))`` otherwise for v2."""
    if abi_major == 1:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PluginInputError("input must be an integer")
        if not I32_MIN <= value <= I32_MAX:
            raise PluginInputError(f"input out of range: must be a 32-bit signed integer ({I32_MIN}..{I32_MAX})")
        return "process", value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytes", bytes(value)
    try:
        encoded = json_input(value, "input")
    except (ValueRangeError, ArgumentError) as exc:
        raise PluginInputError(str(exc)) from None
    return "json", (value, encoded)


def prepare_input(abi_major: int, value: Any) -> Call:
    """Check ``value`` against ABI ``abi_major`` (``PluginInputError``) and return the call that
    passes it: ``process(value)`` for v1, ``call_bytes`` for bytes and ``call_json`` otherwise for v2."""
    kind, payload = checked_input(abi_major, value)
    if kind == "process":
        return lambda plugin: plugin.execute(payload)
    if kind == "bytes":
        return lambda plugin: plugin.call_bytes(payload)
    decoded, encoded = payload
    return lambda plugin: plugin.call_json(decoded, encoded=encoded)


def run_plugin(
    path: str | os.PathLike[str],
    value: Any,
    limits: PluginLimits | None = None,
    *,
    module: Module | None = None,
    host_functions: Sequence[HostFunction] = (),
    on_step: Callable[[str], None] | None = None,
    on_answer: Callable[[Any, BaseException | None], None] | None = None,
    usage: RunUsage | None = None,
) -> Any:
    """The plugin at ``path``'s answer to ``value``, from a fresh instance (see the module's doc).

    Pass a ``module`` from ``load_module`` (loaded under the same ``limits``) to skip loading.
    ``on_step(step)`` is called as each step after "load" begins ("initialize", "execute",
    "cleanup"). ``on_answer(output, error)`` is called with the request's outcome once it is
    known and before a ``cleanup`` export runs, so a caller can answer without waiting for it.
    ``usage``, when given, is filled in once the run is over, whatever its outcome."""
    limits = limits or PluginLimits()
    owned = None
    if module is None:
        try:
            module = owned = load_module(path, limits)
        except WasmEdgeError as exc:
            raise PluginStepError("load", exc) from exc
    started = time.thread_time() if usage is not None else 0.0
    try:
        plan = _native_plan(path, limits, module, host_functions)
        if plan is not None:  # the one-call lifecycle in the extension (see _lifecycle.py)
            kind, payload = checked_input(plan.major, value)

            def python_path(open_plugin: Callable[[], Plugin] | None, step: Callable[[str], None], answer: Any) -> Any:
                return _run(path, value, limits, module, host_functions, step, answer, usage, open_plugin)

            return _lifecycle.run(
                os.fspath(path),
                module,
                limits,
                plan,
                kind,
                payload,
                on_step,
                on_answer,
                usage,
                python_path,
                host_functions,
            )
        return _run(path, value, limits, module, host_functions, on_step or _ignore, on_answer, usage)
    finally:
        if usage is not None:
            usage.cpu_seconds = time.thread_time() - started
        if owned is not None:
            owned.close()


def _ignore(step: str) -> None:
    pass


def _native_plan(path: object, limits: object, module: Module, host_functions: object) -> _lifecycle.ModulePlan | None:
    """The module's plan for the native lifecycle, or None for the Python path: ABI mode, a
    request it does not take (_lifecycle.takes), or arguments load_plugin refuses (it says why)."""
    if not _lifecycle.NATIVE or not isinstance(limits, PluginLimits) or not isinstance(module, Module):
        return None
    if not isinstance(path, (str, os.PathLike)) or not isinstance(host_functions, (list, tuple)):
        return None
    if not all(isinstance(item, HostFunction) for item in host_functions):
        return None
    return _lifecycle.takes(module, limits)


def _run(
    path: str | os.PathLike[str],
    value: Any,
    limits: PluginLimits,
    module: Module,
    host_functions: Sequence[HostFunction],
    on_step: Callable[[str], None],
    on_answer: Callable[[Any, BaseException | None], None] | None,
    usage: RunUsage | None,
    open_plugin: Callable[[], Plugin] | None = None,
) -> Any:
    """The Python path. ``open_plugin`` makes the plugin instead of load_plugin: the native
    lifecycle hands over the instance it stopped on (_lifecycle.py)."""
    major = known_abi_major(module)
    call = prepare_input(major, value) if major is not None else None  # before instantiating
    try:
        if open_plugin is not None:
            plugin = open_plugin()
        else:
            plugin = load_plugin(path, limits, module=module, host_functions=host_functions)
    except WasmEdgeError as exc:
        raise PluginStepError("load", exc) from exc
    with plugin, _FuelInto(usage, plugin):  # frees the instance whatever happens below
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


class _FuelInto:
    """On leaving the lifecycle, however it ends: the fuel its calls used into ``usage``."""

    __slots__ = ("usage", "plugin")

    def __init__(self, usage: RunUsage | None, plugin: Plugin) -> None:
        self.usage = usage
        self.plugin = plugin

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        if self.usage is not None:
            self.usage.fuel_used = self.plugin.fuel_used


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
