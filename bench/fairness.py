"""Fairness: the latency of a normal plugin while another plugin floods the service with runaway
requests, next to its latency with no flood. One real ``python -m server`` with the default
settings (the CPUs as workers, queue 64, 1000 ms timeout), driven from this machine.

    .venv/bin/python bench/fairness.py [--seconds 10] [--clients 4] [--flood 64]

The normal load: ``--clients`` clients, each sending ``hello`` requests one after the other. The
flood (from a process of its own, so that its client work does not slow the measuring one):
``--flood`` clients, each sending requests to a plugin that loops until the engine stops it at the
timeout, the next one as soon as the last is answered (504, or 503 once that plugin's share of the
queue is full: a flood does not wait for ``Retry-After``). A last row repeats the flood with
``--plugin-concurrency`` set to every worker, i.e. without the worker the default keeps for the
other plugins.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import REPO, _free_port, _python_m_server, _server  # noqa: E402

from server.settings import default_workers  # noqa: E402

HELLO = {"plugin": "hello", "input": 21}
RUNAWAY_WAT = REPO / "tests" / "wat" / "hostile" / "runaway_loop.wat"


def make_store(root: Path) -> Path:
    """hello (the repo's) and runaway (loops for ever: only the engine's timeout stops it)."""
    hello = REPO / "plugins" / "hello" / "hello.wasm"
    if not hello.exists():
        subprocess.run(["make", "-s", "-C", str(REPO), "plugins"], check=True)
    (root / "hello").mkdir()
    (root / "hello" / "hello.wasm").write_bytes(hello.read_bytes())
    (root / "runaway").mkdir()
    subprocess.run(["wat2wasm", str(RUNAWAY_WAT), "-o", str(root / "runaway" / "runaway.wasm")], check=True)
    return root


async def measure(base: str, seconds: float, clients: int) -> list[float]:
    """Latencies (s) of ``hello`` requests from ``clients`` sequential clients for ``seconds``."""
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:

        async def client() -> None:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                async with session.post(f"{base}/run", json=HELLO) as response:
                    body = await response.json()
                if response.status != 200 or body != {"output": 43}:
                    raise RuntimeError(f"hello failed: {response.status} {body}")
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


async def flood(base: str, clients: int) -> None:
    """Runaway requests from ``clients`` clients until SIGTERM; then print the statuses seen."""
    statuses: collections.Counter[int] = collections.Counter()
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:

        async def client(i: int) -> None:
            while not stopping.is_set():
                async with session.post(f"{base}/run", json={"plugin": "runaway", "input": i}) as response:
                    await response.read()
                statuses[response.status] += 1

        tasks = [asyncio.ensure_future(client(i)) for i in range(clients)]
        await stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(" ".join(f"{status}x{count}" for status, count in sorted(statuses.items())), flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def run_case(store: Path, flags: list[str], options: argparse.Namespace, flooding: bool) -> tuple[list[float], str]:
    port = _free_port()
    with _server(_python_m_server(port, store, *flags), port) as base:
        asyncio.run(measure(base, 1.0, 1))  # warm-up: loads hello
        flooder = None
        if flooding:
            flooder = subprocess.Popen(
                [sys.executable, __file__, "--flood-only", base, "--flood", str(options.flood)],
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(2.0)  # the flood fills its share of the workers and the queue
        try:
            latencies = asyncio.run(measure(base, options.seconds, options.clients))
        finally:
            flood_statuses = ""
            if flooder is not None:
                flooder.send_signal(signal.SIGTERM)
                flood_statuses = flooder.communicate(timeout=30)[0].strip()
    return latencies, flood_statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per row")
    parser.add_argument("--clients", type=int, default=4, help="sequential hello clients")
    parser.add_argument("--flood", type=int, default=64, help="concurrent runaway clients")
    parser.add_argument("--flood-only", metavar="URL", help=argparse.SUPPRESS)  # the flooding child
    options = parser.parse_args()
    if options.flood_only:
        asyncio.run(flood(options.flood_only, options.flood))
        return 0

    workers = default_workers()
    print(
        f"python -m server with the defaults: {workers} workers, queue 64, timeout 1000 ms; "
        f"{options.clients} hello clients for {options.seconds:g} s per row; flood: {options.flood} runaway clients"
    )
    print(f"{'':44} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  flood answered (status x count)")
    cases = [
        ("hello, no flood", [], False),
        ("hello, runaway flood", [], True),
        (f"hello, runaway flood, --plugin-concurrency {workers}", ["--plugin-concurrency", str(workers)], True),
    ]
    with tempfile.TemporaryDirectory() as directory:
        store = make_store(Path(directory))
        for label, flags, flooding in cases:
            latencies, flood_statuses = run_case(store, flags, options, flooding)
            print(
                f"{label:44} {len(latencies):9d} {percentile(latencies, 50) * 1000:8.1f} "
                f"{percentile(latencies, 99) * 1000:8.1f} {max(latencies) * 1000:8.1f}  {flood_statuses}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
