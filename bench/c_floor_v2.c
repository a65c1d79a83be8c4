/* The C floor of an isolated ABI v2 request to a plugin importing env.host_log (plugins/upper):
 * what run_plugin does per request, straight against the WasmEdge C API.
 *
 *   c_floor_v2 MODULE INPUT LIFECYCLES REPEATS
 *
 * MODULE is the plugin (.wasm, interpreted; or an AOT .so without deadline-check imports, e.g.
 * from `wasmedge-py compile`). Per lifecycle: a store, the env module with a C host_log that
 * copies the message out of the caller's memory, register + instantiate from the validated module,
 * _initialize, alloc + copy in + process_bytes + dealloc + copy out + dealloc, then everything
 * deleted (one executor reused, as the binding pools them). Prints the best of REPEATS runs:
 *   lifecycle NS
 * Built and run by bench/lifecycle_imports.py (gcc -O2 c_floor_v2.c -lwasmedge). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wasmedge/wasmedge.h>

#define BENCH_NAME "c_floor_v2"
#include "bench_util.h"

static WasmEdge_Result host_log(void *data, const WasmEdge_CallingFrameContext *frame, const WasmEdge_Value *in,
                                WasmEdge_Value *out) {
    (void)data, (void)out;
    char text[4096];
    uint32_t ptr = (uint32_t)WasmEdge_ValueGetI32(in[1]), len = (uint32_t)WasmEdge_ValueGetI32(in[2]);
    if (len > sizeof text) len = sizeof text;
    WasmEdge_MemoryInstanceContext *memory = WasmEdge_CallingFrameGetMemoryInstance(frame, 0);
    return WasmEdge_MemoryInstanceGetData(memory, (uint8_t *)text, ptr, len);
}

static WasmEdge_ModuleInstanceContext *env_module(WasmEdge_FunctionTypeContext *type) {
    WasmEdge_String name = WasmEdge_StringWrap("env", 3);
    WasmEdge_ModuleInstanceContext *env = WasmEdge_ModuleInstanceCreate(name);
    WasmEdge_FunctionInstanceContext *log = WasmEdge_FunctionInstanceCreate(type, host_log, NULL, 0);
    WasmEdge_ModuleInstanceAddFunction(env, WasmEdge_StringWrap("host_log", 8), log);
    return env;
}

static int32_t call_i32(WasmEdge_ExecutorContext *exec, const WasmEdge_FunctionInstanceContext *f,
                        const WasmEdge_Value *params, uint32_t n) {
    WasmEdge_Value ret;
    check(WasmEdge_ExecutorInvoke(exec, f, params, n, &ret, 1), "call");
    return WasmEdge_ValueGetI32(ret);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: c_floor_v2 MODULE INPUT LIFECYCLES REPEATS\n");
        return 2;
    }
    const char *path = argv[1], *input = argv[2];
    long lifecycles = atol(argv[3]), repeats = atol(argv[4]);
    uint32_t input_len = (uint32_t)strlen(input);

    WasmEdge_LogOff();
    WasmEdge_ConfigureContext *conf = WasmEdge_ConfigureCreate();
    WasmEdge_ASTModuleContext *ast = load_validated(conf, path);
    WasmEdge_ExecutorContext *exec = WasmEdge_ExecutorCreate(conf, NULL);
    WasmEdge_ValType params[3] = {WasmEdge_ValTypeGenI32(), WasmEdge_ValTypeGenI32(), WasmEdge_ValTypeGenI32()};
    WasmEdge_FunctionTypeContext *log_type = WasmEdge_FunctionTypeCreate(params, 3, NULL, 0);
    char *output = malloc(65536);

    double best = -1;
    for (long r = 0; r < repeats; r++) {
        double start = now_ns();
        for (long i = 0; i < lifecycles; i++) {
            WasmEdge_StoreContext *store = WasmEdge_StoreCreate();
            WasmEdge_ModuleInstanceContext *env = env_module(log_type), *inst = NULL;
            check(WasmEdge_ExecutorRegisterImport(exec, store, env), "register env");
            check(WasmEdge_ExecutorInstantiate(exec, &inst, store, ast), "instantiate");
            check(WasmEdge_ExecutorInvoke(exec, find(inst, "_initialize"), NULL, 0, NULL, 0), "_initialize");
            WasmEdge_MemoryInstanceContext *memory = WasmEdge_ModuleInstanceFindMemory(inst, WasmEdge_StringWrap("memory", 6));
            const WasmEdge_FunctionInstanceContext *dealloc = find(inst, "dealloc");
            WasmEdge_Value size = WasmEdge_ValueGenI32((int32_t)input_len), ret;
            int32_t in_ptr = call_i32(exec, find(inst, "alloc"), &size, 1);
            check(WasmEdge_MemoryInstanceSetData(memory, (const uint8_t *)input, (uint32_t)in_ptr, input_len), "copy in");
            WasmEdge_Value args[2] = {WasmEdge_ValueGenI32(in_ptr), size};
            check(WasmEdge_ExecutorInvoke(exec, find(inst, "process_bytes"), args, 2, &ret, 1), "process_bytes");
            check(WasmEdge_ExecutorInvoke(exec, dealloc, args, 2, NULL, 0), "dealloc");
            int64_t packed = WasmEdge_ValueGetI64(ret);
            uint32_t out_ptr = (uint32_t)((uint64_t)packed >> 32), out_len = (uint32_t)packed;
            if (packed < 0 || out_len > 65536) {
                fprintf(stderr, "c_floor_v2: process_bytes answered %lld\n", (long long)packed);
                return 1;
            }
            check(WasmEdge_MemoryInstanceGetData(memory, (uint8_t *)output, out_ptr, out_len), "copy out");
            WasmEdge_Value out_args[2] = {WasmEdge_ValueGenI32((int32_t)out_ptr), WasmEdge_ValueGenI32((int32_t)out_len)};
            check(WasmEdge_ExecutorInvoke(exec, dealloc, out_args, 2, NULL, 0), "dealloc");
            WasmEdge_ModuleInstanceDelete(inst);
            WasmEdge_ModuleInstanceDelete(env);
            WasmEdge_StoreDelete(store);
        }
        double per = (now_ns() - start) / lifecycles;
        if (best < 0 || per < best) best = per;
    }
    printf("lifecycle %.1f\n", best);
    free(output);
    WasmEdge_FunctionTypeDelete(log_type);
    WasmEdge_ExecutorDelete(exec);
    WasmEdge_ASTModuleDelete(ast);
    WasmEdge_ConfigureDelete(conf);
    return 0;
}
