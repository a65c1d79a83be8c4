"""Mutation fuzzer for the binding: whatever the bytes, the only allowed outcomes are a result or a
``WasmEdgeError`` — never a crash, a hang or another exception.

    .venv/bin/python tests/fuzz/fuzz.py [--modules 10000] [--batch 200] [--seed 1] [--jobs 2]
    .venv/bin/python tests/fuzz/fuzz.py --quick             # 300 modules, what tests/test_fuzz.py runs
    .venv/bin/python tests/fuzz/fuzz.py --replay FILE.wasm  # run one saved input in this process, verbosely

Module ``i`` is a deterministic function of ``--seed`` and ``i``: a seed module (the repo's built
plugins and WAT modules) with 1-5 mutations (bit flips, byte insertions and deletions,
truncations, LEB128 boundary values, section and function-body splices, inserted instructions).
Each batch is written to a temporary directory and run in a child process (``--child``) that, for
every module: loads it as is (validation only), sandboxed and stack-guarded (each must load
exactly when the original does), instantiates the sandboxed and the guarded module (imported
functions linked to host functions returning zeros), calls every exported function on both with
generated arguments (valid, boundary and wrong ones) under a timeout and compares the results,
cancels calls at a 1 ms deadline, closes an instance while another thread calls into it, reads its
exported memory in and out of bounds, and runs it through the plugin runtime (``load_plugin`` and
the whole lifecycle, v1 and v2, sometimes with a small fuel budget). ``--unsandboxed`` also runs
each module without the sandbox (trusted-code mode).

The child reports each step on stdout. A child that dies (signal, non-zero exit) is a crash; one
whose step takes longer than ``--step-timeout`` is a hang. Either way the module it was running is
re-run alone in a fresh child to confirm, saved in ``--crash-dir`` with what happened, and the rest
of the batch continues. A non-``WasmEdgeError`` exception, or a rewritten module that behaves
differently from the original, is a violation, saved the same way. Exit status 1 if there was any.
"""

from __future__ import annotations

import argparse
import faulthandler
import hashlib
import json
import logging
import math
import os
import random
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from wasmedge_py._binary import MAGIC, Reader, UnsupportedModule, uleb  # the package's own LEB128

REPO = Path(__file__).resolve().parents[2]

# Seeds: (path relative to the repo, weight). The plugins are required; WAT files are compiled
# with wat2wasm, and one that has gone missing is skipped with a warning.
PLUGIN_SEEDS = [("cpp/plugin.wasm", 3), ("cpp/plugin_abi.wasm", 3), ("plugins/hello/hello.wasm", 3)]
WAT_SEEDS = [
    ("tests/wat/fuzz/features.wat", 6),
    ("tests/wat/fuzz/tables.wat", 1),
    ("tests/wat/fuzz/reactor.wat", 1),
    ("tests/wat/unit_pure.wat", 2),
    ("tests/wat/unit_basics.wat", 1),
    ("tests/wat/v2_reverse.wat", 2),
    ("tests/wat/parity_int.wat", 1),
    ("tests/wat/parity_float.wat", 1),
    ("tests/wat/parity_convert.wat", 1),
    ("tests/wat/parity_memory.wat", 1),
    ("tests/wat/parity_traps.wat", 1),
    ("tests/wat/parity_values.wat", 1),
    ("tests/wat/hostile/deep_recursion.wat", 1),
    ("tests/wat/hostile/memory_bomb.wat", 1),
    ("tests/wat/hostile/bad_indirect_call.wat", 1),
    ("tests/wat/hostile/negative_code.wat", 1),
    ("tests/wat/hostile/process_without_init.wat", 1),
    ("tests/wat/hostile/runaway_loop.wat", 1),
    ("tests/wat/hostile/wasi_import.wat", 1),
    ("tests/wat/hostile/missing_import.wat", 1),
]

STACK_BYTES = 1 << 20  # the stack guard's budget in the binding stage
MAX_PAGES = 16  # linear memory cap (1 MiB) for every instance the fuzzer makes
MAX_FUNCTIONS = 40  # exported functions called per module
CHILD_DATA_LIMIT_MB = 3072  # RLIMIT_DATA of a child: a runaway allocation fails instead of eating the machine


# -- the binary format, tolerantly -------------------------------------------------------------


def read_uleb(data: bytes, pos: int) -> tuple[int, int] | None:
    """(value, position after it), or None if there is no complete LEB128 at pos."""
    reader = Reader(data, pos)
    try:
        return reader.u32(), reader.pos
    except UnsupportedModule:
        return None


def split_sections(data: bytes) -> list[tuple[int, bytes]] | None:
    """``(id, payload)`` of each section, or None if the framing is broken."""
    if data[:8] != MAGIC:
        return None
    sections, pos = [], 8
    while pos < len(data):
        section_id = data[pos]
        size = read_uleb(data, pos + 1)
        if size is None or size[1] + size[0] > len(data):
            return None
        sections.append((section_id, data[size[1] : size[1] + size[0]]))
        pos = size[1] + size[0]
    return sections


def join_sections(sections: list[tuple[int, bytes]]) -> bytes:
    return MAGIC + b"".join(bytes([sid & 0xFF]) + uleb(len(payload)) + payload for sid, payload in sections)


def split_bodies(payload: bytes) -> list[bytes] | None:
    """The function bodies of a code section payload, or None if malformed."""
    head = read_uleb(payload, 0)
    if head is None:
        return None
    count, pos = head
    bodies = []
    for _ in range(min(count, 100_000)):
        size = read_uleb(payload, pos)
        if size is None or size[1] + size[0] > len(payload):
            return None
        bodies.append(payload[size[1] : size[1] + size[0]])
        pos = size[1] + size[0]
    return bodies


def join_bodies(bodies: list[bytes]) -> bytes:
    return uleb(len(bodies)) + b"".join(uleb(len(body)) + body for body in bodies)


def instructions_start(body: bytes) -> int:
    """Where a body's instructions start (after its local declarations); 0 if unreadable."""
    head = read_uleb(body, 0)
    if head is None:
        return 0
    count, pos = head
    for _ in range(min(count, 10_000)):
        n = read_uleb(body, pos)
        if n is None or n[1] >= len(body):
            return 0
        pos = n[1] + 1
    return min(pos, len(body))


# -- mutations ---------------------------------------------------------------------------------
#
# A mutation is ``(name, a, b, c, blob)``: a, b and c are 32-bit numbers each mutation reads as
# positions, lengths and choices (modulo whatever size applies), ``c`` also picks the donor module
# for splices, and ``blob`` is 1-16 bytes of raw material. Hypothesis generates the same tuples
# (tests/test_fuzz.py), so its examples shrink to the fewest, simplest mutations.

INTERESTING_BYTES = bytes(
    [0x00, 0x01, 0x02, 0x0B, 0x10, 0x11, 0x40, 0x41, 0x60, 0x6F, 0x70, 0x7B, 0x7F, 0x80, 0xFC, 0xFD, 0xFF]
)
INTERESTING_NUMBERS = [
    0,
    1,
    2,
    0x3F,
    0x40,
    0x7F,
    0x80,
    0xFF,
    0x3FFF,
    0x4000,
    0xFFFF,
    0x10000,
    0x10001,
    0xFFFFFF,
    0x1000000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFE,
    0xFFFFFFFF,
    0x100000000,
]
_NAN64 = struct.pack("<d", math.nan)
SNIPPETS = [
    b"\x01",  # nop
    b"\x00",  # unreachable
    b"\x0f",  # return
    b"\x41\x00\x1a",  # i32.const 0; drop
    b"\x20\x00\x1a",  # local.get 0; drop
    b"\x23\x00\x1a",  # global.get 0; drop
    b"\x41\x00\x24\x00",  # global.set 0
    b"\x10\x00",  # call 0
    b"\x10\x01\x1a",  # call 1; drop
    b"\x41\x00\x11\x00\x00",  # call_indirect (type 0)
    b"\x03\x40\x0c\x00\x0b",  # loop br 0 end: forever
    b"\x02\x40\x0c\x00\x0b",  # block br 0 end
    b"\x02\x40" * 64 + b"\x0b" * 64,  # deep nesting
    b"\x41\x00\x0e" + uleb(300) + b"\x00" * 301,  # a wide br_table
    b"\x41\x01\x40\x00\x1a",  # memory.grow 1
    b"\x41\x7f\x40\x00\x1a",  # memory.grow -1
    b"\x3f\x00\x1a",  # memory.size
    b"\x41\x00\x41\x00\x41\x7f\xfc\x0b\x00",  # memory.fill 0 0 -1
    b"\x41\x00\x41\x00\x41\x10\xfc\x0a\x00\x00",  # memory.copy
    b"\x41\x00\x41\x00\x41\x01\xfc\x08\x00\x00",  # memory.init 0
    b"\xfc\x09\x00",  # data.drop 0
    b"\x41\x00\x41\x00\x41\x01\xfc\x0c\x00\x00",  # table.init 0 0
    b"\xfc\x0d\x00",  # elem.drop 0
    b"\xd0\x70\x41\x01\xfc\x0f\x00\x1a",  # table.grow 0 by 1
    b"\xd0\x70\x41\xff\xff\xff\xff\x07\xfc\x0f\x00\x1a",  # table.grow 0 by 2^31 - 1
    b"\xfc\x10\x00\x1a",  # table.size 0
    b"\x41\x00\xd0\x70\x41\x7f\xfc\x11\x00",  # table.fill 0 0 null -1
    b"\xd2\x00\x1a",  # ref.func 0
    b"\x41\x01\x41\x00\x6d\x1a",  # i32.div_s by zero
    b"\x42\x80\x80\x80\x80\x80\x80\x80\x80\x80\x7f\x42\x7f\x7f\x1a",  # i64.div_s overflow
    b"\x44" + _NAN64 + b"\x9f\x1a",  # f64.sqrt nan
    b"\x43\x00\x00\xc0\x7f\xa8\x1a",  # i32.trunc_f32_s nan
    b"\x41\x00\x28\x02\xff\xff\xff\xff\x0f\x1a",  # i32.load offset=2^32-1
    b"\xfd\x0c" + bytes(16) + b"\xfd\x62\x1a",  # v128.const; i8x16.popcnt
    b"\x12\x00",  # return_call 0 (tail calls: off)
    b"\x06\x40\x0b",  # try (exceptions: off)
    b"\xfe\x03\x00",  # atomic.fence (threads: off)
    b"\x41\x00\x28\x42\x00\x00\x1a",  # i32.load with a memory index (multi-memory: off)
    b"\x14\x00",  # call_ref (function references: off)
]

BYTE_OPS = ("flip", "set", "insert", "delete", "truncate", "duplicate", "splice")
STRUCTURE_OPS = (
    "leb",
    "section_drop",
    "section_dup",
    "section_swap",
    "section_donor",
    "payload",
    "body_insert",
    "body_bytes",
    "body_swap",
)
OPS = BYTE_OPS + STRUCTURE_OPS


def _mutate_bytes(data: bytes, kind: str, a: int, b: int, blob: bytes, donor: bytes) -> bytes:
    n = len(data)
    if kind == "flip":
        if not n:
            return blob
        i = a % n
        return data[:i] + bytes([data[i] ^ (1 << (b % 8))]) + data[i + 1 :]
    if kind == "set":
        if not n:
            return blob
        i = a % n
        return data[:i] + bytes([INTERESTING_BYTES[b % len(INTERESTING_BYTES)]]) + data[i + 1 :]
    if kind == "insert":
        i = a % (n + 1)
        return data[:i] + blob + data[i:]
    if kind == "delete":
        i = a % (n + 1)
        return data[:i] + data[i + 1 + b % 16 :]
    if kind == "truncate":
        return data[: a % (n + 1)]
    if kind == "duplicate":
        i = a % (n + 1)
        chunk = data[i : i + 1 + b % 32]
        return data[: i + len(chunk)] + chunk + data[i + len(chunk) :]
    if kind == "splice":
        i = a % (n + 1)
        j = b % (len(donor) + 1)
        return data[:i] + donor[j : j + len(blob) * 4] + data[i:]
    raise ValueError(kind)


def _mutate_structure(data: bytes, kind: str, a: int, b: int, c: int, blob: bytes, donor: bytes) -> bytes | None:
    sections = split_sections(data)
    if not sections:
        return None
    s = a % len(sections)
    sid, payload = sections[s]
    if kind == "leb":  # a boundary value where a LEB128 starts in a section (a count, size, index, limit)
        at = b % (len(payload) + 1)
        old = read_uleb(payload, at)
        end = old[1] if old else at
        new = uleb(INTERESTING_NUMBERS[c % len(INTERESTING_NUMBERS)])
        sections[s] = (sid, payload[:at] + new + payload[end:])
    elif kind == "section_drop":
        del sections[s]
    elif kind == "section_dup":
        sections.insert(s, sections[s])
    elif kind == "section_swap":
        t = b % len(sections)
        sections[s], sections[t] = sections[t], sections[s]
    elif kind == "section_donor":  # a donor's section, in place of ours with the same id or inserted
        theirs = split_sections(donor) or [(0, b"")]
        taken = theirs[b % len(theirs)]
        same = [i for i, (i_sid, _) in enumerate(sections) if i_sid == taken[0]]
        if same and c % 2:
            sections[same[0]] = taken
        else:
            sections.insert(s, taken)
    elif kind == "payload":  # a byte mutation inside one section, its size fixed up
        sections[s] = (sid, _mutate_bytes(payload, BYTE_OPS[c % 5], b, c >> 3, blob, donor))
    else:  # function bodies
        code = [i for i, (i_sid, _) in enumerate(sections) if i_sid == 10]
        bodies = split_bodies(sections[code[0]][1]) if code else None
        if not bodies:
            return None
        f = b % len(bodies)
        body = bodies[f]
        start = instructions_start(body)
        at = start + c % max(1, len(body) - start)  # before the final `end`, usually
        if kind == "body_insert":
            bodies[f] = body[:at] + SNIPPETS[(c >> 8) % len(SNIPPETS)] + body[at:]
        elif kind == "body_bytes":
            bodies[f] = body[:start] + _mutate_bytes(body[start:], BYTE_OPS[c % 6], c >> 3, a, blob, donor)
        else:  # body_swap: another body of ours or the donor's
            donor_sections = split_sections(donor) or []
            theirs = [split_bodies(p) or [] for i_sid, p in donor_sections if i_sid == 10]
            pool = bodies + (theirs[0] if theirs else [])
            bodies[f] = pool[c % len(pool)]
        sections[code[0]] = (10, join_bodies(bodies))
    return join_sections(sections)


def mutate(data: bytes, ops: list[tuple[str, int, int, int, bytes]], donors: list[bytes]) -> bytes:
    """Apply the mutations in order; a structural one that does not apply becomes a bit flip."""
    for kind, a, b, c, blob in ops:
        donor = donors[c % len(donors)] if donors else data
        if kind in BYTE_OPS:
            data = _mutate_bytes(data, kind, a, b, blob, donor)
        else:
            mutated = _mutate_structure(data, kind, a, b, c, blob, donor)
            data = mutated if mutated is not None else _mutate_bytes(data, "flip", a, b, blob, donor)
    return data


def random_ops(rng: random.Random) -> list[tuple[str, int, int, int, bytes]]:
    count = 1 + min(4, int(rng.expovariate(1.0)))
    return [
        (
            rng.choice(OPS),
            rng.getrandbits(32),
            rng.getrandbits(32),
            rng.getrandbits(32),
            rng.randbytes(rng.randint(1, 16)),
        )
        for _ in range(count)
    ]


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes
    weight: int


def load_seeds(repo: Path = REPO, *, wat_seeds: list[tuple[str, int]] | None = None, warn: bool = True) -> list[Seed]:
    """The seed modules; raises SystemExit with a hint when the plugins are not built."""
    seeds = []
    for rel, weight in PLUGIN_SEEDS:
        path = repo / rel
        if not path.is_file():
            raise SystemExit(f"fuzz: seed {rel} is missing: run `make plugins` first")
        seeds.append(Seed(rel, path.read_bytes(), weight))
    for path in sorted(repo.glob("plugins/*/*.wasm")):  # whatever other served plugins are built
        rel = path.relative_to(repo).as_posix()
        if all(rel != s.name for s in seeds):
            seeds.append(Seed(rel, path.read_bytes(), 2))
    wat2wasm = shutil.which("wat2wasm")
    if wat2wasm is None:
        raise SystemExit("fuzz: wat2wasm not found: run `make setup` first")
    with tempfile.TemporaryDirectory(prefix="fuzz-seeds-") as tmp:
        for rel, weight in WAT_SEEDS if wat_seeds is None else wat_seeds:
            source = repo / rel
            if not source.is_file():
                if warn:
                    print(f"fuzz: warning: seed {rel} is missing, skipped", file=sys.stderr)
                continue
            target = Path(tmp) / (source.stem + ".wasm")
            subprocess.run([wat2wasm, str(source), "-o", str(target)], check=True)
            seeds.append(Seed(rel, target.read_bytes(), weight))
    return seeds


def generate(seeds: list[Seed], run_seed: int, index: int) -> tuple[bytes, str, list[tuple[str, int, int, int, bytes]]]:
    """Module ``index`` of run ``run_seed``: (bytes, seed name, mutations)."""
    rng = random.Random(f"wasmedge-py-fuzz/{run_seed}/{index}")
    seed = rng.choices(seeds, weights=[s.weight for s in seeds])[0]
    ops = random_ops(rng)
    return mutate(seed.data, ops, [s.data for s in seeds]), seed.name, ops


# -- hazards the in-process tests avoid (see tests/test_fuzz.py) -------------------------------


def in_process_hazards(data: bytes) -> list[str]:
    """Why running this module inside a long-lived process (pytest) could crash or hang it, given
    what the fuzzer has found so far. The child-process harness runs these modules anyway."""
    sections = split_sections(data)
    if sections is None:
        return []
    hazards = []
    ids = {sid for sid, _ in sections}
    if 8 in ids:
        hazards.append("a start function runs at instantiation with no timeout")
    for sid, payload in sections:
        if sid == 7 and b"_initialize" in payload:
            hazards.append("_initialize runs at instantiation with no timeout")
        if sid == 10 and b"\xfc\x0f" in payload:
            hazards.append("table.grow by a huge delta aborts the process")
        if sid == 4:
            for limit in _table_minimums(payload):
                if limit >= 1 << 24:
                    hazards.append("a huge table aborts the process at instantiation")
    return hazards


def _table_minimums(payload: bytes) -> list[int]:
    head = read_uleb(payload, 0)
    if head is None:
        return []
    count, pos = head
    minimums = []
    for _ in range(min(count, 1000)):
        if pos + 2 > len(payload):
            break
        pos += 1  # reftype
        flags = payload[pos]
        limit = read_uleb(payload, pos + 1)
        if limit is None:
            break
        minimums.append(limit[0])
        pos = limit[1]
        if flags & 1:
            top = read_uleb(payload, pos)
            if top is None:
                break
            pos = top[1]
    return minimums


# -- running one module ------------------------------------------------------------------------


def generate_args(rng: random.Random, params: tuple, *, wrong: bool = False) -> list[Any]:
    """Arguments for a signature: boundary and random values (``wrong``: also out-of-range and
    wrongly typed ones, which must raise ArgumentError/ValueRangeError)."""
    args = [_value(rng, str(p), wrong) for p in params]
    if wrong and rng.random() < 0.2:
        args = args + [0] if rng.random() < 0.5 or not args else args[:-1]
    return args


def _value(rng: random.Random, valtype: str, wrong: bool) -> Any:
    if wrong and rng.random() < 0.3:
        return rng.choice(["1", None, True, b"\x01", [], 1j, object()])
    if valtype in ("i32", "i64"):
        bits = 32 if valtype == "i32" else 64
        choices = [
            0,
            1,
            -1,
            2,
            7,
            21,
            100,
            1000,
            2 ** (bits - 1) - 1,
            -(2 ** (bits - 1)),
            2**bits - 1,
            rng.getrandbits(bits) - 2 ** (bits - 1),
            rng.getrandbits(8),
            rng.getrandbits(16),
        ]
        if wrong:
            choices += [2**bits, -(2 ** (bits - 1)) - 1, 2**100, -(2**100), 1.5, math.nan]
        return rng.choice(choices)
    if valtype in ("f32", "f64"):
        choices = [
            0.0,
            -0.0,
            1.0,
            -1.5,
            0.5,
            math.nan,
            -math.nan,
            math.inf,
            -math.inf,
            5e-324,
            1e-45,
            1.17549435e-38,
            3.4028235e38,
            3.5e38,
            1e300,
            -1e300,
            2.0**63,
            2.0**64,
            -(2.0**31),
            4294967296.0,
            struct.unpack("<d", rng.randbytes(8))[0],
            struct.unpack("<f", rng.randbytes(4))[0],
            rng.uniform(-1e6, 1e6),
            7,
            -(2**63),
        ]
        if wrong:
            choices += [10**400, -(10**400), 2**1024]
        return rng.choice(choices)
    return rng.choice([0, 1.0, None])  # v128 / references: the binding must refuse these cleanly


def _same(x: Any, y: Any) -> bool:
    """Equal, floats compared bit for bit (so NaN payloads and -0.0 count)."""
    if isinstance(x, tuple) and isinstance(y, tuple):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y))
    if isinstance(x, float) and isinstance(y, float):
        return struct.pack("<d", x) == struct.pack("<d", y)
    return type(x) is type(y) and x == y


@dataclass
class Report:
    """Outcome counts of one or more modules, and the contract violations seen."""

    counts: Counter = field(default_factory=Counter)
    violations: list[dict[str, Any]] = field(default_factory=list)
    verbose: bool = False
    progress: Callable[[str], None] | None = None  # told each step before it runs (the child's watchdog)

    def count(self, key: str) -> None:
        self.counts[key] += 1
        if self.verbose:
            print(f"  {key}")

    def violation(self, step: str, message: str, exc: BaseException | None = None, **details: Any) -> None:
        entry = {"step": step, "message": message, **{k: repr(v) for k, v in details.items()}}
        if exc is not None:
            entry["exception"] = f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"
            entry["traceback"] = "".join(traceback.format_exception(exc)[-6:])
        self.violations.append(entry)
        if self.verbose:
            print(f"  VIOLATION {step}: {message}\n{entry.get('traceback', '')}")


class _Failed:
    """What ``attempt`` returns when the step raised."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __repr__(self) -> str:
        return f"<{type(self.exc).__name__}: {self.exc}>"


def attempt(report: Report, step: str, fn: Callable[[], Any], **details: Any) -> Any:
    """Run one step; count ``step:ok`` or ``step:<WasmEdgeError class>``. Anything else raised is
    a violation. Returns the value, or a _Failed."""
    import wasmedge_py as w

    if report.progress is not None:
        report.progress(step)
    try:
        value = fn()
    except w.WasmEdgeError as exc:
        report.count(f"{step}:{type(exc).__name__}")
        return _Failed(exc)
    except Exception as exc:  # noqa: BLE001 - that is the finding
        report.violation(step, f"raised {type(exc).__name__} (not a WasmEdgeError)", exc, **details)
        return _Failed(exc)
    report.count(f"{step}:ok")
    return value


def _host_modules(module) -> list:
    """A host module per imported module name (WASI aside) with a zero-returning function for
    each imported function whose types the host side supports."""
    import wasmedge_py as w

    by_module: dict[str, list] = {}
    numeric = {w.ValType.I32, w.ValType.I64, w.ValType.F32, w.ValType.F64}
    for item in module.imports:
        if item.kind != "function" or item.module == "wasi_snapshot_preview1":
            continue
        signature = item.type
        if not set(signature.params + signature.results) <= numeric:
            continue
        zeros = tuple(0.0 if t in (w.ValType.F32, w.ValType.F64) else 0 for t in signature.results)

        def fn(caller, *args, _zeros=zeros):
            return None if not _zeros else _zeros[0] if len(_zeros) == 1 else _zeros

        by_module.setdefault(item.module, []).append(
            w.host_function(signature.params, signature.results, name=item.name)(fn)
        )
    return [w.HostModule(name, functions) for name, functions in sorted(by_module.items())]


def api_features() -> dict[str, bool]:
    """Which of the binding's sandboxing options this checkout has (the fuzzer runs against both)."""
    import inspect

    import wasmedge_py as w

    return {
        # Module.from_bytes(sandbox=True): tables capped, start function made cancellable
        "sandbox": "sandbox" in inspect.signature(w.Module.from_bytes).parameters,
        # Instance(init_timeout=...): code run at instantiation is stopped at a deadline
        "init_timeout": "init_timeout" in inspect.signature(w.Instance.__init__).parameters,
    }


def exercise(
    data: bytes,
    *,
    path: str | os.PathLike[str] | None = None,
    timeout: float = 0.05,
    report: Report | None = None,
    in_process: bool = False,
    wrong_args: bool = True,
    unsandboxed: bool = False,
) -> Report:
    """Put one module through the binding and the plugin runtime; see the module docstring.

    The module is loaded as is (``load``, ``sandbox=False``: validation only), sandboxed
    (``load_sandboxed``, when the binding has ``sandbox=``) and stack-guarded (``load_guarded``); the sandboxed and the
    guarded modules are instantiated and called, and must agree wherever the stack guard did not
    step in. ``path`` (a file holding ``data``) enables the file-based stages (``Module.from_file``,
    ``load_plugin``). ``in_process`` skips what ``in_process_hazards`` names and gives the plugin
    runtime a fuel budget, so a long-lived process survives; the child harness leaves it off.
    ``unsandboxed`` also instantiates and calls the module as loaded, without the sandbox (the
    binding's mode for trusted code, which WasmEdge's own failure modes can take down)."""
    import wasmedge_py as w

    report = report or Report()
    features = api_features()
    rng = random.Random(hashlib.sha256(data).digest())
    hazards = in_process_hazards(data) if in_process and not features["sandbox"] else []
    config = w.Config(max_memory_pages=MAX_PAGES)
    opened: list[Any] = []
    try:
        _guard_directly(report, data)
        unsandboxed_kw = {"sandbox": False} if features["sandbox"] else {}
        raw = attempt(report, "load", lambda: w.Module.from_bytes(data, config, **unsandboxed_kw))
        if not isinstance(raw, _Failed):
            opened.append(raw)
        if features["sandbox"]:
            plain = attempt(report, "load_sandboxed", lambda: w.Module.from_bytes(data, config, sandbox=True))
            if not isinstance(plain, _Failed):
                opened.append(plain)
            _check_validity(report, "load_sandboxed", raw, plain)
        else:
            plain = raw
        guarded = attempt(
            report, "load_guarded", lambda: w.Module.from_bytes(data, config, max_stack_bytes=STACK_BYTES)
        )
        if not isinstance(guarded, _Failed):
            opened.append(guarded)
        _check_validity(report, "load_guarded", raw, guarded)
        if path is not None:
            from_file = attempt(report, "load_file", lambda: w.Module.from_file(path, config))
            if not isinstance(from_file, _Failed):
                opened.append(from_file)
            _check_validity(report, "load_file", raw, from_file)
        if isinstance(raw, _Failed):
            return report
        attempt(report, "describe", lambda: [str(x) for x in raw.exports + raw.imports])
        if hazards:
            report.count("skipped:in_process")
            return report
        if not isinstance(plain, _Failed):
            _instances(report, rng, plain, guarded, timeout, wrong_args, opened, features)
        if unsandboxed and features["sandbox"]:
            _unsandboxed(report, rng, raw, timeout, opened, features)
        if path is not None:
            _plugin(report, rng, path, timeout, in_process)
    finally:
        for handle in reversed(opened):
            handle.close()
    return report


def _check_validity(report: Report, step: str, raw: Any, rewritten: Any) -> None:
    """A rewritten (sandboxed, stack-guarded) module loads exactly when the original does, except
    that the sandbox may refuse one over a limit (a huge table)."""
    raw_failed, failed = isinstance(raw, _Failed), isinstance(rewritten, _Failed)
    if raw_failed == failed:
        return
    if failed and type(rewritten.exc).__name__ == "LoadError" and "limit" in str(rewritten.exc):
        report.count(f"{step}:refused_over_limit")
        return
    report.violation(
        step,
        f"the original {'failed' if raw_failed else 'validated'} "
        f"but the rewritten module {'failed' if failed else 'validated'}",
        original=raw,
        rewritten=rewritten,
    )


def _guard_directly(report: Report, data: bytes) -> None:
    """The rewriter on raw bytes (the binding only gives it bytes the loader accepted): it may
    refuse with UnsupportedModule, nothing else."""
    try:
        from wasmedge_py.sandbox import UnsupportedModule, guard_stack
    except ImportError:
        return
    try:
        guard_stack(data, STACK_BYTES // 16)
        report.count("guard_stack:ok")
    except UnsupportedModule:
        report.count("guard_stack:UnsupportedModule")
    except Exception as exc:  # noqa: BLE001
        report.violation("guard_stack", f"sandbox.guard_stack raised {type(exc).__name__}", exc)


def _instances(
    report: Report,
    rng: random.Random,
    plain,
    guarded,
    timeout: float,
    wrong_args: bool,
    opened: list,
    features: dict[str, bool],
) -> None:
    import wasmedge_py as w

    extra = {"init_timeout": timeout} if features["init_timeout"] else {}

    def instantiate(module, step):
        return attempt(report, step, lambda: w.Instance(module, host_modules=_host_modules(module), **extra))

    first = instantiate(plain, "instantiate")
    second = instantiate(guarded, "instantiate_guarded") if not isinstance(guarded, _Failed) else None
    for instance in (first, second):
        if instance is not None and not isinstance(instance, _Failed):
            opened.insert(0, instance)
    if second is not None and not isinstance(second, _Failed):
        guarded.close()  # the instance keeps the module alive: closing it now must change nothing
    if isinstance(first, _Failed):
        return
    if isinstance(second, _Failed):
        if not isinstance(second.exc, (w.StackExhausted, w.Interrupted)):
            report.violation(
                "instantiate_guarded", "the original instantiates but the stack-guarded module does not", guarded=second
            )
        second = None
    compare = second is not None
    functions = [e for e in plain.exports if e.kind == "function"][:MAX_FUNCTIONS]
    for export in functions:
        params = export.type.params
        for k in range(3):
            wrong = wrong_args and k == 2
            if k == 2 and not wrong:
                break
            args = generate_args(rng, params, wrong=wrong)
            a = attempt(
                report,
                "call",
                lambda: first.function(export.name)(*args, timeout=timeout),
                function=export.name,
                args=args,
            )
            if second is None:
                continue
            b = attempt(
                report,
                "call_guarded",
                lambda: second.function(export.name)(*args, timeout=timeout),
                function=export.name,
                args=args,
            )
            if compare:
                compare = _compare(report, export.name, args, a, b)
    # Cancellation at an arbitrary point (a 1 ms deadline), then the same call again, which must
    # still end in a result or a WasmEdgeError.
    for export in functions:
        args = generate_args(rng, export.type.params)
        for step, deadline in (("call_cancelled", 0.001), ("call_after_cancel", timeout)):
            attempt(
                report,
                step,
                lambda: first.function(export.name)(*args, timeout=deadline),
                function=export.name,
                args=args,
            )
    _close_race(report, rng, plain, functions, timeout, extra)
    memory = (
        attempt(report, "memory", lambda: first.memory())
        if any(e.kind == "memory" and e.name == "memory" for e in plain.exports)
        else None
    )
    if memory is not None and not isinstance(memory, _Failed):
        attempt(report, "memory_read", lambda: memory.read(0, 16))
        # Within the C API's uint32 range the engine's bounds check must answer; beyond it (and for
        # negative numbers) the binding must still raise a WasmEdgeError.
        for offset, length in [
            (memory.size - 1, 2),
            (rng.getrandbits(32), 4),
            (rng.getrandbits(16), rng.getrandbits(20)),
        ] + ([(-1, 4), (0, -1), (2**32 + rng.getrandbits(8), 4), (0, 2**40)] if wrong_args else []):
            attempt(report, "memory_read_bounds", lambda: memory.read(offset, length), offset=offset, length=length)


def _close_race(report: Report, rng: random.Random, module, functions: list, timeout: float, extra: dict) -> None:
    """Close an instance while another thread is calling into it: the call ends in a result or a
    WasmEdgeError (ClosedError if it had not started), never in freed memory."""
    import threading

    import wasmedge_py as w

    if not functions:
        return
    export = functions[rng.randrange(len(functions))]
    instance = attempt(
        report, "close_race_instance", lambda: w.Instance(module, host_modules=_host_modules(module), **extra)
    )
    if isinstance(instance, _Failed):
        return
    args = generate_args(rng, export.type.params)
    function = attempt(report, "close_race_lookup", lambda: instance.function(export.name))
    if isinstance(function, _Failed):
        instance.close()
        return
    caller = threading.Thread(
        target=lambda: attempt(report, "close_race_call", lambda: function(*args, timeout=timeout))
    )
    caller.start()
    time.sleep(rng.choice([0, 0.0005, 0.002]))
    attempt(report, "close_race_close", instance.close)
    caller.join()
    attempt(report, "close_race_after", lambda: function(*args, timeout=timeout))  # must be ClosedError


def _unsandboxed(
    report: Report, rng: random.Random, module, timeout: float, opened: list, features: dict[str, bool]
) -> None:
    import wasmedge_py as w

    extra = {"init_timeout": timeout} if features["init_timeout"] else {}
    instance = attempt(
        report, "instantiate_unsandboxed", lambda: w.Instance(module, host_modules=_host_modules(module), **extra)
    )
    if isinstance(instance, _Failed):
        return
    opened.insert(0, instance)
    for export in [e for e in module.exports if e.kind == "function"][:MAX_FUNCTIONS]:
        args = generate_args(rng, export.type.params)
        attempt(
            report,
            "call_unsandboxed",
            lambda: instance.function(export.name)(*args, timeout=timeout),
            function=export.name,
            args=args,
        )


def _compare(report: Report, name: str, args: list, a: Any, b: Any) -> bool:
    """Check one call on the original against the stack-guarded module; False once their states
    may legitimately differ (one stopped by the guard or the timeout), which ends comparing."""
    import wasmedge_py as w

    failed_a, failed_b = isinstance(a, _Failed), isinstance(b, _Failed)
    for r in (a, b):
        if isinstance(r, _Failed) and isinstance(r.exc, (w.Interrupted, w.CostLimitExceeded)):
            return False
    if failed_b and isinstance(b.exc, w.StackExhausted):
        return False
    if failed_a or failed_b:
        same = (
            failed_a
            and failed_b
            and type(a.exc) is type(b.exc)
            and getattr(a.exc, "engine_message", None) == getattr(b.exc, "engine_message", None)
        )
        difference = "differ"
    else:
        same = _same(a, b)
        difference = "return different results"
    if not same:
        report.violation(
            "compare",
            f"{name}: original and stack-guarded module {difference}",
            function=name,
            args=args,
            original=a,
            guarded=b,
        )
    return same


def _plugin(report: Report, rng: random.Random, path, timeout: float, in_process: bool) -> None:
    import wasmedge_py as w

    # Fuel: a budget in-process (so nothing can hang pytest); in the harness, now and then a small
    # one, so calls also end in CostLimitExceeded.
    fuel = 50_000_000 if in_process else rng.choice([None, None, 200_000])
    # The interpreter: LLVM-compiling every mutant would make a run of thousands take hours (the
    # compile of an untrusted module runs in a child process under limits; see compiler.py).
    limits = w.PluginLimits(timeout_ms=max(1, int(timeout * 1000)), max_memory_pages=MAX_PAGES, fuel=fuel, aot=False)
    plugin = attempt(report, "plugin_load", lambda: w.load_plugin(path, limits))
    if isinstance(plugin, _Failed):
        return
    try:
        attempt(report, "plugin_info", lambda: (plugin.abi_version, sorted(plugin.exports), plugin.has_lifecycle))
        attempt(report, "plugin_init", plugin.init)
        if "process" in plugin.exports:
            for x in generate_args(rng, ("i32",) * 3) + [21]:
                attempt(report, "plugin_execute", lambda: plugin.execute(x), x=x)
        if getattr(plugin, "abi_major", 1) == 2:
            payload = rng.randbytes(rng.choice([0, 1, 5, 100]))
            attempt(report, "plugin_call_bytes", lambda: plugin.call_bytes(payload), data=payload)
            attempt(report, "plugin_call_json", lambda: plugin.call_json({"n": rng.getrandbits(16), "s": "\u2603"}))
        attempt(report, "plugin_state", lambda: (plugin.call_count, plugin.is_initialized))
        attempt(report, "plugin_cleanup", plugin.cleanup)
    finally:
        plugin.close()
    after = attempt(report, "plugin_closed", lambda: plugin.init())
    if not isinstance(after, _Failed) or not isinstance(after.exc, w.PluginClosedError):
        report.violation("plugin_closed", "a closed plugin did not raise PluginClosedError", outcome=after)


# -- child -------------------------------------------------------------------------------------


def child_main(files: list[str], timeout: float, data_limit_mb: int, unsandboxed: bool) -> int:
    """Run modules one by one, reporting START/DONE lines on stdout for the parent."""
    import resource

    if data_limit_mb:
        limit = data_limit_mb << 20
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    faulthandler.enable()
    logging.getLogger().addHandler(logging.NullHandler())  # plugins' env.host_log lines: not on stderr
    import wasmedge_py  # noqa: F401 - import before the first START: a broken import is not a module's fault

    out = sys.stdout

    def progress(step: str) -> None:
        out.write(f"STEP {step}\n")
        out.flush()

    for name in files:
        out.write(f"START {name}\n")
        out.flush()
        report = exercise(
            Path(name).read_bytes(),
            path=name,
            timeout=timeout,
            report=Report(progress=progress),
            unsandboxed=unsandboxed,
        )
        out.write("DONE " + json.dumps({"counts": report.counts, "violations": report.violations}) + "\n")
        out.flush()
    return 0


# -- parent ------------------------------------------------------------------------------------


@dataclass
class Incident:
    kind: str  # "crash", "hang" or "violation"
    module: str  # file name in the batch directory, e.g. "m000123.wasm"
    detail: str
    stderr: str = ""
    reproducible: bool | None = None
    hazards: list[str] = field(default_factory=list)


@dataclass
class BatchResult:
    counts: Counter = field(default_factory=Counter)
    modules: int = 0
    incidents: list[Incident] = field(default_factory=list)
    violations: list[tuple[str, dict]] = field(default_factory=list)  # (module file, violation)
    startup_failures: int = 0


def _run_child(files: list[Path], args: argparse.Namespace, result: BatchResult) -> list[Path]:
    """Run files in one child until it finishes or fails; returns the files it did not reach.
    On a crash or hang the culprit is recorded (and not returned)."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--call-timeout-ms",
        str(args.call_timeout_ms),
        "--memory-limit-mb",
        str(args.memory_limit_mb),
        *(["--unsandboxed"] if args.unsandboxed else []),
        *map(str, files),
    ]
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, cwd=REPO)
        assert proc.stdout is not None
        current: str | None = None
        last_done: str | None = None
        done: set[str] = set()
        buffer = b""
        deadline = time.monotonic() + args.step_timeout + 10  # the first module also pays for the import
        hung = False
        step = ""
        while True:
            wait = deadline - time.monotonic()
            if wait <= 0:
                hung = True
                proc.kill()
                break
            ready, _, _ = select.select([proc.stdout], [], [], min(wait, 1.0))
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 1 << 16)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                text = line.decode("utf-8", "replace")
                if text.startswith("STEP "):
                    step = text[5:]
                    deadline = time.monotonic() + args.step_timeout
                elif text.startswith("START "):
                    current, step = text[6:], "start"
                    deadline = time.monotonic() + args.step_timeout
                elif text.startswith("DONE ") and current is not None:
                    outcome = json.loads(text[5:])
                    result.counts.update(outcome["counts"])
                    result.modules += 1
                    for violation in outcome["violations"]:
                        result.violations.append((current, violation))
                    done.add(current)
                    last_done, current = current, None
        code = proc.wait()
        stderr.seek(0)
        err = stderr.read().decode("utf-8", "replace")
    remaining = [f for f in files if str(f) not in done]
    if not hung and code == 0 and not remaining:
        return []
    if current is None and last_done is None:
        # It never started a module: the interpreter or the package is broken (e.g. the venv being
        # reinstalled under us). Not a module's fault; retry a few times, then give up on the run.
        result.startup_failures += 1
        if result.startup_failures > 3:
            raise SystemExit(f"fuzz: the child process cannot start (exit status {code}):\n{err[-2000:]}")
        time.sleep(2)
        return files
    if current is None:  # died after finishing a module (its cleanup): blame that one
        current, step = last_done, "after DONE"
        result.modules -= 1
    kind = "hang" if hung else "crash"
    detail = (
        f"no progress for {args.step_timeout:g} s in step {step}"
        if hung
        else f"killed by {signal.Signals(-code).name} in step {step}"
        if code < 0
        else f"exit status {code} in step {step}"
    )
    result.incidents.append(Incident(kind, current, detail, err[-4000:]))
    result.modules += 1
    return [f for f in remaining if str(f) != current]


def run_batch(files: list[Path], args: argparse.Namespace) -> BatchResult:
    result = BatchResult()
    while files:
        files = _run_child(files, args, result)
    for incident in result.incidents:
        if incident.module.endswith(".wasm"):
            incident.hazards = in_process_hazards(Path(incident.module).read_bytes())
    for incident in result.incidents[:5]:  # confirm alone, in a fresh child (a few: hangs cost time)
        if incident.module.endswith(".wasm"):
            alone = BatchResult()
            _run_child([Path(incident.module)], args, alone)
            incident.reproducible = bool(alone.incidents)
    return result


def _signature(violation: dict) -> str:
    text = f"{violation['step']}: {violation.get('exception') or violation['message']}"
    return re.sub(r"\d+", "N", re.sub(r"0x[0-9a-fA-F]+", "N", text))[:200]


def parent_main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    seeds = load_seeds()
    crash_dir = Path(args.crash_dir)
    if not crash_dir.is_absolute():
        crash_dir = REPO / crash_dir
    print(
        f"fuzz: {args.modules} modules from {len(seeds)} seeds, seed {args.seed}, batches of {args.batch}, "
        f"{args.jobs} jobs, call timeout {args.call_timeout_ms} ms",
        flush=True,
    )
    totals = BatchResult()
    provenance: dict[str, tuple[int, str, list]] = {}
    with tempfile.TemporaryDirectory(prefix="wasmedge-py-fuzz-") as tmp:
        batches = []
        for first in range(0, args.modules, args.batch):
            batch_dir = Path(tmp) / f"b{first:06d}"
            batch_dir.mkdir()
            files = []
            for i in range(first, min(first + args.batch, args.modules)):
                data, seed_name, ops = generate(seeds, args.seed, i)
                path = batch_dir / f"m{i:06d}.wasm"
                path.write_bytes(data)
                provenance[str(path)] = (i, seed_name, ops)
                files.append(path)
            batches.append(files)
        done_modules = 0
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for result in pool.map(lambda files: run_batch(files, args), batches):
                totals.counts.update(result.counts)
                totals.modules += result.modules
                totals.incidents += result.incidents
                totals.violations += result.violations
                done_modules += result.modules
                if not args.quiet:
                    print(
                        f"fuzz: {done_modules}/{args.modules} modules, {time.monotonic() - started:.0f} s, "
                        f"{len(totals.incidents)} crashes/hangs, {len(totals.violations)} violations",
                        flush=True,
                    )
        saved = _save(totals, provenance, crash_dir, args)
    elapsed = time.monotonic() - started
    _summary(totals, elapsed, args, saved, crash_dir)
    if args.json:
        Path(args.json).write_text(json.dumps(_as_json(totals, elapsed, saved), indent=1))
    return 1 if totals.incidents or totals.violations else 0


def _as_json(totals: BatchResult, elapsed: float, saved: dict) -> dict[str, Any]:
    """What --json writes: the counts, and each incident and kind of violation with its example."""
    return {
        "modules": totals.modules,
        "seconds": round(elapsed, 1),
        "counts": dict(totals.counts),
        "incidents": [
            {
                "kind": i.kind,
                "detail": i.detail,
                "stderr": _last_line(i.stderr),
                "reproducible": i.reproducible,
                "hazards": i.hazards,
            }
            for i in totals.incidents
        ],
        "violations": [
            {"signature": sig, "count": count, "example": file}
            for sig, (count, file) in saved.items()
            if not sig.startswith(("crash", "hang"))
        ],
    }


def _save(
    totals: BatchResult, provenance: dict, crash_dir: Path, args: argparse.Namespace
) -> dict[str, tuple[int, str]]:
    """Copy each crasher, and the first module of each kind of violation, to crash_dir with a note."""
    saved: dict[str, tuple[int, str]] = {}  # signature -> (count, file)
    entries: list[tuple[str, str, str]] = []  # (signature, module, note)
    for incident in totals.incidents:
        signature = f"{incident.kind}: {incident.detail}: {_last_line(incident.stderr)}"
        note = (
            f"{incident.kind} ({incident.detail}); reproducible alone: {incident.reproducible}\n\n"
            f"stderr (tail):\n{incident.stderr}\n"
        )
        entries.append((signature, incident.module, note))
    for module, violation in totals.violations:
        note = "violation\n\n" + "\n".join(f"{k}: {v}" for k, v in violation.items()) + "\n"
        entries.append((_signature(violation), module, note))
    for signature, module, note in entries:
        count, file = saved.get(signature, (0, ""))
        keep = 20 if signature.startswith(("crash", "hang")) else 3  # examples kept of each kind
        if count < keep and module in provenance:
            crash_dir.mkdir(parents=True, exist_ok=True)
            data = Path(module).read_bytes()
            kind = signature.split(":", 1)[0].split()[0]
            stem = f"{'violation' if kind not in ('crash', 'hang') else kind}-{hashlib.sha1(data).hexdigest()[:12]}"
            index, seed_name, ops = provenance[module]
            (crash_dir / f"{stem}.wasm").write_bytes(data)
            (crash_dir / f"{stem}.txt").write_text(
                f"{signature}\n\nmodule {index} of `tests/fuzz/fuzz.py --seed {args.seed}`: seed {seed_name}, mutations {ops!r}\n"
                f"bytes: {data.hex()}\nknown hazards: {'; '.join(in_process_hazards(data)) or 'none'}\n"
                f"replay: .venv/bin/python tests/fuzz/fuzz.py --replay {Path(args.crash_dir) / (stem + '.wasm')}\n\n{note}"
            )
            file = file or f"{stem}.wasm"
        saved[signature] = (count + 1, file)
    return saved


def _last_line(text: str) -> str:
    """The line of a child's stderr that says what killed it."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for marker in ("terminate called", "Segmentation fault", "Fatal Python error", "Traceback"):
        found = [line for line in lines if line.startswith(marker)]
        if found:
            return found[-1][:160]
    return (lines or [""])[-1][:160]


def _summary(totals: BatchResult, elapsed: float, args: argparse.Namespace, saved: dict, crash_dir: Path) -> None:
    c = totals.counts

    def row(title: str, prefix: str) -> str:
        items = sorted(
            ((k.split(":", 1)[1], v) for k, v in c.items() if k.split(":", 1)[0] == prefix), key=lambda kv: -kv[1]
        )
        return f"  {title:<22}" + (", ".join(f"{k} {v}" for k, v in items) or "-")

    crashes = sum(1 for i in totals.incidents if i.kind == "crash")
    hangs = sum(1 for i in totals.incidents if i.kind == "hang")
    rate = totals.modules / elapsed if elapsed else 0.0
    print(f"\nfuzz summary: {totals.modules} modules in {elapsed:.1f} s ({rate:.1f} modules/s), seed {args.seed}")
    for title, prefix in [
        ("instantiate (unsandb.)", "instantiate_unsandboxed"),
        ("calls (unsandboxed)", "call_unsandboxed"),
        ("load", "load"),
        ("load (sandboxed)", "load_sandboxed"),
        ("load (stack-guarded)", "load_guarded"),
        ("load (from file)", "load_file"),
        ("guard_stack (raw)", "guard_stack"),
        ("instantiate", "instantiate"),
        ("instantiate (guarded)", "instantiate_guarded"),
        ("skipped", "skipped"),
        ("calls", "call"),
        ("calls (guarded)", "call_guarded"),
        ("calls (1 ms deadline)", "call_cancelled"),
        ("calls after those", "call_after_cancel"),
        ("close during a call", "close_race_call"),
        ("call after close", "close_race_after"),
        ("memory reads", "memory_read_bounds"),
        ("plugin load", "plugin_load"),
        ("plugin init", "plugin_init"),
        ("plugin execute", "plugin_execute"),
        ("plugin call_bytes", "plugin_call_bytes"),
        ("plugin cleanup", "plugin_cleanup"),
    ]:
        if any(k.split(":", 1)[0] == prefix for k in c):
            print(row(title, prefix))
    print(f"  crashes: {crashes}   hangs: {hangs}   violations: {len(totals.violations)}")
    for signature, (count, file) in sorted(saved.items(), key=lambda kv: -kv[1][0]):
        print(f"    {count:>5} x {signature}" + (f"  -> {crash_dir}/{file}" if file else ""))


# -- replay ------------------------------------------------------------------------------------


def replay_main(files: list[str], timeout: float, unsandboxed: bool) -> int:
    status = 0
    for name in files:
        print(f"{name}:")
        data = Path(name).read_bytes()
        print(f"  {len(data)} bytes: {data.hex()}" if len(data) <= 512 else f"  {len(data)} bytes")
        sys.stdout.flush()
        report = exercise(data, path=name, timeout=timeout, report=Report(verbose=True), unsandboxed=unsandboxed)
        status |= bool(report.violations)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--modules", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--crash-dir", default="build/fuzz-crashes")
    parser.add_argument("--call-timeout-ms", type=int, default=50, help="timeout of each call to the module")
    parser.add_argument(
        "--step-timeout",
        type=float,
        default=5.0,
        help="seconds one step (a load, a call, ...) may take before it is a hang",
    )
    parser.add_argument(
        "--memory-limit-mb", type=int, default=CHILD_DATA_LIMIT_MB, help="RLIMIT_DATA of each child (0: none)"
    )
    parser.add_argument(
        "--unsandboxed",
        action="store_true",
        help="also instantiate and call each module without the sandbox (trusted-code mode)",
    )
    parser.add_argument("--quick", action="store_true", help="300 modules in batches of 50 (for the test suite)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--json", help="also write the results to this file as JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--replay", action="store_true", help="run the given module files in this process, verbosely")
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    timeout = args.call_timeout_ms / 1000
    if args.child:
        return child_main(args.files, timeout, args.memory_limit_mb, args.unsandboxed)
    if args.replay:
        return replay_main(args.files, timeout, args.unsandboxed)
    if args.quick:
        args.modules, args.batch = 300, 50
        if "--step-timeout" not in (argv if argv is not None else sys.argv):
            args.step_timeout = 2.0
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
