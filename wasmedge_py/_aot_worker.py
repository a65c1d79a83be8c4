"""Child process for one AOT compile: ``python -m wasmedge_py._aot_worker OUT OPTIONS_JSON MAX_BYTES CPU_SECONDS``.

LLVM's time and memory grow with the module, and a module can be built to make them explode (or
to crash the compiler). Compiling here, under address-space and CPU limits set before WasmEdge is
even loaded, keeps that away from the process that asked. The module's bytes come on stdin; the
last line of stdout is a JSON report: ``{"ok": true}`` or the error's class and messages.
"""

from __future__ import annotations

import json
import resource
import sys


def _limit(kind: int, value: int) -> None:
    if value > 0:
        _soft, hard = resource.getrlimit(kind)
        capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (capped, hard))


def main(argv: list[str]) -> int:
    out_path, options_json, max_bytes, cpu_seconds = argv
    wasm = sys.stdin.buffer.read()  # before the limits: the module is the caller's, the limits are for LLVM
    _limit(resource.RLIMIT_AS, int(max_bytes))
    _limit(resource.RLIMIT_CPU, int(cpu_seconds))
    from .compiler import CompileOptions, compile_module
    from .errors import WasmEdgeError

    try:
        compile_module(wasm, out_path, options=CompileOptions(**json.loads(options_json)))
        report: dict = {"ok": True}
    except WasmEdgeError as exc:
        report = {
            "ok": False,
            "error": type(exc).__name__,
            "message": str(exc),
            "engine_message": getattr(exc, "engine_message", None),
            "code": getattr(exc, "code", None),
        }
    except MemoryError:
        report = {"ok": False, "error": "MemoryError", "message": "the AOT compiler ran out of memory"}
    sys.stdout.write("\n" + json.dumps(report) + "\n")
    sys.stdout.flush()
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
