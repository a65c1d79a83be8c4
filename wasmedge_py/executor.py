"""Executors, and stopping a call at its deadline without a thread per call.

WasmEdge 0.14 offers one way to stop a running call from outside: ``WasmEdge_AsyncCancel``, which
sets the stop flag of the *executor* the ``WasmEdge_Async`` was made from (any call running on
that executor stops at its next check, in the interpreter and in interruptible AOT code). Its
``WasmEdge_ExecutorAsyncInvoke`` starts a native thread per call, though (40–50 µs, more than the
rest of a plugin's lifecycle). So instead:

- every executor gets one *stop handle* when it is made: an Async whose call fails its signature
  check at once (one argument for a function of none), so it runs nothing; only its cancel is used;
- timed calls run synchronously on the caller's thread, and one watchdog thread cancels through
  the stop handle a call still running at its deadline: in API mode a native thread of the
  extension (wasmedge_py/_native/watchdog.c, armed and disarmed in C around the call, no Python on
  the timed path), in ABI mode ``Watchdog`` below (same rules, in Python);
- a stop that lands just after the call returned would stop the *next* call, so it is consumed
  with a call to a no-op function;
- executors (with their statistics and stop handle) are pooled per configuration by this module
  (``pool_for``; a Config calls ``forget_config`` when it is freed) and reused by later instances, so making the handle's one thread is paid once per pooled executor, not per instance.
  An executor keeps no state of the instances it ran beyond its statistics (cleared and re-limited
  on reuse) and its stop flag (never left set).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from ._checks import MAX_TIMEOUT_S
from ._ffi import MODE, call_context, ffi, lib, native_invoke_timed
from .errors import ClosedError

log = logging.getLogger(__name__)

UNLIMITED_COST = 2**64 - 1  # what a new executor's statistics start with
INTERRUPTED = 0x07  # WasmEdge_ErrCode_Interrupted
IDLE_EXECUTORS = 64  # per pool; more are deleted when returned
# Seconds between repeated stops of a call past its deadline: soon at first (a nested call took
# the stop), then backing off, so a call stuck in a host function costs few wake-ups.
_REPEAT_STOP, _REPEAT_STOP_MAX = 0.005, 0.1
_LONGEST_WAIT = 3600.0  # the watchdog wakes at least hourly, whatever the deadlines (no OS clock overflow)
# What a timed call returns when no watchdog thread can be started (no WasmEdge code is this).
NO_WATCHDOG = 0xFFFFFFFF


@ffi.callback("WasmEdge_Result(void *, const WasmEdge_CallingFrameContext *, const WasmEdge_Value *, WasmEdge_Value *)")
def _nothing(_data: Any, _frame: Any, _params: Any, _returns: Any) -> Any:
    return {"Code": 0}


def _make_noop() -> Any:
    functype = lib.WasmEdge_FunctionTypeCreate(ffi.NULL, 0, ffi.NULL, 0)
    try:
        noop = lib.WasmEdge_FunctionInstanceCreate(functype, _nothing, ffi.NULL, 0)
    finally:
        lib.WasmEdge_FunctionTypeDelete(functype)
    if noop == ffi.NULL:
        raise MemoryError("WasmEdge could not create a function instance")
    return noop


# One per process, never freed: every stop handle refers to it, and drains call it. In API mode
# the extension's C no-op (draining then runs no Python either).
_NOOP = lib.wpy_noop() if MODE == "api" else _make_noop()
if _NOOP == ffi.NULL:
    raise MemoryError("WasmEdge could not create a function instance")
_ONE_ARGUMENT = ffi.new("WasmEdge_Value[]", 1)
_ONE_ARGUMENT[0].Type = lib.WasmEdge_ValTypeGenI32()


class Executor:
    """A native executor, its statistics context (or NULL) and its stop handle."""

    __slots__ = ("executor", "statistics", "stop_handle")

    def __init__(self, config_ptr: Any, with_statistics: bool) -> None:
        self.statistics = lib.WasmEdge_StatisticsCreate() if with_statistics else ffi.NULL
        self.executor = lib.WasmEdge_ExecutorCreate(config_ptr, self.statistics)
        if self.executor == ffi.NULL:
            self._delete_statistics()
            raise MemoryError("WasmEdge could not create an executor")
        self.stop_handle = lib.WasmEdge_ExecutorAsyncInvoke(self.executor, _NOOP, _ONE_ARGUMENT, 1)
        if self.stop_handle == ffi.NULL:
            lib.WasmEdge_ExecutorDelete(self.executor)
            self._delete_statistics()
            raise MemoryError("WasmEdge could not start an asynchronous call")
        lib.WasmEdge_AsyncWait(self.stop_handle)  # its thread is done before anything else runs here

    def reset(self) -> None:
        """As new for the next instance: counters at zero, no cost limit (the instance sets its own)."""
        if self.statistics != ffi.NULL:
            lib.WasmEdge_StatisticsClear(self.statistics)
            lib.WasmEdge_StatisticsSetCostLimit(self.statistics, UNLIMITED_COST)

    def invoke_with_deadline(
        self, function: Any, params: Any, n_params: int, results: Any, n_results: int, timeout: float
    ) -> int:
        """``WasmEdge_ExecutorInvoke`` on this thread, stopped by the engine after ``timeout``
        seconds; the result code."""
        context = call_context(self.executor, function, params, n_params, results, n_results, self.stop_handle)
        return invoke_timed(context, timeout)

    def delete(self) -> None:
        lib.WasmEdge_AsyncDelete(self.stop_handle)
        lib.WasmEdge_ExecutorDelete(self.executor)
        self._delete_statistics()

    def _delete_statistics(self) -> None:
        if self.statistics != ffi.NULL:
            lib.WasmEdge_StatisticsDelete(self.statistics)


class ExecutorPool:
    """Idle executors made from one configuration; thread-safe. After ``close()`` returned
    executors are deleted instead of kept."""

    def __init__(self, config_ptr: Any, with_statistics: bool) -> None:
        self._config_ptr = config_ptr
        self._with_statistics = with_statistics
        self._idle: list[Executor] = []
        self._lock = threading.Lock()
        self._closed = False

    def take(self) -> Executor:
        with self._lock:
            if self._closed:
                raise ClosedError("config is closed")
            executor = self._idle.pop() if self._idle else None
        if executor is None:
            executor = Executor(self._config_ptr, self._with_statistics)
        executor.reset()
        return executor

    def give(self, executor: Executor) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < IDLE_EXECUTORS:
                self._idle.append(executor)
                return
        executor.delete()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for executor in idle:
            executor.delete()


# The pools of every live configuration, by the address of its native context and whether its
# executors count statistics. A Config reports its end (``forget_config``) before its context is
# freed, so an address is never reused while its pools are here.
_POOLS: dict[tuple[int, bool], ExecutorPool] = {}
# Reentrant: a Config's finalizer (forget_config) can run on this thread, during a collection,
# while the lock is held.
_POOLS_LOCK = threading.RLock()


def pool_for(config_ptr: Any, with_statistics: bool) -> ExecutorPool:
    """The pool of executors (with a statistics context or without) made from ``config_ptr``."""
    key = (int(ffi.cast("uintptr_t", config_ptr)), with_statistics)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = ExecutorPool(config_ptr, with_statistics)
    return pool


def forget_config(config_ptr: Any) -> None:
    """Close the pools of a configuration about to be freed: idle executors are deleted now,
    executors still in use when they come back."""
    address = int(ffi.cast("uintptr_t", config_ptr))
    with _POOLS_LOCK:
        pools = [_POOLS.pop((address, stats), None) for stats in (False, True)]
    for pool in pools:
        if pool is not None:
            pool.close()


class Watchdog:
    """One daemon thread that cancels, through its stop handle, a call still running at its
    deadline. Arming and disarming take a lock and touch a dict; the thread is woken only when a
    new deadline is earlier than the one it sleeps towards."""

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._armed: dict[int, list] = {}  # token -> [deadline, stop handle, fired, repeat interval]
        self._tokens = 0
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None

    def arm(self, stop_handle: Any, timeout: float) -> int:
        """``timeout`` is checked by the public API (_checks.timeout_seconds); a value that got
        past it anyway (nan, inf, a century) is clamped here, so no deadline can upset the wait."""
        if not 0 <= timeout <= MAX_TIMEOUT_S:
            timeout = 0.0 if timeout < 0 else MAX_TIMEOUT_S
        deadline = time.monotonic() + timeout
        with self._condition:
            self._tokens += 1
            self._armed[self._tokens] = [deadline, stop_handle, False, _REPEAT_STOP]
            if deadline < self._wake_at:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="wasmedge-py-watchdog", daemon=True)
                    self._thread.start()
                self._wake_at = deadline
                self._condition.notify()
            return self._tokens

    def disarm(self, token: int) -> bool:
        """Whether the call was cancelled; after this returns the watchdog no longer touches it."""
        with self._condition:
            return self._armed.pop(token)[2]

    def _run(self) -> None:
        """Nothing may end this loop: if it died, no call in the process could be stopped any more
        (an arm would start a new thread, but a call already running would never be cancelled)."""
        with self._condition:
            while True:
                try:
                    self._fire_due()
                except Exception:
                    log.exception("watchdog: unexpected error (still running)")
                    self._wake_at = time.monotonic() + 0.01  # look again soon, not never

                now = time.monotonic()
                wait = None if self._wake_at == float("inf") else min(max(self._wake_at - now, 0.0), _LONGEST_WAIT)
                self._condition.wait(wait)

    def _fire_due(self) -> None:
        """Cancel every call past its deadline, and again until it is disarmed (after
        ``_REPEAT_STOP`` seconds, doubling up to ``_REPEAT_STOP_MAX``): a stop is consumed by whichever call on that executor checks first, which
        may be a nested call made by a host function (that may swallow the error); the expired
        outer call must still stop. Note when the next one is due."""
        now = time.monotonic()
        wake_at = float("inf")
        for entry in self._armed.values():
            if entry[0] <= now:
                entry[0], entry[2], entry[3] = now + entry[3], True, min(entry[3] * 2, _REPEAT_STOP_MAX)
                try:
                    lib.WasmEdge_AsyncCancel(entry[1])
                except Exception:
                    entry[0] = float("inf")  # not retried: it would fail (and log) every time
                    log.exception("watchdog: cannot stop a call (still running)")
            wake_at = min(wake_at, entry[0])
        self._wake_at = wake_at

    def _forget_thread(self) -> None:
        """In a forked child: the thread did not come along; the next arm starts a new one."""
        self._condition = threading.Condition(threading.Lock())
        self._armed.clear()
        self._wake_at = float("inf")
        self._thread = None


WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG._forget_thread)


def _invoke_timed_in_python(context: tuple, timeout: float) -> int:
    """ABI mode's ``invoke_timed``: the packed call (the tuple _ffi.call_context makes there)
    under the Python watchdog; the result code."""
    executor, function, params, n_params, results, n_results, stop_handle = context
    token = WATCHDOG.arm(stop_handle, timeout)
    try:
        code = lib.WasmEdge_ExecutorInvoke(executor, function, params, n_params, results, n_results).Code
    finally:
        fired = WATCHDOG.disarm(token)
    if fired:
        # A stop may have landed after the call had finished (the watchdog repeats it until
        # disarmed): consume it before it stops the next call.
        lib.WasmEdge_ExecutorInvoke(executor, _NOOP, ffi.NULL, 0, ffi.NULL, 0)
    return code


# ``invoke_timed(context, seconds) -> result code``: a packed call (_ffi.call_context) stopped at its
# deadline, by the native watchdog in API mode and by ``WATCHDOG`` in ABI mode.
invoke_timed = native_invoke_timed if native_invoke_timed is not None else _invoke_timed_in_python
