"""Just enough of the WebAssembly binary format to read sections, imports, memories and constant
exports, and to write LEB128 — for the sandbox rewrite and for facts the C API cannot give."""

from __future__ import annotations

from dataclasses import dataclass

MAGIC = b"\0asm\x01\0\0\0"
IMPORT_SECTION, MEMORY_SECTION, EXPORT_SECTION, CODE_SECTION = 2, 5, 7, 10


class UnsupportedModule(ValueError):
    """The module uses an encoding the guard cannot rewrite."""


@dataclass
class Reader:
    data: bytes
    pos: int = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise UnsupportedModule("unexpected end of module")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def _leb128(self, signed: bool) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result - (1 << shift) if signed and b & 0x40 else result
            if shift > 70:
                raise UnsupportedModule("LEB128 too long")

    def u32(self) -> int:
        return self._leb128(signed=False)

    def signed(self) -> int:
        return self._leb128(signed=True)

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise UnsupportedModule("unexpected end of module")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def name(self) -> bytes:
        return self.take(self.u32())


def uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def sleb(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        done = (value == 0 and not b & 0x40) or (value == -1 and b & 0x40)
        out.append(b if done else b | 0x80)
        if done:
            return bytes(out)


def vec(items: list[bytes]) -> bytes:
    return uleb(len(items)) + b"".join(items)


def split_sections(wasm: bytes) -> list[tuple[int, bytes]]:
    """``(section id, payload)`` in file order."""
    if wasm[:8] != MAGIC:
        raise UnsupportedModule("not a WebAssembly 1.0 binary")
    sections = []
    r = Reader(wasm, 8)
    while r.pos < len(wasm):
        section_id = r.byte()
        sections.append((section_id, r.take(r.u32())))
    return sections


def _skip_reftype(r: Reader) -> None:
    if r.byte() in (0x63, 0x64):
        r.signed()


def _limits(r: Reader) -> tuple[int, int | None]:
    flags = r.byte()
    minimum = r.u32()
    maximum = r.u32() if flags & 1 else None
    return minimum, maximum


def read_import_entries(payload: bytes) -> list[tuple[bytes, int, int | None]]:
    """Each import as (module name, kind, detail): the type index of a function (kind 0), the
    minimum pages of a memory (kind 2), None otherwise."""
    r = Reader(payload)
    entries: list[tuple[bytes, int, int | None]] = []
    for _ in range(r.u32()):
        module, _ = r.name(), r.name()
        kind = r.byte()
        if kind == 0:
            entries.append((module, kind, r.u32()))
        elif kind == 1:
            _skip_reftype(r)
            _limits(r)
            entries.append((module, kind, None))
        elif kind == 2:
            entries.append((module, kind, _limits(r)[0]))
        elif kind == 3:
            _skip_reftype(r)
            r.byte()
            entries.append((module, kind, None))
        elif kind == 4:
            r.byte(), r.u32()
            entries.append((module, kind, None))
        else:
            raise UnsupportedModule(f"unknown import kind {kind}")
    return entries


def read_imports(payload: bytes) -> list[tuple[int, int | None]]:
    """Each import as (kind, detail); see read_import_entries."""
    return [(kind, detail) for _, kind, detail in read_import_entries(payload)]


def memory_minimums(wasm: bytes) -> list[int]:
    """Declared minimum pages of every memory, imported or defined."""
    minimums = []
    for section_id, payload in split_sections(wasm):
        if section_id == IMPORT_SECTION:
            minimums += [detail for kind, detail in read_imports(payload) if kind == 2 and detail is not None]
        elif section_id == MEMORY_SECTION:
            r = Reader(payload)
            minimums += [_limits(r)[0] for _ in range(r.u32())]
    return minimums


def constant_i32_exports(wasm: bytes) -> dict[str, int]:
    """Exported functions whose body is exactly ``i32.const N`` (no locals): name -> N.

    Such a function cannot trap, loop, call, or touch memory or globals: calling it returns N and
    changes nothing, so a host may read N instead (``get_abi_version`` is one in every plugin built
    with the SDK or with clang -O2 from ``return CONSTANT;``). Anything unexpected means {}."""
    try:
        sections = {sid: payload for sid, payload in split_sections(wasm) if sid != 0}
        imported_functions = (
            sum(1 for kind, _ in read_imports(sections[IMPORT_SECTION]) if kind == 0)
            if IMPORT_SECTION in sections
            else 0
        )
        exports: dict[int, list[str]] = {}
        if EXPORT_SECTION in sections:
            r = Reader(sections[EXPORT_SECTION])
            for _ in range(r.u32()):
                name, kind, index = r.name(), r.byte(), r.u32()
                if kind == 0 and index >= imported_functions:
                    exports.setdefault(index - imported_functions, []).append(name.decode("utf-8"))
        if not exports or CODE_SECTION not in sections:
            return {}
        constants: dict[str, int] = {}
        code = Reader(sections[CODE_SECTION])
        for index in range(code.u32()):
            size = code.u32()
            start, end = code.pos, code.pos + size
            code.pos = end  # bodies are only looked at when exported
            if index not in exports or end > len(code.data):
                continue
            # 0 local declarations, i32.const (0x41) with a signed LEB128 i32, end (0x0B).
            if size >= 4 and code.data[start] == 0x00 and code.data[start + 1] == 0x41 and code.data[end - 1] == 0x0B:
                immediate = Reader(code.data[start + 2 : end - 1])
                value = immediate.signed()
                if immediate.pos == len(immediate.data) and -(2**31) <= value < 2**31:
                    for export_name in exports[index]:
                        constants[export_name] = value
        return constants
    except (UnsupportedModule, UnicodeDecodeError, IndexError):
        return {}
