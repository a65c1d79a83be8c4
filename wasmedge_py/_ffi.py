"""The only module that knows C: cffi declarations for the WasmEdge C API and finding the library.

ABI mode (``ffi.dlopen``) keeps the package pure Python, so installing it needs no compiler and
``WASMEDGE_LIB`` can point at any build at run time.

``WasmEdge_Value`` holds an ``unsigned __int128``, which cffi cannot declare. We declare the same
32-byte, 16-byte-aligned layout with a union whose ``long double`` member forces the alignment, and
only ever pass values by pointer (arrays for ``WasmEdge_ExecutorInvoke``), never by value.
``tests/test_ffi_layout.py`` checks size, alignment and offsets against the real header.
"""

from __future__ import annotations

import ctypes.util
import os

from cffi import FFI

CDEF = """
typedef struct WasmEdge_ValType { uint8_t Data[8]; } WasmEdge_ValType;
typedef union wpy_uint128 {
    uint64_t Words[2];
    int32_t I32;
    int64_t I64;
    float F32;
    double F64;
    long double _align16;
} wpy_uint128;
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

INSTALL_HINT = (
    "Install it with 'make setup' (Debian trixie's libwasmedge0, pinned low; see README), "
    "or point WASMEDGE_LIB at a libwasmedge.so built for the WasmEdge 0.13+ C API."
)

ffi = FFI()
ffi.cdef(CDEF)


def _candidates() -> list[str]:
    explicit = os.environ.get("WASMEDGE_LIB")
    if explicit:
        return [explicit]
    found = ctypes.util.find_library("wasmedge")
    return ["libwasmedge.so.0"] + ([found] if found else [])


def _open_library():
    explicit = os.environ.get("WASMEDGE_LIB")
    errors = []
    for name in _candidates():
        try:
            return ffi.dlopen(name)
        except OSError as exc:
            errors.append(f"{name}: {exc}")
    where = f"WASMEDGE_LIB={explicit!r}" if explicit else "the system's libwasmedge.so.0"
    raise ImportError(f"cannot load the WasmEdge library from {where} ({'; '.join(errors)}). {INSTALL_HINT}")


lib = _open_library()
