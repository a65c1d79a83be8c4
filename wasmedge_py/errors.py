"""The engine's and the binding's exceptions (the root of everything the package raises; the
plugin runtime's own are in ``plugin_errors``), and the one place that turns a
``WasmEdge_Result`` into an exception carrying WasmEdge's own message."""

from __future__ import annotations

from ._ffi import ffi, lib


class WasmEdgeError(Exception):
    """Root of every error this package raises."""


class EngineError(WasmEdgeError):
    """A failed WasmEdge call; ``code`` is WasmEdge's error code and ``engine_message`` its text."""

    def __init__(self, message: str, code: int = 0, engine_message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.engine_message = engine_message


class LoadError(EngineError):
    """The bytes are not a well-formed WebAssembly module (or the file cannot be read)."""


class ValidationError(EngineError):
    """The module is well-formed but does not validate."""


class InstantiationError(EngineError):
    """Instantiation failed: an unresolved import, a data segment that does not fit, ..."""


class CompileError(EngineError):
    """The AOT compiler failed on a module that loads and validates."""


class CompileLimitExceeded(CompileError):
    """The AOT compile of a module took longer or needed more memory than its limits allow."""


class TrapError(EngineError):
    """Execution trapped: unreachable, out-of-bounds memory access, division by zero, ..."""


class CostLimitExceeded(TrapError):
    """The call ran out of its instruction budget (fuel)."""


class Interrupted(TrapError):
    """The call was cancelled from outside (timeout)."""


class StackExhausted(TrapError):
    """The call stack outgrew its limit (runaway or too deep recursion)."""


class ClosedError(WasmEdgeError):
    """An object was used after ``close()``."""


class ExportNotFoundError(WasmEdgeError, KeyError):
    """The instance has no export of that name and kind."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ArgumentError(WasmEdgeError, TypeError):
    """Wrong number or type of arguments for a WebAssembly function."""


class ValueRangeError(WasmEdgeError, ValueError):
    """A Python int does not fit the WebAssembly integer type it is passed as."""


# WasmEdge groups its error codes by phase in the high byte (see enum_errcode.h).
_COST_LIMIT_EXCEEDED = 0x03
_INTERRUPTED = 0x07
_PHASE_ERRORS: dict[int, type[EngineError]] = {
    0x01: LoadError,
    0x02: ValidationError,
    0x03: InstantiationError,
    0x04: TrapError,
}


def engine_error(result, context: str, default: type[EngineError] = TrapError) -> EngineError:
    """Build the exception for a failed ``WasmEdge_Result``; ``context`` says what we were doing."""
    code = lib.WasmEdge_ResultGetCode(result)
    message = ffi.string(lib.WasmEdge_ResultGetMessage(result)).decode("utf-8", "replace")
    if code == _COST_LIMIT_EXCEEDED:
        cls: type[EngineError] = CostLimitExceeded
    elif code == _INTERRUPTED:
        cls = Interrupted
    else:
        cls = _PHASE_ERRORS.get(code >> 8, default)
    return cls(f"{context}: {message}", code=code, engine_message=message)


def check(result, context: str, default: type[EngineError] = EngineError) -> None:
    """Raise the matching exception unless ``result`` is a success."""
    if result.Code != 0:
        raise engine_error(result, context, default)
