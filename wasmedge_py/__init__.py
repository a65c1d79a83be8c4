"""wasmedge_py: run WebAssembly plugins written in C/C++ through the WasmEdge engine.

WasmEdge's own log output is switched off at import: every failure reaches you as an exception
carrying the engine's message. ``set_engine_log_level("error"|"debug")`` turns it back on for
debugging; WasmEdge 0.14 then writes it to the process's *stdout* and offers no hook to redirect it.
"""

from __future__ import annotations

from ._ffi import ffi, lib

# The binding: engine objects, their types and errors.
from .errors import (
    ArgumentError,
    ClosedError,
    CompileError,
    CompileLimitExceeded,
    CostLimitExceeded,
    EngineError,
    ExportNotFoundError,
    InstantiationError,
    Interrupted,
    LoadError,
    StackExhausted,
    TrapError,
    ValidationError,
    ValueRangeError,
    WasmEdgeError,
)
from .types import ExportType, FuncType, GlobalType, ImportType, Limits, MemoryType, TableType, ValType
from .config import Config
from .module import Module
from .compiler import AotCache, CompileLimits, CompileOptions, compile_module, load_aot
from .wasi import Wasi
from .host import Caller, HostFunction, HostFunctionError, HostModule, host_function
from .instance import Instance
from .function import Function
from .memory import Memory

# The plugin runtime: limits, one plugin instance, one isolated request, and their errors.
from .plugin_errors import (
    PluginABIError,
    PluginClosedError,
    PluginCodeError,
    PluginError,
    PluginInputError,
    PluginLoadError,
    PluginOutputError,
    PluginStepError,
)
from .limits import ManifestError, PluginLimits
from .plugin import Plugin, load_module, load_plugin
from .runtime import run_plugin

_LOG_LEVELS = {
    "off": lib.WasmEdge_LogOff,
    "error": lib.WasmEdge_LogSetErrorLevel,
    "debug": lib.WasmEdge_LogSetDebugLevel,
}


def version() -> str:
    """The version of the loaded libwasmedge, e.g. ``"0.14.1"``."""
    return ffi.string(lib.WasmEdge_VersionGet()).decode()


def set_engine_log_level(level: str) -> None:
    """Turn WasmEdge's own stderr logging ``"off"`` (the default), to ``"error"`` or ``"debug"``."""
    try:
        _LOG_LEVELS[level]()
    except KeyError:
        raise ValueRangeError(f"log level must be one of {sorted(_LOG_LEVELS)}, got {level!r}") from None


set_engine_log_level("off")

# fmt: off
__all__ = [
    # binding
    "ArgumentError", "ClosedError", "CompileError", "CompileLimitExceeded", "CostLimitExceeded", "EngineError",
    "ExportNotFoundError", "InstantiationError", "Interrupted", "LoadError", "StackExhausted", "TrapError",
    "ValidationError", "ValueRangeError", "WasmEdgeError",
    "ExportType", "FuncType", "GlobalType", "ImportType", "Limits", "MemoryType", "TableType", "ValType",
    "Config", "Module", "AotCache", "CompileLimits", "CompileOptions", "compile_module", "load_aot", "Wasi",
    "Caller", "HostFunction", "HostFunctionError", "HostModule", "host_function", "Instance", "Function", "Memory",
    # plugin runtime
    "PluginABIError", "PluginClosedError", "PluginCodeError", "PluginError", "PluginInputError", "PluginLoadError",
    "PluginOutputError", "PluginStepError", "ManifestError", "PluginLimits", "Plugin", "load_module", "load_plugin",
    "run_plugin",
    # the engine itself
    "set_engine_log_level", "version",
]
# fmt: on
