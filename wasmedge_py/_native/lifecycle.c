/* One isolated plugin request in one call (wasmedge_py/_lifecycle.py drives it): instantiate from
 * the cached module, run the initializers, init, process (v1) or alloc + copy in + process_bytes +
 * dealloc + bounds-checked copy out + dealloc (v2), cleanup, and free the instance, with the GIL
 * released once (cffi releases it around every call of the extension).
 *
 * The C runs only the happy path, and makes exactly the calls the Python path (plugin.Plugin,
 * runtime.run_plugin) would make, in the same order, with the same arguments and deadlines. At
 * the first turn it does not take itself (a failed call, an error code, a buffer out of bounds,
 * anything else) it stops, leaves the instance alive and returns WPY_LC_STOPPED: Python then
 * adopts the instance and runs the Python path from the start, replaying the calls recorded in
 * ``Journal`` instead of making them again, so errors are raised by the one Python
 * implementation and come out identical.
 *
 * Stages (``Stage`` is the next one to run; ``wpy_lifecycle_run(L, Until)`` runs up to ``Until``):
 * load (store, imports, instantiate, fuel limit, initializers), initialize (init), execute,
 * cleanup (cleanup, then the instance and store are deleted). */

#include <stdlib.h>

#define WPY_LC_OK 0
#define WPY_LC_STOPPED 1          /* the instance is alive: Python adopts it and replays */
#define WPY_LC_NOT_INSTANTIATED 2 /* nothing ran and nothing is alive: Python runs its path */
#define WPY_LC_NOT_MADE 0xFFFFFFFEu /* a call not made (the journal is full; never happens) */
#define WPY_PAGE_BYTES 65536ULL

/* Flags */
#define WPY_LC_V2 1
#define WPY_LC_HAS_INIT 2
#define WPY_LC_HAS_CLEANUP 4
#define WPY_LC_DEADLINE 8 /* the module has deadline checks: timed calls set the thread's deadline */
#define WPY_LC_FUEL 16    /* a fuel budget per call */
#define WPY_LC_GUARDED 32 /* the module's call stack is guarded (a failed call is followed by a reset) */

enum { WPY_LC_LOAD, WPY_LC_INITIALIZE, WPY_LC_EXECUTE, WPY_LC_CLEANUP, WPY_LC_DONE };

#define WPY_LC_JOURNAL_MAX 16

typedef struct wpy_journal_entry {
    const WasmEdge_FunctionInstanceContext *Function;
    uint32_t Code;
    uint64_t Cost; /* the fuel the call used (0 without a fuel budget) */
    WasmEdge_Value Return;
} wpy_journal_entry;

typedef struct wpy_lifecycle {
    /* Set by Python. Timeouts < 0: untimed. */
    WasmEdge_ExecutorContext *Executor;
    WasmEdge_StatisticsContext *Statistics;
    WasmEdge_Async *Stop;
    const WasmEdge_ASTModuleContext *Module;
    WasmEdge_ModuleInstanceContext *const *Imports;
    uint32_t ImportLen;
    uint32_t OwnedImportLen; /* the first OwnedImportLen imports are the request's: deleted with it */
    const WasmEdge_String *Initializers;
    uint32_t InitializerLen;
    double InitTimeout;
    double Timeout;
    uint64_t Fuel;
    uint32_t Flags;
    int32_t Input; /* v1 */
    const uint8_t *Data; /* v2 */
    uint32_t DataLen;
    uint64_t MaxOutput;
    /* Set by C. */
    uint32_t Stage;
    WasmEdge_StoreContext *Store;
    WasmEdge_ModuleInstanceContext *Instance;
    WasmEdge_MemoryInstanceContext *Memory;
    int32_t Result;  /* v1: what process returned */
    uint8_t *Output; /* v2: a copy of the output (malloc), OutputLen bytes */
    uint32_t OutputLen;
    uint64_t FuelUsed; /* what Plugin.fuel_used adds up */
    uint32_t Calls; /* counted calls begun (a host function tells its call by it: host_log's budget) */
    uint32_t JournalLen;
    wpy_journal_entry Journal[WPY_LC_JOURNAL_MAX];
} wpy_lifecycle;

void wpy_lifecycle_discard(wpy_lifecycle *L);
static uint32_t wpy_invoke_function_timed(WasmEdge_ExecutorContext *Executor, WasmEdge_Async *Stop,
                                          const WasmEdge_FunctionInstanceContext *Function,
                                          const WasmEdge_Value *Params, uint32_t ParamLen, WasmEdge_Value *Returns,
                                          uint32_t ReturnLen, double Timeout); /* watchdog.c */

uint32_t wpy_invoke_function_deadline(WasmEdge_ExecutorContext *Executor,
                                      const WasmEdge_FunctionInstanceContext *Function, const WasmEdge_Value *Params,
                                      uint32_t ParamLen, WasmEdge_Value *Returns, uint32_t ReturnLen,
                                      double Timeout); /* deadline.c */

static const WasmEdge_FunctionInstanceContext *wpy_lc_find(const wpy_lifecycle *L, const char *name) {
    return WasmEdge_ModuleInstanceFindFunction(L->Instance, WasmEdge_StringWrap(name, (uint32_t)strlen(name)));
}

/* One call as Function makes it (fuel budget cleared first; timed by the watchdog, or by the
 * thread's deadline for code with deadline checks), recorded in the journal; its result code. */
static uint32_t wpy_lc_call(wpy_lifecycle *L, const WasmEdge_FunctionInstanceContext *function,
                            const WasmEdge_Value *params, uint32_t n_params, WasmEdge_Value *ret, uint32_t n_ret,
                            double timeout, int counted) {
    if (L->JournalLen == WPY_LC_JOURNAL_MAX) return WPY_LC_NOT_MADE; /* a lifecycle makes at most 8 */
    if (L->Flags & WPY_LC_FUEL) WasmEdge_StatisticsClear(L->Statistics);
    if (counted) L->Calls++;
    uint32_t code;
    if (timeout < 0)
        code = WasmEdge_ResultGetCode(WasmEdge_ExecutorInvoke(L->Executor, function, params, n_params, ret, n_ret));
    else if (L->Flags & WPY_LC_DEADLINE)
        code = wpy_invoke_function_deadline(L->Executor, function, params, n_params, ret, n_ret, timeout);
    else
        code = wpy_invoke_function_timed(L->Executor, L->Stop, function, params, n_params, ret, n_ret, timeout);
    wpy_journal_entry *entry = &L->Journal[L->JournalLen++];
    entry->Function = function;
    entry->Code = code;
    entry->Cost = (L->Flags & WPY_LC_FUEL) ? WasmEdge_StatisticsGetTotalCost(L->Statistics) : 0;
    memset(&entry->Return, 0, sizeof entry->Return);
    if (n_ret && code == 0) entry->Return = ret[0];
    /* What Plugin adds to its fuel_used after the call: the call's cost, except that the stack
     * guard's reset after a failure (Python's, on replay) counts instead. */
    if (counted && (code == 0 || !(L->Flags & WPY_LC_GUARDED))) L->FuelUsed += entry->Cost;
    return code;
}

static WasmEdge_Value wpy_lc_i32(int32_t value) {
    WasmEdge_Value v;
    memset(&v, 0, sizeof v);
    v.Value.Words[0] = (uint32_t)value;
    v.Type = WasmEdge_ValTypeGenI32();
    return v;
}

/* A plugin call returning one i32 (init, process, cleanup); 0 and the value, or -1 to stop. */
static int wpy_lc_call_i32(wpy_lifecycle *L, const char *name, const WasmEdge_Value *params, uint32_t n,
                           int32_t *out) {
    const WasmEdge_FunctionInstanceContext *function = wpy_lc_find(L, name);
    WasmEdge_Value ret;
    if (function == NULL || wpy_lc_call(L, function, params, n, &ret, 1, L->Timeout, 1) != 0) return -1;
    *out = ret.Value.I32;
    return 0;
}

static uint64_t wpy_lc_memory_bytes(const wpy_lifecycle *L) {
    return (uint64_t)WasmEdge_MemoryInstanceGetPageSize(L->Memory) * WPY_PAGE_BYTES;
}

static int wpy_lc_in_bounds(const wpy_lifecycle *L, uint64_t ptr, uint64_t length) {
    return ptr > 0 && ptr + length <= wpy_lc_memory_bytes(L); /* Plugin._check_bounds */
}

static int wpy_lc_load(wpy_lifecycle *L) {
    L->Store = WasmEdge_StoreCreate();
    if (L->Store == NULL) return -1;
    for (uint32_t i = 0; i < L->ImportLen; i++) {
        if (WasmEdge_ResultGetCode(WasmEdge_ExecutorRegisterImport(L->Executor, L->Store, L->Imports[i])) != 0)
            return -1;
    }
    if (WasmEdge_ResultGetCode(WasmEdge_ExecutorInstantiate(L->Executor, &L->Instance, L->Store, L->Module)) != 0) {
        L->Instance = NULL;
        return -1;
    }
    if (L->Flags & WPY_LC_FUEL) WasmEdge_StatisticsSetCostLimit(L->Statistics, L->Fuel);
    for (uint32_t i = 0; i < L->InitializerLen; i++) {
        const WasmEdge_FunctionInstanceContext *function =
            WasmEdge_ModuleInstanceFindFunction(L->Instance, L->Initializers[i]);
        if (function == NULL || wpy_lc_call(L, function, NULL, 0, NULL, 0, L->InitTimeout, 0) != 0) return -1;
    }
    if (L->Flags & WPY_LC_V2) {
        L->Memory = WasmEdge_ModuleInstanceFindMemory(L->Instance, WasmEdge_StringWrap("memory", 6));
        if (L->Memory == NULL) return -1;
    }
    return 0;
}

/* A dealloc(ptr, length) the Python path makes "quietly": a failure there is logged by Python,
 * which the replay does; here it stops. */
static int wpy_lc_dealloc(wpy_lifecycle *L, const WasmEdge_FunctionInstanceContext *dealloc, uint32_t ptr,
                          uint32_t length) {
    WasmEdge_Value params[2] = {wpy_lc_i32((int32_t)ptr), wpy_lc_i32((int32_t)length)};
    return wpy_lc_call(L, dealloc, params, 2, NULL, 0, L->Timeout, 1) == 0 ? 0 : -1;
}

static int wpy_lc_execute_v2(wpy_lifecycle *L) {
    const WasmEdge_FunctionInstanceContext *alloc = wpy_lc_find(L, "alloc"), *dealloc = wpy_lc_find(L, "dealloc"),
                                           *process = wpy_lc_find(L, "process_bytes");
    if (alloc == NULL || dealloc == NULL || process == NULL) return -1;
    uint32_t in_ptr = 0;
    WasmEdge_Value ret;
    if (L->DataLen) {
        WasmEdge_Value size = wpy_lc_i32((int32_t)L->DataLen);
        if (wpy_lc_call(L, alloc, &size, 1, &ret, 1, L->Timeout, 1) != 0) return -1;
        in_ptr = (uint32_t)ret.Value.I32;
        if (!wpy_lc_in_bounds(L, in_ptr, L->DataLen)) return -1; /* also 0: alloc failed */
        if (WasmEdge_ResultGetCode(WasmEdge_MemoryInstanceSetData(L->Memory, L->Data, in_ptr, L->DataLen)) != 0)
            return -1;
    }
    WasmEdge_Value params[2] = {wpy_lc_i32((int32_t)in_ptr), wpy_lc_i32((int32_t)L->DataLen)};
    if (wpy_lc_call(L, process, params, 2, &ret, 1, L->Timeout, 1) != 0) return -1;
    int64_t packed = ret.Value.I64;
    if (L->DataLen && wpy_lc_dealloc(L, dealloc, in_ptr, L->DataLen) != 0) return -1;
    if (packed < 0) return -1; /* the plugin's error code (and maybe its message): Python */
    uint32_t out_ptr = (uint32_t)((uint64_t)packed >> 32), out_len = (uint32_t)packed;
    if (out_len == 0) return 0;
    if (out_len > L->MaxOutput || !wpy_lc_in_bounds(L, out_ptr, out_len)) return -1;
    L->Output = malloc(out_len);
    if (L->Output == NULL) return -1;
    if (WasmEdge_ResultGetCode(WasmEdge_MemoryInstanceGetData(L->Memory, L->Output, out_ptr, out_len)) != 0) return -1;
    L->OutputLen = out_len;
    return wpy_lc_dealloc(L, dealloc, out_ptr, out_len);
}

static int wpy_lc_stage(wpy_lifecycle *L) {
    int32_t code;
    switch (L->Stage) {
    case WPY_LC_LOAD:
        return wpy_lc_load(L);
    case WPY_LC_INITIALIZE:
        if (!(L->Flags & WPY_LC_HAS_INIT)) return 0;
        return wpy_lc_call_i32(L, "init", NULL, 0, &code) == 0 && code >= 0 ? 0 : -1;
    case WPY_LC_EXECUTE: {
        if (L->Flags & WPY_LC_V2) return wpy_lc_execute_v2(L);
        WasmEdge_Value input = wpy_lc_i32(L->Input);
        return wpy_lc_call_i32(L, "process", &input, 1, &L->Result) == 0 && L->Result >= 0 ? 0 : -1;
    }
    case WPY_LC_CLEANUP:
        if ((L->Flags & WPY_LC_HAS_CLEANUP) && (wpy_lc_call_i32(L, "cleanup", NULL, 0, &code) != 0 || code < 0))
            return -1;
        wpy_lifecycle_discard(L);
        return 0;
    }
    return -1;
}

/* Run the stages from ``Stage`` through ``Until``: WPY_LC_OK, WPY_LC_STOPPED (the instance is
 * alive at the stage that stopped, for Python to replay) or WPY_LC_NOT_INSTANTIATED (no store,
 * import or instance could be made: nothing ran and nothing is alive). */
uint32_t wpy_lifecycle_run(wpy_lifecycle *L, uint32_t Until) {
    while (L->Stage <= Until && L->Stage < WPY_LC_DONE) {
        if (wpy_lc_stage(L) != 0) {
            if (L->Instance != NULL) return WPY_LC_STOPPED;
            wpy_lifecycle_discard(L);
            return WPY_LC_NOT_INSTANTIATED;
        }
        L->Stage++;
    }
    return WPY_LC_OK;
}

/* Delete the instance, the request's own imports and the store (Instance's order), if they are
 * still alive. */
void wpy_lifecycle_discard(wpy_lifecycle *L) {
    if (L->Instance != NULL) WasmEdge_ModuleInstanceDelete(L->Instance);
    for (uint32_t i = 0; i < L->OwnedImportLen; i++) WasmEdge_ModuleInstanceDelete(L->Imports[i]);
    L->OwnedImportLen = 0;
    if (L->Store != NULL) WasmEdge_StoreDelete(L->Store);
    L->Instance = NULL;
    L->Store = NULL;
    L->Memory = NULL;
}

/* Free the output copy (Python has copied it). */
void wpy_lifecycle_free_output(wpy_lifecycle *L) {
    free(L->Output);
    L->Output = NULL;
    L->OutputLen = 0;
}
