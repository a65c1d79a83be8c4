"""Python values <-> ``WasmEdge_Value``: range checks, signedness and float bit patterns."""

from __future__ import annotations

import math
import struct
from typing import Any

from ._ffi import lib
from .errors import ArgumentError, ValueRangeError
from .types import ValType

NATIVE_TYPES = {
    ValType.I32: lib.WasmEdge_ValTypeGenI32(),
    ValType.I64: lib.WasmEdge_ValTypeGenI64(),
    ValType.F32: lib.WasmEdge_ValTypeGenF32(),
    ValType.F64: lib.WasmEdge_ValTypeGenF64(),
}

# Integers may be given signed or unsigned (the bit pattern is what WebAssembly sees).
_INT_RANGES = {ValType.I32: (-(2**31), 2**32 - 1), ValType.I64: (-(2**63), 2**64 - 1)}
_MASKS = {ValType.I32: 0xFFFFFFFF, ValType.I64: 0xFFFFFFFFFFFFFFFF}


def _f32_bits(x: float) -> int:
    try:
        return struct.unpack("<I", struct.pack("<f", x))[0]
    except OverflowError:  # finite but beyond f32: round to infinity as the engine's conversion does
        return struct.unpack("<I", struct.pack("<f", math.copysign(math.inf, x)))[0]


def _f64_bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def store(slot: Any, valtype: ValType, value: object, position: int) -> None:
    """Write ``value`` into the ``WasmEdge_Value`` ``slot`` as ``valtype``."""
    if valtype in _INT_RANGES:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ArgumentError(f"argument {position} must be an int for {valtype}, not {type(value).__name__}")
        low, high = _INT_RANGES[valtype]
        if not low <= value <= high:
            raise ValueRangeError(f"argument {position} = {value} is out of range for {valtype}")
        bits = value & _MASKS[valtype]
    elif valtype in (ValType.F32, ValType.F64):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ArgumentError(f"argument {position} must be a float for {valtype}, not {type(value).__name__}")
        bits = _f32_bits(float(value)) if valtype is ValType.F32 else _f64_bits(float(value))
    else:
        raise ArgumentError(f"argument {position}: {valtype} values are not supported")
    slot.Value.Words[0] = bits
    slot.Value.Words[1] = 0
    slot.Type = NATIVE_TYPES[valtype]


def load(slot: Any, valtype: ValType) -> int | float:
    """Read a ``WasmEdge_Value`` of ``valtype``; integers come back signed."""
    if valtype is ValType.I32:
        return slot.Value.I32
    if valtype is ValType.I64:
        return slot.Value.I64
    if valtype is ValType.F32:
        return struct.unpack("<f", struct.pack("<I", slot.Value.Words[0] & 0xFFFFFFFF))[0]
    if valtype is ValType.F64:
        return struct.unpack("<d", struct.pack("<Q", slot.Value.Words[0]))[0]
    raise ArgumentError(f"{valtype} results are not supported")
