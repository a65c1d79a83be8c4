"""Function: an exported WebAssembly function with its signature, callable from Python."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable

from ._ffi import ffi, lib
from .errors import ArgumentError, ClosedError
from .types import FuncType, ValType
from .values import NATIVE_TYPES, decoder, encoder

if TYPE_CHECKING:
    from .instance import Instance


class Function:
    """A view of one export of an Instance; it owns no handle, so it is valid while the instance is
    open. Parameter and result arrays, their value types and the converters for the signature are
    set up once, so a call only converts values and invokes."""

    def __init__(self, instance: "Instance", name: str, native: Any, signature: FuncType) -> None:
        self.instance = instance
        self.name = name
        self.signature = signature
        self._native = native
        self._n_params, self._n_results = len(signature.params), len(signature.results)
        self._params = ffi.new("WasmEdge_Value[]", max(self._n_params, 1))
        self._results = ffi.new("WasmEdge_Value[]", max(self._n_results, 1))
        self._encoders, self._decoders, native_types = _plan(signature)
        for slot, native_type in zip(self._params, native_types):
            if native_type is not None:
                slot.Type = native_type
        self._param_words = [self._params[i].Value.Words for i in range(self._n_params)]
        self._result_values = [self._results[i].Value for i in range(self._n_results)]

    def __call__(self, *args: int | float, timeout: float | None = None) -> Any:
        """Call with Python ints/floats; returns None, one value, or a tuple for multi-value.

        With ``timeout`` (seconds) the engine itself stops a call that runs longer, raising
        ``Interrupted``; the instance stays usable afterwards."""
        if len(args) != self._n_params:
            raise ArgumentError(f"{self.name}{self.signature} takes {self._n_params} argument(s), got {len(args)}")
        instance = self.instance
        with instance.lock:
            if instance._owned.closed:
                raise ClosedError(f"instance is closed; cannot call {self.name}")
            position = 0
            for words, encode, value in zip(self._param_words, self._encoders, args):
                words[0] = encode(value, position)  # the high word stays 0
                position += 1
            result = self._invoke(timeout)
            if result.Code:
                instance._raise_call_error(result, self.name, timeout)
            if self._n_results == 1:
                return self._decoders[0](self._result_values[0])
            values = tuple(decode(value) for decode, value in zip(self._decoders, self._result_values))
        return values or None

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
        if not self.instance.interruptible:
            raise ArgumentError(f"{self.name}(): a timeout needs code compiled with interruptible=True")
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


@functools.lru_cache(maxsize=256)
def _plan(signature: FuncType) -> tuple[tuple[Callable, ...], tuple[Callable, ...], tuple[Any, ...]]:
    """Converters and native parameter types for a signature, shared by every function with it.
    Unsupported types (v128, references) are reported when called, not when looked up."""
    return (
        tuple(_converter(encoder, t) for t in signature.params),
        tuple(_converter(decoder, t) for t in signature.results),
        tuple(NATIVE_TYPES.get(t) for t in signature.params),
    )


def _converter(lookup: Callable[[ValType], Callable], valtype: ValType) -> Callable:
    try:
        return lookup(valtype)
    except ArgumentError as exc:
        message = str(exc)

        def unsupported(*_: object) -> Any:
            raise ArgumentError(message)

        return unsupported
