"""Leak check: N full load -> instantiate -> call -> close cycles; prints RSS before and after.

    .venv/bin/python bench/rss_cycles.py [--cycles 100000] [--plugin cpp/plugin_abi.wasm]

RSS is read after a warm-up (allocator pools and caches filled), so the growth figure shows what
the cycles themselves leak. Exits 1 when growth is 5 % or more."""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

from wasmedge_py import run_plugin

REPO = Path(__file__).resolve().parent.parent


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def cycle(path: str) -> None:
    assert run_plugin(path, 21) == 43


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--plugin", default=str(REPO / "cpp" / "plugin_abi.wasm"))
    parser.add_argument("--limit-percent", type=float, default=5.0)
    options = parser.parse_args()
    for _ in range(options.warmup):
        cycle(options.plugin)
    gc.collect()
    before = rss_kib()
    started = time.perf_counter()
    for _ in range(options.cycles):
        cycle(options.plugin)
    elapsed = time.perf_counter() - started
    gc.collect()
    after = rss_kib()
    growth = 100.0 * (after - before) / before
    print(f"cycles: {options.cycles} (load+validate+instantiate+init+process+cleanup+close)")
    print(f"time: {elapsed:.1f} s ({1e6 * elapsed / options.cycles:.0f} us per cycle)")
    print(f"rss before: {before} KiB, after: {after} KiB, growth: {growth:+.2f} % (limit {options.limit_percent} %)")
    return 0 if growth < options.limit_percent else 1


if __name__ == "__main__":
    sys.exit(main())
