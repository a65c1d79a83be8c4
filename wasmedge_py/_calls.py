"""What a call on an instance needs of it (``CallContext``, handed to each ``Function``), and how a
failed call becomes an exception (``CallErrors``).

Kept apart from Instance so that Function calls through this interface rather than the instance's
private fields, and so the failure rules (host-function errors, a close from inside a host
function, timeouts, the stack guard) are in one place."""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, NoReturn

from ._ffi import ffi, invoke, lib
from .deadline import stop_all as stop_deadline_checks
from .errors import ClosedError, Interrupted, StackExhausted, engine_error
from .executor import Executor, invoke_timed
from .host import HostCallState, HostFunctionError
from .sandbox import RESET_EXPORT, SLOT_BYTES

_RESET = RESET_EXPORT.encode()


class CallErrors:
    """Maps the result of one instance's failed calls to the exception to raise.

    Only the outermost call (no host function of this instance below it on the stack) may reset
    the stack guard or free an instance closed during the call: a nested call's failure unwinds
    into a host function, and the outer call is still running."""

    __slots__ = ("_deferred_free", "_executor", "_fuel", "_host_state", "_owned", "_stack_slots")

    def __init__(
        self, host_state: HostCallState | None, stack_slots: int | None, owned: Any, executor: Executor, fuel: bool
    ) -> None:
        self._host_state = host_state
        self._stack_slots = stack_slots  # set when the module's call stack is guarded
        self._owned = owned  # the instance's handle, for the stack guard's reset export
        self._executor = executor
        self._fuel = fuel
        self._deferred_free: Callable[[], None] | None = None

    def defer_free(self, retain: Callable[[], Callable[[], None]]) -> None:
        """On a close from inside one of the instance's own host functions: keep it alive (with
        what ``retain`` returns) until the running call has unwound; else nothing to do."""
        state = self._host_state
        if state is not None and state.depth:
            self._deferred_free = retain()
            state.close_requested = True

    def _reset_stack_guard(self) -> int | None:
        """Zero the stack guard's counter (its export is looked up only here, on a failed call,
        which also re-arms the guard); what it held, or None if the reset failed."""
        function = lib.WasmEdge_ModuleInstanceFindFunction(
            self._owned.ptr, lib.WasmEdge_StringWrap(_RESET, len(_RESET))
        )
        if function == ffi.NULL:
            return None
        if self._fuel:  # the budget is per call, this one's too
            lib.WasmEdge_StatisticsClear(self._executor.statistics)
        used = ffi.new("WasmEdge_Value[]", 1)
        if lib.WasmEdge_ExecutorInvoke(self._executor.executor, function, ffi.NULL, 0, used, 1).Code:
            return None
        return used[0].Value.I32

    def raise_for(self, result: Any, name: str, timeout: float | None = None) -> NoReturn:
        """Raise the exception for ``result`` of ``name()`` (called with the instance's lock held)."""
        state = self._host_state
        raised = state.take() if state is not None else None
        outermost = state is None or state.depth == 0
        if self._deferred_free is not None:  # closed from one of its own host functions
            if outermost:
                release, self._deferred_free = self._deferred_free, None
                state.close_requested = False  # type: ignore[union-attr]  # set only with a host state
                release()  # the call has unwound: nothing native of this instance is in use now
            raise ClosedError(f"instance was closed while {name}() ran; the call was stopped") from None
        if raised is not None:
            exc, function = raised
            error: Exception = HostFunctionError(
                f"{name}() failed: host function {function} raised {type(exc).__name__}: {exc}",
                code=lib.WasmEdge_ResultGetCode(result),
                engine_message=str(exc),
            )
            error.__cause__ = exc
        else:
            error = engine_error(result, f"{name}() failed")
            if isinstance(error, Interrupted) and timeout is not None:
                error = Interrupted(
                    f"{name}() timed out after {round(timeout * 1000)} ms: {error.engine_message}",
                    code=error.code,
                    engine_message=error.engine_message,
                )
        # A trap leaves the stack guard's counter raised: reset it (which also re-arms the guard),
        # and tell an exhausted stack from other traps.
        if outermost and self._stack_slots:
            used = self._reset_stack_guard()
            if used is not None and used > self._stack_slots and raised is None:
                raise StackExhausted(
                    f"{name}() failed: call stack exhausted (limit {self._stack_slots * SLOT_BYTES} bytes)",
                    code=error.code,  # type: ignore[attr-defined]  # every error here is an engine error
                    engine_message="call stack exhausted",
                ) from None
        raise error


class CallContext:
    """What every Function of one instance calls through: the instance's lock and open state, its
    executor, the per-call fuel reset, and the failure mapping."""

    __slots__ = (
        "__weakref__",
        "errors",
        "executor",
        "fuel",
        "interruptible",
        "invoke_timed",
        "invoke_untimed",
        "lock",
        "native_executor",
        "owned",
        "statistics",
    )

    def __init__(self, owned: Any, executor: Executor, fuel: bool, interruptible: bool, errors: CallErrors) -> None:
        self.lock = threading.RLock()
        self.owned = owned  # its ``closed`` is checked under the lock before every call
        self.native_executor = executor.executor
        self.statistics = executor.statistics  # NULL when the executor counts nothing
        self.fuel = fuel  # whether each call starts from a cleared budget
        self.interruptible = interruptible  # whether the code checks for cancellation (timeouts)
        self.errors = errors
        self.executor = executor  # also stops timed calls at their deadline
        # ``invoke_timed(packed call, seconds) -> result code``: how this instance's timed calls
        # are stopped (the executor's stop handle and a watchdog, see executor.py).
        self.invoke_timed = invoke_timed
        # ``invoke_untimed(packed call) -> result code``: _ffi.invoke, or a replay of calls already
        # made (the native lifecycle hands over an instance it ran: _lifecycle.py).
        self.invoke_untimed = invoke
        _LIVE_CONTEXTS.add(self)

    def invoke(
        self, native: Any, params: Any, n_params: int, results: Any, n_results: int, timeout: float | None
    ) -> int:
        """Run the call on the arguments already stored, unpacked (Function packs its own once);
        returns the result code."""
        if self.fuel:  # the budget is per call: start from zero
            lib.WasmEdge_StatisticsClear(self.statistics)
        if timeout is not None:
            return self.executor.invoke_with_deadline(native, params, n_params, results, n_results, timeout)
        return lib.WasmEdge_ExecutorInvoke(self.native_executor, native, params, n_params, results, n_results).Code


_LIVE_CONTEXTS: weakref.WeakSet[CallContext] = weakref.WeakSet()
EXIT_GRACE_S = 1.0


def _stop_calls_at_exit() -> None:
    """At interpreter exit, stop the calls still running on daemon threads and give them up to
    ``EXIT_GRACE_S`` to unwind. Finalization would otherwise end such a thread inside a host
    function, with the engine's C++ frames on its stack (``std::terminate``: the process aborts).
    Only instances busy on another thread are stopped: an idle one is left without a stale stop."""
    deadline = time.monotonic() + EXIT_GRACE_S
    for context in list(_LIVE_CONTEXTS):
        while not context.lock.acquire(timeout=0.01):  # held by a call on another thread
            if time.monotonic() >= deadline:
                return
            lib.WasmEdge_AsyncCancel(context.executor.stop_handle)  # repeated: a nested call may take one
            stop_deadline_checks()  # code with deadline checks ignores the cancel
        context.lock.release()


atexit.register(_stop_calls_at_exit)
