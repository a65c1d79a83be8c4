"""run_plugin natively vs on the Python path, for plugins that import host functions or WASI.

    .venv/bin/python bench/lifecycle_imports.py [--quick]

µs per ``run_plugin(path, value, limits, module=cached)`` (the server's per-request work), the
best of several rounds, the two paths taking turns: "native" is the one-call lifecycle
(wasmedge_py/_lifecycle.py), "python" the same request with it switched off
(``_lifecycle.NATIVE = False``, as in ABI mode). Plugins: plugins/upper (v2, ``env.host_log``, one
message per call), plugins/json_stats (v2, no imports), tests/wat/log_flood.wat (v1, 3 messages a
request) and tests/wat/wasi_stdio.wat (v1, WASI: writes stdout and stderr; run with stdio sent to
/dev/null), each under the server's defaults (AOT, 1000 ms) and in the interpreter.

"C floor" (upper and json_stats): bench/c_floor_v2.c, the same request straight against the C API
with a C host_log, untimed; its AOT row runs a ``wasmedge-py compile`` .so (WasmEdge's own
interruption checks: the floor cannot link the binding's deadline check).
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved_best  # noqa: E402

import wasmedge_py as w  # noqa: E402
from wasmedge_py import _lifecycle  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "bench"


def _wat(name: str) -> Path:
    out = BUILD / f"{name}.wasm"
    if not out.exists():
        BUILD.mkdir(parents=True, exist_ok=True)
        subprocess.run(["wat2wasm", str(REPO / "tests" / "wat" / f"{name}.wat"), "-o", str(out)], check=True)
    return out


def _cases() -> list[tuple[str, Path, object, dict]]:
    upper = REPO / "plugins" / "upper" / "upper.wasm"
    stats = REPO / "plugins" / "json_stats" / "json_stats.wasm"
    flood, stdio = _wat("log_flood"), _wat("wasi_stdio")
    cases = []
    for engine, options in (("aot", {}), ("interp", {"aot": False})):
        cases += [
            (f"upper {engine}", upper, b"hello, world", options),
            (f"json_stats {engine}", stats, {"values": [1, 2.5, 3]}, options),
            (f"log_flood(3) {engine}", flood, 3, options),
            (f"wasi_stdio {engine}", stdio, 1, options | {"wasi": w.Wasi()}),
        ]
    return cases


def c_floors(count: int, rounds: int) -> dict[str, float]:
    """µs per request of bench/c_floor_v2.c, by row name (empty without gcc)."""
    binary = BUILD / "c_floor_v2"
    try:
        BUILD.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["gcc", "-O2", "-o", str(binary), str(REPO / "bench" / "c_floor_v2.c"), "-lwasmedge"], check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return {}
    floors = {}
    plugins = {
        "upper": (REPO / "plugins" / "upper" / "upper.wasm", "hello, world", []),
        "json_stats": (
            REPO / "plugins" / "json_stats" / "json_stats.wasm",
            '{"values":[1,2.5,3]}',
            ["--max-memory-pages", "64"],
        ),
    }
    for name, (wasm, value, options) in plugins.items():
        native = BUILD / f"{name}_floor.so"
        cli = [str(Path(sys.executable).parent / "wasmedge-py"), "compile", str(wasm), str(native), *options]
        subprocess.run(cli, check=True, stdout=subprocess.DEVNULL)
        for engine, module in (("aot", native), ("interp", wasm)):
            done = subprocess.run(
                [str(binary), str(module), value, str(count), str(rounds)], check=True, capture_output=True, text=True
            )
            floors[f"{name} {engine}"] = float(done.stdout.split()[1]) / 1000
    return floors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (noisier)")
    count, rounds = (300, 3) if parser.parse_args().quick else (2000, 7)
    logging.getLogger("wasmedge_py.plugin").setLevel(logging.INFO)  # host_log lines are formatted ...
    logging.getLogger("wasmedge_py.plugin").addHandler(logging.NullHandler())  # ... and dropped
    logging.getLogger("wasmedge_py.plugin").propagate = False
    devnull = os.open(os.devnull, os.O_RDWR)  # the WASI plugin's stdio
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    rows = []
    for name, path, value, options in _cases():
        limits = w.PluginLimits(**options)
        module = w.load_module(path, limits)
        native_taken = _lifecycle.takes(module, limits) is not None

        def request(n: int, path: Path = path, value: object = value, limits: w.PluginLimits = limits) -> None:
            for _ in range(n):
                w.run_plugin(path, value, limits, module=module)

        def native(n: int) -> None:
            _lifecycle.NATIVE = True
            request(n)

        def python(n: int) -> None:
            _lifecycle.NATIVE = False
            request(n)

        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        try:
            best = interleaved_best({"native": native, "python": python}, count, rounds)
        finally:
            for fd, copy in zip((0, 1, 2), saved):
                os.dup2(copy, fd)
            _lifecycle.NATIVE = True
        module.close()
        rows.append((name, best["native"] * 1e6, best["python"] * 1e6, native_taken))
    floors = c_floors(count, rounds)
    print(
        f"{'request':<22} {'native µs':>10} {'python µs':>10} {'python/native':>13} {'C floor µs':>10} {'native/C':>8}  native path taken"
    )
    for name, native_us, python_us, taken in rows:
        floor = floors.get(name)
        vs_floor = f"{floor:10.1f} {native_us / floor:8.2f}" if floor else f"{'':10} {'':8}"
        print(f"{name:<22} {native_us:10.1f} {python_us:10.1f} {python_us / native_us:13.2f} {vs_floor}  {taken}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
