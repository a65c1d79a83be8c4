"""The plugin runtime: load a plugin into its own isolated instance, negotiate its ABI version
(v1: ``process(i32) -> i32``; v2: bytes in, bytes out) and drive its lifecycle
``get_abi_version`` -> ``init`` -> ``process``* -> ``cleanup``. See ABI.md."""

from __future__ import annotations

import functools
import json
import logging
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from . import _checks, strict_json
from .errors import ArgumentError, ExportNotFoundError, LoadError, ValidationError, ValueRangeError, WasmEdgeError
from .files import read_regular_file
from .host import Caller, HostFunction, HostModule
from .instance import Instance
from .limits import DEFAULT_MAX_PLUGIN_BYTES, PluginLimits
from .module import Module
from .plugin_config import CONFIG_GET_NAME, config_host_function
from .plugin_errors import (
    PluginABIError,
    PluginClosedError,
    PluginCodeError,
    PluginLoadError,
    PluginOutputError,
)
from .types import FuncType, ValType

SUPPORTED_ABI_MAJORS = (1, 2)

ABI_ERROR_NAMES = {
    -1: "ABI_ERROR_NOT_INITIALIZED",
    -2: "ABI_ERROR_ALREADY_INITIALIZED",
    -3: "ABI_ERROR_INVALID_INPUT",
    -4: "ABI_ERROR_INTERNAL",
}

_I32, _I64 = ValType.I32, ValType.I64
# The signature each ABI export must have, when it is exported at all.
ABI_SIGNATURES = {
    "process": FuncType((_I32,), (_I32,)),
    "init": FuncType((), (_I32,)),
    "cleanup": FuncType((), (_I32,)),
    "get_abi_version": FuncType((), (_I32,)),
    "get_call_count": FuncType((), (_I32,)),
    "is_initialized": FuncType((), (_I32,)),
    "alloc": FuncType((_I32,), (_I32,)),
    "dealloc": FuncType((_I32, _I32), ()),
    "process_bytes": FuncType((_I32, _I32), (_I64,)),
    "get_error_message": FuncType((), (_I64,)),
}
V2_REQUIRED = ("alloc", "dealloc", "process_bytes")
MAX_ERROR_MESSAGE = 4096
# What calling an `i32.const N; end` body costs against a fuel budget (two instructions at
# WasmEdge's default cost of 1 each; a budget of 1 makes such a call fail).
_CONSTANT_CALL_COST = 2
_LOG_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}


def error_code_name(code: int) -> str:
    return ABI_ERROR_NAMES.get(code, "ABI_ERROR_UNKNOWN")


def format_abi_version(encoded: int) -> str:
    """``major*10000 + minor*100 + patch`` -> ``"vMAJOR.MINOR.PATCH"``."""
    return f"v{encoded // 10000}.{encoded // 100 % 100}.{encoded % 100}"


def load_module(
    path: str | os.PathLike[str],
    limits: PluginLimits | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_PLUGIN_BYTES,
    data: bytes | None = None,
) -> Module:
    """Load and validate the plugin file at ``path`` under ``limits``, with the plugin error texts.

    Only a regular file of at most ``max_bytes`` is read (``FileRefused`` otherwise, before any
    of it is read). With ``data``, the file's contents already read by the caller, ``path`` only
    names it. The server caches what this returns and runs each request on it (``run_plugin``)."""
    path = _checks.path(path)
    _checks.instance_of(limits, PluginLimits, "limits", optional=True)
    if data is None:
        try:
            data = read_regular_file(path, max_bytes)
        except (FileNotFoundError, NotADirectoryError):
            raise PluginLoadError(f"plugin file not found: {path}") from None
    try:
        return (limits or PluginLimits()).load_module(path, data=data)
    except LoadError as exc:
        raise PluginLoadError(f"failed to load WASM file {path}: {exc.engine_message or exc}") from exc
    except ValidationError as exc:
        raise PluginLoadError(f"failed to validate WASM file {path}: {exc.engine_message}") from exc


def load_plugin(
    path: str | os.PathLike[str],
    limits: PluginLimits | None = None,
    *,
    module: Module | None = None,
    host_functions: Sequence[HostFunction] = (),
) -> "Plugin":
    """Load, validate and instantiate the plugin at ``path`` in its own isolated instance.

    Pass a ``module`` from ``load_module`` (loaded under the same ``limits``) to skip loading;
    ``host_functions`` are offered to the plugin as ``env.<name>`` imports beside ``env.host_log``
    (and ``env.config_get``, reading ``limits.plugin_config``, when the module imports it)."""
    path = _checks.path(path)
    limits = _checks.instance_of(limits, PluginLimits, "limits", optional=True) or PluginLimits()
    _checks.instance_of(module, Module, "module", optional=True)
    _checks.sequence_of(host_functions, HostFunction, "host_functions")
    owns_module = module is None
    if module is None:
        module = load_module(path, limits)
    try:
        return Plugin(path, module, limits, owns_module=owns_module, host_functions=host_functions)
    except BaseException:
        if owns_module:
            module.close()
        raise


# What host_log lets a plugin write, per call into it (init, process, cleanup, ... each): past
# either limit its messages are dropped, and one line at the end of the call says how many.
LOG_MAX_MESSAGE_BYTES = 4096
LOG_MAX_MESSAGES_PER_CALL = 100
LOG_MAX_BYTES_PER_CALL = 64 * 1024
_HOST_LOG_TYPE = FuncType((_I32, _I32, _I32), ())
# C0 and C1 controls, DEL and the Unicode line and paragraph separators: escaped, so a plugin's
# text stays on its own line and cannot forge another, move the cursor or recolour a terminal.
_LOG_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {0x2028: "\\u2028", 0x2029: "\\u2029"}


def escape_log_text(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n`` -> ``\\x0a``)."""
    return text.translate(_LOG_ESCAPES)


class _PluginLog:
    """One instance's ``env.host_log``: each message on one escaped line that names the plugin,
    within the per-call limits. Per instance, so one plugin's flood never silences another."""

    __slots__ = ("name", "logger", "messages", "bytes", "dropped", "dropped_bytes")

    def __init__(self, name: str, logger: logging.Logger) -> None:
        self.name, self.logger = name, logger
        self.messages = self.bytes = self.dropped = self.dropped_bytes = 0

    def host_function(self) -> HostFunction:
        return HostFunction("host_log", _HOST_LOG_TYPE, self.write)

    def write(self, caller: Caller, level: int, ptr: int, length: int) -> None:
        level = _LOG_LEVELS.get(level, logging.INFO)
        if not self.logger.isEnabledFor(level):
            return
        length = max(length, 0)
        room = LOG_MAX_BYTES_PER_CALL - self.bytes
        if self.messages >= LOG_MAX_MESSAGES_PER_CALL or room <= 0:
            self.dropped += 1
            self.dropped_bytes += length
            return
        shown = min(length, LOG_MAX_MESSAGE_BYTES, room)
        text = escape_log_text(caller.read(ptr, shown).decode("utf-8", "replace"))
        self.messages += 1
        self.bytes += shown
        if shown < length:
            text += f" [... {length - shown} more bytes not shown]"
        self.logger.log(level, "plugin %s: %s", self.name, text)

    def end_call(self) -> None:
        """The call into the plugin is over: report what was dropped, start the next budget."""
        if self.dropped:
            self.logger.warning(
                "plugin %s: %d more log messages (%d bytes) dropped: over the limit of %d messages "
                "and %d bytes per call",
                self.name,
                self.dropped,
                self.dropped_bytes,
                LOG_MAX_MESSAGES_PER_CALL,
                LOG_MAX_BYTES_PER_CALL,
            )
        self.messages = self.bytes = self.dropped = self.dropped_bytes = 0


@functools.lru_cache(maxsize=1024)
def _identity(path: str) -> tuple[str, logging.Logger]:
    """A plugin's name (escaped: it goes into every log line) and logger, by path: the same for
    every instance of it, so made once."""
    name = escape_log_text(Path(path).stem)
    return name, logging.getLogger(f"wasmedge_py.plugin.{name}")


@dataclass(frozen=True)
class _ModuleFacts:
    """What the plugin runtime checks about a module, computed once per ``Module``."""

    exports: frozenset[str]  # names of the exported functions
    bad_signature: str | None  # the first ABI export with the wrong signature, described
    imports_env: bool
    imports_config: bool  # env.config_get: only then is it linked
    # get_abi_version's result when its body is a bare constant (Module.constant_results)
    constant_abi_version: int | None


# Per Module, for as long as it lives: the service builds an instance per request from one Module.
_FACTS: "weakref.WeakKeyDictionary[Module, _ModuleFacts]" = weakref.WeakKeyDictionary()


def _module_facts(module: Module) -> _ModuleFacts:
    facts = _FACTS.get(module)
    if facts is None:  # two threads may both compute it: the same value, either one is kept
        facts = _FACTS[module] = _compute_facts(module)
    return facts


def _compute_facts(module: Module) -> _ModuleFacts:
    exported = {e.name: e.type for e in module.exports if e.kind == "function"}
    bad_signature = None
    for name, expected in ABI_SIGNATURES.items():
        if name in exported and exported[name] != expected:
            bad_signature = f"export {name} has signature {exported[name]}, expected {expected}"
            break
    return _ModuleFacts(
        exports=frozenset(exported),
        bad_signature=bad_signature,
        imports_env=any(item.module == "env" for item in module.imports),
        imports_config=any(item.module == "env" and item.name == CONFIG_GET_NAME for item in module.imports),
        constant_abi_version=module.constant_results.get("get_abi_version") if "get_abi_version" in exported else None,
    )


def env_modules(
    log: _PluginLog | None, facts: _ModuleFacts, limits: PluginLimits, host_functions: Sequence[HostFunction]
) -> list[HostModule]:
    """What an instance links as ``env`` (nothing without a ``log``: the module imports no env):
    ``host_log``, ``config_get`` if imported, and the caller's host functions."""
    if log is None:
        return []
    config = [config_host_function(limits.plugin_config)] if facts.imports_config else []
    return [HostModule("env", [log.host_function(), *config, *host_functions])]


def known_abi_major(module: Module) -> int | None:
    """The ABI major version (1 or 2) an instance of ``module`` will negotiate, when the module
    alone says it: no ``get_abi_version`` (v1) or one whose body is a constant. None when only an
    instance can tell, or when loading it will fail anyway."""
    facts = _module_facts(module)
    if facts.bad_signature is not None or ("process" not in facts.exports and "process_bytes" not in facts.exports):
        return None
    if "get_abi_version" not in facts.exports:
        return 1
    version = facts.constant_abi_version
    if version is None or version < 0 or version // 10000 not in SUPPORTED_ABI_MAJORS:
        return None
    return version // 10000


def json_input(value: Any, subject: str = "call_json: the value") -> bytes:
    """``value`` as the compact JSON text ``call_json`` passes to the plugin; ``ValueRangeError``
    for NaN, infinity or a lone surrogate, ``ArgumentError`` for what JSON cannot write. The
    messages begin with ``subject``."""
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:  # NaN or infinity, or a circular reference
        raise ValueRangeError(f"{subject} is not valid JSON: {exc}") from None
    except (TypeError, RecursionError) as exc:
        raise ArgumentError(f"{subject} cannot be written as JSON: {exc}") from None
    try:
        return text.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate
        raise ValueRangeError(f"{subject} is not valid UTF-8 text: {exc}") from None


class Plugin:
    """One plugin in its own instance. Not thread-safe: use one Plugin per thread or request."""

    def __init__(
        self,
        path: str,
        module: Module,
        limits: PluginLimits,
        *,
        owns_module: bool = False,
        host_functions: Sequence[HostFunction] = (),
    ) -> None:
        self.path = path
        self.limits = limits
        self.name, self.logger = _identity(path)
        # The export checks are facts about the module: made once per Module, not per instance.
        facts = _module_facts(module)
        if facts.bad_signature is not None:
            raise PluginABIError(f"plugin {path}: {facts.bad_signature}")
        exported = facts.exports
        if "process" not in exported and "process_bytes" not in exported:
            raise PluginABIError(f"plugin {path} does not export the required function process")
        # Linking costs native work per instance (the service makes one per request): only for
        # plugins that import from env at all.
        self._log = self._new_log() if facts.imports_env else None
        env = env_modules(self._log, facts, limits, host_functions)
        try:
            self._instance = self._new_instance(module, limits, env)
        except WasmEdgeError as exc:
            raise PluginLoadError(
                f"failed to instantiate plugin {path}: {getattr(exc, 'engine_message', exc)}"
            ) from exc
        finally:  # the start function and _initialize are calls too
            if self._log is not None:
                self._log.end_call()
        self._module = module if owns_module else None
        self._exports = exported
        self._initialized = False
        self._calls = 0
        self._closed = False
        self._fuel_used: int | None = None if limits.fuel is None else 0
        self.abi_version: str | None = None
        self.abi_major = 1
        try:
            self._negotiate(facts.constant_abi_version)
        except BaseException:
            self.close()
            raise

    def _new_log(self) -> _PluginLog:
        """The instance's host_log (run_plugin's native lifecycle hands over the one its calls used)."""
        return _PluginLog(self.name, self.logger)

    def _new_instance(self, module: Module, limits: PluginLimits, host_modules: list[HostModule]) -> Instance:
        """The plugin's instance (run_plugin's native lifecycle hands over one it made: _lifecycle.py)."""
        return Instance(
            module, fuel=limits.fuel, wasi=limits.wasi, host_modules=host_modules, init_timeout=limits.timeout
        )

    def _negotiate(self, constant_version: int | None = None) -> None:
        """Pick v1 or v2 from ``get_abi_version`` (absent means v1) and check the exports it needs.

        When the module's ``get_abi_version`` is a bare ``i32.const`` (``constant_version``), its
        result is read instead of calling it: such a body cannot trap, loop or change state, so
        the call could only return that value -- unless a call could not run at all here, which
        is left to the call to report (a fuel budget below its cost of 2, a timeout on code
        compiled without interruption checks). Any other body is called, time-limited, in every
        instance: it may depend on or change the instance's state, so its result is not shared."""
        if "get_abi_version" in self._exports:
            if constant_version is not None and self._can_skip_constant_call():
                encoded = constant_version
            else:
                try:
                    encoded = self._call_raw("get_abi_version")
                except WasmEdgeError as exc:
                    raise PluginABIError(f"plugin {self.path}: get_abi_version failed: {exc}") from exc
            if encoded < 0 or encoded // 10000 not in SUPPORTED_ABI_MAJORS:
                shown = format_abi_version(encoded) if encoded >= 0 else str(encoded)
                raise PluginABIError(
                    f"plugin {self.path} reports ABI version {shown}; this host supports v1.x and v2.x"
                )
            self.abi_version = format_abi_version(encoded)
            self.abi_major = encoded // 10000
        if self.abi_major == 1 and "process" not in self._exports:
            raise PluginABIError(f"plugin {self.path} does not export the required function process")
        if self.abi_major == 2:
            missing = [name for name in V2_REQUIRED if name not in self._exports]
            if missing:
                raise PluginABIError(f"plugin {self.path} speaks ABI v2 but does not export {', '.join(missing)}")
            try:
                self._memory = self._instance.memory()
            except ExportNotFoundError:
                raise PluginABIError(f"plugin {self.path} speaks ABI v2 but exports no memory") from None

    def _can_skip_constant_call(self) -> bool:
        """Whether calling an ``i32.const; end`` body here is sure to return its value."""
        fuel = self._instance.fuel
        if fuel is not None and fuel < _CONSTANT_CALL_COST:
            return False  # the call would fail with "cost limit exceeded"
        if self.limits.timeout is not None and not self._instance.interruptible:
            return False  # the call would be refused (see Function._invoke_with_deadline)
        return True

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def exports(self) -> frozenset[str]:
        """Names of the functions the plugin exports."""
        return self._exports

    @property
    def has_lifecycle(self) -> bool:
        """A simple plugin exports only ``process`` and needs no init/cleanup."""
        return "init" in self._exports

    @property
    def is_initialized(self) -> bool:
        if "is_initialized" in self._exports and not self._closed:
            return self._call_raw("is_initialized") == 1
        return self._initialized

    @property
    def call_count(self) -> int:
        if "get_call_count" in self._exports and not self._closed:
            return self._call_raw("get_call_count")
        return self._calls

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def fuel_used(self) -> int | None:
        """Fuel the calls into this instance have used so far (None without a fuel limit)."""
        return self._fuel_used

    def init(self) -> None:
        """Initialise the plugin's state; a plugin without ``init`` is ready as loaded."""
        self._ensure_open()
        if "init" in self._exports:
            self._check_code("init", self._call_raw("init"))
        self._initialized = True

    def execute(self, x: int) -> int:
        """Call ``process(x)``; a negative return is raised as ``PluginCodeError``."""
        self._ready_for("process")
        if "process" not in self._exports:
            raise PluginABIError(f"plugin {self.path} speaks ABI v2 and exports no process(i32); use call_bytes")
        result = self._check_code("process", self._call_raw("process", x))
        self._calls += 1
        return result

    def call_bytes(self, data: bytes) -> bytes:
        """ABI v2: pass ``data`` to ``process_bytes`` and return its output (bounds-checked)."""
        self._ready_for("process_bytes")
        if self.abi_major != 2:
            raise PluginABIError(f"plugin {self.path} speaks ABI v1: call_bytes needs an ABI v2 plugin")
        data = _checks.byte_string(data, "data")
        in_ptr = self._alloc(len(data)) if data else 0
        try:
            if data:
                self._memory.write(in_ptr, data)
            packed = self._call_raw("process_bytes", in_ptr, len(data))
        finally:
            if data:
                self._dealloc_quietly(in_ptr, len(data))
        self._check_code("process_bytes", packed)
        out_ptr, out_len = packed >> 32, packed & 0xFFFFFFFF
        if out_len == 0:
            self._calls += 1
            return b""
        try:
            if out_len > self.limits.max_output_bytes:
                raise PluginABIError(
                    f"plugin {self.path} returned {out_len} bytes, over the output limit of {self.limits.max_output_bytes}"
                )
            self._check_bounds("process_bytes", out_ptr, out_len)
            output = self._memory.read(out_ptr, out_len)
        finally:
            self._dealloc_quietly(out_ptr, out_len)
        self._calls += 1
        return output

    def call_json(self, value: Any, *, encoded: bytes | None = None) -> Any:
        """ABI v2 with JSON: ``value`` goes in as JSON text, the output is parsed as JSON.
        ``encoded`` is ``json_input(value)`` when the caller has made it already."""
        output = self.call_bytes(json_input(value) if encoded is None else encoded)
        try:
            return strict_json.loads(output)
        except ValueError as exc:  # not RFC 8259: NaN, 1e400, over-deep, over-long integers, bad UTF-8
            raise PluginOutputError(f"plugin {self.path} returned output that is not valid JSON: {exc}") from None

    def cleanup(self) -> None:
        """Release the plugin's state; it can be initialised again afterwards."""
        self._ready_for("cleanup")
        try:
            if "cleanup" in self._exports:
                self._check_code("cleanup", self._call_raw("cleanup"))
        finally:
            self._initialized = False
            self._calls = 0

    def close(self) -> None:
        """Free the instance (and the module, if this plugin loaded it). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._instance.close()
        if self._module is not None:
            self._module.close()

    def __enter__(self) -> "Plugin":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Plugin {self.path} abi={self.abi_version} {'closed' if self._closed else 'open'}>"

    # -- helpers -------------------------------------------------------------------------------

    def _ready_for(self, name: str) -> None:
        self._ensure_open()
        if self.has_lifecycle and not self._initialized:
            raise PluginCodeError(
                f"{name}() called before init(): error code -1: ABI_ERROR_NOT_INITIALIZED", -1, error_code_name(-1)
            )

    def _check_bounds(self, what: str, ptr: int, length: int) -> None:
        if ptr <= 0 or ptr + length > self._memory.size:
            raise PluginABIError(
                f"plugin {self.path}: {what} returned a buffer outside its memory "
                f"(ptr={ptr}, len={length}, memory={self._memory.size} bytes)"
            )

    def _alloc(self, size: int) -> int:
        ptr = self._call_raw("alloc", size) & 0xFFFFFFFF
        if ptr == 0:
            raise PluginCodeError(
                f"alloc({size}) failed in plugin {self.path}: error code -4: ABI_ERROR_INTERNAL",
                -4,
                error_code_name(-4),
            )
        self._check_bounds("alloc", ptr, size)
        return ptr

    def _dealloc_quietly(self, ptr: int, size: int) -> None:
        """Free a buffer; a failure here must not hide the error that brought us here."""
        try:
            self._call_raw("dealloc", ptr, size)
        except WasmEdgeError as exc:
            self.logger.warning("dealloc(%d, %d) failed: %s", ptr, size, exc)

    def _error_message(self) -> str:
        if "get_error_message" not in self._exports:
            return ""
        try:
            packed = self._call_raw("get_error_message")
            ptr, length = packed >> 32, packed & 0xFFFFFFFF
            if packed <= 0 or length == 0:
                return ""
            length = min(length, MAX_ERROR_MESSAGE)
            self._check_bounds("get_error_message", ptr, length)
            return self._memory.read(ptr, length).decode("utf-8", "replace")
        except WasmEdgeError as exc:
            return f"(no message: {exc})"

    def _ensure_open(self) -> None:
        if self._closed:
            raise PluginClosedError(f"plugin is closed: {self.path}")

    def _call_raw(self, name: str, *args: int) -> int:
        try:
            return self._instance.function(name)(*args, timeout=self.limits.timeout)
        except ExportNotFoundError:
            raise
        except WasmEdgeError as exc:
            exc.add_note(f"while calling {name}() of plugin {self.path}")
            raise
        finally:
            if self._fuel_used is not None and not self._instance.closed:  # each call's budget starts at 0
                self._fuel_used += self._instance.total_cost
            if self._log is not None:
                self._log.end_call()

    def _check_code(self, name: str, code: int) -> int:
        """A negative code is the plugin's error; a v2 plugin may explain it (get_error_message)."""
        if code < 0:
            message = self._error_message() if self.abi_major == 2 else ""
            detail = f": {message}" if message else ""
            raise PluginCodeError(
                f"{name}() returned error code {code}: {error_code_name(code)}{detail}", code, error_code_name(code)
            )
        return code
