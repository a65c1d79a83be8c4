/* Experiment for bench/profile_call.py: a call with scalar arguments packed in C, so Python makes
 * one foreign call with plain ints instead of poking WasmEdge_Value structs field by field.
 *
 * wpy_call_i32_i32 returns the i32 result in the low 32 bits and WasmEdge's result code in the
 * high 32 bits (0 = success). Built two ways by profile_call.py: as a shared library for cffi ABI
 * mode, and as the source of a cffi API-mode extension, to separate "fewer Python-side steps"
 * from "API mode vs ABI mode". */

#include <stdint.h>
#include <wasmedge/wasmedge.h>

int64_t wpy_call_i32_i32(WasmEdge_ExecutorContext *exec, const WasmEdge_FunctionInstanceContext *func, int32_t x) {
    WasmEdge_Value param = WasmEdge_ValueGenI32(x), ret;
    WasmEdge_Result res = WasmEdge_ExecutorInvoke(exec, func, &param, 1, &ret, 1);
    uint32_t code = WasmEdge_ResultGetCode(res);
    return ((int64_t)code << 32) | (uint32_t)WasmEdge_ValueGetI32(ret);
}
