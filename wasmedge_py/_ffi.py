"""The only module that knows C: cffi declarations for the WasmEdge C API and how they reach the library.

Two modes, one set of declarations (``CDEF``), exported as ``ffi`` and ``lib``; ``MODE`` says which:

- ``"api"`` (the default): the cffi API-mode extension ``wasmedge_py._wasmedge_cffi``, compiled
  against the real header when the package is installed (``_native_build.py``, run by
  ``pip install``). Calls go straight from Python to C without libffi, and the compiler checks every
  declaration below against ``wasmedge.h``.
- ``"abi"``: ``ffi.dlopen`` of the library at run time, with no compiler involved. Used when
  ``WASMEDGE_LIB`` names a library explicitly (any build of the 0.13+ C API, chosen at run time),
  when the extension was never built (a plain source checkout), or when it was built from other
  declarations than these (a stale build: reinstall).

``WasmEdge_Value`` holds an ``unsigned __int128``, which cffi cannot declare. ``UINT128`` declares
the same 16-byte, 16-byte-aligned storage as a union (its ``long double`` member forces the
alignment) through which Python reads ``.Words``, ``.I32``, ``.I64``, ``.F32`` and ``.F64``; values
are only ever passed by pointer, never by value. The API-mode build compiles ``wasmedge.h`` with
this union as its ``uint128_t`` (``API_SOURCE``), so the compiler's checks pass honestly and
``_Static_assert`` proves the layout equals the real ``unsigned __int128``.
``tests/test_ffi_layout.py`` checks both modes' layouts against the real header.
"""

from __future__ import annotations

import ctypes.util
import hashlib
import importlib
import os
import warnings

from cffi import FFI

UINT128 = """
typedef union wpy_uint128 {
    uint64_t Words[2];
    int32_t I32;
    int64_t I64;
    float F32;
    double F64;
    long double _align16;
} wpy_uint128;
"""

CDEF = (
    UINT128
    + """
typedef struct WasmEdge_ValType { uint8_t Data[8]; } WasmEdge_ValType;
typedef struct WasmEdge_Value { wpy_uint128 Value; WasmEdge_ValType Type; } WasmEdge_Value;
typedef struct WasmEdge_String { uint32_t Length; const char *Buf; } WasmEdge_String;
typedef struct WasmEdge_Bytes { uint32_t Length; const uint8_t *Buf; } WasmEdge_Bytes;
typedef struct WasmEdge_Result { uint32_t Code; } WasmEdge_Result;
typedef struct WasmEdge_Limit { bool HasMax; bool Shared; uint32_t Min; uint32_t Max; } WasmEdge_Limit;

typedef struct WasmEdge_ConfigureContext WasmEdge_ConfigureContext;
typedef struct WasmEdge_StatisticsContext WasmEdge_StatisticsContext;
typedef struct WasmEdge_ASTModuleContext WasmEdge_ASTModuleContext;
typedef struct WasmEdge_FunctionTypeContext WasmEdge_FunctionTypeContext;
typedef struct WasmEdge_MemoryTypeContext WasmEdge_MemoryTypeContext;
typedef struct WasmEdge_TableTypeContext WasmEdge_TableTypeContext;
typedef struct WasmEdge_GlobalTypeContext WasmEdge_GlobalTypeContext;
typedef struct WasmEdge_ImportTypeContext WasmEdge_ImportTypeContext;
typedef struct WasmEdge_ExportTypeContext WasmEdge_ExportTypeContext;
typedef struct WasmEdge_LoaderContext WasmEdge_LoaderContext;
typedef struct WasmEdge_ValidatorContext WasmEdge_ValidatorContext;
typedef struct WasmEdge_ExecutorContext WasmEdge_ExecutorContext;
typedef struct WasmEdge_StoreContext WasmEdge_StoreContext;
typedef struct WasmEdge_ModuleInstanceContext WasmEdge_ModuleInstanceContext;
typedef struct WasmEdge_FunctionInstanceContext WasmEdge_FunctionInstanceContext;
typedef struct WasmEdge_MemoryInstanceContext WasmEdge_MemoryInstanceContext;
typedef struct WasmEdge_Async WasmEdge_Async;
typedef struct WasmEdge_CallingFrameContext WasmEdge_CallingFrameContext;
typedef WasmEdge_Result (*WasmEdge_HostFunc_t)(void *Data, const WasmEdge_CallingFrameContext *CallFrameCxt, const WasmEdge_Value *Params, WasmEdge_Value *Returns);

const char *WasmEdge_VersionGet(void);
void WasmEdge_LogSetErrorLevel(void);
void WasmEdge_LogSetDebugLevel(void);
void WasmEdge_LogOff(void);

WasmEdge_ValType WasmEdge_ValTypeGenI32(void);
WasmEdge_ValType WasmEdge_ValTypeGenI64(void);
WasmEdge_ValType WasmEdge_ValTypeGenF32(void);
WasmEdge_ValType WasmEdge_ValTypeGenF64(void);
bool WasmEdge_ValTypeIsI32(const WasmEdge_ValType ValType);
bool WasmEdge_ValTypeIsI64(const WasmEdge_ValType ValType);
bool WasmEdge_ValTypeIsF32(const WasmEdge_ValType ValType);
bool WasmEdge_ValTypeIsF64(const WasmEdge_ValType ValType);
bool WasmEdge_ValTypeIsV128(const WasmEdge_ValType ValType);
bool WasmEdge_ValTypeIsFuncRef(const WasmEdge_ValType ValType);
bool WasmEdge_ValTypeIsExternRef(const WasmEdge_ValType ValType);

WasmEdge_String WasmEdge_StringWrap(const char *Buf, const uint32_t Len);
uint32_t WasmEdge_ResultGetCode(const WasmEdge_Result Res);
const char *WasmEdge_ResultGetMessage(const WasmEdge_Result Res);

WasmEdge_ConfigureContext *WasmEdge_ConfigureCreate(void);
void WasmEdge_ConfigureSetMaxMemoryPage(WasmEdge_ConfigureContext *Cxt, const uint32_t Page);
uint32_t WasmEdge_ConfigureGetMaxMemoryPage(const WasmEdge_ConfigureContext *Cxt);
void WasmEdge_ConfigureSetForceInterpreter(WasmEdge_ConfigureContext *Cxt, const bool IsForceInterpreter);
bool WasmEdge_ConfigureIsForceInterpreter(const WasmEdge_ConfigureContext *Cxt);
void WasmEdge_ConfigureStatisticsSetInstructionCounting(WasmEdge_ConfigureContext *Cxt, const bool IsCount);
void WasmEdge_ConfigureStatisticsSetCostMeasuring(WasmEdge_ConfigureContext *Cxt, const bool IsMeasure);
void WasmEdge_ConfigureStatisticsSetTimeMeasuring(WasmEdge_ConfigureContext *Cxt, const bool IsMeasure);
void WasmEdge_ConfigureDelete(WasmEdge_ConfigureContext *Cxt);

WasmEdge_StatisticsContext *WasmEdge_StatisticsCreate(void);
uint64_t WasmEdge_StatisticsGetInstrCount(const WasmEdge_StatisticsContext *Cxt);
uint64_t WasmEdge_StatisticsGetTotalCost(const WasmEdge_StatisticsContext *Cxt);
void WasmEdge_StatisticsSetCostLimit(WasmEdge_StatisticsContext *Cxt, const uint64_t Limit);
void WasmEdge_StatisticsClear(WasmEdge_StatisticsContext *Cxt);
void WasmEdge_StatisticsDelete(WasmEdge_StatisticsContext *Cxt);

uint32_t WasmEdge_ASTModuleListImportsLength(const WasmEdge_ASTModuleContext *Cxt);
uint32_t WasmEdge_ASTModuleListImports(const WasmEdge_ASTModuleContext *Cxt, const WasmEdge_ImportTypeContext **Imports, const uint32_t Len);
uint32_t WasmEdge_ASTModuleListExportsLength(const WasmEdge_ASTModuleContext *Cxt);
uint32_t WasmEdge_ASTModuleListExports(const WasmEdge_ASTModuleContext *Cxt, const WasmEdge_ExportTypeContext **Exports, const uint32_t Len);
void WasmEdge_ASTModuleDelete(WasmEdge_ASTModuleContext *Cxt);

uint32_t WasmEdge_FunctionTypeGetParametersLength(const WasmEdge_FunctionTypeContext *Cxt);
uint32_t WasmEdge_FunctionTypeGetParameters(const WasmEdge_FunctionTypeContext *Cxt, WasmEdge_ValType *List, const uint32_t Len);
uint32_t WasmEdge_FunctionTypeGetReturnsLength(const WasmEdge_FunctionTypeContext *Cxt);
uint32_t WasmEdge_FunctionTypeGetReturns(const WasmEdge_FunctionTypeContext *Cxt, WasmEdge_ValType *List, const uint32_t Len);
WasmEdge_Limit WasmEdge_MemoryTypeGetLimit(const WasmEdge_MemoryTypeContext *Cxt);
WasmEdge_Limit WasmEdge_TableTypeGetLimit(const WasmEdge_TableTypeContext *Cxt);
WasmEdge_ValType WasmEdge_GlobalTypeGetValType(const WasmEdge_GlobalTypeContext *Cxt);
int WasmEdge_GlobalTypeGetMutability(const WasmEdge_GlobalTypeContext *Cxt);

int WasmEdge_ImportTypeGetExternalType(const WasmEdge_ImportTypeContext *Cxt);
WasmEdge_String WasmEdge_ImportTypeGetModuleName(const WasmEdge_ImportTypeContext *Cxt);
WasmEdge_String WasmEdge_ImportTypeGetExternalName(const WasmEdge_ImportTypeContext *Cxt);
const WasmEdge_FunctionTypeContext *WasmEdge_ImportTypeGetFunctionType(const WasmEdge_ASTModuleContext *ASTCxt, const WasmEdge_ImportTypeContext *Cxt);
const WasmEdge_TableTypeContext *WasmEdge_ImportTypeGetTableType(const WasmEdge_ASTModuleContext *ASTCxt, const WasmEdge_ImportTypeContext *Cxt);
const WasmEdge_MemoryTypeContext *WasmEdge_ImportTypeGetMemoryType(const WasmEdge_ASTModuleContext *ASTCxt, const WasmEdge_ImportTypeContext *Cxt);
const WasmEdge_GlobalTypeContext *WasmEdge_ImportTypeGetGlobalType(const WasmEdge_ASTModuleContext *ASTCxt, const WasmEdge_ImportTypeContext *Cxt);
int WasmEdge_ExportTypeGetExternalType(const WasmEdge_ExportTypeContext *Cxt);
WasmEdge_String WasmEdge_ExportTypeGetExternalName(const WasmEdge_ExportTypeContext *Cxt);
const WasmEdge_FunctionTypeContext *WasmEdge_ExportTypeGetFunctionType(const WasmEdge_ASTModuleContext *ASTCxt, const WasmEdge_ExportTypeContext *Cxt);
const WasmEdge_TableTypeContext *WasmEdge_ExportTypeGetTableType(const WasmEdge_ASTModuleContext *ASTCxt, const WasmEdge_ExportTypeContext *Cxt);
const WasmEdge_MemoryTypeContext *WasmEdge_ExportTypeGetMemoryType(const WasmEdge_ASTModuleContext *ASTCxt, const WasmEdge_ExportTypeContext *Cxt);
const WasmEdge_GlobalTypeContext *WasmEdge_ExportTypeGetGlobalType(const WasmEdge_ASTModuleContext *ASTCxt, const WasmEdge_ExportTypeContext *Cxt);

WasmEdge_LoaderContext *WasmEdge_LoaderCreate(const WasmEdge_ConfigureContext *ConfCxt);
WasmEdge_Result WasmEdge_LoaderParseFromFile(WasmEdge_LoaderContext *Cxt, WasmEdge_ASTModuleContext **Module, const char *Path);
WasmEdge_Result WasmEdge_LoaderParseFromBuffer(WasmEdge_LoaderContext *Cxt, WasmEdge_ASTModuleContext **Module, const uint8_t *Buf, const uint32_t BufLen);
void WasmEdge_LoaderDelete(WasmEdge_LoaderContext *Cxt);
WasmEdge_ValidatorContext *WasmEdge_ValidatorCreate(const WasmEdge_ConfigureContext *ConfCxt);
WasmEdge_Result WasmEdge_ValidatorValidate(WasmEdge_ValidatorContext *Cxt, const WasmEdge_ASTModuleContext *ASTCxt);
void WasmEdge_ValidatorDelete(WasmEdge_ValidatorContext *Cxt);

WasmEdge_ExecutorContext *WasmEdge_ExecutorCreate(const WasmEdge_ConfigureContext *ConfCxt, WasmEdge_StatisticsContext *StatCxt);
WasmEdge_Result WasmEdge_ExecutorInstantiate(WasmEdge_ExecutorContext *Cxt, WasmEdge_ModuleInstanceContext **ModuleCxt, WasmEdge_StoreContext *StoreCxt, const WasmEdge_ASTModuleContext *ASTCxt);
WasmEdge_Result WasmEdge_ExecutorInvoke(WasmEdge_ExecutorContext *Cxt, const WasmEdge_FunctionInstanceContext *FuncCxt, const WasmEdge_Value *Params, const uint32_t ParamLen, WasmEdge_Value *Returns, const uint32_t ReturnLen);
WasmEdge_Async *WasmEdge_ExecutorAsyncInvoke(WasmEdge_ExecutorContext *Cxt, const WasmEdge_FunctionInstanceContext *FuncCxt, const WasmEdge_Value *Params, const uint32_t ParamLen);
void WasmEdge_AsyncWait(const WasmEdge_Async *Cxt);
bool WasmEdge_AsyncWaitFor(const WasmEdge_Async *Cxt, uint64_t Milliseconds);
void WasmEdge_AsyncCancel(WasmEdge_Async *Cxt);
WasmEdge_Result WasmEdge_AsyncGet(const WasmEdge_Async *Cxt, WasmEdge_Value *Returns, const uint32_t ReturnLen);
void WasmEdge_AsyncDelete(WasmEdge_Async *Cxt);
void WasmEdge_ExecutorDelete(WasmEdge_ExecutorContext *Cxt);
WasmEdge_StoreContext *WasmEdge_StoreCreate(void);
void WasmEdge_StoreDelete(WasmEdge_StoreContext *Cxt);

WasmEdge_FunctionInstanceContext *WasmEdge_ModuleInstanceFindFunction(const WasmEdge_ModuleInstanceContext *Cxt, const WasmEdge_String Name);
WasmEdge_MemoryInstanceContext *WasmEdge_ModuleInstanceFindMemory(const WasmEdge_ModuleInstanceContext *Cxt, const WasmEdge_String Name);
WasmEdge_ModuleInstanceContext *WasmEdge_ModuleInstanceCreateWASI(const char *const *Args, const uint32_t ArgLen, const char *const *Envs, const uint32_t EnvLen, const char *const *Preopens, const uint32_t PreopenLen);
WasmEdge_Result WasmEdge_ExecutorRegisterImport(WasmEdge_ExecutorContext *Cxt, WasmEdge_StoreContext *StoreCxt, const WasmEdge_ModuleInstanceContext *ImportCxt);
WasmEdge_ModuleInstanceContext *WasmEdge_ModuleInstanceCreate(const WasmEdge_String ModuleName);
void WasmEdge_ModuleInstanceAddFunction(WasmEdge_ModuleInstanceContext *Cxt, const WasmEdge_String Name, WasmEdge_FunctionInstanceContext *FuncCxt);
WasmEdge_FunctionTypeContext *WasmEdge_FunctionTypeCreate(const WasmEdge_ValType *ParamList, const uint32_t ParamLen, const WasmEdge_ValType *ReturnList, const uint32_t ReturnLen);
void WasmEdge_FunctionTypeDelete(WasmEdge_FunctionTypeContext *Cxt);
WasmEdge_FunctionInstanceContext *WasmEdge_FunctionInstanceCreate(const WasmEdge_FunctionTypeContext *Type, WasmEdge_HostFunc_t HostFunc, void *Data, const uint64_t Cost);
WasmEdge_MemoryInstanceContext *WasmEdge_CallingFrameGetMemoryInstance(const WasmEdge_CallingFrameContext *Cxt, const uint32_t Idx);
void WasmEdge_ModuleInstanceDelete(WasmEdge_ModuleInstanceContext *Cxt);
const WasmEdge_FunctionTypeContext *WasmEdge_FunctionInstanceGetFunctionType(const WasmEdge_FunctionInstanceContext *Cxt);
WasmEdge_Result WasmEdge_MemoryInstanceGetData(const WasmEdge_MemoryInstanceContext *Cxt, uint8_t *Data, const uint32_t Offset, const uint32_t Length);
WasmEdge_Result WasmEdge_MemoryInstanceSetData(WasmEdge_MemoryInstanceContext *Cxt, const uint8_t *Data, const uint32_t Offset, const uint32_t Length);
uint32_t WasmEdge_MemoryInstanceGetPageSize(const WasmEdge_MemoryInstanceContext *Cxt);

// AOT compiler
typedef struct WasmEdge_CompilerContext WasmEdge_CompilerContext;
enum WasmEdge_CompilerOptimizationLevel {
    WasmEdge_CompilerOptimizationLevel_O0 = 0, WasmEdge_CompilerOptimizationLevel_O1 = 1,
    WasmEdge_CompilerOptimizationLevel_O2 = 2, WasmEdge_CompilerOptimizationLevel_O3 = 3,
    WasmEdge_CompilerOptimizationLevel_Os = 4, WasmEdge_CompilerOptimizationLevel_Oz = 5
};
enum WasmEdge_CompilerOutputFormat { WasmEdge_CompilerOutputFormat_Native = 0, WasmEdge_CompilerOutputFormat_Wasm = 1 };
void WasmEdge_ConfigureCompilerSetOptimizationLevel(WasmEdge_ConfigureContext *Cxt, const enum WasmEdge_CompilerOptimizationLevel Level);
void WasmEdge_ConfigureCompilerSetOutputFormat(WasmEdge_ConfigureContext *Cxt, const enum WasmEdge_CompilerOutputFormat Format);
void WasmEdge_ConfigureCompilerSetInterruptible(WasmEdge_ConfigureContext *Cxt, const bool IsInterruptible);
void WasmEdge_ConfigureCompilerSetGenericBinary(WasmEdge_ConfigureContext *Cxt, const bool IsGeneric);
WasmEdge_CompilerContext *WasmEdge_CompilerCreate(const WasmEdge_ConfigureContext *ConfCxt);
WasmEdge_Result WasmEdge_CompilerCompile(WasmEdge_CompilerContext *Cxt, const char *InPath, const char *OutPath);
WasmEdge_Result WasmEdge_CompilerCompileFromBuffer(WasmEdge_CompilerContext *Cxt, const uint8_t *InBuffer, const uint64_t InBufferLen, const char *OutPath);
void WasmEdge_CompilerDelete(WasmEdge_CompilerContext *Cxt);
"""
)

# Only in the compiled extension: C written for it, in wasmedge_py/_native/ (every ``*.c`` there is
# compiled in, in name order, after wasmedge.h; every ``*.cdef`` there declares what Python may call).
# A wpy_call packs one function's call once (executor, function, value arrays, and the executor's
# stop handle for timed calls): wpy_invoke() / wpy_invoke_timed() take one pointer and return just
# the result code, instead of six arguments in and a WasmEdge_Result struct out per call.
# WPY_FINGERPRINT is set by the build.
NATIVE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_native")
with open(os.path.join(NATIVE_DIR, "wpy_call.h"), encoding="utf-8") as _header:
    WPY_CALL = _header.read()  # also included by bench/c_floor.c


def _native_sources(suffix: str) -> str:
    names = sorted(name for name in os.listdir(NATIVE_DIR) if name.endswith(suffix))
    texts = []
    for name in names:
        with open(os.path.join(NATIVE_DIR, name), encoding="utf-8") as source:
            texts.append(f"/* {name} */\n{source.read()}")
    return "\n".join(texts)


API_CDEF = WPY_CALL + "#define WPY_FINGERPRINT ...\n" + _native_sources(".cdef")

# The C source of the API-mode extension. On these targets int128.h makes uint128_t an
# ``unsigned __int128``; this translation unit defines it as UINT128 instead (and marks int128.h as
# included), so the header's WasmEdge_Value has exactly the fields CDEF declares and the compiler's
# checks of CDEF against the header pass without any warning switched off. The asserts prove the
# storage is the same. The two types would differ only when passed by value, which nothing
# compiled here does (no function declared in CDEF takes or returns a WasmEdge_Value).
# WPY_MAX_TIMEOUT_S is _checks.MAX_TIMEOUT_S (tests/test_native_watchdog.py checks they agree).
API_SOURCE = (
    """
#include <stdint.h>
#if !(defined(__x86_64__) || defined(__aarch64__) || (defined(__riscv) && __riscv_xlen == 64))
#error "WasmEdge_Value is not an unsigned __int128 on this target: use ABI mode (see _ffi.py)"
#endif
#define WASMEDGE_C_API_INT128_H
"""
    + UINT128
    + """
typedef wpy_uint128 uint128_t;
typedef __int128 int128_t;
_Static_assert(sizeof(uint128_t) == sizeof(unsigned __int128), "uint128_t size");
_Static_assert(_Alignof(uint128_t) == _Alignof(unsigned __int128), "uint128_t alignment");
#include <wasmedge/wasmedge.h>
#define WPY_NO_WATCHDOG 0xFFFFFFFFu /* a result code no WasmEdge error has: no thread for the watchdog */
#define WPY_MAX_TIMEOUT_S 86400
"""
    + WPY_CALL
    + _native_sources(".c")
)


def source_fingerprint() -> int:
    """Identifies the declarations a compiled extension must have been built from (60 bits)."""
    return int(hashlib.sha256((CDEF + API_CDEF + API_SOURCE).encode()).hexdigest()[:15], 16)


INSTALL_HINT = (
    "Install it with 'make setup' (Debian trixie's libwasmedge0, pinned low; see README), "
    "or point WASMEDGE_LIB at a libwasmedge.so built for the WasmEdge 0.13+ C API."
)
STALE_HINT = "reinstall the package ('make setup' or pip install -e .) to rebuild it"


def _compiled():
    """The API-mode extension module, or the reason it cannot be used."""
    try:
        compiled = importlib.import_module(f"{__package__}._wasmedge_cffi")
    except ImportError as exc:
        return None, f"the compiled extension is not available ({exc})"
    if compiled.lib.WPY_FINGERPRINT != source_fingerprint():
        reason = f"the compiled extension was built from other declarations than _ffi.py's; {STALE_HINT}"
        warnings.warn(f"wasmedge_py: using ABI mode: {reason}", RuntimeWarning, stacklevel=2)
        return None, reason
    return compiled, ""


def _candidates() -> list[str]:
    explicit = os.environ.get("WASMEDGE_LIB")
    if explicit:
        return [explicit]
    found = ctypes.util.find_library("wasmedge")
    return ["libwasmedge.so.0"] + ([found] if found else [])


def abi_ffi() -> FFI:
    """A fresh ABI-mode FFI with CDEF (layouts as cffi computes them, no library opened)."""
    abi = FFI()
    abi.cdef(CDEF)
    return abi


def _open_library(abi: FFI, why: str):
    explicit = os.environ.get("WASMEDGE_LIB")
    errors = []
    for name in _candidates():
        try:
            return abi.dlopen(name)
        except OSError as exc:
            errors.append(f"{name}: {exc}")
    where = f"WASMEDGE_LIB={explicit!r}" if explicit else "the system's libwasmedge.so.0"
    raise ImportError(
        f"cannot load the WasmEdge library from {where} ({'; '.join(errors)}; ABI mode because {why}). {INSTALL_HINT}"
    )


def _load():
    """(ffi, lib, mode, why): the compiled extension unless WASMEDGE_LIB asks for a library by path."""
    if os.environ.get("WASMEDGE_LIB"):
        why = "WASMEDGE_LIB is set"
    else:
        compiled, why = _compiled()
        if compiled is not None:
            return compiled.ffi, compiled.lib, "api", "the compiled extension wasmedge_py._wasmedge_cffi"
    abi = abi_ffi()
    return abi, _open_library(abi, why), "abi", why


def _call_helpers(ffi, lib, mode: str):
    """``(call_context, invoke, invoke_timed)``: ``call_context(executor, function, params,
    param_len, returns, return_len, stop)`` packs one function's call once (the caller keeps the
    arrays alive), ``invoke(context)`` runs it on the arguments already stored, returning the
    result code, and ``invoke_timed(context, seconds)`` does so under the native watchdog (None in
    ABI mode: executor.py times calls with its Python watchdog there)."""
    if mode == "api":

        def call_context(executor, function, params, param_len, returns, return_len, stop):
            return ffi.new("wpy_call *", (executor, function, params, param_len, returns, return_len, stop))

        return call_context, lib.wpy_invoke, lib.wpy_invoke_timed

    execute = lib.WasmEdge_ExecutorInvoke

    def invoke(context) -> int:
        return execute(*context[:6]).Code

    return (lambda *context: context), invoke, None


# The build script (_native_build.py) runs this file by path for its declarations only.
if __name__ != "__wasmedge_py_build__":
    ffi, lib, MODE, MODE_REASON = _load()
    call_context, invoke, native_invoke_timed = _call_helpers(ffi, lib, MODE)
