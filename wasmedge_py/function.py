"""Function: an exported WebAssembly function with its signature, callable from Python."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._checks import MAX_TIMEOUT_S, timeout_seconds
from ._ffi import call_context, ffi, lib
from .errors import ArgumentError, ClosedError
from .executor import NO_WATCHDOG
from .types import FuncType, ValType
from .values import INTEGER_RANGES, NATIVE_TYPES, decoder, encoder

if TYPE_CHECKING:
    from ._calls import CallContext, CallErrors
    from .instance import Instance


class Function:
    """A view of one export of an Instance; it owns no handle, so it is valid while the instance is
    open. Parameter and result arrays, their value types, the converters and a call specialised
    for the signature are set up once, so a call only converts values and invokes."""

    __slots__ = (
        "_call",
        "_calls",
        "_context",
        "_decoders",
        "_encoders",
        "_n_params",
        "_n_results",
        "_native",
        "_params",
        "_plan",
        "_results",
        "_timed",
        "instance",
        "name",
        "signature",
    )

    def __init__(self, instance: Instance, name: str, native: Any, signature: FuncType, calls: CallContext) -> None:
        """``calls`` is the instance's call context: everything a call needs of the instance."""
        self.instance = instance
        self._calls = calls
        self.name = name
        self.signature = signature
        self._native = native
        self._n_params, self._n_results = len(signature.params), len(signature.results)
        plan = _plan(signature)
        self._params = ffi.new("WasmEdge_Value[]", max(self._n_params, 1))
        ffi.memmove(self._params, plan.typed_params, ffi.sizeof(plan.typed_params))  # the value types
        self._results = ffi.new("WasmEdge_Value[]", max(self._n_results, 1))
        self._encoders, self._decoders = plan.encoders, plan.decoders
        self._plan = plan
        # The specialised calls (without and with a timeout) are bound on the second call of
        # their kind: binding costs more than it saves for a function called once (each of a
        # plugin's, in a fresh instance per request).
        self._context: Any = None
        self._call: Callable[[tuple], Any] = self._first_call
        self._timed: Callable[[tuple, Any], Any] = self._first_timed_call

    def __call__(self, *args: float, timeout: float | None = None) -> Any:
        """Call with Python ints/floats; returns None, one value, or a tuple for multi-value.

        With ``timeout`` (seconds) the engine itself stops a call that runs longer, raising
        ``Interrupted``; the instance stays usable afterwards."""
        if timeout is None:
            return self._call(args)
        return self._timed(args, timeout)

    def _first_call(self, args: tuple) -> Any:
        self._call = self._bind_call
        return self._general_call(args, None)

    def _first_timed_call(self, args: tuple, timeout: Any) -> Any:
        self._timed = self._bind_timed_call
        return self._general_call(args, timeout_seconds(timeout))

    def _packed_context(self) -> Any:
        """This function's call packed once for ``invoke`` / ``invoke_timed`` (see _ffi.py)."""
        if self._context is None:
            calls = self._calls
            self._context = call_context(
                calls.native_executor,
                self._native,
                self._params,
                self._n_params,
                self._results,
                self._n_results,
                calls.executor.stop_handle,
            )
        return self._context

    def _bind_call(self, args: tuple) -> Any:
        self._call = self._bind(timed=False)
        return self._call(args)

    def _bind_timed_call(self, args: tuple, timeout: Any) -> Any:
        self._timed = self._bind(timed=True)
        return self._timed(args, timeout)

    def _bind(self, timed: bool) -> Callable:
        calls = self._calls
        return self._plan.specialised(calls.fuel, timed)(
            calls.lock.acquire,
            calls.lock.release,
            calls.owned,
            functools.partial(lib.WasmEdge_StatisticsClear, calls.statistics) if calls.fuel else None,
            calls.invoke_timed if timed else calls.invoke_untimed,
            self._packed_context(),
            calls.interruptible,
            calls.errors,
            self.name,
            self.signature,
            [self._params[i].Value.Words for i in range(self._n_params)],
            [self._results[i].Value for i in range(self._n_results)],
            self._encoders,
            self._decoders,
        )

    def _general_call(self, args: tuple, timeout: float | None) -> Any:
        """The general path: first calls, with and without a deadline."""
        if len(args) != self._n_params:
            _wrong_count(self.name, self.signature, args)
        calls = self._calls
        with calls.lock:
            if calls.owned.closed:
                _closed(self.name)
            params = self._params
            for position, (encode, value) in enumerate(zip(self._encoders, args)):
                params[position].Value.Words[0] = encode(value, position)  # the high word stays 0
            if timeout is not None and not calls.interruptible:
                _not_interruptible(self.name)
            if calls.fuel:  # the budget is per call: start from zero
                lib.WasmEdge_StatisticsClear(calls.statistics)
            context = self._packed_context()
            code = calls.invoke_untimed(context) if timeout is None else calls.invoke_timed(context, timeout)
            if code:
                _fail(calls.errors, self.name, code, timeout)
            if self._n_results == 1:
                return self._decoders[0](self._results[0].Value)
            results = self._results
            values = tuple(decode(results[i].Value) for i, decode in enumerate(self._decoders))
        return values or None

    def __repr__(self) -> str:
        return f"<Function {self.name}{self.signature}>"


class _Plan:
    """What every function with one signature shares: converters, native parameter types, and the
    specialised call (compiled on first use, with and without the per-call fuel reset).
    Unsupported types (v128, references) are reported when called, not when looked up."""

    __slots__ = ("_specialised", "decoders", "encoders", "signature", "typed_params")

    def __init__(self, signature: FuncType) -> None:
        self.signature = signature
        self.encoders = tuple(_converter(encoder, t) for t in signature.params)
        self.decoders = tuple(_converter(decoder, t) for t in signature.results)
        # A parameter array with the value types filled in, copied into each function's own.
        self.typed_params = ffi.new("WasmEdge_Value[]", max(len(signature.params), 1))
        for slot, valtype in zip(self.typed_params, signature.params):
            native_type = NATIVE_TYPES.get(valtype)
            if native_type is not None:
                slot.Type = native_type
        self._specialised: dict[tuple[bool, bool], Callable[..., Callable]] = {}

    def specialised(self, fuel: bool, timed: bool) -> Callable[..., Callable]:
        bind = self._specialised.get((fuel, timed))
        if bind is None:
            bind = self._specialised[fuel, timed] = _compile_call(self.signature, fuel, timed)
        return bind


_plan = functools.lru_cache(maxsize=256)(_Plan)


def _wrong_count(name: str, signature: FuncType, args: tuple) -> None:
    raise ArgumentError(f"{name}{signature} takes {len(signature.params)} argument(s), got {len(args)}")


def _closed(name: str) -> None:
    raise ClosedError(f"instance is closed; cannot call {name}")


def _not_interruptible(name: str) -> None:
    raise ArgumentError(f"{name}(): a timeout needs code compiled with interruptible=True")


def _fail(errors: CallErrors, name: str, code: int, timeout: float | None = None) -> None:
    """Raise the error for a failed call's result code (the lock is held)."""
    if code == NO_WATCHDOG:
        raise RuntimeError(f"{name}(): cannot start the watchdog thread that enforces the timeout")
    result = ffi.new("WasmEdge_Result *", (code,))  # owns the struct passed on below
    errors.raise_for(result[0], name, timeout)


def _converter(lookup: Callable[[ValType], Callable], valtype: ValType) -> Callable:
    try:
        return lookup(valtype)
    except ArgumentError as exc:
        message = str(exc)

        def unsupported(*_: object) -> Any:
            raise ArgumentError(message)

        return unsupported


# The call written out for one signature (as dataclasses writes __init__), without a timeout
# (``call(args)``) or with one (``call(args, timeout)``, stopped by the watchdog: invoke is then
# invoke_timed): the argument count is a constant, arguments are unpacked into locals, a plain
# in-range int is encoded inline (anything else goes to the type's encoder, which accepts int
# subclasses and raises the ArgumentError / ValueRangeError), integer results are read straight off
# the union, and everything the call touches is a closure variable bound once per Function (not the
# Function itself: no reference cycle, so a closed instance's functions are freed at once). Same
# checks in the same order as _general_call: timeout, count, lock, closed, arguments left to right,
# interruptible, fuel reset, invoke, error mapping, results.
_TEMPLATE = """\
def bind(acquire, release, owned, clear, invoke, context, interruptible, errors, name, signature, words, values,
         encoders, decoders):
{unpack_bound}
    def call(args{timeout_param}):
{check_timeout}
        if len(args) != {n}:
            wrong_count(name, signature, args)
{unpack_args}
        acquire()
        try:
            if owned.closed:
                closed(name)
{body}
            code = invoke(context{timeout_arg})
            if code:
                fail(errors, name, code{timeout_arg})
            return {result}
        finally:
            release()

    return call
"""


def _names(letter: str, count: int) -> str:
    return "".join(f"{letter}{i}, " for i in range(count))


def _compile_call(signature: FuncType, fuel: bool, timed: bool) -> Callable[..., Callable]:
    """``bind(...) -> call(args[, timeout])`` for ``signature`` (see _TEMPLATE)."""
    params, results = signature.params, signature.results
    unpack_bound = []
    if params:
        unpack_bound += [f"({_names('w', len(params))}) = words", f"({_names('e', len(params))}) = encoders"]
    if results:
        unpack_bound += [f"({_names('r', len(results))}) = values", f"({_names('d', len(results))}) = decoders"]
    body = []
    for i, valtype in enumerate(params):
        if valtype in INTEGER_RANGES:
            low, high, mask = INTEGER_RANGES[valtype]
            body.append(
                f"w{i}[0] = a{i} & {mask:#x} if type(a{i}) is int and {low} <= a{i} <= {high} else e{i}(a{i}, {i})"
            )
        else:
            body.append(f"w{i}[0] = e{i}(a{i}, {i})")
    if timed:
        body.append("if not interruptible:\n    not_interruptible(name)")
    if fuel:  # the budget is per call: start from zero
        body.append("clear()")
    decoded = [
        f"r{i}.I32" if t == ValType.I32 else f"r{i}.I64" if t == ValType.I64 else f"d{i}(r{i})"
        for i, t in enumerate(results)
    ]
    check_timeout = (
        f"        if type(timeout) is not float or not 0.0 < timeout <= {float(MAX_TIMEOUT_S)!r}:\n"
        "            timeout = timeout_seconds(timeout)"
    )
    source = _TEMPLATE.format(
        n=len(params),
        unpack_bound="".join(f"    {line}\n" for line in unpack_bound),
        timeout_param=", timeout" if timed else "",
        timeout_arg=", timeout" if timed else "",
        check_timeout=check_timeout if timed else "",
        unpack_args=f"        ({_names('a', len(params))}) = args" if params else "",
        body="\n".join(" " * 12 + line.replace("\n", "\n" + " " * 12) for line in body),
        result="None" if not results else decoded[0] if len(results) == 1 else f"({', '.join(decoded)},)",
    )
    namespace: dict[str, Any] = {
        "wrong_count": _wrong_count,
        "closed": _closed,
        "fail": _fail,
        "not_interruptible": _not_interruptible,
        "timeout_seconds": timeout_seconds,
    }
    exec(compile(source, f"<wasmedge_py call {signature}>", "exec"), namespace)  # noqa: S102
    return namespace["bind"]
