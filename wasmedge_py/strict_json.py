"""Strict JSON (RFC 8259) for values that cross the plugin boundary, both ways.

Python's ``json`` accepts ``NaN``, ``Infinity`` and ``-Infinity``, turns ``1e400`` into ``inf``,
and writes all of them back out, which no strict parser reads. It also fails on deep nesting with
``RecursionError`` and on integers over 4300 digits with a plain ``ValueError``. ``loads`` accepts
only finite numbers, integers of at most ``MAX_INT_DIGITS`` digits and arrays/objects nested at
most ``MAX_DEPTH`` deep, and reports every violation as a ``ValueError`` that says what is wrong.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64  # arrays and objects inside one another; a scalar has depth 0
MAX_INT_DIGITS = 64  # far past any 64- or 128-bit integer, far below the cost of a long one


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"integer of {digits} digits, over the limit of {MAX_INT_DIGITS}")
    return int(text)


_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_float, parse_int=_int)


def loads(text: str | bytes, max_depth: int | None = MAX_DEPTH) -> Any:
    """Parse ``text`` (bytes must be UTF-8) as strict JSON; ``max_depth=None`` checks the depth
    only as far as the parser can go (use ``check_depth`` on a part of the value instead)."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")  # UnicodeDecodeError is a ValueError
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {max_depth or MAX_DEPTH} levels") from None
    if max_depth is not None:
        check_depth(value, max_depth)
    return value


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``ValueError`` if arrays and objects in ``value`` nest deeper than ``max_depth``."""
    if not isinstance(value, (list, dict)):
        return
    pending = [(value, 1)]
    while pending:
        container, depth = pending.pop()
        if depth > max_depth:
            raise ValueError(f"nested deeper than {max_depth} levels")
        for item in container.values() if isinstance(container, dict) else container:
            if isinstance(item, (list, dict)):
                pending.append((item, depth + 1))
