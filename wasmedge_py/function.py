"""Function: an exported WebAssembly function with its signature, callable from Python."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._ffi import ffi, lib
from .errors import ArgumentError, ClosedError
from .types import FuncType
from .values import load, store

if TYPE_CHECKING:
    from .instance import Instance


class Function:
    """A view of one export of an Instance; it owns no handle, so it is valid while the instance is
    open. Parameter and result arrays are allocated once and reused by every call."""

    def __init__(self, instance: "Instance", name: str, native: Any, signature: FuncType) -> None:
        self.instance = instance
        self.name = name
        self.signature = signature
        self._native = native
        self._params = ffi.new("WasmEdge_Value[]", max(len(signature.params), 1))
        self._results = ffi.new("WasmEdge_Value[]", max(len(signature.results), 1))

    def __call__(self, *args: int | float, timeout: float | None = None) -> Any:
        """Call with Python ints/floats; returns None, one value, or a tuple for multi-value.

        With ``timeout`` (seconds) the engine itself stops a call that runs longer, raising
        ``Interrupted``; the instance stays usable afterwards."""
        params, results = self.signature.params, self.signature.results
        if len(args) != len(params):
            raise ArgumentError(f"{self.name}{self.signature} takes {len(params)} argument(s), got {len(args)}")
        instance = self.instance
        with instance.lock:
            if instance.closed:
                raise ClosedError(f"instance is closed; cannot call {self.name}")
            for position, (valtype, value) in enumerate(zip(params, args)):
                store(self._params[position], valtype, value, position)
            result = self._invoke(timeout)
            if result.Code != 0:
                instance._raise_call_error(result, self.name, timeout)
            values = [load(self._results[i], valtype) for i, valtype in enumerate(results)]
        if not values:
            return None
        return values[0] if len(values) == 1 else tuple(values)

    def _invoke(self, timeout: float | None = None) -> Any:
        """Run the call on the arguments already stored; returns the raw ``WasmEdge_Result``."""
        if self.instance.fuel is not None:  # the budget is per call: start from zero
            lib.WasmEdge_StatisticsClear(self.instance._statistics)
        if timeout is not None:
            return self._invoke_with_deadline(timeout)
        return lib.WasmEdge_ExecutorInvoke(
            self.instance._executor, self._native, self._params, len(self.signature.params),
            self._results, len(self.signature.results),
        )

    def _invoke_with_deadline(self, timeout: float) -> Any:
        """Run the call on WasmEdge's async executor and cancel it at the deadline; the engine
        checks for cancellation in loops and calls, so even a runaway loop stops promptly."""
        milliseconds = max(1, int(timeout * 1000))
        pending = lib.WasmEdge_ExecutorAsyncInvoke(
            self.instance._executor, self._native, self._params, len(self.signature.params)
        )
        if pending == ffi.NULL:
            raise MemoryError("WasmEdge could not start an asynchronous call")
        try:
            if not lib.WasmEdge_AsyncWaitFor(pending, milliseconds):
                lib.WasmEdge_AsyncCancel(pending)
                lib.WasmEdge_AsyncWait(pending)
            return lib.WasmEdge_AsyncGet(pending, self._results, len(self.signature.results))
        finally:
            lib.WasmEdge_AsyncDelete(pending)

    def __repr__(self) -> str:
        return f"<Function {self.name}{self.signature}>"
