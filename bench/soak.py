"""Soak: N plugin lifecycles in this process, then HTTP requests to a real server process: first
the normal requests alone (the baseline), then the same normal requests mixed with hostile ones.
Fails unless RSS grows under 5 % in each part, every answer is the documented one and the server's
log stays within its bound.

    .venv/bin/python bench/soak.py [--lifecycles 100000] [--requests 10000] [--hostile-share 0.3]
                                   [--concurrency 16]

The server is ``python -m server`` with the default settings, serving a temporary store: the
bundled plugins from ./plugins (the normal requests go to ``hello`` and ``upper``) and four hostile
ones built from the WAT fixtures in tests: ``runaway_loop`` loops until the engine stops it at the
timeout (504, and 503 with ``Retry-After`` once its own share of the threads and the queue is
full), ``log_flood`` calls ``host_log`` thousands of times per request (200, its log capped),
``out_of_bounds`` traps (500) and ``negative_code`` returns an error code (422). The hostile phase
is ``--requests`` requests, ``--hostile-share`` of them hostile, spread evenly among the normal
ones and sent concurrently with them; the baseline is its normal requests alone. The p50/p99
latency of the normal requests is printed for both phases.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fairness import percentile  # noqa: E402
from rss_cycles import REPO, cycle, rss_kib  # noqa: E402
from run import _free_port, _server_env, _stop  # noqa: E402

from wasmedge_py.plugin import LOG_MAX_BYTES_PER_CALL  # noqa: E402

LIMIT_PERCENT = 5.0
# host_log calls per log_flood request: about 280 KB of log if host_log had no cap, 31 KB with it.
FLOOD_MESSAGES = 2000
# Log bound per request: the per-call byte cap for a flooding one, 1 KiB (access line, one warning)
# for any other.
LOG_BYTES_PER_REQUEST = 1024
# The text log_flood tries to forge a log line with; it must never start a line of the log.
FORGED_LINE = b"\n2026-01-01 00:00:00,000 INFO server: forged"
WARM_UP_REQUESTS = 1000


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


@dataclass(frozen=True)
class Kind:
    """A kind of request: its plugin, the input of request ``i``, and whether ``(status, body)`` is
    the documented answer. A hostile kind is also answered right by 503 ``plugin <name> busy`` with
    ``Retry-After`` (over its own share), and has at most ``in_flight`` requests out at once.
    ``statuses``: each must be seen in the hostile phase."""

    plugin: str
    input: Callable[[int], object]
    answer: Callable[[int, int, dict], bool]
    statuses: tuple[int, ...] = (200,)
    wat: Path | None = None  # the fixture a hostile plugin is built from
    in_flight: int = 0

    @property
    def hostile(self) -> bool:
        return self.wat is not None


def _error(body: dict, text: str) -> bool:
    return text in str(body.get("error", ""))


NORMAL = [
    Kind("hello", lambda i: i % 1000, lambda i, status, body: status == 200 and body == {"output": 2 * (i % 1000) + 1}),
    Kind("upper", lambda i: f"soak {i}", lambda i, status, body: status == 200 and body == {"output": f"SOAK {i}"}),
]
# runaway_loop has more requests out than its default share (1 running + 32 waiting): it must meet its 503.
HOSTILE = [
    Kind(
        "runaway_loop",
        lambda i: i,
        lambda i, status, body: status == 504 and _error(body, "timed out"),
        (504, 503),
        REPO / "tests" / "wat" / "hostile" / "runaway_loop.wat",
        48,
    ),
    Kind(
        "log_flood",
        lambda i: FLOOD_MESSAGES,
        lambda i, status, body: status == 200 and body == {"output": FLOOD_MESSAGES},
        (200,),
        REPO / "tests" / "wat" / "log_flood.wat",
        4,
    ),
    Kind(
        "out_of_bounds",
        lambda i: i,
        lambda i, status, body: status == 500 and _error(body, "out of bounds memory access"),
        (500,),
        REPO / "tests" / "wat" / "hostile" / "out_of_bounds.wat",
        4,
    ),
    Kind(
        "negative_code",
        lambda i: i,
        lambda i, status, body: status == 422 and body.get("code") == -3,
        (422,),
        REPO / "tests" / "wat" / "hostile" / "negative_code.wat",
        4,
    ),
]


def make_store(root: Path) -> Path:
    """The bundled plugins (``make plugins`` first if hello is not built) and the hostile ones."""
    bundled = REPO / "plugins"
    if not (bundled / "hello" / "hello.wasm").exists():
        subprocess.run(["make", "-s", "-C", str(REPO), "plugins"], check=True)
    for wasm in bundled.glob("*/*.wasm"):
        (root / wasm.parent.name).mkdir(parents=True)
        for path in (wasm, wasm.parent / "plugin.toml"):
            if path.exists():
                shutil.copy(path, root / wasm.parent.name)
    for kind in HOSTILE:
        (root / kind.plugin).mkdir(parents=True)
        subprocess.run(["wat2wasm", str(kind.wat), "-o", str(root / kind.plugin / f"{kind.plugin}.wasm")], check=True)
    return root


def mix(count: int, share: float) -> list[Kind]:
    """``count`` requests, ``share`` of them hostile and spread evenly among the normal ones; each
    class cycles through its kinds."""
    schedule: list[Kind] = []
    hostile = 0
    for i in range(count):
        if hostile + 1 <= share * (i + 1):
            schedule.append(HOSTILE[hostile % len(HOSTILE)])
            hostile += 1
        else:
            schedule.append(NORMAL[(i - hostile) % len(NORMAL)])
    return schedule


def _strict_json(text: str) -> object:
    """``json.loads`` that refuses NaN and Infinity: every answer must be RFC 8259 JSON."""

    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@dataclass
class Phase:
    """What one run of requests saw."""

    latencies: list[float] = field(default_factory=list)  # of the normal requests, s
    answers: collections.Counter[tuple[str, int]] = field(default_factory=collections.Counter)
    wrong: int = 0  # answers that are not the documented ones
    samples: list[str] = field(default_factory=list)  # the first few of them
    requests: int = 0
    hostile: int = 0
    flood: int = 0
    seconds: float = 0.0
    rss: tuple[int, int] = (0, 0)  # server VmRSS (KiB) before and after
    log_bytes: int = 0  # what the server wrote to its log meanwhile

    def rss_growth(self) -> float:
        return 100.0 * (self.rss[1] - self.rss[0]) / self.rss[0]

    def log_bound(self) -> int:
        return self.flood * LOG_MAX_BYTES_PER_CALL + (self.requests - self.flood) * LOG_BYTES_PER_REQUEST


async def drive(session: aiohttp.ClientSession, base: str, schedule: list[Kind], concurrency: int) -> Phase:
    """Send ``schedule`` in order: at most ``concurrency`` normal requests and ``kind.in_flight`` of
    each hostile kind out at once, so a slow hostile answer never holds a normal request back."""
    phase = Phase(
        requests=len(schedule),
        hostile=sum(k.hostile for k in schedule),
        flood=sum(k.plugin == "log_flood" for k in schedule),
    )
    normal_slots = asyncio.Semaphore(concurrency)
    slots = {
        kind.plugin: asyncio.Semaphore(kind.in_flight) if kind.hostile else normal_slots for kind in NORMAL + HOSTILE
    }

    async def one(i: int, kind: Kind) -> None:
        started = time.perf_counter()
        try:
            async with session.post(f"{base}/run", json={"plugin": kind.plugin, "input": kind.input(i)}) as response:
                status, text, retry_after = (
                    response.status,
                    await response.text(),
                    response.headers.get("Retry-After", ""),
                )
            elapsed = time.perf_counter() - started
            body = _strict_json(text)
            right = isinstance(body, dict) and (
                kind.answer(i, status, body)
                or (
                    kind.hostile
                    and status == 503
                    and retry_after.isdigit()
                    and int(retry_after) > 0
                    and str(body.get("error", "")).startswith(f"plugin {kind.plugin} busy")
                )
            )
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            status, text, right, elapsed = 0, repr(error), False, 0.0
        finally:
            slots[kind.plugin].release()
        phase.answers[kind.plugin, status] += 1
        if not kind.hostile:
            phase.latencies.append(elapsed)
        if not right:
            phase.wrong += 1
            if len(phase.samples) < 5:
                phase.samples.append(f"{kind.plugin} #{i}: {status} {text[:200]}")

    started = time.perf_counter()
    tasks = []
    for i, kind in enumerate(schedule):
        await slots[kind.plugin].acquire()
        tasks.append(asyncio.ensure_future(one(i, kind)))
    await asyncio.gather(*tasks)
    phase.seconds = time.perf_counter() - started
    return phase


async def soak_server(base: str, pid: int, log_path: Path, options: argparse.Namespace) -> tuple[Phase, Phase, Phase]:
    """Warm-up (every plugin loaded and compiled), then the baseline and the hostile phase, each
    with the server's RSS and log volume around it."""
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        deadline = time.monotonic() + 30
        while True:
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not come up") from None
                await asyncio.sleep(0.1)
        hostile = mix(options.requests, options.hostile_share)
        baseline = [kind for kind in hostile if not kind.hostile]
        phases = [await drive(session, base, mix(WARM_UP_REQUESTS, 0.0) + HOSTILE * 2, options.concurrency)]
        for schedule in (baseline, hostile):
            rss, log_size = process_rss_kib(pid), log_path.stat().st_size
            phase = await drive(session, base, schedule, options.concurrency)
            phase.rss, phase.log_bytes = (rss, process_rss_kib(pid)), log_path.stat().st_size - log_size
            phases.append(phase)
    return phases[0], phases[1], phases[2]


def report_http(label: str, phase: Phase) -> bool:
    """One row of the table; True when the phase passed."""
    growth_ok = phase.rss_growth() < LIMIT_PERCENT
    log_ok = phase.log_bytes <= phase.log_bound()
    ms = [1000 * percentile(phase.latencies, p) for p in (50, 99)]
    print(
        f"{label:30} {phase.requests - phase.hostile:7d} {phase.hostile:7d} {phase.seconds:7.1f} {ms[0]:7.1f} {ms[1]:7.1f} "
        f"{1000 * max(phase.latencies):7.1f}  {phase.rss[0]:,} -> {phase.rss[1]:,} ({phase.rss_growth():+.2f} %)"
        f"{'' if growth_ok else ' FAIL'}  {phase.log_bytes:,} (bound {phase.log_bound():,}){'' if log_ok else ' FAIL'}"
    )
    return growth_ok and log_ok


def soak_http(options: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory() as directory:
        store = make_store(Path(directory) / "store")
        log_path = Path(directory) / "server.log"
        port = _free_port()
        with log_path.open("wb") as log:  # the server's stdout and stderr
            server = subprocess.Popen(
                [sys.executable, "-m", "server", "--port", str(port), "--plugins", str(store)],
                cwd=REPO,
                env=_server_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        try:
            warm_up, baseline, hostile = asyncio.run(
                soak_server(f"http://127.0.0.1:{port}", server.pid, log_path, options)
            )
        finally:
            stopping = time.perf_counter()
            _stop(server, 30)
        stopped = time.perf_counter() - stopping
        log_text = log_path.read_bytes()

    started_line = next((line for line in log_text.decode(errors="replace").splitlines() if "serving on" in line), "?")
    print(
        f"HTTP: python -m server with the default settings ({started_line.split('server: ', 1)[-1]}); "
        f"{options.concurrency} concurrent normal requests (hello, upper), the hostile ones concurrently with them"
    )
    print(
        f"{'':30} {'normal':>7} {'hostile':>7} {'s':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}  "
        f"server RSS KiB (limit +{LIMIT_PERCENT} %)  server log bytes"
    )
    ok = report_http("baseline (normal only)", baseline)
    ok &= report_http(f"hostile mix ({100 * options.hostile_share:.0f} % hostile)", hostile)
    answers = collections.Counter()
    for phase in (warm_up, baseline, hostile):
        answers.update(phase.answers)
    print(
        "answers (plugin status x count, warm-up included): "
        + ", ".join(f"{plugin} {status} x{count}" for (plugin, status), count in sorted(answers.items()))
    )
    wrong = warm_up.wrong + baseline.wrong + hostile.wrong
    for line in warm_up.samples + baseline.samples + hostile.samples:
        print(f"  wrong answer: {line}")
    unseen = [
        f"{kind.plugin} {status}"
        for kind in HOSTILE
        for status in kind.statuses
        if not hostile.answers[kind.plugin, status]
    ]
    print(f"wrong answers: {wrong}; documented hostile statuses never seen: {', '.join(unseen) or 'none'}")
    forged, lines = FORGED_LINE in log_text, log_text.count(b"\n")
    print(
        f"server log: {len(log_text):,} bytes in all, {lines:,} lines; forged lines: "
        f"{'FOUND' if forged else 'none'}; exit status {server.returncode} {stopped:.1f} s after SIGTERM"
    )
    return ok and not wrong and not unseen and not forged and server.returncode == 0


def report(label: str, before: int, after: int, seconds: float, count: int) -> bool:
    growth = 100.0 * (after - before) / before
    print(
        f"{label}: {count} in {seconds:.1f} s ({count / seconds:.0f}/s); "
        f"RSS {before} KiB -> {after} KiB ({growth:+.2f} %, limit {LIMIT_PERCENT} %)"
    )
    return growth < LIMIT_PERCENT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifecycles", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=10_000, help="HTTP requests in the hostile phase")
    parser.add_argument("--hostile-share", type=float, default=0.3, help="share of them that are hostile")
    parser.add_argument("--concurrency", type=int, default=16, help="normal HTTP requests out at once")
    options = parser.parse_args()
    ok = True
    if options.lifecycles:
        before, after, seconds = soak_lifecycles(options.lifecycles)
        ok &= report("runtime lifecycles (load+init+process+cleanup+close)", before, after, seconds, options.lifecycles)
    ok &= soak_http(options)
    print("soak: OK" if ok else "soak: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
