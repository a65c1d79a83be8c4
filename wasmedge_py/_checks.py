"""Argument checks for the public API, run before anything is allocated or passed to C.

One rule everywhere (README, "Limits: what 0, None, inf and nan mean"): a wrong type raises
``ArgumentError`` (a ``TypeError``), a value out of range ``ValueRangeError`` (a ``ValueError``),
and both messages name the argument and its allowed range. ``None`` means "no limit"; ``0``,
negatives, ``nan`` and ``inf`` are refused (a text setting such as ``plugin.toml``, which cannot
spell ``None``, maps its ``0`` to ``None`` before it gets here).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from .errors import ArgumentError, ValueRangeError

# A day: longer is almost surely a unit mistake, and far inside what the OS clock and
# threading's waits accept (a deadline past time_t's range killed the watchdog).
MAX_TIMEOUT_S = 86_400
MAX_TIMEOUT_MS = MAX_TIMEOUT_S * 1000
# WasmEdge's cost limit is a uint64; its all-ones value means "no limit".
MAX_FUEL = 2**64 - 2
# The stack guard counts 16-byte slots in an i32.
MAX_STACK_BYTES = (2**31 - 1) * 16
MAX_MEMORY_PAGES = 65536  # 4 GiB, WebAssembly's own limit for a 32-bit memory
MAX_OUTPUT_BYTES = 2**32 - 1  # a v2 plugin's output length is a u32


def _type_name(value: object) -> str:
    return type(value).__name__


def integer(value: object, name: str, low: int, high: int) -> int:
    """An int (not a bool) in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentError(f"{name} must be an int in {low}..{high}, not {_type_name(value)}")
    if not low <= value <= high:
        raise ValueRangeError(f"{name} must be in {low}..{high}, got {value}")
    return int(value)


def optional_integer(value: object, name: str, low: int, high: int, no_limit: str = "None") -> int | None:
    """``None`` (no limit) or an int in ``low..high``; ``no_limit`` is how the caller's syntax
    spells "no limit" in messages (``0`` in plugin.toml and flags)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentError(f"{name} must be {no_limit} (no limit) or an int in {low}..{high}, not {_type_name(value)}")
    if not low <= value <= high:
        raise ValueRangeError(f"{name} must be {no_limit} (no limit) or in {low}..{high}, got {value}")
    return int(value)


def timeout_seconds(value: object, name: str = "timeout") -> float | None:
    """``None`` (no limit) or a finite number of seconds in ``(0, MAX_TIMEOUT_S]``."""
    if type(value) is float and 0 < value <= MAX_TIMEOUT_S:  # the common case, on every timed call
        return value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentError(f"{name} must be None (no limit) or a number of seconds, not {_type_name(value)}")
    if not 0 < value <= MAX_TIMEOUT_S:  # also false for nan
        raise ValueRangeError(
            f"{name} must be None (no limit) or more than 0 and at most {MAX_TIMEOUT_S} seconds, got {value!r}"
        )
    return float(value)


def timeout_ms(value: object, name: str = "timeout_ms", no_limit: str = "None") -> int | None:
    """``None`` (no limit) or whole milliseconds in ``1..MAX_TIMEOUT_MS``."""
    return optional_integer(value, name, 1, MAX_TIMEOUT_MS, no_limit)


def fuel(value: object, name: str = "fuel", no_limit: str = "None") -> int | None:
    """``None`` (no budget) or an instruction budget in ``1..MAX_FUEL``."""
    return optional_integer(value, name, 1, MAX_FUEL, no_limit)


def stack_bytes(value: object, name: str = "max_stack_bytes", no_limit: str = "None") -> int | None:
    """``None`` (no guard) or a call-stack budget in ``1..MAX_STACK_BYTES``."""
    return optional_integer(value, name, 1, MAX_STACK_BYTES, no_limit)


def boolean(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ArgumentError(f"{name} must be True or False, not {_type_name(value)}")
    return value


def text(value: object, name: str) -> str:
    """A str without NUL characters (C strings would silently cut it short)."""
    if not isinstance(value, str):
        raise ArgumentError(f"{name} must be a str, not {_type_name(value)}")
    if "\0" in value:
        raise ValueRangeError(f"{name} must not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueRangeError(f"{name} must be valid UTF-8 text (no lone surrogates), got {value!r}") from None
    return value


def path(value: object, name: str = "path") -> str:
    """A filesystem path (str or os.PathLike of str), as a str."""
    if not isinstance(value, (str, os.PathLike)):
        raise ArgumentError(f"{name} must be a str or os.PathLike, not {_type_name(value)}")
    result = os.fspath(value)
    if not isinstance(result, str):
        raise ArgumentError(f"{name} must be a str path, not {_type_name(result)}")
    return text(result, name)


def byte_string(value: object, name: str) -> bytes:
    """Bytes from a bytes-like object (``bytes(5)`` would silently make five zero bytes)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise ArgumentError(f"{name} must be bytes, bytearray or memoryview, not {_type_name(value)}")


def sequence(value: object, name: str, of: str, *, any_iterable: bool = False) -> tuple[Any, ...]:
    """A list or tuple (any iterable with ``any_iterable``; never a str or bytes, whose items
    would be characters) as a tuple; ``of`` names what it must hold."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable if any_iterable else (list, tuple)):
        raise ArgumentError(f"{name} must be a list of {of}, not {_type_name(value)}")
    return tuple(value)


def sequence_of(value: object, cls: type, name: str, *, any_iterable: bool = False) -> tuple[Any, ...]:
    """``sequence`` whose every item is a ``cls``."""
    items = sequence(value, name, cls.__name__, any_iterable=any_iterable)
    for item in items:
        instance_of(item, cls, f"{name} item")
    return items


def instance_of(value: object, cls: type, name: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, cls):
        allowed = f"a {cls.__name__}" + (" or None" if optional else "")
        raise ArgumentError(f"{name} must be {allowed}, not {_type_name(value)}")
    return value
