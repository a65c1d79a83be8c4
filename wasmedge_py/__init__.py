"""wasmedge_py: run WebAssembly plugins written in C/C++ through the WasmEdge engine.

WasmEdge's own log output is switched off at import: every failure reaches you as an exception
carrying the engine's message. ``set_engine_log_level("error"|"debug")`` turns it back on for
debugging; WasmEdge 0.14 then writes it to the process's *stdout* and offers no hook to redirect it.
"""

from __future__ import annotations

from ._ffi import ffi, lib
from .compiler import AotCache, CompileLimits, CompileOptions, compile_module, load_aot
from .config import Config
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
    PluginABIError,
    PluginClosedError,
    PluginCodeError,
    PluginError,
    PluginLoadError,
    StackExhausted,
    TrapError,
    ValidationError,
    ValueRangeError,
    WasmEdgeError,
)
from .function import Function
from .instance import Instance
from .memory import Memory
from .module import Module
from .limits import ManifestError, PluginLimits
from .plugin import Plugin, load_module, load_plugin
from .host import Caller, HostFunction, HostFunctionError, HostModule, host_function
from .wasi import Wasi
from .types import ExportType, FuncType, GlobalType, ImportType, Limits, MemoryType, TableType, ValType

_LOG_LEVELS = {"off": lib.WasmEdge_LogOff, "error": lib.WasmEdge_LogSetErrorLevel, "debug": lib.WasmEdge_LogSetDebugLevel}


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

__all__ = [
    "AotCache", "CompileError", "CompileLimitExceeded", "CompileLimits", "CompileOptions", "compile_module", "load_aot",
    "Caller", "HostFunction", "HostFunctionError", "HostModule", "host_function",
    "ArgumentError", "ClosedError", "Config", "CostLimitExceeded", "EngineError", "ExportNotFoundError",
    "ExportType", "FuncType", "Function", "GlobalType", "ImportType", "Instance", "InstantiationError",
    "Interrupted", "Limits", "LoadError", "Memory", "MemoryType", "Module", "Plugin", "PluginABIError",
    "PluginClosedError", "PluginCodeError", "PluginError", "PluginLoadError", "StackExhausted", "TableType", "TrapError",
    "ValType", "ValidationError", "ValueRangeError", "Wasi", "WasmEdgeError", "load_module", "load_plugin", "ManifestError", "PluginLimits", "set_engine_log_level",
    "version",
]
