"""What the stack guard and the deadline checks cost on call-heavy AOT code, side by side.

    .venv/bin/python bench/stack_guard.py [--rounds N] [--before FILE.wasm]

fib(30) from bench/fib.c (built by ``bench/run.py``: build/bench/fib.wasm and fib_native), best of
``--rounds`` interleaved runs per variant, as a ratio to gcc -O2:

- native C, gcc -O2 (the floor);
- AOT, nothing (not stoppable, no guard);
- AOT + deadline checks (timeout set, no guard);
- AOT + stack guard + deadline checks: what ``Plugin`` runs with its default limits;
- with ``--before``: the same for an already stack-guarded binary (e.g. one written by an older
  ``sandbox.guard_stack``), to compare two versions of the guard in one run (its deadline checks
  are added by the current ``add_deadline_checks``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "bench"
sys.path.insert(0, str(REPO))

import wasmedge_py as w  # noqa: E402
from wasmedge_py import sandbox  # noqa: E402
from wasmedge_py.compiler import AotCache, CompileOptions  # noqa: E402
from wasmedge_py.limits import DEFAULT_MAX_STACK_BYTES  # noqa: E402

FIB_N, FIB_RESULT = 30, 832040
TIMEOUT = 60.0  # never expires: what being stoppable costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--before", type=Path, help="a stack-guarded fib.wasm to compare with")
    args = parser.parse_args()
    fib_wasm, fib_native = BUILD / "fib.wasm", BUILD / "fib_native"
    if not (fib_wasm.exists() and fib_native.exists()):
        sys.exit("build/bench/fib.wasm or fib_native is missing: run `.venv/bin/python bench/run.py --quick` once")
    original = fib_wasm.read_bytes()
    slots = sandbox.slots_for_bytes(DEFAULT_MAX_STACK_BYTES)
    variants: dict[str, tuple[bytes, CompileOptions, int | None, float | None]] = {
        "AOT, no timeout, no guard": (original, CompileOptions(interruptible=False), None, None),
        "AOT + timeout (deadline checks)": (original, CompileOptions(), None, TIMEOUT),
        "AOT + timeout + stack guard (Plugin default)": (
            sandbox.guard_stack(original, slots),
            CompileOptions(),
            slots,
            TIMEOUT,
        ),
    }
    if args.before:
        variants["same, --before binary"] = (args.before.read_bytes(), CompileOptions(), slots, TIMEOUT)

    with tempfile.TemporaryDirectory() as cache_dir:
        cache = AotCache(cache_dir)
        bodies = {"native C: gcc -O2": native_body(fib_native)}
        modules = []
        for name, (wasm, options, stack_slots, timeout) in variants.items():
            module = w.Module.from_compiled(
                cache.get_or_compile(wasm, options), stack_slots=stack_slots, compiled_with=options
            )
            instance = w.Instance(module)
            modules += [instance, module]
            bodies[name] = wasm_body(instance.function("fib"), timeout)
        best = dict.fromkeys(bodies, float("inf"))
        for _ in range(args.rounds):  # the variants take turns: background load hits them alike
            for name, body in bodies.items():
                best[name] = min(best[name], body())
        for closing in modules:
            closing.close()
    floor = best["native C: gcc -O2"]
    for name, seconds in best.items():
        print(f"{name:<48} {seconds * 1e3:7.2f} ms  {seconds / floor:5.2f}x")


def native_body(binary: Path) -> Callable[[], float]:
    """gcc -O2's time as the program measures it (best of its own 3 runs: no process start-up)."""

    def body() -> float:
        output = subprocess.run([str(binary), str(FIB_N), "3"], check=True, capture_output=True, text=True).stdout
        result, ns = output.split()
        assert int(result) == FIB_RESULT
        return float(ns) * 1e-9

    return body


def wasm_body(fib: w.Function, timeout: float | None) -> Callable[[], float]:
    def body() -> float:
        started = time.perf_counter()
        result = fib(FIB_N, timeout=timeout)
        elapsed = time.perf_counter() - started
        assert result == FIB_RESULT
        return elapsed

    return body


if __name__ == "__main__":
    main()
