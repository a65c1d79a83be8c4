"""Runaways the engine cannot stop, in a real ``python -m server`` process: a loop with no engine
timeout (``timeout_ms = 0``, allowed by ``--allow-unlimited-timeout``) and a WASI plugin asleep in
a host call. Neither costs a worker for good, and SIGTERM still ends the process within
``--grace`` + 1 s. (Threads that never return would spin on in a test process: hence real ones.)"""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import pytest
from support.server import clean_env, get, post, server_command

pytestmark = pytest.mark.slow  # processes, compiles or long property runs: `make test-fast` skips them

LOOP = "timeout_ms = 0\n"  # no engine timeout: only the process's end stops it
WASI = "wasi = true\n"
NEVER = 20_000  # ms the sleeper sleeps: longer than any test


def start_server(spawn, store, hostile_dir, *flags: str):
    store.add("loop", hostile_dir / "runaway_loop" / "runaway_loop.wasm", manifest=LOOP)
    store.add("sleep", "sleep", manifest=WASI)
    process, lines = spawn(
        server_command(store.root, "--workers", "2", "--allow-unlimited-timeout", *flags),
        clean_env(),
    )
    base = lines.wait_for(r"serving on (http://[\d.]+:\d+)").group(1)
    assert get(f"{base}/plugins")[0] == 200  # every plugin loaded (compiled) before the clock matters
    return process, lines, base


def in_background(url: str, payload: dict, answers: list) -> threading.Thread:
    thread = threading.Thread(target=lambda: answers.append(post(url, payload, timeout=30)), daemon=True)
    thread.start()
    return thread


def test_runaways_do_not_take_the_workers_for_good(spawn, store, hostile_dir):
    process, lines, base = start_server(spawn, store, hostile_dir, "--timeout-ms", "300")
    started = time.monotonic()
    answers: list = []
    runaways = [
        in_background(f"{base}/run", {"plugin": plugin, "input": NEVER}, answers) for plugin in ("loop", "sleep")
    ]
    for thread in runaways:
        thread.join(timeout=5)
    assert [status for status, _ in answers] == [504, 504]

    # Both workers are held by calls that will not return; a second past their deadline both
    # threads are replaced, and other plugins are served again.
    assert post(f"{base}/run", {"plugin": "hello", "input": 21}, timeout=5) == (200, {"output": 43})
    assert time.monotonic() - started < 4
    # hello needs only one replaced thread: the second run may be abandoned a moment later.
    deadline = time.monotonic() + 2
    while get(f"{base}/healthz")[1]["abandoned"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert get(f"{base}/healthz")[1]["abandoned"] == 2
    status, body = post(f"{base}/run", {"plugin": "loop", "input": 1})
    assert status == 503 and "did not stop at their deadline" in body["error"]  # its share stays taken
    lines.wait_for(r"plugin loop: a run still going 1 s past its deadline is abandoned")

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=5) == 0


def test_sigterm_with_calls_the_engine_cannot_stop_exits_within_the_grace(spawn, store, hostile_dir):
    grace = 2.0
    process, lines, base = start_server(spawn, store, hostile_dir, "--grace", str(grace))  # timeout: 1000 ms
    answers: list = []
    requests = [
        in_background(f"{base}/run", {"plugin": plugin, "input": NEVER}, answers) for plugin in ("loop", "sleep")
    ]
    deadline = time.monotonic() + 10
    while get(f"{base}/healthz")[1]["in_flight"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)

    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=grace + 5) == 0
    assert time.monotonic() - signalled < grace + 1
    for request in requests:
        request.join(timeout=1)
    assert [status for status, _ in answers] == [504, 504]  # answered before the exit
    lines.wait_for(r"stopped, leaving 2 plugin run\(s\) on their threads")


def listing(base: str) -> None:
    with contextlib.suppress(OSError):  # the connection closes unanswered: the server exits first
        get(f"{base}/plugins", timeout=30)


def test_sigterm_exits_within_the_grace_whatever_hangs(spawn, store):
    """A thread outside the pool that does not return -- here GET /plugins, instantiating a
    plugin whose start function sleeps -- does not hold the exit past the grace + 1 s either (if
    it would, the last resort cuts the shutdown short: exit status 1)."""
    grace = 1.0
    store.add("sleep_start", "sleep_start", manifest=WASI)
    process, lines = spawn(
        server_command(store.root, "--grace", str(grace)),
        clean_env(),
    )
    base = lines.wait_for(r"serving on (http://[\d.]+:\d+)").group(1)
    threading.Thread(target=listing, args=(base,), daemon=True).start()
    lines.wait_for(r"loaded plugin sleep_start")
    time.sleep(0.2)  # now asleep in its start function

    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=grace + 5) in (0, 1)
    assert time.monotonic() - signalled < grace + 1
