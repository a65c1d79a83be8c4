"""Deadlines for code with deadline checks: how a timeout stops AOT code compiled without
WasmEdge's interruptible flag (whose atomic check at every call and loop costs 4-9x on call-heavy
code).

``sandbox.add_deadline_checks`` makes the module count its work in a global and call the host
function ``__wasmedge_py.deadline_check`` about every ``sandbox.CHECK_INTERVAL`` weighted
instructions (well under a millisecond of a tight loop). The check traps with WasmEdge's own
"interrupted" code, so the caller sees the same ``Interrupted`` as a watchdog stop, once the
deadline of the call running on this thread has passed; else it refills the counter.

- The deadline is thread-local, set around the call by :func:`invoke_timed` (no watchdog, no
  thread, no lock). A call without a timeout runs under the deadline already set on its thread:
  none at the top level, the outer call's inside a host function; a nested timed call takes the
  earlier of its own and the outer one, and restores the outer one when it returns.
- One process-wide module instance provides the import (:func:`module_instance`); every store of
  an instance of such a module registers it, and nothing ever frees it.
- In API mode with ``_native/deadline.c`` built, the check and the timed call are C; otherwise
  (ABI mode, or an extension built before it) the same rules in Python. The check runs rarely,
  so Python costs little there, but it needs the GIL.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ._checks import MAX_TIMEOUT_S
from ._ffi import ffi, invoke, lib
from .host import _native_function_type, _native_name
from .sandbox import CHECK_INTERVAL, DEADLINE_FUNCTION, DEADLINE_MODULE
from .types import FuncType, ValType

INTERRUPTED = 0x07  # WasmEdge_ErrCode_Interrupted: what a cancelled call returns
NATIVE = hasattr(lib, "wpy_invoke_deadline")  # the extension has _native/deadline.c


class _Deadline(threading.local):
    seconds = float("inf")  # time.monotonic() of the running call's deadline on this thread


_deadline = _Deadline()
_all_stopped = False  # at interpreter exit: every check traps
_I32 = lib.WasmEdge_ValTypeGenI32()


@ffi.callback("WasmEdge_Result(void *, const WasmEdge_CallingFrameContext *, const WasmEdge_Value *, WasmEdge_Value *)")
def _check_in_python(_data: Any, _frame: Any, _params: Any, returns: Any) -> Any:
    if _all_stopped or time.monotonic() >= _deadline.seconds:
        return {"Code": INTERRUPTED}
    returns[0].Value.Words[0] = CHECK_INTERVAL
    returns[0].Value.Words[1] = 0
    returns[0].Type = _I32
    return {"Code": 0}


def _invoke_timed_in_python(context: Any, timeout: float) -> int:
    if not 0 <= timeout <= MAX_TIMEOUT_S:  # checked by the public API; clamped as the watchdog does
        timeout = 0.0 if timeout < 0 else MAX_TIMEOUT_S
    outer = _deadline.seconds
    _deadline.seconds = min(outer, time.monotonic() + timeout)
    try:
        return invoke(context)
    finally:
        _deadline.seconds = outer


# ``invoke_timed(context, seconds) -> result code``: a packed call (_ffi.call_context) run on this
# thread under a deadline ``seconds`` away; the same contract as executor.invoke_timed.
invoke_timed = lib.wpy_invoke_deadline if NATIVE else _invoke_timed_in_python

_module: Any = None
_module_lock = threading.Lock()


def module_instance() -> Any:
    """The native module ``__wasmedge_py`` exporting ``deadline_check``, made on first use and
    never freed: WasmEdge lets one module instance be registered into any number of stores."""
    global _module
    with _module_lock:
        if _module is None:
            check = ffi.addressof(lib, "wpy_deadline_check") if NATIVE else _check_in_python
            functype = _native_function_type(FuncType((), (ValType.I32,)))
            function = lib.WasmEdge_FunctionInstanceCreate(functype, check, ffi.NULL, 0)
            module = lib.WasmEdge_ModuleInstanceCreate(_native_name(DEADLINE_MODULE))
            if function == ffi.NULL or module == ffi.NULL:
                raise MemoryError("WasmEdge could not create the deadline check")
            lib.WasmEdge_ModuleInstanceAddFunction(module, _native_name(DEADLINE_FUNCTION), function)
            _module = module
        return _module


def stop_all() -> None:
    """Make every deadline check in the process trap (at interpreter exit: calls still running
    on daemon threads must unwind before finalization)."""
    global _all_stopped
    _all_stopped = True
    if NATIVE:
        lib.wpy_deadline_stop_all()
