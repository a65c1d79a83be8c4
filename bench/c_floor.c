/* The C floor for `make bench`: the same work as the Python binding, straight against the WasmEdge
 * C API, so the difference is what Python + cffi add.
 *
 *   c_floor MODULE WARM_CALLS LIFECYCLES REPEATS
 *
 * MODULE is a plugin (.wasm, interpreted; or an AOT .so). Prints two lines, each the best of
 * REPEATS runs:
 *   warm NS        one process(21) on a ready instance (WasmEdge_ExecutorInvoke)
 *   timed NS       the same call with a deadline, as the binding makes it in API mode: the
 *                  extension's own watchdog (wasmedge_py/_native/watchdog.c, compiled in here)
 *                  and the executor's stop handle, 1 s timeout; for a module with deadline
 *                  checks (an import of __wasmedge_py.deadline_check, _native/deadline.c), this
 *                  thread's deadline instead
 *   lifecycle NS   store + executor + instantiate (from the already validated module) + find the
 *                  functions + init + process(21) + cleanup + delete everything
 * Built by bench/run.py: gcc -O2 c_floor.c -lwasmedge -lpthread. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wasmedge/wasmedge.h>

#define BENCH_NAME "c_floor"
#include "bench_util.h"

/* The binding's timed call, exactly: its packed call and watchdog (constants as _ffi.API_SOURCE). */
#define WPY_NO_WATCHDOG 0xFFFFFFFFu
#define WPY_MAX_TIMEOUT_S 86400
#include "../wasmedge_py/_native/wpy_call.h"
#include "../wasmedge_py/_native/watchdog.c"
#include "../wasmedge_py/_native/deadline.c"

/* What an AOT module compiled with deadline checks (the binding's default) imports:
 * __wasmedge_py.deadline_check () -> i32, made once as deadline.module_instance() makes it. */
static WasmEdge_ModuleInstanceContext *deadline_module(void) {
    WasmEdge_ValType i32 = WasmEdge_ValTypeGenI32();
    WasmEdge_FunctionTypeContext *type = WasmEdge_FunctionTypeCreate(NULL, 0, &i32, 1);
    WasmEdge_String module_name = WasmEdge_StringCreateByCString("__wasmedge_py");
    WasmEdge_String function_name = WasmEdge_StringCreateByCString("deadline_check");
    WasmEdge_ModuleInstanceContext *module = WasmEdge_ModuleInstanceCreate(module_name);
    WasmEdge_ModuleInstanceAddFunction(module, function_name,
                                       WasmEdge_FunctionInstanceCreate(type, wpy_deadline_check, NULL, 0));
    WasmEdge_StringDelete(function_name);
    WasmEdge_StringDelete(module_name);
    WasmEdge_FunctionTypeDelete(type);
    return module;
}

/* The module's imports (deadline checks or none) into a fresh store. */
static void link_imports(WasmEdge_ExecutorContext *exec, WasmEdge_StoreContext *store,
                         WasmEdge_ModuleInstanceContext *deadline) {
    if (deadline) check(WasmEdge_ExecutorRegisterImport(exec, store, deadline), "register deadline checks");
}

static int call0(WasmEdge_ExecutorContext *exec, const WasmEdge_FunctionInstanceContext *f) {
    WasmEdge_Value ret;
    check(WasmEdge_ExecutorInvoke(exec, f, NULL, 0, &ret, 1), "call");
    return WasmEdge_ValueGetI32(ret);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: c_floor MODULE WARM_CALLS LIFECYCLES REPEATS\n");
        return 2;
    }
    const char *path = argv[1];
    long warm_calls = atol(argv[2]), lifecycles = atol(argv[3]), repeats = atol(argv[4]);

    WasmEdge_LogOff();
    WasmEdge_ConfigureContext *conf = WasmEdge_ConfigureCreate();
    WasmEdge_ASTModuleContext *ast = load_validated(conf, path);
    /* Its only possible import is the deadline check: then timed calls set this thread's deadline
     * (wpy_invoke_deadline), as the binding's are, instead of arming the watchdog. */
    WasmEdge_ModuleInstanceContext *deadline = WasmEdge_ASTModuleListImportsLength(ast) ? deadline_module() : NULL;

    /* Warm calls on one ready instance. */
    WasmEdge_StoreContext *store = WasmEdge_StoreCreate();
    WasmEdge_ExecutorContext *exec = WasmEdge_ExecutorCreate(conf, NULL);
    link_imports(exec, store, deadline);
    WasmEdge_ModuleInstanceContext *inst = NULL;
    check(WasmEdge_ExecutorInstantiate(exec, &inst, store, ast), "instantiate");
    const WasmEdge_FunctionInstanceContext *process = find(inst, "process");
    if (call0(exec, find(inst, "init")) != 0) {
        fprintf(stderr, "c_floor: init failed\n");
        return 1;
    }
    double best_warm = -1;
    for (long r = 0; r < repeats; r++) {
        WasmEdge_Value param, ret;
        double start = now_ns();
        for (long i = 0; i < warm_calls; i++) {
            param = WasmEdge_ValueGenI32(21);
            check(WasmEdge_ExecutorInvoke(exec, process, &param, 1, &ret, 1), "process");
            if (WasmEdge_ValueGetI32(ret) != 43) {
                fprintf(stderr, "c_floor: process(21) = %d\n", WasmEdge_ValueGetI32(ret));
                return 1;
            }
        }
        double per = (now_ns() - start) / warm_calls;
        if (best_warm < 0 || per < best_warm) best_warm = per;
    }
    /* Timed warm calls: a stop handle (an Async that runs nothing) and the watchdog. */
    WasmEdge_Value bogus = WasmEdge_ValueGenI32(0);
    WasmEdge_Async *stop = WasmEdge_ExecutorAsyncInvoke(exec, wpy_noop(), &bogus, 1);
    WasmEdge_AsyncWait(stop);
    double best_timed = -1;
    for (long r = 0; r < repeats; r++) {
        WasmEdge_Value param, ret;
        wpy_call call = {exec, process, &param, 1, &ret, 1, stop};
        double start = now_ns();
        for (long i = 0; i < warm_calls; i++) {
            param = WasmEdge_ValueGenI32(21);
            uint32_t code = deadline ? wpy_invoke_deadline(&call, 1.0) : wpy_invoke_timed(&call, 1.0);
            if (code != 0 || WasmEdge_ValueGetI32(ret) != 43) {
                fprintf(stderr, "c_floor: timed process(21) failed\n");
                return 1;
            }
        }
        double per = (now_ns() - start) / warm_calls;
        if (best_timed < 0 || per < best_timed) best_timed = per;
    }
    WasmEdge_AsyncDelete(stop);
    WasmEdge_ModuleInstanceDelete(inst);
    WasmEdge_ExecutorDelete(exec);
    WasmEdge_StoreDelete(store);

    /* Isolated lifecycles from the cached, validated module. */
    double best_cycle = -1;
    for (long r = 0; r < repeats; r++) {
        double start = now_ns();
        for (long i = 0; i < lifecycles; i++) {
            store = WasmEdge_StoreCreate();
            exec = WasmEdge_ExecutorCreate(conf, NULL);
            link_imports(exec, store, deadline);
            inst = NULL;
            check(WasmEdge_ExecutorInstantiate(exec, &inst, store, ast), "instantiate");
            WasmEdge_Value param = WasmEdge_ValueGenI32(21), ret;
            int ok = call0(exec, find(inst, "init")) == 0;
            check(WasmEdge_ExecutorInvoke(exec, find(inst, "process"), &param, 1, &ret, 1), "process");
            ok = ok && WasmEdge_ValueGetI32(ret) == 43;
            ok = ok && call0(exec, find(inst, "cleanup")) == 0;
            WasmEdge_ModuleInstanceDelete(inst);
            WasmEdge_ExecutorDelete(exec);
            WasmEdge_StoreDelete(store);
            if (!ok) {
                fprintf(stderr, "c_floor: lifecycle gave wrong results\n");
                return 1;
            }
        }
        double per = (now_ns() - start) / lifecycles;
        if (best_cycle < 0 || per < best_cycle) best_cycle = per;
    }

    printf("warm %.1f\ntimed %.1f\nlifecycle %.1f\n", best_warm, best_timed, best_cycle);
    if (deadline) WasmEdge_ModuleInstanceDelete(deadline);
    WasmEdge_ASTModuleDelete(ast);
    WasmEdge_ConfigureDelete(conf);
    return 0;
}
