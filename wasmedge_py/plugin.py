"""The plugin runtime (ABI v1): load a plugin into its own isolated instance and drive its
lifecycle ``get_abi_version`` -> ``init`` -> ``process(x)``* -> ``cleanup``. See ABI.md."""

from __future__ import annotations

import os

from .errors import (
    ExportNotFoundError,
    LoadError,
    PluginABIError,
    PluginClosedError,
    PluginCodeError,
    PluginLoadError,
    ValidationError,
    WasmEdgeError,
)
from .instance import Instance
from .limits import PluginLimits
from .module import Module
from .types import FuncType, ValType

SUPPORTED_ABI_MAJOR = 1

ABI_ERROR_NAMES = {
    -1: "ABI_ERROR_NOT_INITIALIZED",
    -2: "ABI_ERROR_ALREADY_INITIALIZED",
    -3: "ABI_ERROR_INVALID_INPUT",
    -4: "ABI_ERROR_INTERNAL",
}

_I32 = ValType.I32
# The signature each ABI export must have, when it is exported at all.
ABI_SIGNATURES = {
    "process": FuncType((_I32,), (_I32,)),
    "init": FuncType((), (_I32,)),
    "cleanup": FuncType((), (_I32,)),
    "get_abi_version": FuncType((), (_I32,)),
    "get_call_count": FuncType((), (_I32,)),
    "is_initialized": FuncType((), (_I32,)),
}


def error_code_name(code: int) -> str:
    return ABI_ERROR_NAMES.get(code, "ABI_ERROR_UNKNOWN")


def format_abi_version(encoded: int) -> str:
    """``major*10000 + minor*100 + patch`` -> ``"vMAJOR.MINOR.PATCH"``."""
    return f"v{encoded // 10000}.{encoded // 100 % 100}.{encoded % 100}"


def load_module(path: str | os.PathLike[str], limits: PluginLimits | None = None) -> Module:
    """Load and validate the plugin file at ``path`` under ``limits``, with the plugin error texts.

    The server caches what this returns and builds one ``Plugin`` per request from it."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise PluginLoadError(f"plugin file not found: {path}")
    try:
        return (limits or PluginLimits()).load_module(path)
    except LoadError as exc:
        raise PluginLoadError(f"failed to load WASM file {path}: {exc.engine_message or exc}") from exc
    except ValidationError as exc:
        raise PluginLoadError(f"failed to validate WASM file {path}: {exc.engine_message}") from exc


def load_plugin(
    path: str | os.PathLike[str], limits: PluginLimits | None = None, *, module: Module | None = None
) -> "Plugin":
    """Load, validate and instantiate the plugin at ``path`` in its own isolated instance.

    Pass a ``module`` from ``load_module`` (loaded under the same ``limits``) to skip loading."""
    path = os.fspath(path)
    limits = limits or PluginLimits()
    owns_module = module is None
    if module is None:
        module = load_module(path, limits)
    try:
        return Plugin(path, module, limits, owns_module=owns_module)
    except BaseException:
        if owns_module:
            module.close()
        raise


class Plugin:
    """One plugin in its own instance. Not thread-safe: use one Plugin per thread or request."""

    def __init__(self, path: str, module: Module, limits: PluginLimits, *, owns_module: bool = False) -> None:
        self.path = path
        self.limits = limits
        exported = {e.name: e.type for e in module.exports if e.kind == "function"}
        if "process" not in exported:
            raise PluginABIError(f"plugin {path} does not export the required function process")
        for name, expected in ABI_SIGNATURES.items():
            if name in exported and exported[name] != expected:
                raise PluginABIError(f"plugin {path}: export {name} has signature {exported[name]}, expected {expected}")
        try:
            self._instance = Instance(module, fuel=limits.fuel, wasi=limits.wasi)
        except WasmEdgeError as exc:
            raise PluginLoadError(f"failed to instantiate plugin {path}: {getattr(exc, 'engine_message', exc)}") from exc
        self._module = module if owns_module else None
        self._exports = frozenset(exported)
        self._initialized = False
        self._calls = 0
        self._closed = False
        self.abi_version: str | None = None
        if "get_abi_version" in self._exports:
            self._check_abi_version()

    def _check_abi_version(self) -> None:
        try:
            encoded = self._instance.call("get_abi_version")
        except WasmEdgeError as exc:
            self.close()
            raise PluginABIError(f"plugin {self.path}: get_abi_version failed: {exc}") from exc
        if encoded < 0 or encoded // 10000 != SUPPORTED_ABI_MAJOR:
            self.close()
            shown = format_abi_version(encoded) if encoded >= 0 else str(encoded)
            raise PluginABIError(
                f"plugin {self.path} reports ABI version {shown}; this host supports v{SUPPORTED_ABI_MAJOR}.x"
            )
        self.abi_version = format_abi_version(encoded)

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

    def init(self) -> None:
        """Initialise the plugin's state; a plugin without ``init`` is ready as loaded."""
        self._ensure_open()
        if "init" in self._exports:
            self._check_code("init", self._call_raw("init"))
        self._initialized = True

    def execute(self, x: int) -> int:
        """Call ``process(x)``; a negative return is raised as ``PluginCodeError``."""
        self._ensure_open()
        if self.has_lifecycle and not self._initialized:
            raise PluginCodeError(
                "process() called before init(): error code -1: ABI_ERROR_NOT_INITIALIZED", -1, error_code_name(-1)
            )
        result = self._check_code("process", self._call_raw("process", x))
        self._calls += 1
        return result

    def cleanup(self) -> None:
        """Release the plugin's state; it can be initialised again afterwards."""
        self._ensure_open()
        if self.has_lifecycle and not self._initialized:
            raise PluginCodeError(
                "cleanup() called before init(): error code -1: ABI_ERROR_NOT_INITIALIZED", -1, error_code_name(-1)
            )
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

    @staticmethod
    def _check_code(name: str, code: int) -> int:
        if code < 0:
            raise PluginCodeError(f"{name}() returned error code {code}: {error_code_name(code)}", code, error_code_name(code))
        return code
