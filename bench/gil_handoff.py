"""Why /run costs more than its lifecycle: every native call of a run releases the GIL, and winning
it back from another busy Python thread (in the service, the event loop) waits for that thread.

    .venv/bin/python bench/gil_handoff.py

Times the per-request plugin lifecycle (``run_plugin(module=cached)``: instantiate, init, process,
cleanup, close; default limits) alone, then with a second thread spinning in Python, at CPython's
default switch interval and at the service's (server/process.py ``SWITCH_INTERVAL``).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import wasmedge_py as w

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server.process import SWITCH_INTERVAL  # noqa: E402

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "hello" / "hello.wasm"


def per_cycle(module: w.Module, limits: w.PluginLimits, cycles: int) -> float:
    started = time.perf_counter()
    for _ in range(cycles):
        w.run_plugin(PLUGIN, 21, limits, module=module)
    return (time.perf_counter() - started) / cycles


def with_spinner(run) -> float:
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(100))

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        return run()
    finally:
        stop.set()
        thread.join()


def main() -> int:
    limits = w.PluginLimits()
    module = w.load_module(PLUGIN, limits)
    per_cycle(module, limits, 500)  # warm-up (and the AOT compile, if not cached)
    default = sys.getswitchinterval()
    alone = per_cycle(module, limits, 3000)
    print(f"lifecycle alone:                                     {alone * 1e6:9.1f} µs")
    for interval in (default, SWITCH_INTERVAL):
        sys.setswitchinterval(interval)
        contended = with_spinner(lambda: per_cycle(module, limits, 100))
        print(
            f"with a busy Python thread, switch interval {interval * 1000:.1f} ms: {contended * 1e6:9.1f} µs"
            f"  ({contended / alone:.0f}x)"
        )
    sys.setswitchinterval(default)
    return 0


if __name__ == "__main__":
    sys.exit(main())
