"""Real processes: ``python -m server`` and gunicorn with aiohttp's worker, each on a free port,
one request, then SIGTERM and exit status 0 (in-flight requests finish first)."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from support.server import clean_env, free_port, get, gunicorn_command, post, server_command

pytestmark = pytest.mark.slow  # processes, compiles or long property runs: `make test-fast` skips them

README_REQUEST = {"plugin": "hello", "input": 21}


def test_python_m_server_serves_then_stops_on_sigterm(spawn, store):
    process, lines = spawn(server_command(store.root, "--workers", "2"), clean_env())
    match = lines.wait_for(r"serving on (http://127\.0\.0\.1:\d+) from local plugin store")
    assert str(store.root) in match.string  # the line names the store directory
    assert "uvloop event loop" in match.string  # the default when installed (the test extra has it)
    base = match.group(1)
    assert post(f"{base}/run", README_REQUEST) == (200, {"output": 43})
    lines.wait_for(r'"POST /run HTTP/1\.1" 200')  # aiohttp's access log, through logging

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    lines.wait_for(r"stopped")


def test_fluid_store_from_environment_and_sigint(spawn, store):
    """The original's switch: PLUGIN_STORE=fluid serves FLUID_MOUNT_PATH; Ctrl-C also stops cleanly."""
    process, lines = spawn(
        server_command(None),
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
        server_command(store.root, "--timeout-ms", "30000", "--grace", "20"),
        clean_env(),
    )
    base = lines.wait_for(r"serving on (http://[\d.]+:\d+)").group(1)
    answer: list[tuple[int, dict]] = []
    request = threading.Thread(
        target=lambda: answer.append(post(f"{base}/run", {"plugin": "busy", "input": min(2**31 - 1, busy * 2)}))
    )
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


def test_gunicorn_with_aiohttp_worker(spawn, store):
    port = free_port()
    process, lines = spawn(
        gunicorn_command(port, 2, "--graceful-timeout", "5"),
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
