"""The hostile plugins in tests/wat/hostile and what must happen to each (shared by the binding and
service tests). Garbage bytes are written by the fixture, not kept as a file."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from support import WAT_DIR

HOSTILE_DIR = WAT_DIR / "hostile"
GARBAGE = b"\x00asm\x01\x00\x00\x00\x01\xff\xff\xff\xff\x0fgarbage"


@dataclass(frozen=True)
class Hostile:
    name: str
    error: str  # exception class name in wasmedge_py raised by load_plugin + init + execute
    message: str  # text the error must contain (WasmEdge's own where there is one)
    step: str  # where the service reports it: "load", "execute", ...
    status: int  # the HTTP status the service answers


HOSTILE = [
    Hostile("runaway_loop", "Interrupted", "timed out", "execute", 504),
    Hostile("memory_bomb", "TrapError", "out of bounds memory access", "execute", 500),
    Hostile("deep_recursion", "StackExhausted", "call stack exhausted", "execute", 500),
    Hostile("out_of_bounds", "TrapError", "out of bounds memory access", "execute", 500),
    Hostile("division_by_zero", "TrapError", "integer divide by zero", "execute", 500),
    Hostile("bad_indirect_call", "TrapError", "uninitialized element", "execute", 500),
    Hostile("missing_import", "PluginLoadError", "unknown import", "load", 500),
    Hostile("wasi_import", "PluginLoadError", "WASI is disabled", "load", 500),
    Hostile("negative_code", "PluginCodeError", "ABI_ERROR_INVALID_INPUT", "execute", 422),
    Hostile("garbage", "PluginLoadError", "failed to load WASM file", "load", 500),
]


def build(name: str, out_dir: Path) -> Path:
    """Compile (or write) hostile plugin ``name`` into ``out_dir/name/name.wasm``."""
    target = out_dir / name / f"{name}.wasm"
    target.parent.mkdir(parents=True, exist_ok=True)
    if name == "garbage":
        target.write_bytes(GARBAGE)
    else:
        subprocess.run(["wat2wasm", str(HOSTILE_DIR / f"{name}.wat"), "-o", str(target)], check=True)
    return target
