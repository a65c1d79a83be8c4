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

Only calls that can recurse (within a strongly connected component of the call graph, indirect
calls) or enter a large frame are wrapped. A small recursive function also gets a *twin*, a copy
appended after the defined functions: its calls within the component go to the twin, charged for
the twin's frame and the largest frame the twin calls, and the twin calls back into the component
unguarded. So only every other level of a recursion is counted, and the compiler, which inlines
the twin, makes two levels of one native frame: fib(30) under AOT with the guard and deadline
checks went from 2.7x to 1.3x gcc -O2 (``bench/stack_guard.py``). A custom section names the
twins for ``add_deadline_checks``.

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
_TRAP_IF = b"\x04\x40\x00\x0b"  # if (no result) unreachable end: the guard's trap
# Twins (see _plan_calls): which recursive functions get one, and the custom section naming them.
TWIN_MAX_BODY_BYTES = 2048
TWIN_BUDGET_BYTES = 64 << 10  # of all twins' code together: compile time grows with it
TWINS_SECTION = "wasmedge-py.twins"

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


def _guarded_call(call: bytes, cost: int, counter: int, limit: int, saved: int) -> bytes:
    """``call`` counted: the counter raised by ``cost`` (trapping if that exceeds ``limit``) and
    put back afterwards from the local ``saved``, where it was kept (no reload after the call)."""
    g, b = uleb(counter), uleb(saved)
    exceeds = b"\x41" + sleb(limit - cost) + b"\x4b" if cost <= limit else b"\x41\x00\x4f"  # > limit-cost; >= 0
    return (
        (b"\x23" + g + b"\x22" + b + b"\x41" + sleb(cost) + b"\x6a\x24" + g)  # get; tee saved; const; add; set
        + (b"\x20" + b + exceeds + _TRAP_IF)  # local.get saved; compare; if unreachable end
        + call
        + (b"\x20" + b + b"\x24" + g)  # local.get saved; global.set
    )


def _local_declarations(body: bytes, n_params: int) -> tuple[int, int, int, int]:
    """(declaration groups, where their count ends, where the instructions start, parameters
    and locals)."""
    r = Reader(body)
    groups = r.u32()
    groups_end = r.pos
    n_locals = n_params
    for _ in range(groups):
        n_locals += r.u32()
        _reftype(r)
    return groups, groups_end, r.pos, n_locals


def _with_i32_local(body: bytes, groups: int, groups_end: int, code_start: int) -> bytearray:
    """The local declarations of ``body`` with one more i32 (the last local), to append code to."""
    return bytearray(uleb(groups + 1) + body[groups_end:code_start] + b"\x01\x7f")


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


def _rewrite_body(
    body: bytes, n_params: int, sites: list[tuple[int, int, bytes, int | None]], counter: int, limit: int
) -> bytes:
    """Replace the chosen call sites, given as (start, end, call, cost): ``call`` (the instruction
    to make: the original or one redirected to a twin, if empty) wrapped in the guard when
    ``cost`` is set, which keeps the counter in a local added to the body."""
    groups, groups_end, copied, saved = _local_declarations(body, n_params)
    guarded = any(cost is not None for _, _, _, cost in sites)
    out = _with_i32_local(body, groups, groups_end, copied) if guarded else bytearray(body[:copied])
    for start, end, call, cost in sites:
        call = call or body[start:end]
        out += body[copied:start] + (call if cost is None else _guarded_call(call, cost, counter, limit, saved))
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


def _longest_chain(costs: list[int], edges: list[list[int]]) -> int:
    """The largest sum of costs along a path of ``edges`` (which form no cycle): the stack that
    unguarded calls alone can build. Iterative depth-first search, memoised."""
    unseen, open_ = -1, -2
    chain = [unseen] * len(costs)
    for root in range(len(costs)):
        work = [root]
        while work:
            node = work[-1]
            if chain[node] >= 0:
                work.pop()
                continue
            if chain[node] == unseen:
                chain[node] = open_
                if any(chain[succ] == open_ for succ in edges[node]):
                    raise UnsupportedModule("unguarded calls would form a cycle")  # never: see _plan_calls
                work += [succ for succ in edges[node] if chain[succ] == unseen]
                continue
            chain[node] = costs[node] + max((chain[succ] for succ in edges[node]), default=0)
            work.pop()
    return max(chain, default=0)


def _choose_twins(comp: list[int], graph: list[list[int]], bodies: list[bytes], n_imported: int) -> dict[int, int]:
    """The recursive functions that get a twin: function index -> its twin's index (appended
    after the defined functions), while the twins' code stays within ``TWIN_BUDGET_BYTES``."""
    cyclic = {comp[node] for node, succs in enumerate(graph) for succ in succs if comp[succ] == comp[node]}
    twins: dict[int, int] = {}
    budget = TWIN_BUDGET_BYTES
    for f, body in enumerate(bodies):
        node = n_imported + f
        if comp[node] in cyclic and len(body) <= min(budget, TWIN_MAX_BODY_BYTES):
            twins[node] = n_imported + len(bodies) + len(twins)
            budget -= len(body)
    return twins


def _plan_calls(
    costs: list[int], bodies: list[bytes], sites: list[list[tuple[int, int, int | None]]], limit: int, twinned: bool
) -> tuple[list[list[tuple[int, int, bytes, int | None]]], dict[int, int]] | None:
    """Per defined function, then per twin: the call sites to rewrite as (start, end, call, cost)
    (see ``_rewrite_body``), and the twins (``_choose_twins``, if ``twinned``). None if the calls
    left unguarded could build more than half the limit on their own.

    Guarded: every call that can close a cycle (indirect calls, calls within a strongly
    connected component) or enters a large frame. A call within a component to a function that
    has a twin goes to the twin instead, which calls back into the component unguarded: that
    guarded call is charged for the twin's frame and for the largest frame the twin calls
    unguarded, so every cycle still has a guarded call, charged for the whole cycle."""
    n_imported = len(costs) - len(bodies)
    graph: list[list[int]] = [[] for _ in costs]
    for f, body_sites in enumerate(sites):
        graph[n_imported + f] = [c for _, _, c in body_sites if c is not None]
    comp = _strongly_connected(graph)
    twins = _choose_twins(comp, graph, bodies, n_imported) if twinned else {}
    indirect_cost = max(costs, default=FRAME_OVERHEAD_SLOTS)
    # What a call to a twin is charged: its frame and the largest it calls back into.
    twin_charge = {
        node: costs[node] + max((costs[c] for c in graph[node] if comp[c] == comp[node]), default=0) for node in twins
    }
    unguarded: list[list[int]] = [[] for _ in range(len(costs) + len(twins))]
    plans: list[list[tuple[int, int, bytes, int | None]]] = []
    callers = [n_imported + f for f in range(len(bodies))] + list(twins)
    for index, caller in enumerate(callers):
        is_twin = index >= len(bodies)
        plan: list[tuple[int, int, bytes, int | None]] = []
        for start, end, callee in sites[caller - n_imported]:
            if callee is None:
                plan.append((start, end, b"", indirect_cost))
            elif comp[callee] == comp[caller] and is_twin:
                unguarded[n_imported + index].append(callee)  # charged where the twin was called
            elif comp[callee] == comp[caller] and callee in twins:
                plan.append((start, end, b"\x10" + uleb(twins[callee]), twin_charge[callee]))
            elif comp[callee] == comp[caller] or costs[callee] > LARGE_FRAME_SLOTS:
                plan.append((start, end, b"", costs[callee]))
            else:
                unguarded[n_imported + index].append(callee)
        plans.append(plan)
    if _longest_chain(costs + [costs[node] for node in twins], unguarded) > limit // 2:
        return None
    return plans, twins


def _frame_cost(types: list[tuple[int, int]], type_index: int, body: bytes | None) -> int:
    params = types[type_index][0] if type_index < len(types) else 0
    if body is None:  # imported: a host frame
        return params + FRAME_OVERHEAD_SLOTS
    _, _, code_start, n_locals = _local_declarations(body, params)
    # The operand stack cannot hold more values than the body has instruction bytes; one more
    # local may keep the guard's counter.
    return n_locals + 1 + (len(body) - code_start) + FRAME_OVERHEAD_SLOTS


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


def _defined_functions(by_id: dict[int, bytes]) -> tuple[list[int], list[bytes]]:
    """The defined functions' type indices and bodies."""
    fr = Reader(by_id.get(_FUNCTION, b"\0"))
    defined_types = [fr.u32() for _ in range(fr.u32())]
    code = Reader(by_id.get(_CODE, b"\0"))
    bodies = [code.take(code.u32()) for _ in range(code.u32())]
    if len(bodies) != len(defined_types):
        raise UnsupportedModule("function and code sections disagree")
    return defined_types, bodies


def _with_twins(wasm: bytes) -> bytes:
    """``wasm`` with the stack guard's twins but without the guard (the same as the module if it
    has no recursive function): for ``add_deadline_checks`` on a module not rewritten by
    ``guard_stack``, so that its recursions, too, decrement at every other level only."""
    sections = split_sections(wasm)
    by_id = {sid: payload for sid, payload in sections if sid != 0}
    types = _read_types(by_id.get(_TYPE, b"\0"))
    imported_funcs, _ = _count_imports(by_id.get(_IMPORT, b"\0"))
    defined_types, bodies = _defined_functions(by_id)
    bodies, twin_types = _instrument_calls(types, imported_funcs, defined_types, bodies, None, 2**31 - 1)
    if not twin_types:
        return wasm
    replaced = {
        _FUNCTION: _append_to_vector(by_id.get(_FUNCTION), [uleb(t) for t in twin_types]),
        _CODE: vec([uleb(len(b)) + b for b in bodies]),
    }
    first_twin = len(imported_funcs) + len(defined_types)
    return _assemble(wasm[:8], sections, replaced) + _twins_section(first_twin, len(twin_types))


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
    defined_types, bodies = _defined_functions(by_id)
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
    twins_section = b""
    if max_slots is not None:
        counter = imported_globals + defined_globals
        bodies, twin_types = _instrument_calls(types, imported_funcs, defined_types, bodies, counter, max_slots)
        # The reset function: return the counter and zero it.
        g = uleb(counter)
        bodies.append(b"\x00" + b"\x23" + g + b"\x41\x00\x24" + g + b"\x0b")
        replaced[_TYPE] = _append_to_vector(by_id.get(_TYPE), [b"\x60\x00\x01\x7f"])
        replaced[_FUNCTION] = _append_to_vector(
            by_id.get(_FUNCTION), [uleb(t) for t in twin_types] + [uleb(len(types))]
        )
        replaced[_GLOBAL] = _append_to_vector(by_id.get(_GLOBAL), [b"\x7f\x01\x41\x00\x0b"])
        replaced[_CODE] = vec([uleb(len(b)) + b for b in bodies])
        new_exports.append(_export(RESET_EXPORT, n_functions + len(twin_types)))
        if twin_types:
            twins_section = _twins_section(n_functions, len(twin_types))
    if new_exports:
        replaced[_EXPORT] = _append_to_vector(by_id.get(_EXPORT), new_exports)
    sections = [(sid, payload) for sid, payload in sections if not _is_twins_section(sid, payload)]
    return _assemble(wasm[:8], sections, replaced) + twins_section


def _export(name: str, function_index: int) -> bytes:
    encoded = name.encode()
    return uleb(len(encoded)) + encoded + b"\x00" + uleb(function_index)


def _instrument_calls(
    types: list[tuple[int, int]],
    imported_funcs: list[int],
    defined_types: list[int],
    bodies: list[bytes],
    counter: int | None,
    limit: int,
) -> tuple[list[bytes], list[int]]:
    """The defined functions' bodies with their calls guarded, followed by the twins' (see
    ``_plan_calls``); and the twins' type indices, in order. Without a ``counter``, only the
    calls to twins are made: nothing is guarded."""
    costs = [_frame_cost(types, t, None) for t in imported_funcs]
    costs += [_frame_cost(types, t, body) for t, body in zip(defined_types, bodies)]
    sites = [_call_sites(body)[1] for body in bodies]
    for body_sites in sites:
        for _, _, callee in body_sites:
            if callee is not None and callee >= len(costs):
                raise UnsupportedModule(f"call to unknown function {callee}")
    plans: list[list[tuple[int, int, bytes, int | None]]]
    planned = _plan_calls(costs, bodies, sites, limit, twinned=True) or _plan_calls(costs, bodies, sites, limit, False)
    if planned is None:  # unguarded chains too long: guard every call
        plans = [[(start, end, b"", costs[c] if c is not None else max(costs)) for start, end, c in s] for s in sites]
        twins: dict[int, int] = {}
    else:
        plans, twins = planned
    n_imported = len(imported_funcs)
    originals = bodies + [bodies[node - n_imported] for node in twins]
    twin_types = [defined_types[node - n_imported] for node in twins]
    if counter is None:
        plans = [[(start, end, call, None) for start, end, call, _ in plan if call] for plan in plans]
    n_params = [types[t][0] if t < len(types) else 0 for t in defined_types + twin_types]
    rewritten = [_rewrite_body(body, n, plan, counter or 0, limit) for body, n, plan in zip(originals, n_params, plans)]
    return rewritten, twin_types


def _is_twins_section(section_id: int, payload: bytes) -> bool:
    try:
        return section_id == 0 and Reader(payload).name() == TWINS_SECTION.encode()
    except UnsupportedModule:
        return False


def _twins_section(first: int, count: int) -> bytes:
    """The custom section telling ``add_deadline_checks`` which functions are twins."""
    payload = _name(TWINS_SECTION) + uleb(first) + uleb(count)
    return b"\x00" + uleb(len(payload)) + payload


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
# A twin (see the stack guard above) decrements for nothing it calls but twins: its other
# callees' weights are counted in its own, which the call to it is decremented by.

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
# ``_TRAP_IF`` (the stack guard's check, or any conditional trap) is no branch in the sense above:
# the code after it runs whenever the code before it goes on.
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
    # (start, end, callee): direct calls counted in the caller's own weights (a twin's, see below).
    free_calls: list[tuple[int, int, int]] = field(default_factory=list)


def _scan_body(body: bytes, n_params: int, free_weight: Callable[[int], int | None] | None = None) -> _BodyScan:
    """What ``_check_body`` needs of ``body``. ``free_weight(callee)``, when given, is the
    weight of a callee whose call needs no decrement of its own: its weight is added to the
    region the call is in (None: the call is decremented as usual)."""
    scan = _BodyScan(*_local_declarations(body, n_params))
    r = Reader(body, scan.code_start)
    weights = [scan.weight]  # of the open regions, innermost last
    blocks: list[bool] = []  # per open block: whether it is a loop
    open_loops: list[int] = []  # indices in scan.loops, innermost last
    run = 0
    while r.pos < len(body):
        at = r.pos
        op = body[at]
        if body.startswith(_TRAP_IF, at):  # what follows it is reached whenever it goes on
            r.pos += len(_TRAP_IF)
            weights[-1] += len(_TRAP_IF)
            continue
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
            callee = Reader(body, at + 1).u32()
            weight = free_weight(callee) if op == 0x10 and free_weight is not None else None
            if weight is None:
                scan.sites.append((at, r.pos, op, callee, run))
            else:
                weights[-1] += weight
                scan.free_calls.append((at, r.pos, callee))
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
    edits += [(at, end, _renumbered(0x10, callee, first_defined)) for at, end, callee in scan.free_calls]
    edits += [(at, at, _decrement(g, c, b"\x41" + sleb(weight))) for at, weight in by_run.values()]
    edits.sort(key=lambda edit: (edit[0], edit[1] != edit[0]))  # inserts before a replacement at the same place
    code_start = scan.code_start
    if needs_scratch:
        out = _with_i32_local(body, scan.groups, scan.groups_end, code_start)
    else:
        out = bytearray(body[:code_start])
    copied = code_start
    for start, end, replacement in edits:
        out += body[copied:start] + replacement
        copied = end
    out += body[copied:]
    return bytes(out)


def _twin_range(sections: list[tuple[int, bytes]], first_defined: int, n_defined: int) -> range:
    """The defined functions (counted from the first one) that ``guard_stack`` made twins: from
    its custom section, if any and valid; else none."""
    for section_id, payload in sections:
        if _is_twins_section(section_id, payload):
            r = Reader(payload)
            r.name()
            try:
                first, count = r.u32() - first_defined, r.u32()
            except UnsupportedModule:
                break
            if 0 <= first and first + count <= n_defined:
                return range(first, first + count)
    return range(0)


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
    ``interval``. A module importing anything from ``__wasmedge_py`` itself is refused. A module
    without the stack guard's twins gets them first (``_with_twins``)."""
    sections = split_sections(wasm)
    by_id = {sid: payload for sid, payload in sections if sid != 0}
    if _imports_deadline_module(by_id):
        raise UnsupportedModule(f"it imports from {DEADLINE_MODULE}, a module name reserved for the host")
    if not any(_is_twins_section(sid, payload) for sid, payload in sections):
        wasm = _with_twins(wasm)
        sections = split_sections(wasm)
        by_id = {sid: payload for sid, payload in sections if sid != 0}
    types = _read_types(by_id.get(_TYPE, b"\0"))
    imported_funcs, imported_globals = _count_imports(by_id.get(_IMPORT, b"\0"))
    defined_types, bodies = _defined_functions(by_id)
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
    twins = _twin_range(sections, first_defined, len(bodies))
    n_params = [types[t][0] if t < len(types) else 0 for t in defined_types]
    pending: list[_BodyScan | None] = [
        None if f in twins else _scan_body(body, n) for f, (body, n) in enumerate(zip(bodies, n_params))
    ]

    def free_weight(callee: int) -> int | None:
        """A twin's calls to anything but a twin are counted in its own weights: it is only ever
        called from a function whose call is decremented by the twin's weight, and a function
        that is not a twin decrements for every call it makes, so every cycle still decrements."""
        if callee < first_defined:
            return _CHECK_OVERHEAD  # an import
        scan = pending[callee - first_defined] if callee - first_defined < len(pending) else None
        return scan.weight if scan is not None else None

    for f in twins:
        pending[f] = _scan_body(bodies[f], n_params[f], free_weight)
    scans = [scan for scan in pending if scan is not None]  # all of them now
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
