"""Python values <-> ``WasmEdge_Value``: range checks, signedness and float bit patterns.

Each value type has an *encoder* (Python value -> the 64 low bits of the slot) and a *decoder*
(slot -> Python value). ``Function`` looks them up once per signature, so a call does no
type dispatch of its own; for integers it inlines the common case (a plain ``int`` in range, see
``INTEGER_RANGES``) and calls the encoder only for everything else."""

from __future__ import annotations

import math
import operator
import struct
from typing import Any, Callable

from ._ffi import lib
from .errors import ArgumentError, ValueRangeError
from .types import ValType

NATIVE_TYPES = {
    ValType.I32: lib.WasmEdge_ValTypeGenI32(),
    ValType.I64: lib.WasmEdge_ValTypeGenI64(),
    ValType.F32: lib.WasmEdge_ValTypeGenF32(),
    ValType.F64: lib.WasmEdge_ValTypeGenF64(),
}

_pack_f, _unpack_f = struct.Struct("<f").pack, struct.Struct("<f").unpack
_pack_d, _unpack_d = struct.Struct("<d").pack, struct.Struct("<d").unpack
_u32_from, _u64_from = struct.Struct("<I").unpack, struct.Struct("<Q").unpack


# Integers may be given signed or unsigned: (lowest, highest, mask of the bit pattern).
INTEGER_RANGES: dict[ValType, tuple[int, int, int]] = {
    ValType.I32: (-(2**31), 2**32 - 1, 0xFFFFFFFF),
    ValType.I64: (-(2**63), 2**64 - 1, 0xFFFFFFFFFFFFFFFF),
}


def _integer(valtype: str, low: int, high: int, mask: int) -> Callable[[object, int], int]:
    # Integers may be given signed or unsigned: the bit pattern is what WebAssembly sees.
    def encode(value: object, position: int) -> int:
        if type(value) is not int:  # fast path first; bool and int subclasses below
            if not isinstance(value, int) or isinstance(value, bool):
                raise ArgumentError(f"argument {position} must be an int for {valtype}, not {type(value).__name__}")
        if not low <= value <= high:
            raise ValueRangeError(f"argument {position} = {value} is out of range for {valtype}")
        return value & mask

    return encode


def _as_float(value: object, position: int, valtype: str) -> float:
    if type(value) is float:
        return value
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ArgumentError(f"argument {position} must be a float for {valtype}, not {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise ValueRangeError(f"argument {position} = {value} is out of range for {valtype}") from None


def _encode_f32(value: object, position: int) -> int:
    x = _as_float(value, position, "f32")
    try:
        return _u32_from(_pack_f(x))[0]
    except OverflowError:  # finite but beyond f32: rounds to infinity, as the engine's conversion does
        return _u32_from(_pack_f(math.copysign(math.inf, x)))[0]


def _encode_f64(value: object, position: int) -> int:
    return _u64_from(_pack_d(_as_float(value, position, "f64")))[0]


ENCODERS: dict[ValType, Callable[[object, int], int]] = {
    ValType.I32: _integer("i32", *INTEGER_RANGES[ValType.I32]),
    ValType.I64: _integer("i64", *INTEGER_RANGES[ValType.I64]),
    ValType.F32: _encode_f32,
    ValType.F64: _encode_f64,
}

# Decoders read the slot's ``Value`` union; integers come back signed.
DECODERS: dict[ValType, Callable[[Any], int | float]] = {
    ValType.I32: operator.attrgetter("I32"),
    ValType.I64: operator.attrgetter("I64"),
    ValType.F32: lambda value: _unpack_f(struct.pack("<I", value.Words[0] & 0xFFFFFFFF))[0],
    ValType.F64: lambda value: _unpack_d(struct.pack("<Q", value.Words[0]))[0],
}


def _supported(valtype: ValType, table: dict) -> Callable:
    try:
        return table[valtype]
    except KeyError:
        raise ArgumentError(f"{valtype} values are not supported") from None


def encoder(valtype: ValType) -> Callable[[object, int], int]:
    return _supported(valtype, ENCODERS)


def decoder(valtype: ValType) -> Callable[[Any], int | float]:
    return _supported(valtype, DECODERS)


def _storer(valtype: ValType) -> Callable[[Any, object, int], None]:
    encode, native_type = ENCODERS[valtype], NATIVE_TYPES[valtype]

    def store(slot: Any, value: object, position: int) -> None:
        slot.Value.Words = (encode(value, position), 0)
        slot.Type = native_type

    return store


_STORERS = {valtype: _storer(valtype) for valtype in ENCODERS}


def store(slot: Any, valtype: ValType, value: object, position: int) -> None:
    """Write ``value`` into the ``WasmEdge_Value`` ``slot`` as ``valtype``."""
    storer = _STORERS.get(valtype) or _supported(valtype, _STORERS)  # raises: unsupported type
    storer(slot, value, position)


def load(slot: Any, valtype: ValType) -> int | float:
    """Read a ``WasmEdge_Value`` of ``valtype``."""
    decode = DECODERS.get(valtype) or decoder(valtype)  # raises: unsupported type
    return decode(slot.Value)
