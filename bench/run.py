"""make bench: one table, every row measured side by side in the same run, with ratios.

    .venv/bin/python bench/run.py [--quick]

Groups (times are per operation, best of several runs, so background load only ever slows a row):

- warm call      process(21) on a ready instance: a C program against the WasmEdge C API (the
                 floor), this binding, wasmtime-py; plus AOT and the plugin runtime for context.
- lifecycle      instantiate from an already validated module + init + process + cleanup + free.
- compute        fib(30) from bench/fib.c: WasmEdge AOT, WasmEdge interpreter, wasmtime-py, and the
                 same C built natively with gcc -O2.
- load           cold AOT compile vs AOT cache hit (and plain loading, for context).
- http           the service over real HTTP (server processes on free ports, driven by wrk -t2 -c16
                 when installed -- `make bench` installs it -- else by an aiohttp client here, 16
                 concurrent keep-alive requests): POST /run hello, a 400 (invalid JSON) and a 404
                 (unknown plugin) to ``python -m server`` vs a bare aiohttp handler answering the
                 same (bench/http_bare.py), uvloop vs asyncio's loop, one process vs gunicorn -w 2,
                 the Go original's figure from issue 14 as a reference row (it cannot be built
                 here); the note of each row has the server's CPU time per request (robust on a
                 loaded machine); then 8 CPU-bound requests 2 at a time on --workers 1 vs 2.

Everything it builds (the C floor, fib.wasm, the native fib, the AOT cache) goes under build/bench/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
BUILD = REPO / "build" / "bench"
PLUGIN = REPO / "cpp" / "plugin_abi.wasm"
WASMEDGE_INCLUDE = "/usr/include"  # <wasmedge/wasmedge.h>, from libwasmedge-dev
FIB_N = 30
FIB_RESULT = 832040

sys.path.insert(0, str(REPO))

import wasmedge_py as w  # noqa: E402
from wasmedge_py.compiler import AotCache, CompileOptions, load_aot  # noqa: E402
from wasmedge_py.limits import DEFAULT_MAX_STACK_BYTES  # noqa: E402

try:
    import wasmtime
except ImportError:  # the `bench` extra; `make bench` installs it
    wasmtime = None


@dataclass
class Row:
    group: str
    name: str
    seconds: float | None  # per operation; None = not available
    note: str = ""


# -- building ----------------------------------------------------------------------------------


def _stale(target: Path, *sources: Path) -> bool:
    return not target.exists() or any(s.stat().st_mtime > target.stat().st_mtime for s in sources)


def _run(command: list[str]) -> None:
    tool = shutil.which(command[0])
    if tool is None:
        sys.exit(f"bench: {command[0]} not found; run `make setup`")
    subprocess.run(command, check=True)


def build() -> dict[str, Path]:
    BUILD.mkdir(parents=True, exist_ok=True)
    if not PLUGIN.exists():
        subprocess.run(["make", "-s", "-C", str(REPO), "plugins"], check=True)
    out = {
        "c_floor": BUILD / "c_floor",
        "fib_wasm": BUILD / "fib.wasm",
        "fib_native": BUILD / "fib_native",
    }
    native = REPO / "wasmedge_py" / "_native"  # c_floor.c compiles in the binding's watchdog
    if _stale(
        out["c_floor"],
        BENCH / "c_floor.c",
        BENCH / "bench_util.h",
        native / "watchdog.c",
        native / "deadline.c",
        native / "wpy_call.h",
    ):
        _run(
            [
                "gcc",
                "-O2",
                f"-I{WASMEDGE_INCLUDE}",
                "-o",
                str(out["c_floor"]),
                str(BENCH / "c_floor.c"),
                "-lwasmedge",
                "-lpthread",
            ]
        )
    if _stale(out["fib_wasm"], BENCH / "fib.c"):
        _run(
            [
                "clang-16",
                "--target=wasm32-wasi",
                "-nostdlib",
                "-Wl,--no-entry",
                "-O2",
                "-o",
                str(out["fib_wasm"]),
                str(BENCH / "fib.c"),
            ]
        )
    if _stale(out["fib_native"], BENCH / "fib.c"):
        _run(["gcc", "-O2", "-DFIB_NATIVE_MAIN", "-o", str(out["fib_native"]), str(BENCH / "fib.c")])
    return out


# -- timing ------------------------------------------------------------------------------------


def best_per_op(body: Callable[[int], None], count: int, repeats: int) -> float:
    """Seconds per operation: ``body(count)`` does ``count`` operations; best of ``repeats``."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        body(count)
        best = min(best, (time.perf_counter() - started) / count)
    return best


def c_floor(binary: Path, module: Path, warm: int, cycles: int, repeats: int) -> tuple[float, float, float]:
    """(warm call, timed warm call, lifecycle) in seconds, from bench/c_floor.c."""
    output = subprocess.run(
        [str(binary), str(module), str(warm), str(cycles), str(repeats)], check=True, capture_output=True, text=True
    ).stdout
    values = dict(line.split() for line in output.splitlines())
    return float(values["warm"]) * 1e-9, float(values["timed"]) * 1e-9, float(values["lifecycle"]) * 1e-9


# -- the groups --------------------------------------------------------------------------------


def warm_and_lifecycle_rows(built: dict[str, Path], cache: AotCache, scale: float) -> list[Row]:
    warm_n, cycle_n, repeats = int(200_000 * scale), int(3_000 * scale), 5
    plugin_bytes = PLUGIN.read_bytes()
    plugin_so = cache.get_or_compile(plugin_bytes)

    c_warm, _, c_cycle = c_floor(built["c_floor"], PLUGIN, warm_n, cycle_n, repeats)
    c_warm_aot, c_timed_aot, c_cycle_aot = c_floor(built["c_floor"], plugin_so, warm_n, cycle_n, repeats)

    def load(path: Path) -> w.Module:
        """A .wasm through the (sandboxing) loader, a compiled .so through from_compiled."""
        return w.Module.from_compiled(path) if path.suffix == ".so" else w.Module.from_file(path)

    def binding_warm(path: Path) -> float:
        with load(path) as module, w.Instance(module) as instance:
            instance.call("init")
            process = instance.function("process")
            assert process(21) == 43

            def body(n: int) -> None:
                for _ in range(n):
                    process(21)

            return best_per_op(body, warm_n, repeats)

    def binding_cycle(path: Path) -> float:
        with load(path) as module:

            def body(n: int) -> None:
                for _ in range(n):
                    with w.Instance(module) as instance:
                        instance.call("init")
                        instance.call("process", 21)
                        instance.call("cleanup")

            return best_per_op(body, cycle_n, repeats)

    limits = w.PluginLimits()
    module = w.load_module(PLUGIN, limits)
    with w.load_plugin(PLUGIN, limits, module=module) as plugin:
        plugin.init()
        plugin_warm_n = max(200, warm_n // 40)

        def plugin_body(n: int) -> None:
            for _ in range(n):
                plugin.execute(21)

        plugin_warm = best_per_op(plugin_body, plugin_warm_n, repeats)

    def plugin_cycle_body(n: int) -> None:
        for _ in range(n):
            w.run_plugin(PLUGIN, 21, limits, module=module)

    plugin_cycle = best_per_op(plugin_cycle_body, max(100, cycle_n // 4), repeats)
    module.close()

    wt_warm = wt_cycle = None
    if wasmtime is not None:
        engine = wasmtime.Engine()
        wt_module = wasmtime.Module.from_file(engine, str(PLUGIN))
        store = wasmtime.Store(engine)
        exports = wasmtime.Instance(store, wt_module, []).exports(store)
        exports["init"](store)
        process = exports["process"]
        assert process(store, 21) == 43

        def wt_body(n: int) -> None:
            for _ in range(n):
                process(store, 21)

        wt_warm = best_per_op(wt_body, max(1000, warm_n // 20), repeats)

        def wt_cycle_body(n: int) -> None:
            for _ in range(n):
                cycle_store = wasmtime.Store(engine)
                found = wasmtime.Instance(cycle_store, wt_module, []).exports(cycle_store)
                found["init"](cycle_store)
                found["process"](cycle_store, 21)
                found["cleanup"](cycle_store)

        wt_cycle = best_per_op(wt_cycle_body, cycle_n, repeats)

    no_wt = "" if wasmtime else "n/a: pip install wasmtime (the `bench` extra)"
    return [
        Row("warm call", "C floor: WasmEdge C API, interpreter", c_warm),
        Row("warm call", "binding: Function.__call__, interpreter", binding_warm(PLUGIN)),
        Row("warm call", "wasmtime-py: Func.__call__", wt_warm, no_wt),
        Row("warm call", "C floor: WasmEdge C API, AOT .so", c_warm_aot),
        Row("warm call", "binding: Function.__call__, AOT .so", binding_warm(plugin_so)),
        Row("warm call", "C floor: timed call (the binding's watchdog), AOT .so", c_timed_aot),
        Row("warm call", "Plugin.execute (default limits: timeout, guard)", plugin_warm),
        Row("lifecycle", "C floor: WasmEdge C API, interpreter", c_cycle),
        Row("lifecycle", "binding: Instance + 3 calls + close", binding_cycle(PLUGIN)),
        Row("lifecycle", "wasmtime-py: Store + Instance + 3 calls", wt_cycle, no_wt),
        Row("lifecycle", "C floor: WasmEdge C API, AOT .so", c_cycle_aot),
        Row("lifecycle", "binding: Instance + 3 calls + close, AOT", binding_cycle(plugin_so)),
        Row("lifecycle", "run_plugin(module=cached): init/process/cleanup", plugin_cycle),
    ]


def compute_rows(built: dict[str, Path], cache: AotCache, scale: float) -> list[Row]:
    fib_bytes = built["fib_wasm"].read_bytes()
    repeats = 5 if scale >= 1 else 2

    native_output = subprocess.run(
        [str(built["fib_native"]), str(FIB_N), "9"], check=True, capture_output=True, text=True
    ).stdout.split()
    assert int(native_output[0]) == FIB_RESULT
    native = float(native_output[1]) * 1e-9

    def binding(module: w.Module, repeats: int, timeout: float | None = None, **instance_options) -> float:
        with module, w.Instance(module, **instance_options) as instance:
            fib = instance.function("fib")
            assert fib(FIB_N, timeout=timeout) == FIB_RESULT
            return best_per_op(lambda n: [fib(FIB_N, timeout=timeout) for _ in range(n)], 1, repeats)

    def aot(options: CompileOptions, config: w.Config) -> w.Module:
        return w.Module.from_compiled(cache.get_or_compile(fib_bytes, options), config, compiled_with=options)

    def guarded_aot(options: CompileOptions) -> w.Module:
        return load_aot(fib_bytes, options=options, cache=cache, max_stack_bytes=DEFAULT_MAX_STACK_BYTES)

    timed = 60.0  # a timeout that never expires: what it costs to be stoppable

    fuel = 10**12
    rows = [
        Row("compute", f"native C: gcc -O2, fib({FIB_N})", native),
        Row(
            "compute",
            "WasmEdge AOT + timeout: deadline checks (the default)",
            binding(aot(CompileOptions(), w.Config()), repeats, timed),
        ),
        Row(
            "compute",
            "WasmEdge AOT + timeout: engine_interrupts=True (before)",
            binding(aot(CompileOptions(engine_interrupts=True), w.Config()), repeats, timed),
            "WasmEdge's interruptible code",
        ),
        Row(
            "compute",
            "WasmEdge AOT + timeout + stack guard (Plugin default)",
            binding(guarded_aot(CompileOptions()), repeats, timed),
        ),
        Row(
            "compute",
            "same, engine_interrupts=True (before)",
            binding(guarded_aot(CompileOptions(engine_interrupts=True)), repeats, timed),
        ),
        Row(
            "compute",
            "WasmEdge AOT, interruptible=False",
            binding(aot(CompileOptions(interruptible=False), w.Config()), repeats),
            "timeouts cannot stop it",
        ),
        Row(
            "compute",
            "WasmEdge AOT + cost measuring (fuel)",
            binding(aot(CompileOptions(cost_measuring=True), w.Config(cost_measuring=True)), repeats, fuel=fuel),
        ),
    ]
    if wasmtime is not None:
        engine = wasmtime.Engine()
        store = wasmtime.Store(engine)
        fib = wasmtime.Instance(store, wasmtime.Module(engine, fib_bytes), []).exports(store)["fib"]
        assert fib(store, FIB_N) == FIB_RESULT
        rows.append(
            Row(
                "compute",
                "wasmtime-py (Cranelift)",
                best_per_op(lambda n: [fib(store, FIB_N) for _ in range(n)], 1, repeats),
            )
        )
    else:
        rows.append(Row("compute", "wasmtime-py (Cranelift)", None, "n/a: pip install wasmtime"))
    interpreted = w.Config(force_interpreter=True)
    rows.append(
        Row(
            "compute",
            "WasmEdge interpreter",
            binding(w.Module.from_bytes(fib_bytes, interpreted), 3 if scale >= 1 else 1),
        )
    )
    rows.append(
        Row(
            "compute",
            "WasmEdge interpreter + fuel",
            binding(
                w.Module.from_bytes(fib_bytes, w.Config(force_interpreter=True, cost_measuring=True)),
                2 if scale >= 1 else 1,
                fuel=fuel,
            ),
        )
    )
    return rows


def load_rows(cache: AotCache, scale: float) -> list[Row]:
    plugin_bytes = PLUGIN.read_bytes()
    repeats = 5 if scale >= 1 else 2
    cold = float("inf")
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(dir=BUILD) as directory:
            fresh = AotCache(Path(directory) / "aot")
            started = time.perf_counter()
            fresh.get_or_compile(plugin_bytes)
            cold = min(cold, time.perf_counter() - started)
            assert fresh.compiles == 1
    path = cache.get_or_compile(plugin_bytes)
    first_hit = best_per_op(
        lambda n: [AotCache(cache.directory).get_or_compile(plugin_bytes) for _ in range(n)], 200, repeats
    )
    warm_hit = best_per_op(lambda n: [cache.get_or_compile(plugin_bytes) for _ in range(n)], 2000, repeats)
    load_so = best_per_op(lambda n: [w.Module.from_compiled(path).close() for _ in range(n)], 200, repeats)
    load_wasm = best_per_op(lambda n: [w.Module.from_file(PLUGIN).close() for _ in range(n)], 200, repeats)
    rows = [
        Row("load", "cold AOT compile (plugin_abi.wasm -> .so, cached)", cold),
        Row("load", "AOT cache hit, new AotCache (key + sha256 verify)", first_hit),
        Row("load", "AOT cache hit, same AotCache (key + stat)", warm_hit),
        Row("load", "Module.from_compiled(.so): dlopen + validate", load_so),
        Row("load", "Module.from_file(.wasm): parse + validate (+ sandbox)", load_wasm),
    ]
    if wasmtime is not None:
        engine = wasmtime.Engine()
        rows.append(
            Row(
                "load",
                "wasmtime Module(): Cranelift compile",
                best_per_op(lambda n: [wasmtime.Module(engine, plugin_bytes) for _ in range(n)], 20, repeats),
            )
        )
    return rows


# -- http: real server processes on free ports, driven by wrk (or an aiohttp client here) --------

HTTP_CONCURRENCY = 16
HTTP_ROUND_SECONDS = 3  # one wrk round (whole seconds); best of several per row
# Issue 14's reference: the original Go service (net/http + WasmEdge-go) answered hello at 3,333
# req/s with 16 connections (3,478 with 64), wrk -t2, on this machine class. It cannot be built
# here (its modules are not reachable), so its figure is printed as a reference, not measured.
GO_ORIGINAL_HELLO_REQ_S = 3_333
BUSY_SECONDS = 0.2  # of one core per busy request
BUSY_REQUESTS, BUSY_CONCURRENCY = 8, 2

# process(n) spins n iterations of a pure loop (as tests/wat/busy.wat): one core, no I/O.
BUSY_WAT = """
(module
  (func (export "init") (result i32) (i32.const 0))
  (func (export "cleanup") (result i32) (i32.const 0))
  (func (export "process") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $again
        (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
        (local.set $acc (i32.xor (i32.add (local.get $acc) (local.get $i)) (i32.const 0x5bd1e995)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $again)))
    (i32.and (local.get $acc) (i32.const 0x7fffffff))))
"""


@dataclass(frozen=True)
class Ask:
    """One kind of POST /run, and what every answer to it must be (``answer`` None: any body)."""

    what: str
    body: bytes
    status: int = 200
    answer: dict | None = None


HELLO = Ask("/run hello", b'{"plugin": "hello", "input": 21}', 200, {"output": 43})
INVALID_JSON = Ask("400 invalid JSON", b'{"plugin": "hello", "input": ', 400)
UNKNOWN_PLUGIN = Ask("404 unknown plugin", b'{"plugin": "no_such_plugin", "input": 1}', 404)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASMEDGE_PY_") and k != "PLUGIN_STORE"}
    env.update(extra)
    return env


@dataclass(frozen=True)
class Served:
    base: str  # http://127.0.0.1:PORT
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time so far of the server and its child processes (gunicorn's workers), from /proc."""
        pids = [self.pid]
        for children in Path(f"/proc/{self.pid}/task").glob("*/children"):
            pids += [int(child) for child in children.read_text().split()]
        ticks = 0
        for pid in pids:
            with contextlib.suppress(OSError):  # a child that has exited since
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _serve(args: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Start ``args`` (which listens on ``port``), wait for GET /healthz, yield it;
    always SIGTERM and wait (SIGKILL if it does not stop), whatever happened in between."""
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(args, cwd=REPO, env=env or _server_env(), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(
                    f"bench: {' '.join(args[:4])} did not come up:\n{log.read().decode(errors='replace')}"
                )
            time.sleep(0.05)
        yield Served(base, process.pid)
    finally:
        if process.poll() is None:
            _stop(process, 20)
        log.close()


@contextlib.contextmanager
def _server(args: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """``_serve``, yielding the base URL only."""
    with _serve(args, port, env) as served:
        yield served.base


def _stop(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout`` seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:  # a 4xx/5xx answer, with its JSON body
        with error:
            return error.code, json.loads(error.read())


def _post_json(url: str, payload: dict) -> dict:
    status, answer = _post(url, json.dumps(payload).encode())
    if status != 200:
        raise RuntimeError(f"bench: POST {url} {payload} answered {status} {answer}")
    return answer


def _python_m_server(port: int, plugins: Path, *flags: str, entry: tuple[str, ...] = ("-m", "server")) -> list[str]:
    """The service's command line; ``entry`` replaces ``-m server`` (e.g. with a variant's script)."""
    return [
        sys.executable,
        *entry,
        "--port",
        str(port),
        "--plugins",
        str(plugins),
        "--log-level",
        "WARNING",
        *flags,
    ]


async def _drive(base: str, payload: dict, expected: dict | None, count: int, concurrency: int) -> float:
    """``count`` POST /run of ``payload`` over ``concurrency`` keep-alive connections; wall seconds."""
    return await _drive_ask(base, Ask("", json.dumps(payload).encode(), 200, expected), count, concurrency)


async def _drive_ask(base: str, ask: Ask, count: int, concurrency: int) -> float:
    """``count`` POST /run of ``ask`` over ``concurrency`` keep-alive connections with the aiohttp
    client; wall seconds. Every answer must be what ``ask`` expects."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        url, left, failures = f"{base}/run", iter(range(count)), []
        headers = {"Content-Type": "application/json"}

        async def worker() -> None:
            for _ in left:
                async with session.post(url, data=ask.body, headers=headers) as response:
                    body = await response.json()
                    if response.status != ask.status or (ask.answer is not None and body != ask.answer):
                        failures.append((response.status, body))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"bench: {len(failures)} of {count} requests to {url} failed, e.g. {failures[0]}")
    return seconds


def _wrk_round(base: str, ask: Ask, seconds: int) -> tuple[int, float]:
    """One wrk round (2 threads, HTTP_CONCURRENCY connections): (requests, wall seconds). Every
    answer must have ``ask``'s status (wrk counts the others; bodies were checked by ``_check``)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", dir=BUILD) as script:
        script.write(
            f'wrk.method = "POST"\nwrk.body = [==[{ask.body.decode()}]==]\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        script.flush()
        command = [WRK or "wrk", "-t2", f"-c{HTTP_CONCURRENCY}", f"-d{seconds}s", "-s", script.name, f"{base}/run"]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s*([\d.]+)", output).group(1))  # type: ignore[union-attr]
    found = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    other_status = int(found.group(1)) if found else 0
    if "Socket errors" in output or other_status != (requests if ask.status >= 300 else 0):
        raise RuntimeError(f"bench: wrk {ask.what} against {base}: not every answer was {ask.status}:\n{output}")
    return requests, requests / rate


def _check(base: str, ask: Ask) -> None:
    status, answer = _post(f"{base}/run", ask.body)
    if status != ask.status or (ask.answer is not None and answer != ask.answer):
        raise RuntimeError(f"bench: {ask.what} against {base} answered {status} {answer}")


WRK = shutil.which("wrk")  # the client when installed (`make bench` installs it): the aiohttp one costs more
HTTP_CLIENT = (
    f"wrk -t2 -c{HTTP_CONCURRENCY}, keep-alive"
    if WRK
    else f"aiohttp client in the bench, {HTTP_CONCURRENCY} concurrent, keep-alive (install wrk for a faster one)"
)


def _http_row(served: Served, name: str, ask: Ask, scale: float) -> Row:
    """Best seconds per request of a few rounds of ``ask`` (after one checked answer and a warm-up
    round), with the server's CPU time per request in the note."""
    _check(served.base, ask)
    rounds, seconds = (3, HTTP_ROUND_SECONDS) if scale >= 1 else (1, 1)
    best = cpu = float("inf")
    for round in range(rounds + 1):  # round 0 warms up
        started_cpu = served.cpu_seconds()
        if WRK:
            requests, wall = _wrk_round(served.base, ask, seconds if round else 1)
        else:
            requests = max(300, int(3000 * scale))
            wall = asyncio.run(_drive_ask(served.base, ask, requests, HTTP_CONCURRENCY))
        if round:
            best = min(best, wall / requests)
            cpu = min(cpu, (served.cpu_seconds() - started_cpu) / requests)
    note = f"{1 / best:,.0f} req/s, server CPU {cpu * 1e6:.0f} µs/request; {HTTP_CLIENT}"
    return Row("http", f"{name}: {ask.what}", best, note)


def _busy_store(directory: Path) -> Path:
    store = directory / "store"
    (store / "busy").mkdir(parents=True)
    (directory / "busy.wat").write_text(BUSY_WAT)
    _run(["wat2wasm", str(directory / "busy.wat"), "-o", str(store / "busy" / "busy.wasm")])
    (store / "busy" / "plugin.toml").write_text("timeout_ms = 0  # the bench's busy loop: no per-call limit\n")
    return store


def _busy_seconds(base: str, n: int, answer: dict, repeats: int) -> float:
    """Best wall seconds for BUSY_REQUESTS busy requests, BUSY_CONCURRENCY at a time."""
    payload = {"plugin": "busy", "input": n}
    asyncio.run(_drive(base, payload, answer, BUSY_CONCURRENCY, BUSY_CONCURRENCY))  # warm-up: load the plugin
    return min(asyncio.run(_drive(base, payload, answer, BUSY_REQUESTS, BUSY_CONCURRENCY)) for _ in range(repeats))


BARE = "bare aiohttp (bench/http_bare.py)"
SERVICE = "python -m server"
SERVICE_ASYNCIO = "python -m server --event-loop asyncio"
GO_ORIGINAL = "Go original, issue 14's REFERENCE figure (not run here)"


def http_rows(scale: float = 1.0) -> list[Row]:
    """The service over real HTTP: /run hello, a 400 and a 404 vs a bare aiohttp handler; on
    asyncio's loop vs uvloop; one process vs gunicorn -w 2; the Go original's reference figure;
    and two CPU-bound requests on --workers 1 vs 2."""
    plugins = REPO / "plugins"
    if not (plugins / "hello" / "hello.wasm").exists():
        subprocess.run(["make", "-s", "-C", str(REPO), "plugins"], check=True)
    rows: list[Row] = []

    port = _free_port()
    with _serve([sys.executable, str(BENCH / "http_bare.py"), str(port)], port) as served:
        rows += [_http_row(served, BARE, ask, scale) for ask in (HELLO, INVALID_JSON, UNKNOWN_PLUGIN)]

    port = _free_port()
    with _serve(_python_m_server(port, plugins), port) as served:
        rows += [_http_row(served, SERVICE, ask, scale) for ask in (HELLO, INVALID_JSON, UNKNOWN_PLUGIN)]
    go_note = f"{GO_ORIGINAL_HELLO_REQ_S:,} req/s (3,478 at 64 connections), wrk -t2 -c16, from the issue"
    rows.append(Row("http", f"{GO_ORIGINAL}: /run hello", 1 / GO_ORIGINAL_HELLO_REQ_S, go_note))

    port = _free_port()
    with _serve(_python_m_server(port, plugins, "--event-loop", "asyncio"), port) as served:
        rows += [_http_row(served, SERVICE_ASYNCIO, ask, scale) for ask in (HELLO, INVALID_JSON)]

    port = _free_port()
    no_plugin = _python_m_server(port, plugins, entry=(str(BENCH / "http_no_plugin.py"),))
    with _serve(no_plugin, port) as served:
        rows.append(_http_row(served, "python -m server, the plugin's run taken out", HELLO, scale))

    try:
        import gunicorn
    except ImportError:
        rows.append(Row("http", "gunicorn -w 2: /run hello", None, "n/a: pip install gunicorn"))
    else:
        port = _free_port()
        no_control_socket = ["--no-control-socket"] if gunicorn.version_info >= (27,) else []
        args = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:server.gunicorn_conf",  # as the README runs it: uvloop workers, metrics of all
            "server.app:make_app()",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "5",
            *no_control_socket,
        ]
        env = _server_env(WASMEDGE_PY_PLUGINS=str(plugins), WASMEDGE_PY_LOG_LEVEL="WARNING")
        with _serve(args, port, env) as served:
            rows.append(_http_row(served, "gunicorn -w 2", HELLO, scale))

    busy_repeats = 2 if scale >= 1 else 1
    with tempfile.TemporaryDirectory(dir=BUILD) as directory:
        store = _busy_store(Path(directory))
        port = _free_port()
        # --allow-unlimited-timeout: the plugin.toml's timeout_ms = 0 holds (no interruption checks).
        busy_flags = ["--timeout-ms", "60000", "--allow-unlimited-timeout"]
        with _server(_python_m_server(port, store, "--workers", "1", *busy_flags), port) as base:
            # Calibrate the loop count to BUSY_SECONDS of work per request on this machine.
            probe = {"plugin": "busy", "input": 2_000_000}
            asyncio.run(_drive(base, probe, None, 1, 1))  # loads the plugin
            took = min(asyncio.run(_drive(base, probe, None, 1, 1)) for _ in range(2))
            n = min(2**31 - 1, max(1, int(probe["input"] * BUSY_SECONDS / took)))
            # Every later answer must equal this one (the loop's result depends only on n).
            started = time.perf_counter()
            answer = _post_json(f"{base}/run", {"plugin": "busy", "input": n})
            single = time.perf_counter() - started
            serial = _busy_seconds(base, n, answer, busy_repeats)
        port = _free_port()
        # One plugin may use both threads here (by default it gets all but one, see README "Fair sharing").
        with _server(
            _python_m_server(port, store, "--workers", "2", "--plugin-concurrency", "2", *busy_flags), port
        ) as base:
            parallel = _busy_seconds(base, n, answer, busy_repeats)
    what = f"{BUSY_REQUESTS} busy requests ({n:,} iterations, {single:.2f} s alone), {BUSY_CONCURRENCY} at a time"
    rows.append(Row("http busy", "python -m server --workers 1", serial, f"wall time of {what}"))
    rows.append(Row("http busy", "python -m server --workers 2", parallel, f"wall time of {what}"))
    return rows


# -- output ------------------------------------------------------------------------------------


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def ratio(rows: list[Row], group: str, top: str, bottom: str) -> str | None:
    found = {r.name: r.seconds for r in rows if r.group == group}
    a, b = found.get(top), found.get(bottom)
    if not a or not b:
        return None
    return f"{a / b:.3g}x"


RATIOS = [
    # (group, label, numerator row, denominator row)
    (
        "warm call",
        "binding / C floor",
        "binding: Function.__call__, interpreter",
        "C floor: WasmEdge C API, interpreter",
    ),
    ("warm call", "wasmtime / binding", "wasmtime-py: Func.__call__", "binding: Function.__call__, interpreter"),
    (
        "warm call",
        "binding AOT / C floor AOT",
        "binding: Function.__call__, AOT .so",
        "C floor: WasmEdge C API, AOT .so",
    ),
    (
        "warm call",
        "C floor AOT / C floor interpreter",
        "C floor: WasmEdge C API, AOT .so",
        "C floor: WasmEdge C API, interpreter",
    ),
    (
        "warm call",
        "wasmtime / Plugin.execute (target >= 10)",
        "wasmtime-py: Func.__call__",
        "Plugin.execute (default limits: timeout, guard)",
    ),
    (
        "warm call",
        "Plugin.execute / C timed call (target <= 2)",
        "Plugin.execute (default limits: timeout, guard)",
        "C floor: timed call (the binding's watchdog), AOT .so",
    ),
    (
        "lifecycle",
        "run_plugin / C floor AOT (target <= 1.5)",
        "run_plugin(module=cached): init/process/cleanup",
        "C floor: WasmEdge C API, AOT .so",
    ),
    (
        "warm call",
        "Plugin.execute / binding",
        "Plugin.execute (default limits: timeout, guard)",
        "binding: Function.__call__, interpreter",
    ),
    ("lifecycle", "binding / C floor", "binding: Instance + 3 calls + close", "C floor: WasmEdge C API, interpreter"),
    (
        "lifecycle",
        "wasmtime / binding",
        "wasmtime-py: Store + Instance + 3 calls",
        "binding: Instance + 3 calls + close",
    ),
    (
        "lifecycle",
        "run_plugin cycle / binding",
        "run_plugin(module=cached): init/process/cleanup",
        "binding: Instance + 3 calls + close",
    ),
    ("compute", "interpreter / AOT", "WasmEdge interpreter", "WasmEdge AOT + timeout: deadline checks (the default)"),
    (
        "compute",
        "AOT + timeout / native C (target <= 1.5)",
        "WasmEdge AOT + timeout: deadline checks (the default)",
        f"native C: gcc -O2, fib({FIB_N})",
    ),
    (
        "compute",
        "AOT + timeout, before / native C",
        "WasmEdge AOT + timeout: engine_interrupts=True (before)",
        f"native C: gcc -O2, fib({FIB_N})",
    ),
    (
        "compute",
        "AOT + timeout + guard / native C (target <= 1.5)",
        "WasmEdge AOT + timeout + stack guard (Plugin default)",
        f"native C: gcc -O2, fib({FIB_N})",
    ),
    (
        "compute",
        "AOT + timeout + guard, before / native C",
        "same, engine_interrupts=True (before)",
        f"native C: gcc -O2, fib({FIB_N})",
    ),
    (
        "compute",
        "AOT non-interruptible / native C",
        "WasmEdge AOT, interruptible=False",
        f"native C: gcc -O2, fib({FIB_N})",
    ),
    (
        "compute",
        "AOT interruptible / non-interruptible",
        "WasmEdge AOT + timeout: deadline checks (the default)",
        "WasmEdge AOT, interruptible=False",
    ),
    (
        "compute",
        "AOT + fuel / AOT",
        "WasmEdge AOT + cost measuring (fuel)",
        "WasmEdge AOT + timeout: deadline checks (the default)",
    ),
    ("compute", "wasmtime / AOT", "wasmtime-py (Cranelift)", "WasmEdge AOT + timeout: deadline checks (the default)"),
    ("compute", "interpreter + fuel / interpreter", "WasmEdge interpreter + fuel", "WasmEdge interpreter"),
    (
        "load",
        "cold compile / cache hit (new AotCache)",
        "cold AOT compile (plugin_abi.wasm -> .so, cached)",
        "AOT cache hit, new AotCache (key + sha256 verify)",
    ),
    (
        "load",
        "cold compile / cache hit (same AotCache)",
        "cold AOT compile (plugin_abi.wasm -> .so, cached)",
        "AOT cache hit, same AotCache (key + stat)",
    ),
    # time per request bare / time per request /run = throughput /run ÷ throughput bare
    ("http", "/run ÷ bare aiohttp, throughput (target >= 0.6)", f"{BARE}: /run hello", f"{SERVICE}: /run hello"),
    (
        "http",
        "400 ÷ bare aiohttp's 400, throughput (target >= 0.7)",
        f"{BARE}: 400 invalid JSON",
        f"{SERVICE}: 400 invalid JSON",
    ),
    (
        "http",
        "404 ÷ bare aiohttp's 404, throughput (target >= 0.7)",
        f"{BARE}: 404 unknown plugin",
        f"{SERVICE}: 404 unknown plugin",
    ),
    (
        "http",
        "/run hello ÷ the Go original's REFERENCE 3,333 req/s, throughput (target >= 1)",
        f"{GO_ORIGINAL}: /run hello",
        f"{SERVICE}: /run hello",
    ),
    (
        "http",
        "uvloop ÷ asyncio's loop, /run hello throughput",
        f"{SERVICE_ASYNCIO}: /run hello",
        f"{SERVICE}: /run hello",
    ),
    (
        "http",
        "uvloop ÷ asyncio's loop, 400 throughput",
        f"{SERVICE_ASYNCIO}: 400 invalid JSON",
        f"{SERVICE}: 400 invalid JSON",
    ),
    (
        "http",
        "service without the run ÷ bare aiohttp, throughput",
        f"{BARE}: /run hello",
        "python -m server, the plugin's run taken out: /run hello",
    ),
    ("http", "gunicorn -w 2 ÷ one process, throughput", f"{SERVICE}: /run hello", "gunicorn -w 2: /run hello"),
    (
        "http busy",
        "--workers 2 speed-up: workers 1 / workers 2 (target >= 1.8)",
        "python -m server --workers 1",
        "python -m server --workers 2",
    ),
]


def print_table(rows: list[Row], header: str) -> None:
    print(header)
    name_width = max(len(r.name) for r in rows)
    print(f"{'group':<10} {'variant':<{name_width}} {'time/op':>10} {'vs 1st':>8}  note")
    print("-" * (name_width + 40))
    baseline: dict[str, float | None] = {}
    for row in rows:
        base = baseline.setdefault(row.group, row.seconds)
        relative = f"{row.seconds / base:.3g}x" if row.seconds and base else ""
        print(f"{row.group:<10} {row.name:<{name_width}} {fmt_time(row.seconds):>10} {relative:>8}  {row.note}")
    print()
    print("ratios (time / time; > 1 means the first is slower):")
    for group, label, top, bottom in RATIOS:
        value = ratio(rows, group, top, bottom)
        if value:
            print(f"  {group:<10} {label} = {value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke test, noisier)")
    options = parser.parse_args()
    scale = 0.1 if options.quick else 1.0
    started = time.perf_counter()
    built = build()
    cache = AotCache(BUILD / "aot-cache")
    load_average = os.getloadavg()[0]
    rows = (
        warm_and_lifecycle_rows(built, cache, scale)
        + compute_rows(built, cache, scale)
        + load_rows(cache, scale)
        + http_rows(scale)
    )
    header = (
        f"WasmEdge {w.version()} · wasmtime-py {_wasmtime_version()} · Python {platform.python_version()} · "
        f"{os.cpu_count()} CPUs · load average {load_average:.2f} at start · best of several runs per row"
    )
    print_table(rows, header)
    print(f"\n(bench took {time.perf_counter() - started:.0f} s)")
    return 0


def _wasmtime_version() -> str:
    if wasmtime is None:
        return "not installed"
    try:
        from importlib.metadata import version

        return version("wasmtime")
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
