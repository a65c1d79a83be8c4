/* Helpers shared by the C benchmarks (bench/c_floor.c, bench/timed_call.c). Each program defines
 * BENCH_NAME (its name, a string literal, used in error messages) before including this. */

#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <wasmedge/wasmedge.h>

#ifndef BENCH_NAME
#error "define BENCH_NAME before including bench_util.h"
#endif

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static void check(WasmEdge_Result res, const char *what) {
    if (!WasmEdge_ResultOK(res)) {
        fprintf(stderr, BENCH_NAME ": %s failed: %s\n", what, WasmEdge_ResultGetMessage(res));
        exit(1);
    }
}

static const WasmEdge_FunctionInstanceContext *find(const WasmEdge_ModuleInstanceContext *inst, const char *name) {
    WasmEdge_String s = WasmEdge_StringCreateByCString(name);
    const WasmEdge_FunctionInstanceContext *f = WasmEdge_ModuleInstanceFindFunction(inst, s);
    WasmEdge_StringDelete(s);
    if (!f) {
        fprintf(stderr, BENCH_NAME ": no export %s\n", name);
        exit(1);
    }
    return f;
}

/* The module at path, loaded and validated (the loader and validator are freed at once). */
static WasmEdge_ASTModuleContext *load_validated(const WasmEdge_ConfigureContext *conf, const char *path) {
    WasmEdge_LoaderContext *loader = WasmEdge_LoaderCreate(conf);
    WasmEdge_ValidatorContext *validator = WasmEdge_ValidatorCreate(conf);
    WasmEdge_ASTModuleContext *ast = NULL;
    check(WasmEdge_LoaderParseFromFile(loader, &ast, path), "load");
    check(WasmEdge_ValidatorValidate(validator, ast), "validate");
    WasmEdge_ValidatorDelete(validator);
    WasmEdge_LoaderDelete(loader);
    return ast;
}

#endif
