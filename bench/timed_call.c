/* What does a *timed* call cost against the WasmEdge C API, and is there a cheaper way to stop a
 * running call from another thread? Built and run by bench/profile_lifecycle.py:
 *
 *   gcc -O2 bench/timed_call.c -lwasmedge -lpthread -o build/bench/timed_call
 *   timed_call PLUGIN.wasm RUNAWAY.wasm CALLS REPEATS
 *
 * PLUGIN exports init/process(i32)->i32/cleanup (cpp/plugin_abi.wasm); RUNAWAY exports a
 * process(i32)->i32 that never returns (tests/hostile/runaway_loop.wat). Prints "name ns" lines,
 * each the best of REPEATS runs, then "check name ok|FAIL" lines.
 *
 * Facts from WasmEdge 0.14.1's source this relies on (include/common/async.h,
 * include/executor/executor.h, lib/executor/helper.cpp):
 *   - WasmEdge_ExecutorAsyncInvoke constructs an Async: a new detached std::thread running
 *     Executor::invoke, plus a std::promise/shared_future. A thread per call.
 *   - WasmEdge_AsyncCancel(a) runs a.StopFunc = [&executor] { executor.stop(); }: it only sets the
 *     *executor's* StopToken (an atomic) and wakes atomic waiters. It does not look at a's thread,
 *     so cancelling any Async made from executor E stops whatever runs on E now, on any thread.
 *   - The token is consumed (exchange(0)) at function entry, branches and returns; an invoke of any
 *     function starts with enterFunction, so a token set after a call finished makes the *next*
 *     call on that executor fail with "interrupted" at once (and clears it).
 * So: make one Async per executor that does nothing (a signature mismatch: invoke returns
 * FuncSigMismatch before executing anything), keep it as that executor's stop handle, run timed
 * calls synchronously with WasmEdge_ExecutorInvoke, and let one long-lived watchdog thread call
 * WasmEdge_AsyncCancel(handle) at the deadline. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wasmedge/wasmedge.h>

#define BENCH_NAME "timed_call"
#include "bench_util.h"

/* -- the current binding's timed call --------------------------------------------------------- */

static WasmEdge_Result async_call(WasmEdge_ExecutorContext *exec, const WasmEdge_FunctionInstanceContext *f,
                                  const WasmEdge_Value *params, uint32_t n_params, WasmEdge_Value *ret,
                                  uint32_t n_ret, uint64_t ms) {
    WasmEdge_Async *pending = WasmEdge_ExecutorAsyncInvoke(exec, f, params, n_params);
    if (!WasmEdge_AsyncWaitFor(pending, ms)) {
        WasmEdge_AsyncCancel(pending);
        WasmEdge_AsyncWait(pending);
    }
    WasmEdge_Result res = WasmEdge_AsyncGet(pending, ret, n_ret);
    WasmEdge_AsyncDelete(pending);
    return res;
}

/* -- the stop handle and one watchdog thread -------------------------------------------------- */

static WasmEdge_FunctionInstanceContext *noop_function; /* () -> (), never actually run */

static WasmEdge_Result noop(void *data, const WasmEdge_CallingFrameContext *frame, const WasmEdge_Value *in,
                            WasmEdge_Value *out) {
    (void)data, (void)frame, (void)in, (void)out;
    return WasmEdge_Result_Success;
}

/* An Async whose only use is WasmEdge_AsyncCancel: its invoke fails the signature check at once
 * (one argument for a function taking none), so it runs no code and touches no StopToken. */
static WasmEdge_Async *stop_handle(WasmEdge_ExecutorContext *exec) {
    WasmEdge_Value bogus = WasmEdge_ValueGenI32(0);
    return WasmEdge_ExecutorAsyncInvoke(exec, noop_function, &bogus, 1);
}

struct watchdog {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    WasmEdge_Async *target; /* the armed call's stop handle, NULL when idle */
    double deadline_ns;
    int fired, quit;
    pthread_t thread;
};

static void *watchdog_main(void *arg) {
    struct watchdog *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->quit) {
        if (w->target == NULL) {
            pthread_cond_wait(&w->wake, &w->lock);
            continue;
        }
        double left = w->deadline_ns - now_ns();
        if (left <= 0) {
            WasmEdge_AsyncCancel(w->target); /* under the lock: the caller cannot disarm meanwhile */
            w->fired = 1;
            w->target = NULL;
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        double t = until.tv_sec * 1e9 + until.tv_nsec + left;
        until.tv_sec = (time_t)(t / 1e9);
        until.tv_nsec = (long)(t - until.tv_sec * 1e9);
        pthread_cond_timedwait(&w->wake, &w->lock, &until);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void watchdog_start(struct watchdog *w) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &attr);
    pthread_mutex_init(&w->lock, NULL);
    w->target = NULL;
    w->fired = w->quit = 0;
    pthread_create(&w->thread, NULL, watchdog_main, w);
}

static void watchdog_stop(struct watchdog *w) {
    pthread_mutex_lock(&w->lock);
    w->quit = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
}

/* A timed call: arm, invoke on this thread, disarm. If the watchdog fired but the call did not
 * stop on it (it finished first), the token is stale: drain it with a call that only consumes it. */
static WasmEdge_Result watched_call(struct watchdog *w, WasmEdge_Async *handle, WasmEdge_ExecutorContext *exec,
                                    const WasmEdge_FunctionInstanceContext *f, const WasmEdge_Value *params,
                                    uint32_t n_params, WasmEdge_Value *ret, uint32_t n_ret, uint64_t ms) {
    pthread_mutex_lock(&w->lock);
    int was_idle = w->target == NULL;
    w->target = handle;
    w->fired = 0;
    w->deadline_ns = now_ns() + ms * 1e6;
    /* A real implementation keeps a deadline heap and only signals when the new deadline is the
     * earliest; with one caller, a wake is only needed when the watchdog sleeps with no target. */
    if (was_idle) pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    WasmEdge_Result res = WasmEdge_ExecutorInvoke(exec, f, params, n_params, ret, n_ret);
    pthread_mutex_lock(&w->lock);
    w->target = NULL;
    int fired = w->fired;
    pthread_mutex_unlock(&w->lock);
    if (fired && WasmEdge_ResultGetCode(res) != 0x07 /* WasmEdge_ErrCode_Interrupted */) {
        WasmEdge_ExecutorInvoke(exec, noop_function, NULL, 0, NULL, 0);
    }
    return res;
}

/* A watchdog that is never woken per call: it polls the armed deadline every tick. */
struct ticker {
    _Atomic(WasmEdge_Async *) target;
    _Atomic double deadline_ns;
    atomic_int fired, quit;
    pthread_mutex_t lock; /* held while cancelling, and by the caller while disarming */
    pthread_t thread;
    long tick_ns;
};

static void *ticker_main(void *arg) {
    struct ticker *t = arg;
    while (!atomic_load(&t->quit)) {
        struct timespec d = {0, t->tick_ns};
        nanosleep(&d, NULL);
        if (atomic_load(&t->target) && now_ns() >= atomic_load(&t->deadline_ns)) {
            pthread_mutex_lock(&t->lock);
            WasmEdge_Async *target = atomic_load(&t->target);
            if (target) {
                WasmEdge_AsyncCancel(target);
                atomic_store(&t->fired, 1);
                atomic_store(&t->target, NULL);
            }
            pthread_mutex_unlock(&t->lock);
        }
    }
    return NULL;
}

static WasmEdge_Result ticked_call(struct ticker *t, WasmEdge_Async *handle, WasmEdge_ExecutorContext *exec,
                                   const WasmEdge_FunctionInstanceContext *f, const WasmEdge_Value *params,
                                   uint32_t n_params, WasmEdge_Value *ret, uint32_t n_ret, uint64_t ms) {
    atomic_store(&t->fired, 0);
    atomic_store(&t->deadline_ns, now_ns() + ms * 1e6);
    atomic_store(&t->target, handle);
    WasmEdge_Result res = WasmEdge_ExecutorInvoke(exec, f, params, n_params, ret, n_ret);
    pthread_mutex_lock(&t->lock);
    atomic_store(&t->target, NULL);
    pthread_mutex_unlock(&t->lock);
    if (atomic_load(&t->fired) && WasmEdge_ResultGetCode(res) != 0x07)
        WasmEdge_ExecutorInvoke(exec, noop_function, NULL, 0, NULL, 0);
    return res;
}

/* -- measurements ------------------------------------------------------------------------------ */

static void *empty_thread(void *arg) { return arg; }

#define BEST(name, count, repeats, body)                                                            \
    do {                                                                                            \
        double best = -1;                                                                           \
        for (long r_ = 0; r_ < (repeats); r_++) {                                                   \
            double start_ = now_ns();                                                               \
            for (long i_ = 0; i_ < (count); i_++) {                                                 \
                body;                                                                               \
            }                                                                                       \
            double per_ = (now_ns() - start_) / (count);                                            \
            if (best < 0 || per_ < best) best = per_;                                               \
        }                                                                                           \
        printf("%s %.1f\n", name, best);                                                            \
        fflush(stdout);                                                                             \
    } while (0)

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: timed_call PLUGIN.wasm RUNAWAY.wasm CALLS REPEATS\n");
        return 2;
    }
    long calls = atol(argv[3]), repeats = atol(argv[4]);
    WasmEdge_LogOff();
    WasmEdge_ConfigureContext *conf = WasmEdge_ConfigureCreate();
    WasmEdge_ASTModuleContext *ast = load_validated(conf, argv[1]);
    WasmEdge_ASTModuleContext *runaway_ast = load_validated(conf, argv[2]);
    WasmEdge_FunctionTypeContext *noop_type = WasmEdge_FunctionTypeCreate(NULL, 0, NULL, 0);
    noop_function = WasmEdge_FunctionInstanceCreate(noop_type, noop, NULL, 0);
    WasmEdge_FunctionTypeDelete(noop_type);

    WasmEdge_StoreContext *store = WasmEdge_StoreCreate();
    WasmEdge_ExecutorContext *exec = WasmEdge_ExecutorCreate(conf, NULL);
    WasmEdge_ModuleInstanceContext *inst = NULL;
    check(WasmEdge_ExecutorInstantiate(exec, &inst, store, ast), "instantiate");
    const WasmEdge_FunctionInstanceContext *process = find(inst, "process");
    WasmEdge_Value param = WasmEdge_ValueGenI32(21), ret;
    check(WasmEdge_ExecutorInvoke(exec, find(inst, "init"), NULL, 0, &ret, 1), "init");

    /* Native building blocks of one lifecycle. */
    BEST("store_create_delete", calls, repeats, WasmEdge_StoreDelete(WasmEdge_StoreCreate()));
    BEST("executor_create_delete", calls, repeats, WasmEdge_ExecutorDelete(WasmEdge_ExecutorCreate(conf, NULL)));
    BEST("instantiate_delete", calls / 4, repeats, {
        WasmEdge_StoreContext *s = WasmEdge_StoreCreate();
        WasmEdge_ModuleInstanceContext *m = NULL;
        check(WasmEdge_ExecutorInstantiate(exec, &m, s, ast), "instantiate");
        WasmEdge_ModuleInstanceDelete(m);
        WasmEdge_StoreDelete(s);
    });
    BEST("find_function", calls, repeats, find(inst, "process"));

    /* One call, untimed and timed. */
    BEST("invoke", calls, repeats, check(WasmEdge_ExecutorInvoke(exec, process, &param, 1, &ret, 1), "invoke"));
    BEST("async_invoke_waitfor_get_delete", calls / 10, repeats,
         check(async_call(exec, process, &param, 1, &ret, 1, 1000), "async"));
    BEST("pthread_create_join_empty", calls / 10, repeats, {
        pthread_t t;
        pthread_create(&t, NULL, empty_thread, NULL);
        pthread_join(t, NULL);
    });
    BEST("stop_handle_create_wait_delete", calls / 10, repeats, {
        WasmEdge_Async *h = stop_handle(exec);
        WasmEdge_AsyncWait(h);
        WasmEdge_AsyncDelete(h);
    });
    BEST("stop_handle_create_only", calls / 10, repeats, {
        /* what the calling thread pays if it never waits for the handle's own thread */
        WasmEdge_Async *h = stop_handle(exec);
        WasmEdge_AsyncDelete(h); /* the detached thread still finishes on its own */
    });
    struct timespec settle = {0, 50 * 1000 * 1000};
    nanosleep(&settle, NULL); /* let the detached threads above finish before using exec again */

    WasmEdge_Async *handle = stop_handle(exec);
    WasmEdge_AsyncWait(handle);
    struct watchdog w;
    watchdog_start(&w);
    BEST("watched_invoke_condvar", calls, repeats,
         check(watched_call(&w, handle, exec, process, &param, 1, &ret, 1, 1000), "watched"));
    struct ticker t = {.tick_ns = 5 * 1000 * 1000};
    pthread_mutex_init(&t.lock, NULL);
    pthread_create(&t.thread, NULL, ticker_main, &t);
    BEST("watched_invoke_ticker", calls, repeats,
         check(ticked_call(&t, handle, exec, process, &param, 1, &ret, 1, 1000), "ticked"));

    /* Whole lifecycles: store + executor + instantiate + init/process/cleanup + delete. */
    const WasmEdge_FunctionInstanceContext *fs[3];
    const char *names[3] = {"init", "process", "cleanup"};
#define LIFECYCLE(CALL, WITH_HANDLE)                                                                \
    do {                                                                                            \
        WasmEdge_StoreContext *s = WasmEdge_StoreCreate();                                          \
        WasmEdge_ExecutorContext *e = WasmEdge_ExecutorCreate(conf, NULL);                          \
        WasmEdge_ModuleInstanceContext *m = NULL;                                                   \
        check(WasmEdge_ExecutorInstantiate(e, &m, s, ast), "instantiate");                          \
        WasmEdge_Async *h = (WITH_HANDLE) ? stop_handle(e) : NULL;                                  \
        (void)h;                                                                                    \
        for (int k = 0; k < 3; k++) fs[k] = find(m, names[k]);                                      \
        check(CALL(fs[0], NULL, 0), "init");                                                        \
        check(CALL(fs[1], &param, 1), "process");                                                   \
        check(CALL(fs[2], NULL, 0), "cleanup");                                                     \
        if (h) {                                                                                    \
            WasmEdge_AsyncWait(h); /* its thread must be done before the executor goes */           \
            WasmEdge_AsyncDelete(h);                                                                \
        }                                                                                           \
        WasmEdge_ModuleInstanceDelete(m);                                                           \
        WasmEdge_ExecutorDelete(e);                                                                 \
        WasmEdge_StoreDelete(s);                                                                    \
    } while (0)
#define PLAIN(f, p, n) WasmEdge_ExecutorInvoke(e, f, p, n, &ret, 1)
#define ASYNC(f, p, n) async_call(e, f, p, n, &ret, 1, 1000)
#define WATCHED(f, p, n) ticked_call(&t, h, e, f, p, n, &ret, 1, 1000)
    BEST("lifecycle_untimed", calls / 20, repeats, LIFECYCLE(PLAIN, 0));
    BEST("lifecycle_async_3_calls", calls / 50, repeats, LIFECYCLE(ASYNC, 0));
    BEST("lifecycle_stop_handle_ticker_3_calls", calls / 20, repeats, LIFECYCLE(WATCHED, 1));

    /* Soundness checks. */
    /* 1. A handle whose own thread finished long ago stops a runaway call running synchronously
     *    on this thread (interpreter; the AOT path reads the same token through its context). */
    WasmEdge_StoreContext *rs = WasmEdge_StoreCreate();
    WasmEdge_ExecutorContext *re = WasmEdge_ExecutorCreate(conf, NULL);
    WasmEdge_ModuleInstanceContext *rm = NULL;
    check(WasmEdge_ExecutorInstantiate(re, &rm, rs, runaway_ast), "instantiate runaway");
    WasmEdge_Async *rh = stop_handle(re);
    WasmEdge_AsyncWait(rh);
    double started = now_ns();
    WasmEdge_Result res = watched_call(&w, rh, re, find(rm, "process"), &param, 1, &ret, 1, 50);
    double took_ms = (now_ns() - started) / 1e6;
    int interrupted = WasmEdge_ResultGetCode(res) == 0x07;
    printf("check runaway_stopped_by_old_handle %s (%s after %.1f ms)\n", interrupted && took_ms < 500 ? "ok" : "FAIL",
           WasmEdge_ResultGetMessage(res), took_ms);
    /* 2. The executor is usable afterwards (the token was consumed by the interrupted call). */
    WasmEdge_Value zero = WasmEdge_ValueGenI32(0);
    res = WasmEdge_ExecutorInvoke(exec, process, &param, 1, &ret, 1);
    printf("check other_executor_unaffected %s\n", WasmEdge_ResultOK(res) ? "ok" : "FAIL");
    /* 3. A cancel that lands after the call finished leaves the token set: the next call on that
     *    executor fails at once with "interrupted" -- the same race the AsyncWaitFor/AsyncCancel
     *    pattern has when the call finishes between the timeout and the cancel. One drain call
     *    (of a function that does nothing) consumes it. */
    WasmEdge_AsyncCancel(handle);
    res = WasmEdge_ExecutorInvoke(exec, process, &param, 1, &ret, 1);
    printf("check stale_token_interrupts_next_call %s (%s)\n", WasmEdge_ResultGetCode(res) == 0x07 ? "ok" : "FAIL",
           WasmEdge_ResultGetMessage(res));
    WasmEdge_AsyncCancel(handle);
    WasmEdge_ExecutorInvoke(exec, noop_function, NULL, 0, NULL, 0);
    res = WasmEdge_ExecutorInvoke(exec, process, &param, 1, &ret, 1);
    printf("check drain_clears_stale_token %s\n", WasmEdge_ResultOK(res) && WasmEdge_ValueGetI32(ret) == 43 ? "ok" : "FAIL");
    (void)zero;

    atomic_store(&t.quit, 1);
    pthread_join(t.thread, NULL);
    watchdog_stop(&w);
    WasmEdge_AsyncDelete(rh);
    WasmEdge_AsyncDelete(handle);
    WasmEdge_ModuleInstanceDelete(rm);
    WasmEdge_ExecutorDelete(re);
    WasmEdge_StoreDelete(rs);
    WasmEdge_ModuleInstanceDelete(inst);
    WasmEdge_ExecutorDelete(exec);
    WasmEdge_StoreDelete(store);
    WasmEdge_FunctionInstanceDelete(noop_function);
    WasmEdge_ASTModuleDelete(ast);
    WasmEdge_ASTModuleDelete(runaway_ast);
    WasmEdge_ConfigureDelete(conf);
    return 0;
}
