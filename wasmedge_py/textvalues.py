"""Values as text, exactly as the ``wasmedge`` CLI reads and prints them (the parity contract of
``wasmedge-py run``): integers print unsigned; floats print in their shortest round-trip form
(closest to the exact value among the shortest), without a trailing ``.0``; f32 text is rounded
once, from the exact decimal, as ``strtof`` does — not via f64, which would round twice."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction

from .errors import ArgumentError
from .types import ValType

_F32_MIN_EXPONENT = -126  # smallest normal exponent; below it the spacing stays 2**-149
_F32_OVERFLOW = Fraction(2**128 - 2**103)  # halfway between the largest f32 and 2**128


def f32_from_exact(value: Fraction) -> float:
    """The f32 nearest to ``value`` (ties to even), overflowing to infinity, as strtof does."""
    magnitude = abs(value)
    if magnitude >= _F32_OVERFLOW:
        nearest = math.inf
    elif magnitude == 0:
        nearest = 0.0
    else:
        exponent = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
        if Fraction(2) ** exponent > magnitude:
            exponent -= 1
        quantum = Fraction(2) ** (max(exponent, _F32_MIN_EXPONENT) - 23)
        steps, rest = divmod(magnitude, quantum)
        if rest > quantum / 2 or (rest == quantum / 2 and steps % 2 == 1):
            steps += 1
        nearest = float(steps * quantum)
    return -nearest if value < 0 else nearest


_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_HEX = re.compile(r"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?")
_SPECIAL = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)


def _exact(text: str) -> Fraction | None:
    """The exact value of a decimal or hexadecimal literal (None if it is neither)."""
    if _DECIMAL.fullmatch(text):
        return Fraction(Decimal(text))
    match = _HEX.fullmatch(text)
    if match and (match.group(2) or match.group(3)):
        sign, whole, fraction, exponent = match.group(1), match.group(2), match.group(3) or "", match.group(4) or "0"
        value = Fraction(int(whole + fraction or "0", 16), 16 ** len(fraction)) * Fraction(2) ** int(exponent)
        return -value if sign == "-" else value
    return None


def parse_float(text: str, valtype: ValType) -> float:
    """Read a float literal as the CLI does: decimal or hex, rounded once to the target type."""
    if _SPECIAL.fullmatch(text):
        return float(text)
    exact = _exact(text)
    if exact is None:
        raise ValueError(f"not a float literal: {text!r}")
    negative = text.startswith("-")
    if valtype is ValType.F64:
        value = float(exact)  # Fraction -> float rounds once, to nearest even
    else:
        value = f32_from_exact(exact)
    return -0.0 if value == 0 and negative else value  # Fraction has no -0


def parse_argument(text: str, valtype: ValType, position: int) -> int | float:
    try:
        if valtype in (ValType.I32, ValType.I64):
            if not _INTEGER.fullmatch(text):  # no "1_000", no non-ASCII digits: the CLI reads neither
                raise ValueError(text)
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


_INTEGER_MASKS = {ValType.I32: 0xFFFFFFFF, ValType.I64: 0xFFFFFFFFFFFFFFFF}


def format_value(value: int | float, valtype: ValType) -> str:
    """Print a result the way the ``wasmedge`` CLI does."""
    mask = _INTEGER_MASKS.get(valtype)
    if mask is not None:
        if not isinstance(value, int):
            raise TypeError(f"an {valtype} result must be an int, not {value!r}")
        return str(value & mask)
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    if math.isinf(value):
        return "-inf" if value < 0 else "inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    text = _shortest_f32_digits(value) if valtype is ValType.F32 else repr(value)
    return text[:-2] if text.endswith(".0") else text
