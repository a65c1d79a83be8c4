"""Real processes: ``python -m server`` and gunicorn with aiohttp's worker, each on a free port,
one request, then SIGTERM and exit status 0 (in-flight requests finish first)."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import gunicorn
import pytest

from conftest import REPO

README_REQUEST = {"plugin": "hello", "input": 21}


def clean_env(**extra: str) -> dict[str, str]:
    # The test session's AOT cache stays: the servers compile into it, not into ~/.cache.
    env = {k: v for k, v in os.environ.items()
           if (not k.startswith("WASMEDGE_PY_") or k == "WASMEDGE_PY_CACHE_DIR") and k != "PLUGIN_STORE"}
    env.update(extra)
    return env


class Lines:
    """Collects a process's output lines on a thread, so tests can wait for one without blocking."""

    def __init__(self, stream) -> None:
        self.all: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._queue.put(line)

    def wait_for(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.all:
                match = re.search(pattern, line)
                if match:
                    return match
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.all)}")
            try:
                self.all.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                pass


def post(url: str, payload: dict, timeout: float = 10.0) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def get(url: str, timeout: float = 5.0) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, json.loads(response.read())


@pytest.fixture
def spawn():
    """Start a process (stderr merged into stdout); kill whatever a failing test left running."""
    started: list[subprocess.Popen] = []

    def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, Lines]:
        process = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        started.append(process)
        return process, Lines(process.stdout)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_python_m_server_serves_then_stops_on_sigterm(spawn, store):
    process, lines = spawn(
        [sys.executable, "-m", "server", "--port", "0", "--plugins", str(store.root), "--workers", "2"], clean_env()
    )
    match = lines.wait_for(r"serving on (http://127\.0\.0\.1:\d+) from local plugin store")
    assert str(store.root) in match.string  # the line names the store directory
    base = match.group(1)
    assert post(f"{base}/run", README_REQUEST) == (200, {"output": 43})
    lines.wait_for(r'"POST /run HTTP/1\.1" 200')  # aiohttp's access log, through logging

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    lines.wait_for(r"stopped")


def test_fluid_store_from_environment_and_sigint(spawn, store):
    """The original's switch: PLUGIN_STORE=fluid serves FLUID_MOUNT_PATH; Ctrl-C also stops cleanly."""
    process, lines = spawn(
        [sys.executable, "-m", "server", "--port", "0"],
        clean_env(PLUGIN_STORE="fluid", FLUID_MOUNT_PATH=str(store.root)),
    )
    match = lines.wait_for(r"serving on (http://[\d.]+:\d+) from fluid plugin store")
    assert str(store.root) in match.string
    assert post(f"{match.group(1)}/run", README_REQUEST) == (200, {"output": 43})
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0


def test_sigterm_lets_the_in_flight_request_finish(spawn, store, busy):
    store.add("busy", "busy")
    process, lines = spawn(
        [sys.executable, "-m", "server", "--port", "0", "--plugins", str(store.root), "--timeout-ms", "30000",
         "--grace", "20"],
        clean_env(),
    )
    base = lines.wait_for(r"serving on (http://[\d.]+:\d+)").group(1)
    answer: list[tuple[int, dict]] = []
    request = threading.Thread(target=lambda: answer.append(post(f"{base}/run", {"plugin": "busy", "input": min(2**31 - 1, busy * 2)})))
    request.start()
    deadline = time.monotonic() + 10
    while get(f"{base}/healthz")[1]["in_flight"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)

    process.send_signal(signal.SIGTERM)
    request.join(timeout=30)
    assert answer and answer[0][0] == 200, answer
    assert process.wait(timeout=20) == 0
    lines.wait_for("shutting down")


# gunicorn 27 opens a control socket in $HOME by default; two test runs at once would share it.
NO_CONTROL_SOCKET = ["--no-control-socket"] if gunicorn.version_info >= (27,) else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_with_aiohttp_worker(spawn, store):
    port = free_port()
    process, lines = spawn(
        [sys.executable, "-m", "gunicorn", "server.app:make_app()", "-k", "aiohttp.GunicornWebWorker",
         "-w", "2", "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5", *NO_CONTROL_SOCKET],
        clean_env(WASMEDGE_PY_PLUGINS=str(store.root), WASMEDGE_PY_WORKERS="2"),
    )
    lines.wait_for(r"serving plugins from local plugin store")  # configured from the environment
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            if get(f"{base}/healthz")[0] == 200:
                break
        except OSError:
            assert time.monotonic() < deadline, "".join(lines.all)
            time.sleep(0.05)
    assert post(f"{base}/run", README_REQUEST) == (200, {"output": 43})

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
