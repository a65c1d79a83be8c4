"""The sandbox: a rewrite of a module's binary, before it is loaded, that removes what would let it
take the process down, for which WasmEdge 0.14 has no limit of its own (``rewrite``):

- the call stack is bounded (the stack guard, below);
- every table is capped (a table of 2^32 elements aborts the process in ``std::bad_alloc``);
- a start function becomes an export the host calls right after instantiation, where a timeout
  can stop it (instantiation itself cannot be cancelled).

The stack guard. The interpreter keeps wasm frames on the heap, so unbounded recursion grows the process by
hundreds of MB per second until ``std::bad_alloc`` aborts it. We add a mutable i32 global that
counts the stack *slots* (params + locals + operand-stack bound + frame overhead) of every active
call, and wrap each ``call``/``call_indirect`` site::

    global.get $used; i32.const COST; i32.add; global.tee $used
    i32.const LIMIT; i32.gt_u; if; unreachable; end
    call ...
    global.get $used; i32.const COST; i32.sub; global.set $used

A trap (or cancellation) leaves the counter raised, so the module also gets an exported function
``__wasmedge_py_stack_reset() -> i32`` that returns the counter and zeroes it; the host calls it
after a failed call to tell "call stack exhausted" from other traps.

Only the sections we touch are decoded; everything else is copied byte for byte. A module using
an instruction we cannot decode is refused rather than run unguarded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ._binary import (
    Reader,
    UnsupportedModule,
    read_import_entries,
    read_imports,
    sleb,
    split_sections,
    uleb,
    vec,
)
from .errors import LoadError


class TableTooLarge(UnsupportedModule):
    """A table declares more elements than the sandbox allows."""


INTERNAL_PREFIX = "__wasmedge_py_"  # exports the host adds; hidden from Module.exports
RESET_EXPORT = INTERNAL_PREFIX + "stack_reset"
START_EXPORT = INTERNAL_PREFIX + "start"
DEFAULT_MAX_TABLE_ELEMENTS = 1 << 20
SLOT_BYTES = 16  # one WasmEdge value
FRAME_OVERHEAD_SLOTS = 8  # the frame record itself, roughly, in value-sized units
LARGE_FRAME_SLOTS = 256  # calls into bigger frames are always counted

_TYPE, _IMPORT, _FUNCTION, _TABLE, _GLOBAL, _EXPORT, _START, _ELEMENT, _CODE = 1, 2, 3, 4, 6, 7, 8, 9, 10
# Canonical section order (data count 12 sits between element 9 and code 10).
_ORDER = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}


# -- instruction immediates ------------------------------------------------------------------

_NO_IMMEDIATE = set(range(0x45, 0xC5)) | {0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, 0x19, 0xD1, 0xD3}
_ONE_INDEX = {
    0x0C,
    0x0D,
    0x10,
    0x12,
    0x14,
    0x15,
    0x20,
    0x21,
    0x22,
    0x23,
    0x24,
    0x25,
    0x26,
    0xD2,
    0xD4,
    0xD6,
    0x07,
    0x08,
    0x09,
    0x18,
}
_MEMARG = set(range(0x28, 0x3F))
_SIMD_MEMARG = set(range(12)) | {92, 93}
_SIMD_LANE = set(range(21, 35))
_SIMD_MEMARG_LANE = set(range(84, 92))


def _skip_blocktype(r: Reader) -> None:
    first = r.data[r.pos] if r.pos < len(r.data) else 0
    if 0x40 <= first < 0x80:  # empty (0x40) or a one-byte value type
        r.byte()
        if first in (0x63, 0x64):  # (ref null? heaptype)
            r.signed()
    else:
        r.signed()  # a type index, as s33


def _skip_memarg(r: Reader) -> None:
    align = r.u32()
    if align & 0x40:  # multi-memory: explicit memory index
        r.u32()
    r.u32()


def _skip_prefixed(prefix: int, r: Reader) -> None:
    sub = r.u32()
    if prefix == 0xFC:
        if sub <= 7:
            return
        if sub in (8,):
            r.u32(), r.byte()
        elif sub in (9, 13, 15, 16, 17):
            r.u32()
        elif sub == 10:
            r.byte(), r.byte()
        elif sub == 11:
            r.byte()
        elif sub in (12, 14):
            r.u32(), r.u32()
        else:
            raise UnsupportedModule(f"unknown instruction 0xFC {sub}")
    elif prefix == 0xFD:
        if sub in _SIMD_MEMARG:
            _skip_memarg(r)
        elif sub in (12, 13):
            r.take(16)
        elif sub in _SIMD_LANE:
            r.byte()
        elif sub in _SIMD_MEMARG_LANE:
            _skip_memarg(r)
            r.byte()
        elif sub > 0x113:
            raise UnsupportedModule(f"unknown instruction 0xFD {sub}")
    elif prefix == 0xFE:
        if sub == 0x03:
            r.byte()
        else:
            _skip_memarg(r)
    else:
        raise UnsupportedModule(f"unsupported instruction prefix 0x{prefix:02X}")


def _skip_immediates(op: int, r: Reader) -> None:
    if op in _NO_IMMEDIATE:
        return
    if op in _ONE_INDEX:
        r.u32()
    elif op in (0x02, 0x03, 0x04, 0x06):
        _skip_blocktype(r)
    elif op == 0x0E:
        for _ in range(r.u32() + 1):
            r.u32()
    elif op in (0x11, 0x13):
        r.u32(), r.u32()
    elif op == 0x1C:
        for _ in range(r.u32()):
            r.byte()
    elif op in _MEMARG:
        _skip_memarg(r)
    elif op in (0x3F, 0x40):
        r.u32()
    elif op in (0x41, 0x42):
        r.signed()
    elif op == 0x43:
        r.take(4)
    elif op == 0x44:
        r.take(8)
    elif op == 0xD0:
        r.signed()
    elif op in (0xFC, 0xFD, 0xFE):
        _skip_prefixed(op, r)
    else:
        raise UnsupportedModule(f"unknown instruction 0x{op:02X}")


# -- the rewrite -----------------------------------------------------------------------------


def _guarded_call(call: bytes, cost: int, counter: int, limit: int) -> bytes:
    g = uleb(counter)
    c = sleb(cost)
    return (
        b"\x23"
        + g
        + b"\x41"
        + c
        + b"\x6a"
        + b"\x24"
        + g
        + b"\x23"
        + g
        + b"\x41"
        + sleb(limit)
        + b"\x4b"
        + b"\x04\x40\x00\x0b"
        + call
        + b"\x23"
        + g
        + b"\x41"
        + c
        + b"\x6b"
        + b"\x24"
        + g
    )


def _call_sites(body: bytes) -> tuple[int, list[tuple[int, int, int | None]]]:
    """Where the instructions start, and each call site as (start, end, callee or None if indirect)."""
    r = Reader(body)
    for _ in range(r.u32()):  # local declarations
        r.u32()
        if r.byte() in (0x63, 0x64):
            r.signed()
    code_start = r.pos
    sites: list[tuple[int, int, int | None]] = []
    while r.pos < len(body):
        at = r.pos
        op = r.byte()
        _skip_immediates(op, r)
        if op == 0x10:
            sites.append((at, r.pos, Reader(body, at + 1).u32()))
        elif op == 0x11:
            sites.append((at, r.pos, None))
    return code_start, sites


def _rewrite_body(body: bytes, sites: list[tuple[int, int, int]], counter: int, limit: int) -> bytes:
    """Wrap the chosen call sites, given as (start, end, cost)."""
    out = bytearray()
    copied = 0
    for start, end, cost in sites:
        out += body[copied:start] + _guarded_call(body[start:end], cost, counter, limit)
        copied = end
    out += body[copied:]
    return bytes(out)


def _strongly_connected(graph: list[list[int]]) -> list[int]:
    """Tarjan's algorithm, iterative (call graphs can be deep): component id per node."""
    index, low, comp = [-1] * len(graph), [0] * len(graph), [-1] * len(graph)
    stack, on_stack, counter, components = [], [False] * len(graph), 0, 0
    for root in range(len(graph)):
        if index[root] != -1:
            continue
        work = [(root, 0)]
        while work:
            node, edge = work.pop()
            if edge == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack[node] = True
            if edge < len(graph[node]):
                work.append((node, edge + 1))
                succ = graph[node][edge]
                if index[succ] == -1:
                    work.append((succ, 0))
                elif on_stack[succ]:
                    low[node] = min(low[node], index[succ])
                continue
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    comp[member] = components
                    if member == node:
                        break
                components += 1
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return comp


def _choose_guarded(costs: list[int], callees: list[list[int | None]], limit: int) -> list[list[bool]]:
    """Guard every call that can close a cycle (indirect calls, calls within a strongly connected
    component) or enters a large frame; then check that the unguarded call chains alone cannot
    exceed the limit, and guard everything if they could."""
    n_imported = len(costs) - len(callees)
    graph: list[list[int]] = [[] for _ in costs]
    for f, sites in enumerate(callees):
        graph[n_imported + f] = [c for c in sites if c is not None]
    comp = _strongly_connected(graph)
    guarded = [
        [c is None or comp[c] == comp[n_imported + f] or costs[c] > LARGE_FRAME_SLOTS for c in sites]
        for f, sites in enumerate(callees)
    ]
    # Longest chain of unguarded frames (a DAG): memoised over reverse topological order.
    chain = list(costs)
    order = sorted(range(len(costs)), key=lambda node: comp[node])  # Tarjan numbers sinks first
    for node in order:
        f = node - n_imported
        if f < 0:
            continue
        longest = max((chain[c] for c, g in zip(callees[f], guarded[f]) if not g and c is not None), default=0)
        chain[node] = costs[node] + longest
    if max(chain, default=0) > limit // 2:
        guarded = [[True] * len(sites) for sites in callees]
    return guarded


def _frame_cost(types: list[tuple[int, int]], type_index: int, body: bytes | None) -> int:
    params = types[type_index][0] if type_index < len(types) else 0
    if body is None:  # imported: a host frame
        return params + FRAME_OVERHEAD_SLOTS
    r = Reader(body)
    locals_count = 0
    for _ in range(r.u32()):
        locals_count += r.u32()
        r.byte()
        if body[r.pos - 1] in (0x63, 0x64):
            r.signed()
    # The operand stack cannot hold more values than the body has instruction bytes.
    return params + locals_count + (len(body) - r.pos) + FRAME_OVERHEAD_SLOTS


def _read_types(payload: bytes) -> list[tuple[int, int]]:
    r = Reader(payload)
    types = []
    for _ in range(r.u32()):
        form = r.byte()
        if form != 0x60:
            raise UnsupportedModule(f"unsupported type form 0x{form:02X}")
        params = r.u32()
        for _ in range(params):
            if r.byte() in (0x63, 0x64):
                r.signed()
        results = r.u32()
        for _ in range(results):
            if r.byte() in (0x63, 0x64):
                r.signed()
        types.append((params, results))
    return types


def _count_imports(payload: bytes) -> tuple[list[int], int]:
    """Type indices of imported functions, and the number of imported globals."""
    entries = read_imports(payload)
    return [detail for kind, detail in entries if kind == 0 and detail is not None], sum(
        1 for kind, _ in entries if kind == 3
    )


def _cap_tables(payload: bytes, max_elements: int) -> bytes:
    """Give every table a maximum of at most ``max_elements``: WasmEdge has no table limit of its
    own, and a table of 2^32 elements (declared or grown to) aborts the process in std::bad_alloc."""
    r = Reader(payload)
    out = bytearray()
    count = r.u32()
    for _ in range(count):
        start = r.pos
        if r.byte() in (0x63, 0x64):
            r.signed()
        reftype = payload[start : r.pos]
        flags = r.byte()
        if flags not in (0, 1):
            raise UnsupportedModule(f"unsupported table limits flags 0x{flags:02X}")
        minimum = r.u32()
        maximum = r.u32() if flags == 1 else max_elements
        if minimum > max_elements:
            raise TableTooLarge(f"a table of {minimum} elements exceeds the limit of {max_elements}")
        out += reftype + b"\x01" + uleb(minimum) + uleb(min(maximum, max_elements))
    return uleb(count) + bytes(out)


def needs_sandboxing(wasm: bytes) -> bool:
    """Whether ``guard_stack`` would change anything besides the call stack (tables, start)."""
    try:
        return any(sid in (_TABLE, _START) for sid, _ in split_sections(wasm))
    except UnsupportedModule:
        return True  # let the full path report it (the engine first, with its own message)


def guard_stack(
    wasm: bytes,
    max_slots: int | None,
    *,
    max_table_elements: int = DEFAULT_MAX_TABLE_ELEMENTS,
) -> bytes:
    """Return ``wasm`` rewritten for the sandbox:

    - with ``max_slots``, its call stack never holds more than ``max_slots`` values;
    - every table is capped at ``max_table_elements``;
    - a start function becomes the export ``__wasmedge_py_start``, which the host calls right after
      instantiation — where a timeout can stop it (instantiation itself cannot be cancelled)."""
    sections = split_sections(wasm)
    by_id = {sid: payload for sid, payload in sections if sid != 0}

    types = _read_types(by_id.get(_TYPE, b"\0"))
    imported_funcs, imported_globals = _count_imports(by_id.get(_IMPORT, b"\0"))
    fr = Reader(by_id.get(_FUNCTION, b"\0"))
    defined_types = [fr.u32() for _ in range(fr.u32())]
    code = Reader(by_id.get(_CODE, b"\0"))
    bodies = [code.take(code.u32()) for _ in range(code.u32())]
    if len(bodies) != len(defined_types):
        raise UnsupportedModule("function and code sections disagree")
    gr = Reader(by_id.get(_GLOBAL, b"\0"))
    defined_globals = gr.u32() if by_id.get(_GLOBAL) else 0
    n_functions = len(imported_funcs) + len(defined_types)

    replaced: dict[int, bytes] = {}
    new_exports: list[bytes] = []
    if _TABLE in by_id:
        replaced[_TABLE] = _cap_tables(by_id[_TABLE], max_table_elements)
    if _START in by_id:
        start = Reader(by_id[_START]).u32()
        if start >= n_functions:
            raise UnsupportedModule(f"start function {start} does not exist")
        new_exports.append(_export(START_EXPORT, start))
        replaced[_START] = b""  # dropped below
    if max_slots is not None:
        counter = imported_globals + defined_globals
        bodies = _instrument_calls(types, imported_funcs, defined_types, bodies, counter, max_slots)
        # The reset function: return the counter and zero it.
        g = uleb(counter)
        bodies.append(b"\x00" + b"\x23" + g + b"\x41\x00\x24" + g + b"\x0b")
        replaced[_TYPE] = _append_to_vector(by_id.get(_TYPE), [b"\x60\x00\x01\x7f"])
        replaced[_FUNCTION] = _append_to_vector(by_id.get(_FUNCTION), [uleb(len(types))])
        replaced[_GLOBAL] = _append_to_vector(by_id.get(_GLOBAL), [b"\x7f\x01\x41\x00\x0b"])
        replaced[_CODE] = vec([uleb(len(b)) + b for b in bodies])
        new_exports.append(_export(RESET_EXPORT, n_functions))
    if new_exports:
        replaced[_EXPORT] = _append_to_vector(by_id.get(_EXPORT), new_exports)
    return _assemble(wasm[:8], sections, replaced)


def _export(name: str, function_index: int) -> bytes:
    encoded = name.encode()
    return uleb(len(encoded)) + encoded + b"\x00" + uleb(function_index)


def _instrument_calls(types, imported_funcs, defined_types, bodies, counter: int, limit: int) -> list[bytes]:
    costs = [_frame_cost(types, t, None) for t in imported_funcs]
    costs += [_frame_cost(types, t, body) for t, body in zip(defined_types, bodies)]
    indirect_cost = max(costs, default=FRAME_OVERHEAD_SLOTS)
    sites = [_call_sites(body)[1] for body in bodies]
    for body_sites in sites:
        for _, _, callee in body_sites:
            if callee is not None and callee >= len(costs):
                raise UnsupportedModule(f"call to unknown function {callee}")
    guarded = _choose_guarded(costs, [[c for _, _, c in s] for s in sites], limit)
    return [
        _rewrite_body(
            body,
            [(a, b, indirect_cost if c is None else costs[c]) for (a, b, c), g in zip(body_sites, flags) if g],
            counter,
            limit,
        )
        for body, body_sites, flags in zip(bodies, sites, guarded)
    ]


def _assemble(header: bytes, sections: list[tuple[int, bytes]], replaced: dict[int, bytes]) -> bytes:
    """Write the sections back with ``replaced`` payloads (an empty start section is dropped);
    custom sections keep their place and known ones go in canonical order."""
    present = {sid for sid, _ in sections}
    sections = sections + [(sid, b"") for sid in replaced if sid not in present]
    sections = [(sid, replaced.get(sid, payload)) for sid, payload in sections]
    sections = [(sid, payload) for sid, payload in sections if not (sid == _START and not payload)]
    known = iter(sorted((s for s in sections if s[0] != 0), key=lambda s: _ORDER.get(s[0], 99)))
    out = bytearray(header)
    for sid, payload in sections:
        if sid != 0:
            sid, payload = next(known)
        out += bytes([sid]) + uleb(len(payload)) + payload
    return bytes(out)


def _append_to_vector(payload: bytes | None, items: list[bytes]) -> bytes:
    if not payload:
        return vec(items)
    r = Reader(payload)
    count = r.u32()
    return uleb(count + len(items)) + payload[r.pos :] + b"".join(items)


def slots_for_bytes(max_bytes: int) -> int:
    return max(1, min(max_bytes // SLOT_BYTES, 2**31 - 1))


def rewrite(
    data: bytes, max_stack_bytes: int | None, source: str, validate_original: Callable[[bytes], None]
) -> tuple[bytes, int | None]:
    """``data`` rewritten for the sandbox, and its stack limit in slots (None: calls unguarded).

    ``validate_original`` (the engine's loader and validator) runs first, so the engine reports
    malformed or invalid input with its own message, and a rewrite can never make an invalid
    module valid."""
    if len(data) >= 2**32:
        raise LoadError(f"{source} is larger than 4 GiB")
    _refuse_reserved_imports(data, source)
    if max_stack_bytes is None and not needs_sandboxing(data):
        return data, None
    validate_original(data)
    slots = slots_for_bytes(max_stack_bytes) if max_stack_bytes is not None else None
    try:
        return guard_stack(data, slots), slots
    except TableTooLarge as exc:
        raise LoadError(f"cannot load {source}: {exc}", engine_message=str(exc)) from None
    except UnsupportedModule as exc:
        raise LoadError(f"cannot sandbox {source}: {exc}", engine_message=str(exc)) from None


# -- deadline checks -------------------------------------------------------------------------
#
# For AOT code compiled without WasmEdge's interruptible flag (whose atomic check at every call
# and back-edge costs 4-9x on call-heavy code): a counter global, decremented at every function
# entry and loop header by how much work the region can do before the next one (its instruction
# count, memory accesses weighted more), and by the length of every bulk memory or table
# operation; when it runs out, the imported host function ``__wasmedge_py.deadline_check`` (see
# deadline.py) traps with "interrupted" if the call's deadline has passed, else returns the
# refill. A region is the instructions of a function or loop outside its nested loops: each runs
# at most once per entry or iteration, so its weight bounds the work between two decrements.

DEADLINE_MODULE = "__wasmedge_py"
DEADLINE_FUNCTION = "deadline_check"
CHECK_INTERVAL = 1 << 20  # weighted instructions between two deadline checks (~0.1-1 ms)
_CHECK_OVERHEAD = 4  # the decrement itself, counted in every region
_MEMORY_ACCESS_WEIGHT = 4  # a load or store can miss the cache: counted as several instructions
# Bulk operations with a length on top of the stack (memory.init/copy/fill, table.init/copy/grow/
# fill): FC sub-opcode -> right shift of the length (2 bytes or elements per unit of weight: about
# the time they take, and never more than 2^31 units, so the counter cannot wrap around).
_BULK_SHIFTS = dict.fromkeys((8, 10, 11, 12, 14, 15, 17), 1)
_TYPE_CHECK = b"\x60\x00\x01\x7f"  # () -> i32
# Instructions after which the next one may not be reached from the one before: control flow
# (block, loop, if, else, end, branches, return, exception handling) and unreachable.
_BRANCHING = {0x00, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x18, 0x19}


def _renumbered(op: int, index: int, first_defined: int) -> bytes:
    """``op index`` with a defined function's index moved past the added import."""
    return bytes([op]) + uleb(index + 1 if index >= first_defined else index)


def _walk(r: Reader, end: int) -> None:
    """Advance ``r`` over one instruction (for loops that look at each one themselves)."""
    op = r.byte()
    _skip_immediates(op, r)
    if r.pos > end:
        raise UnsupportedModule("instruction runs past the end of its body")


def _renumber_expression(r: Reader, first_defined: int) -> bytes:
    """A constant expression read from ``r`` (up to its ``end``), with ``ref.func`` renumbered."""
    out = bytearray()
    while True:
        at = r.pos
        op = r.byte()
        _skip_immediates(op, r)
        if op == 0xD2:
            out += _renumbered(op, Reader(r.data, at + 1).u32(), first_defined)
        else:
            out += r.data[at : r.pos]
        if op == 0x0B:
            return bytes(out)


def _reftype(r: Reader) -> bytes:
    start = r.pos
    if r.byte() in (0x63, 0x64):
        r.signed()
    return r.data[start : r.pos]


def _renumber_elements(payload: bytes, first_defined: int) -> bytes:
    r = Reader(payload)
    out = bytearray()
    count = r.u32()
    for _ in range(count):
        flags = r.u32()
        out += uleb(flags)
        if flags & 0b010 and not flags & 0b001:  # active with an explicit table
            out += uleb(r.u32())
        if not flags & 0b001:  # active: the offset
            out += _renumber_expression(r, first_defined)
        if flags & 0b100:  # expressions
            if flags & 0b011:
                out += _reftype(r)
            n = r.u32()
            out += uleb(n) + b"".join(_renumber_expression(r, first_defined) for _ in range(n))
        else:  # function indices
            if flags & 0b011:
                out += bytes([r.byte()])  # elemkind
            n = r.u32()
            out += uleb(n) + b"".join(uleb(_shifted(r.u32(), first_defined)) for _ in range(n))
    return uleb(count) + bytes(out)


def _shifted(index: int, first_defined: int) -> int:
    return index + 1 if index >= first_defined else index


def _renumber_globals(payload: bytes, first_defined: int) -> bytes:
    r = Reader(payload)
    count = r.u32()
    out = bytearray()
    for _ in range(count):
        out += _reftype(r) + bytes([r.byte()])  # value type, mutability
        out += _renumber_expression(r, first_defined)
    return uleb(count) + bytes(out)


def _renumber_exports(payload: bytes, first_defined: int) -> bytes:
    r = Reader(payload)
    count = r.u32()
    out = bytearray()
    for _ in range(count):
        name = r.name()
        kind, index = r.byte(), r.u32()
        out += uleb(len(name)) + name + bytes([kind]) + uleb(_shifted(index, first_defined) if kind == 0 else index)
    return uleb(count) + bytes(out)


def _decrement(counter: bytes, check: bytes, amount: bytes) -> bytes:
    """``counter -= <amount>`` (instructions leaving one i32 on the stack); if it is no longer
    positive, ``counter = deadline_check()`` (which traps once the deadline has passed)."""
    return (
        (b"\x23" + counter + amount + b"\x6b\x24" + counter)  # global.get; amount; i32.sub; global.set
        + (b"\x23" + counter + b"\x41\x00\x4c")  # global.get; i32.const 0; i32.le_s
        + (b"\x04\x40\x10" + check + b"\x24" + counter + b"\x0b")  # if; call check; global.set; end
    )


@dataclass
class _BodyScan:
    """What the deadline rewrite needs to know of one function body."""

    groups: int  # local declaration groups
    groups_end: int  # where their count ends
    code_start: int  # where the instructions start
    n_locals: int  # parameters and locals
    weight: int = _CHECK_OVERHEAD  # of the function's own region (outside its loops)
    loops: list[tuple[int, int, int]] = field(default_factory=list)  # (header position, weight, run)
    # (start, end, opcode, immediate, run): direct calls and ref.func (immediate: the function
    # index), indirect calls (None), bulk operations (the length's shift). A run is a stretch of
    # straight-line code: what is reached from its start, is reached from it unconditionally.
    sites: list[tuple[int, int, int, int | None, int]] = field(default_factory=list)


def _scan_body(body: bytes, n_params: int) -> _BodyScan:
    r = Reader(body)
    groups = r.u32()
    groups_end = r.pos
    n_locals = n_params
    for _ in range(groups):
        n_locals += r.u32()
        _reftype(r)
    scan = _BodyScan(groups, groups_end, r.pos, n_locals)
    weights = [scan.weight]  # of the open regions, innermost last
    blocks: list[bool] = []  # per open block: whether it is a loop
    open_loops: list[int] = []  # indices in scan.loops, innermost last
    run = 0
    while r.pos < len(body):
        at = r.pos
        op = body[at]
        _walk(r, len(body))
        weights[-1] += _MEMORY_ACCESS_WEIGHT if 0x28 <= op <= 0x3E else 1
        if op in _BRANCHING:
            run += 1
        if op == 0x03:
            open_loops.append(len(scan.loops))
            scan.loops.append((r.pos, 0, run))  # its weight is known at its end
            weights.append(_CHECK_OVERHEAD)
            blocks.append(True)
        elif op in (0x02, 0x04, 0x06):
            blocks.append(False)
        elif op in (0x0B, 0x18) and blocks:  # end (the body's own final end closes no block), delegate
            if blocks.pop():
                loop = open_loops.pop()
                header, _, header_run = scan.loops[loop]
                scan.loops[loop] = (header, weights.pop(), header_run)
        elif op in (0x10, 0x12, 0xD2):  # call, return_call, ref.func
            scan.sites.append((at, r.pos, op, Reader(body, at + 1).u32(), run))
        elif op in (0x11, 0x13):  # call_indirect, return_call_indirect
            scan.sites.append((at, r.pos, op, None, run))
        elif op == 0xFC and (shift := _BULK_SHIFTS.get(Reader(body, at + 1).u32())) is not None:
            scan.sites.append((at, r.pos, op, shift, run))
    scan.weight = weights[0]
    return scan


def _check_body(
    body: bytes, scan: _BodyScan, callee_weights: list[int], counter: int, check: int, first_defined: int
) -> bytes:
    """``body`` with deadline decrements at every loop header (by the loop's weight), before every
    call (by the weight of the callee's own region: the largest of any for an indirect call) and
    before every bulk operation (by its length), and with its calls and ``ref.func`` renumbered
    past the added import. Decrementing at call sites rather than at function entries leaves the
    paths of a function that call nothing (the leaves of a recursion) without any check. The
    constant decrements of one straight-line run are summed into its first one."""
    g, c = uleb(counter), uleb(check)
    scratch = uleb(scan.n_locals)  # an i32 local added if the body has a bulk operation
    needs_scratch = False
    edits: list[tuple[int, int, bytes]] = []  # (start, end, replacement); start == end inserts
    by_run: dict[int, list[int]] = {}  # run -> [position of its first decrement, summed weight]
    indirect_weight = max(callee_weights, default=_CHECK_OVERHEAD)

    def decrement(at: int, run: int, weight: int) -> None:
        by_run.setdefault(run, [at, 0])[1] += weight

    for at, weight, run in scan.loops:  # a header comes first in its run
        decrement(at, run, weight)
    for at, end, op, immediate, run in scan.sites:
        if op == 0xFC:
            needs_scratch = True
            length = b"\x20" + scratch + b"\x41" + sleb(immediate or 0) + b"\x76"  # local.get; i32.const; shr_u
            edits.append((at, at, b"\x21" + scratch + _decrement(g, c, length) + b"\x20" + scratch))
        elif immediate is None:
            decrement(at, run, indirect_weight)
        elif op == 0xD2:
            edits.append((at, end, _renumbered(op, immediate, first_defined)))
        else:
            callee = callee_weights[immediate - first_defined] if immediate >= first_defined else _CHECK_OVERHEAD
            decrement(at, run, callee)
            edits.append((at, end, _renumbered(op, immediate, first_defined)))
    edits += [(at, at, _decrement(g, c, b"\x41" + sleb(weight))) for at, weight in by_run.values()]
    edits.sort(key=lambda edit: (edit[0], edit[1] != edit[0]))  # inserts before a replacement at the same place
    code_start = scan.code_start
    if needs_scratch:
        out = bytearray(uleb(scan.groups + 1) + body[scan.groups_end : code_start] + b"\x01\x7f")
    else:
        out = bytearray(body[:code_start])
    copied = code_start
    for start, end, replacement in edits:
        out += body[copied:start] + replacement
        copied = end
    out += body[copied:]
    return bytes(out)


def _imports_deadline_module(sections: dict[int, bytes]) -> bool:
    entries = read_import_entries(sections.get(_IMPORT, b"\0"))
    return any(module == DEADLINE_MODULE.encode() for module, _, _ in entries)


def _refuse_reserved_imports(data: bytes, source: str) -> None:
    """A module may not import from ``__wasmedge_py``: compiled code that imports the deadline
    check is taken to be stopped by it (malformed input is left for the engine to report)."""
    try:
        reserved = _imports_deadline_module({sid: payload for sid, payload in split_sections(data) if sid != 0})
    except UnsupportedModule:
        return
    if reserved:
        detail = f"it imports from {DEADLINE_MODULE}, a module name reserved for the host"
        raise LoadError(f"cannot load {source}: {detail}", engine_message=detail)


def add_deadline_checks(wasm: bytes, interval: int = CHECK_INTERVAL) -> bytes:
    """``wasm`` with deadline checks (see above): the import ``__wasmedge_py.deadline_check`` is
    added after the module's own function imports (so every defined function's index moves up by
    one, everywhere it appears) and the counter global after its own globals, starting at
    ``interval``. A module importing anything from ``__wasmedge_py`` itself is refused."""
    sections = split_sections(wasm)
    by_id = {sid: payload for sid, payload in sections if sid != 0}
    types = _read_types(by_id.get(_TYPE, b"\0"))
    if _imports_deadline_module(by_id):
        raise UnsupportedModule(f"it imports from {DEADLINE_MODULE}, a module name reserved for the host")
    imported_funcs, imported_globals = _count_imports(by_id.get(_IMPORT, b"\0"))
    fr = Reader(by_id.get(_FUNCTION, b"\0"))
    defined_types = [fr.u32() for _ in range(fr.u32())]
    code = Reader(by_id.get(_CODE, b"\0"))
    bodies = [code.take(code.u32()) for _ in range(code.u32())]
    if len(bodies) != len(defined_types):
        raise UnsupportedModule("function and code sections disagree")
    defined_globals = Reader(by_id[_GLOBAL]).u32() if by_id.get(_GLOBAL) else 0
    first_defined = len(imported_funcs)
    counter = imported_globals + defined_globals
    check = first_defined  # the import goes last among the function imports

    replaced: dict[int, bytes] = {
        _TYPE: _append_to_vector(by_id.get(_TYPE), [_TYPE_CHECK]),
        _IMPORT: _append_to_vector(
            by_id.get(_IMPORT), [_name(DEADLINE_MODULE) + _name(DEADLINE_FUNCTION) + b"\x00" + uleb(len(types))]
        ),
        _GLOBAL: _append_to_vector(
            by_id.get(_GLOBAL) and _renumber_globals(by_id[_GLOBAL], first_defined),
            [b"\x7f\x01\x41" + sleb(interval) + b"\x0b"],
        ),
    }
    scans = [_scan_body(body, types[t][0] if t < len(types) else 0) for t, body in zip(defined_types, bodies)]
    weights = [scan.weight for scan in scans]
    for scan in scans:
        for _, _, op, immediate, _ in scan.sites:
            if op in (0x10, 0x12) and immediate is not None and immediate >= first_defined + len(scans):
                raise UnsupportedModule(f"call to unknown function {immediate}")
    checked = [_check_body(body, scan, weights, counter, check, first_defined) for body, scan in zip(bodies, scans)]
    replaced[_CODE] = vec([uleb(len(body)) + body for body in checked])
    if _EXPORT in by_id:
        replaced[_EXPORT] = _renumber_exports(by_id[_EXPORT], first_defined)
    if _START in by_id:
        replaced[_START] = uleb(_shifted(Reader(by_id[_START]).u32(), first_defined))
    if _ELEMENT in by_id:
        replaced[_ELEMENT] = _renumber_elements(by_id[_ELEMENT], first_defined)
    return _assemble(wasm[:8], sections, replaced)


def _name(text: str) -> bytes:
    encoded = text.encode()
    return uleb(len(encoded)) + encoded
