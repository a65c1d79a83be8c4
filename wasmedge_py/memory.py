"""Memory: bounds-checked access to an instance's exported linear memory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._checks import byte_string
from ._ffi import ffi, lib
from .errors import ArgumentError, ClosedError, TrapError, ValueRangeError, check

if TYPE_CHECKING:
    from .instance import Instance

PAGE_SIZE = 65536


class Memory:
    """A view of one exported memory; valid while its instance is open. Every access goes through
    WasmEdge's bounds check, so a bad offset is an error, never a read outside the sandbox."""

    def __init__(self, instance: "Instance", name: str, native: Any) -> None:
        self.instance = instance
        self.name = name
        self._native = native

    def _live(self) -> Any:
        if self.instance.closed:
            raise ClosedError(f"instance is closed; cannot use memory {self.name}")
        return self._native

    @property
    def pages(self) -> int:
        with self.instance.lock:
            return lib.WasmEdge_MemoryInstanceGetPageSize(self._live())

    @property
    def size(self) -> int:
        return self.pages * PAGE_SIZE

    def read(self, offset: int, length: int) -> bytes:
        with self.instance.lock:
            return read_memory(self._live(), offset, length)

    def write(self, offset: int, data: bytes) -> None:
        with self.instance.lock:
            write_memory(self._live(), offset, data)


def _span_int(name: str, value: object) -> int:
    if type(value) is not int:
        raise ArgumentError(f"memory {name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueRangeError(f"memory {name} must not be negative, got {value}")
    return value


def _check_span(native: Any, offset: object, length: object, verb: str) -> None:
    """Arguments are checked before anything is allocated or passed to C (no huge buffers, no
    negative offsets wrapping around in a uint32_t)."""
    offset, length = _span_int("offset", offset), _span_int("length", length)
    size = lib.WasmEdge_MemoryInstanceGetPageSize(native) * PAGE_SIZE
    if offset + length > size or offset > 0xFFFFFFFF:  # (a 4 GiB memory: offsets are uint32_t)
        raise TrapError(
            f"cannot {verb} {length} bytes at {offset}: out of bounds memory access (memory is {size} bytes)",
            engine_message="out of bounds memory access",
        )


def read_memory(native: Any, offset: int, length: int) -> bytes:
    _check_span(native, offset, length, "read")
    buffer = ffi.new("uint8_t[]", max(length, 1))
    check(
        lib.WasmEdge_MemoryInstanceGetData(native, buffer, offset, length),
        f"cannot read {length} bytes at {offset}",
        TrapError,
    )
    return ffi.buffer(buffer, length)[:]


def write_memory(native: Any, offset: int, data: bytes) -> None:
    data = byte_string(data, "data")
    _check_span(native, offset, len(data), "write")
    check(
        lib.WasmEdge_MemoryInstanceSetData(native, data, offset, len(data)),
        f"cannot write {len(data)} bytes at {offset}",
        TrapError,
    )
