"""Values as text, exactly as the ``wasmedge`` CLI reads and prints them (the parity contract of
``wasmedge-py run``): integers print unsigned; floats print in their shortest round-trip form
(closest to the exact value among the shortest), without a trailing ``.0``; f32 text is rounded
once, from the exact decimal, as ``strtof`` does — not via f64, which would round twice."""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from fractions import Fraction

from .errors import ArgumentError
from .types import ValType

_F32_MAX_BITS = 0x7F7FFFFF


def _f32_from_bits(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def _bits_of_f32(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f32_from_exact(value: Fraction) -> float:
    """The f32 nearest to ``value`` (ties to even), overflowing to infinity like strtof."""
    sign = -1.0 if value < 0 else 1.0
    magnitude = abs(value)
    if magnitude == 0:
        return math.copysign(0.0, sign)
    approx = float(magnitude)  # within one f64 rounding of the exact value
    try:
        bits = _bits_of_f32(approx)
    except OverflowError:
        bits = _F32_MAX_BITS
    candidates = [b for b in (bits - 1, bits, bits + 1) if 0 <= b <= _F32_MAX_BITS]
    best = min(candidates, key=lambda b: (abs(Fraction(_f32_from_bits(b)) - magnitude), b & 1))
    # Past the largest finite f32 by at least half an ulp rounds to infinity.
    ulp_half = (Fraction(_f32_from_bits(_F32_MAX_BITS)) - Fraction(_f32_from_bits(_F32_MAX_BITS - 1))) / 2
    if magnitude >= Fraction(_f32_from_bits(_F32_MAX_BITS)) + ulp_half:
        return math.copysign(math.inf, sign)
    return math.copysign(_f32_from_bits(best), sign)


def parse_float(text: str, valtype: ValType) -> float:
    lowered = text.strip().lower().lstrip("+")
    if lowered.lstrip("-").startswith("0x"):
        value = float.fromhex(text)
        return value if valtype is ValType.F64 else _round_to_f32(value)
    if lowered.lstrip("-") in ("nan", "inf", "infinity"):
        return float(text)
    if valtype is ValType.F64:
        return float(text)
    value = f32_from_exact(Fraction(Decimal(text)))
    return -0.0 if value == 0 and lowered.startswith("-") else value  # Fraction has no -0


def _round_to_f32(value: float) -> float:
    if math.isnan(value) or math.isinf(value):
        return value
    return f32_from_exact(Fraction(value))


def parse_argument(text: str, valtype: ValType, position: int) -> int | float:
    try:
        if valtype in (ValType.I32, ValType.I64):
            return int(text, 10)
        return parse_float(text, valtype)
    except (ValueError, ArithmeticError):
        raise ArgumentError(f"argument {position} ({text!r}) is not a valid {valtype}") from None


def _shortest_f32_digits(x: float) -> str:
    """The shortest decimal reading back as ``x`` (as f32), closest to ``x`` among the shortest."""
    exact = Fraction(x)
    for digits in range(1, 10):
        mantissa, exponent = f"{abs(x):.{digits - 1}e}".split("e")
        scaled = int(mantissa.replace(".", ""))
        power = int(exponent) - (digits - 1)
        candidates = []
        for m in (scaled - 1, scaled, scaled + 1):
            if m <= 0:
                continue
            value = Fraction(m) * Fraction(10) ** power
            if f32_from_exact(value) == abs(x):
                candidates.append((abs(value - abs(exact)), m, value))
        if candidates:
            _, m, value = min(candidates)
            text = repr(float(Decimal(m) * Decimal(10) ** power))
            return ("-" if x < 0 else "") + text
    return repr(x)


def format_value(value: int | float, valtype: ValType) -> str:
    """Print a result the way the ``wasmedge`` CLI does."""
    if valtype is ValType.I32:
        return str(value & 0xFFFFFFFF)
    if valtype is ValType.I64:
        return str(value & 0xFFFFFFFFFFFFFFFF)
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    if math.isinf(value):
        return "-inf" if value < 0 else "inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    text = _shortest_f32_digits(value) if valtype is ValType.F32 else repr(value)
    return text[:-2] if text.endswith(".0") else text
