"""Host functions: Python callables a module can import, with typed signatures.

    @host_function(params=["i32", "i32"], results=["i32"])
    def add(caller, a, b):
        return a + b

    env = HostModule("env", [add])
    instance = Instance(module, host_modules=[env])

An exception raised inside a host function never crosses into the engine: the call traps, and the
caller gets ``HostFunctionError`` carrying the exception's message (the original is ``__cause__``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from . import _checks
from ._ffi import ffi, lib
from .errors import ArgumentError, ClosedError, TrapError
from .memory import read_memory, write_memory
from .types import FuncType, ValType
from .values import NATIVE_TYPES, load, store

# A user-level error result (category 1 in the top byte): makes the engine stop the call.
_HOST_FAILED = {"Code": (1 << 24) | 1}
_SUCCESS = {"Code": 0}


class HostFunctionError(TrapError):
    """A host function raised; the wasm call that reached it was stopped."""


@dataclass(frozen=True)
class HostFunction:
    name: str
    signature: FuncType
    callable: Callable[..., Any]


def _value_types(types: object, name: str) -> tuple[ValType, ...]:
    types = _checks.sequence(types, name, "value types")
    try:
        valtypes = tuple(ValType(t) for t in types)
    except ValueError:
        raise ArgumentError(
            f"{name} must hold value types ({', '.join(t.value for t in NATIVE_TYPES)}), got {list(types)!r}"
        ) from None
    unsupported = [t.value for t in valtypes if t not in NATIVE_TYPES]
    if unsupported:
        raise ArgumentError(f"{name}: host functions cannot take or return {', '.join(unsupported)}")
    return valtypes


def host_function(
    params: Sequence[ValType | str] = (), results: Sequence[ValType | str] = (), *, name: str | None = None
) -> Callable[[Callable[..., Any]], HostFunction]:
    """Declare a Python function as a host function; it is called as ``fn(caller, *args)``."""

    signature = FuncType(_value_types(params, "params"), _value_types(results, "results"))
    if name is not None:
        _checks.text(name, "name")

    def wrap(fn: Callable[..., Any]) -> HostFunction:
        if not callable(fn):
            raise ArgumentError(f"a host function must be callable, not {type(fn).__name__}")
        return HostFunction(name or _checks.text(getattr(fn, "__name__", ""), "name"), signature, fn)

    return wrap


@dataclass(frozen=True)
class HostModule:
    """A named set of host functions, linked into each instance that asks for it."""

    name: str
    functions: tuple[HostFunction, ...]

    def __init__(self, name: str, functions: Iterable[HostFunction]) -> None:
        _checks.text(name, "name")
        functions = _checks.sequence_of(functions, HostFunction, "functions", any_iterable=True)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "functions", functions)


class Caller:
    """What a host function sees of the calling instance: its memory. Valid during the call only:
    afterwards (kept in a variable, used from another thread later) every use raises
    ``ClosedError`` instead of touching memory that may be freed.

    No instance lock is taken here: the instance is busy in the call that reached us. The
    caller's own lock makes expiry wait for a read or write in progress on another thread."""

    __slots__ = ("_memory", "_lock")

    def __init__(self, frame: Any) -> None:
        self._memory = lib.WasmEdge_CallingFrameGetMemoryInstance(frame, 0)
        self._lock = threading.Lock()

    def _expire(self) -> None:
        with self._lock:
            self._memory = None

    def _live_memory(self) -> Any:
        memory = self._memory
        if memory is None:
            raise ClosedError("this Caller is only valid during the host function call it was passed to")
        if memory == ffi.NULL:
            raise TrapError("the calling module has no memory")
        return memory

    def read(self, offset: int, length: int) -> bytes:
        with self._lock:
            return read_memory(self._live_memory(), offset, length)

    def write(self, offset: int, data: bytes) -> None:
        with self._lock:
            write_memory(self._live_memory(), offset, data)


class HostCallState:
    """Per instance: the exception a host function raised during the current call, how many of
    its host functions are on the stack (``depth``), and whether one of them closed it."""

    __slots__ = ("pending", "function", "depth", "close_requested")

    def __init__(self) -> None:
        self.pending: BaseException | None = None
        self.function: str = ""
        self.depth = 0
        self.close_requested = False

    def take(self) -> tuple[BaseException, str] | None:
        if self.pending is None:
            return None
        pending, self.pending = self.pending, None
        return pending, self.function


@ffi.callback("WasmEdge_Result(void *, const WasmEdge_CallingFrameContext *, const WasmEdge_Value *, WasmEdge_Value *)")
def _trampoline(data: Any, frame: Any, params: Any, returns: Any) -> Any:
    state, function = ffi.from_handle(data)
    caller = Caller(frame)
    state.depth += 1
    try:
        args = [load(params[i], t) for i, t in enumerate(function.signature.params)]
        result = function.callable(caller, *args)
        if state.close_requested:  # the instance was closed under us: stop the call here
            raise ClosedError("instance closed by a host function")
        results = function.signature.results
        values = () if not results else (result,) if len(results) == 1 else tuple(result)
        if len(values) != len(results):
            raise TypeError(f"returned {len(values)} value(s), expected {len(results)}")
        for i, (valtype, value) in enumerate(zip(results, values)):
            store(returns[i], valtype, value, i)
        return _SUCCESS
    except BaseException as exc:  # noqa: BLE001 - nothing may unwind into the engine
        state.pending, state.function = exc, function.name
        return _HOST_FAILED
    finally:
        state.depth -= 1
        caller._expire()


# Made once per signature and kept for the life of the process: the engine copies the type into
# each function instance it creates, and host signatures are few (they come from the embedding
# application, never from a module).
_FUNCTION_TYPES: dict[FuncType, Any] = {}
_NAMES: dict[str, tuple[Any, Any]] = {}


def _native_function_type(signature: FuncType) -> Any:
    functype = _FUNCTION_TYPES.get(signature)
    if functype is None:
        params = ffi.new("WasmEdge_ValType[]", [NATIVE_TYPES[t] for t in signature.params] or 1)
        results = ffi.new("WasmEdge_ValType[]", [NATIVE_TYPES[t] for t in signature.results] or 1)
        created = lib.WasmEdge_FunctionTypeCreate(params, len(signature.params), results, len(signature.results))
        if created == ffi.NULL:
            raise MemoryError("WasmEdge could not create a function type")
        functype = _FUNCTION_TYPES.setdefault(signature, created)
        if functype is not created:  # another thread made it first
            lib.WasmEdge_FunctionTypeDelete(created)
    return functype


def _native_name(name: str) -> Any:
    """A ``WasmEdge_String`` for ``name`` (module and function names are copied by the engine)."""
    entry = _NAMES.get(name)
    if entry is None:
        encoded = name.encode()
        buffer = ffi.new("char[]", encoded)
        string = ffi.new("WasmEdge_String *", {"Length": len(encoded), "Buf": buffer})
        entry = _NAMES.setdefault(name, (string, buffer))
    return entry[0][0]


def create_native(host: HostModule, state: HostCallState, keep_alive: list[Any]) -> Any:
    """A native module instance exporting ``host``'s functions; the caller owns it."""
    native = lib.WasmEdge_ModuleInstanceCreate(_native_name(host.name))
    for function in host.functions:
        handle = ffi.new_handle((state, function))
        keep_alive.append(handle)
        instance = lib.WasmEdge_FunctionInstanceCreate(
            _native_function_type(function.signature), _trampoline, handle, 0
        )
        lib.WasmEdge_ModuleInstanceAddFunction(native, _native_name(function.name), instance)
    return native
