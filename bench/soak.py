"""Soak: N plugin lifecycles in this process, then M HTTP requests to a real server process,
reporting RSS growth of each (must stay under 5 %).

    .venv/bin/python bench/soak.py [--lifecycles 100000] [--requests 10000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rss_cycles import REPO, cycle, rss_kib  # noqa: E402

LIMIT_PERCENT = 5.0


def process_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def soak_lifecycles(count: int) -> tuple[int, int, float]:
    plugin = str(REPO / "cpp" / "plugin_abi.wasm")
    for _ in range(2000):  # warm-up: allocator pools, caches
        cycle(plugin)
    before, started = rss_kib(), time.perf_counter()
    for _ in range(count):
        cycle(plugin)
    return before, rss_kib(), time.perf_counter() - started


async def _send(session: aiohttp.ClientSession, url: str, count: int, concurrency: int) -> int:
    failures = 0
    queue = iter(range(count))

    async def worker() -> None:
        nonlocal failures
        for i in queue:
            x = i % 1000
            async with session.post(url, json={"plugin": "hello", "input": x}) as response:
                body = await response.json()
                if response.status != 200 or body != {"output": 2 * x + 1}:
                    failures += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def soak_http(count: int, concurrency: int) -> tuple[int, int, float, int]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", str(port), "--plugins", str(REPO / "plugins"), "--log-level", "WARNING"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    async def run_all() -> tuple[int, int, float, int]:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with session.get(f"{base}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("the server did not come up") from None
                    await asyncio.sleep(0.1)
            await _send(session, f"{base}/run", 1000, concurrency)  # warm-up
            before, started = process_rss_kib(server.pid), time.perf_counter()
            failures = await _send(session, f"{base}/run", count, concurrency)
            return before, process_rss_kib(server.pid), time.perf_counter() - started, failures

    try:
        return asyncio.run(run_all())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def report(label: str, before: int, after: int, seconds: float, count: int) -> bool:
    growth = 100.0 * (after - before) / before
    print(f"{label}: {count} in {seconds:.1f} s ({count / seconds:.0f}/s); "
          f"RSS {before} KiB -> {after} KiB ({growth:+.2f} %, limit {LIMIT_PERCENT} %)")
    return growth < LIMIT_PERCENT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifecycles", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    options = parser.parse_args()
    before, after, seconds = soak_lifecycles(options.lifecycles)
    ok = report("runtime lifecycles (load+init+process+cleanup+close)", before, after, seconds, options.lifecycles)
    before, after, seconds, failures = soak_http(options.requests, options.concurrency)
    ok &= report(f"HTTP /run requests ({options.concurrency} concurrent, {failures} failed)", before, after, seconds, options.requests)
    return 0 if ok and failures == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
