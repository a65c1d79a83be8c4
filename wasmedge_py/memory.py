"""Memory: bounds-checked access to an instance's exported linear memory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._ffi import ffi, lib
from .errors import ClosedError, TrapError, check

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
        return lib.WasmEdge_MemoryInstanceGetPageSize(self._live())

    @property
    def size(self) -> int:
        return self.pages * PAGE_SIZE

    def read(self, offset: int, length: int) -> bytes:
        buffer = ffi.new("uint8_t[]", max(length, 1))
        with self.instance.lock:
            check(lib.WasmEdge_MemoryInstanceGetData(self._live(), buffer, offset, length), f"cannot read {length} bytes at {offset}", TrapError)
        return ffi.buffer(buffer, length)[:]

    def write(self, offset: int, data: bytes) -> None:
        with self.instance.lock:
            check(lib.WasmEdge_MemoryInstanceSetData(self._live(), data, offset, len(data)), f"cannot write {len(data)} bytes at {offset}", TrapError)
