
typedef struct wpy_call {
    WasmEdge_ExecutorContext *Executor;
    const WasmEdge_FunctionInstanceContext *Function;
    const WasmEdge_Value *Params;
    uint32_t ParamLen;
    WasmEdge_Value *Returns;
    uint32_t ReturnLen;
    WasmEdge_Async *Stop;
} wpy_call;
