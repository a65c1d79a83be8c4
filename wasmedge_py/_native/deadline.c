/* Deadline checks: how AOT code compiled without WasmEdge's interruptible flag is stopped at its
 * deadline (see wasmedge_py/deadline.py and sandbox.add_deadline_checks).
 *
 * The rewritten module counts its work in a global and, about every WPY_CHECK_INTERVAL weighted
 * instructions, calls the host function wpy_deadline_check (imported as
 * __wasmedge_py.deadline_check () -> i32). It traps with WasmEdge's "interrupted" code (0x07, what
 * a cancelled call returns) once the deadline of the call running on this thread has passed, else
 * returns the refill. The deadline is thread-local: a timed call sets it around ExecutorInvoke
 * (wpy_invoke_function_deadline), and a nested timed call (from a host function) takes the
 * earlier of its own and the outer one and restores the outer one when it returns. No thread and
 * no lock is involved. */

#include <stdatomic.h>

#define WPY_CHECK_INTERVAL (1 << 20) /* sandbox.CHECK_INTERVAL (tests/test_aot_interruption.py) */
#define WPY_INTERRUPTED 0x07         /* WasmEdge_ErrCode_Interrupted */
#define WPY_DEADLINE_NONE UINT64_MAX

uint64_t wpy_now_ns(void); /* watchdog.c */

static _Thread_local uint64_t wpy_deadline_ns = WPY_DEADLINE_NONE;
static atomic_int wpy_deadline_all_stopped; /* at interpreter exit: every check traps */

WasmEdge_Result wpy_deadline_check(void *Data, const WasmEdge_CallingFrameContext *Frame,
                                   const WasmEdge_Value *Params, WasmEdge_Value *Returns) {
    (void)Data, (void)Frame, (void)Params;
    uint64_t deadline = wpy_deadline_ns;
    if ((deadline != WPY_DEADLINE_NONE && wpy_now_ns() >= deadline) ||
        atomic_load_explicit(&wpy_deadline_all_stopped, memory_order_relaxed)) {
        return (WasmEdge_Result){.Code = WPY_INTERRUPTED};
    }
    Returns[0] = WasmEdge_ValueGenI32(WPY_CHECK_INTERVAL);
    return WasmEdge_Result_Success;
}

void wpy_deadline_stop_all(void) { atomic_store(&wpy_deadline_all_stopped, 1); }

/* ExecutorInvoke on this thread, with this thread's deadline at most ``Timeout`` seconds away
 * (clamped as wpy_arm clamps it); the result code (0x07 once a check saw the deadline pass). */
uint32_t wpy_invoke_function_deadline(WasmEdge_ExecutorContext *Executor,
                                      const WasmEdge_FunctionInstanceContext *Function, const WasmEdge_Value *Params,
                                      uint32_t ParamLen, WasmEdge_Value *Returns, uint32_t ReturnLen,
                                      double Timeout) {
    if (!(Timeout >= 0 && Timeout <= WPY_MAX_TIMEOUT_S)) Timeout = Timeout < 0 ? 0 : WPY_MAX_TIMEOUT_S;
    uint64_t outer = wpy_deadline_ns;
    uint64_t deadline = wpy_now_ns() + (uint64_t)(Timeout * 1e9);
    wpy_deadline_ns = deadline < outer ? deadline : outer;
    uint32_t code =
        WasmEdge_ResultGetCode(WasmEdge_ExecutorInvoke(Executor, Function, Params, ParamLen, Returns, ReturnLen));
    wpy_deadline_ns = outer;
    return code;
}

uint32_t wpy_invoke_deadline(const wpy_call *Call, double Timeout) {
    return wpy_invoke_function_deadline(Call->Executor, Call->Function, Call->Params, Call->ParamLen, Call->Returns,
                                        Call->ReturnLen, Timeout);
}
