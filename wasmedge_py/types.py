"""WebAssembly types as plain Python values: value types, function signatures and export/import
descriptions. They are read once from the native type contexts and never own a handle."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Union

from ._ffi import ffi, lib


class ValType(enum.Enum):
    I32 = "i32"
    I64 = "i64"
    F32 = "f32"
    F64 = "f64"
    V128 = "v128"
    FUNCREF = "funcref"
    EXTERNREF = "externref"

    def __str__(self) -> str:
        return self.value

    # Members are singletons compared by identity, so the identity hash is consistent, and far
    # cheaper than Enum's (hash of the name, in Python): every signature lookup hashes these.
    __hash__ = object.__hash__

    @classmethod
    def from_native(cls, valtype: Any) -> "ValType":
        for check, kind in _NATIVE_CHECKS:
            if check(valtype):
                return kind
        raise ValueError(f"unsupported WebAssembly value type {bytes(valtype.Data).hex()}")


_NATIVE_CHECKS = (
    (lib.WasmEdge_ValTypeIsI32, ValType.I32),
    (lib.WasmEdge_ValTypeIsI64, ValType.I64),
    (lib.WasmEdge_ValTypeIsF32, ValType.F32),
    (lib.WasmEdge_ValTypeIsF64, ValType.F64),
    (lib.WasmEdge_ValTypeIsV128, ValType.V128),
    (lib.WasmEdge_ValTypeIsFuncRef, ValType.FUNCREF),
    (lib.WasmEdge_ValTypeIsExternRef, ValType.EXTERNREF),
)


@dataclass(frozen=True)
class FuncType:
    params: tuple[ValType, ...]
    results: tuple[ValType, ...]

    def __str__(self) -> str:
        params = ", ".join(map(str, self.params))
        results = ", ".join(map(str, self.results))
        return f"({params}) -> ({results})"

    @classmethod
    def from_native(cls, functype: Any) -> "FuncType":
        n_params = lib.WasmEdge_FunctionTypeGetParametersLength(functype)
        n_results = lib.WasmEdge_FunctionTypeGetReturnsLength(functype)
        params = ffi.new("WasmEdge_ValType[]", max(n_params, 1))
        results = ffi.new("WasmEdge_ValType[]", max(n_results, 1))
        lib.WasmEdge_FunctionTypeGetParameters(functype, params, n_params)
        lib.WasmEdge_FunctionTypeGetReturns(functype, results, n_results)
        return cls(
            tuple(ValType.from_native(params[i]) for i in range(n_params)),
            tuple(ValType.from_native(results[i]) for i in range(n_results)),
        )


@dataclass(frozen=True)
class Limits:
    min: int
    max: int | None

    def __str__(self) -> str:
        return f"{self.min}..{'' if self.max is None else self.max}"

    @classmethod
    def from_native(cls, limit: Any) -> "Limits":
        return cls(limit.Min, limit.Max if limit.HasMax else None)


@dataclass(frozen=True)
class MemoryType:
    limits: Limits

    def __str__(self) -> str:
        return f"memory pages {self.limits}"


@dataclass(frozen=True)
class TableType:
    limits: Limits

    def __str__(self) -> str:
        return f"table {self.limits}"


@dataclass(frozen=True)
class GlobalType:
    content: ValType
    mutable: bool

    def __str__(self) -> str:
        return f"global {'mut ' if self.mutable else ''}{self.content}"


ExternType = Union[FuncType, MemoryType, TableType, GlobalType, None]


@dataclass(frozen=True)
class ExportType:
    name: str
    kind: str  # "function", "table", "memory", "global" or "tag"
    type: ExternType

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.type}"


@dataclass(frozen=True)
class ImportType:
    module: str
    name: str
    kind: str
    type: ExternType

    def __str__(self) -> str:
        return f"{self.kind} {self.module}.{self.name}: {self.type}"


# enum WasmEdge_ExternalType
EXTERNAL_KINDS = {0: "function", 1: "table", 2: "memory", 3: "global", 4: "tag"}


def extern_type(kind: str, native_type: Any) -> ExternType:
    """Describe an import's or export's native type context of the given kind."""
    if kind == "function":
        return FuncType.from_native(native_type)
    if kind == "memory":
        return MemoryType(Limits.from_native(lib.WasmEdge_MemoryTypeGetLimit(native_type)))
    if kind == "table":
        return TableType(Limits.from_native(lib.WasmEdge_TableTypeGetLimit(native_type)))
    if kind == "global":
        return GlobalType(
            ValType.from_native(lib.WasmEdge_GlobalTypeGetValType(native_type)),
            lib.WasmEdge_GlobalTypeGetMutability(native_type) == 1,
        )
    return None


def string_from_native(wasmedge_string: Any) -> str:
    return ffi.unpack(wasmedge_string.Buf, wasmedge_string.Length).decode("utf-8", "replace")
