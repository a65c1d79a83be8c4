"""Logs a plugin cannot flood or forge (issue 12): host_log is capped per call into the plugin
(messages and bytes, with one line saying what was dropped), control characters are escaped, and
every line names the plugin; a WASI plugin's stdout and stderr are routed to the log, escaped
and rate-limited, and its stdin is empty."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from support import REPO
from support.server import Lines, clean_env, free_port, get, gunicorn_command, post

from wasmedge_py.plugin import LOG_MAX_BYTES_PER_CALL, LOG_MAX_MESSAGE_BYTES, LOG_MAX_MESSAGES_PER_CALL

pytestmark = pytest.mark.slow  # processes, compiles or long property runs: `make test-fast` skips them

FORGED = 55  # bytes of each message of log_flood's process(n > 0)


async def post_run(client, payload):
    return await client.post("/run", data=json.dumps(payload), headers={"Content-Type": "application/json"})


async def flood_messages(caplog, cleanups: int) -> list[str]:
    """The plugin's log lines, once ``cleanups`` cleanups (run after the answer) have logged."""
    deadline = time.monotonic() + 5
    while True:
        messages = [r.getMessage() for r in caplog.records if r.name == "wasmedge_py.plugin.flood"]
        if sum(m.endswith(": cleaned up") for m in messages) >= cleanups or time.monotonic() > deadline:
            return messages
        await asyncio.sleep(0.02)


async def test_host_log_flood_is_capped_escaped_and_named(client, store, caplog):
    store.add("flood", "log_flood")
    caplog.set_level(logging.INFO, logger="wasmedge_py.plugin")
    response = await post_run(client, {"plugin": "flood", "input": 20_000})
    assert response.status == 200 and await response.json() == {"output": 20_000}
    messages = await flood_messages(caplog, 1)

    assert all(m.startswith("plugin flood: ") for m in messages), messages[:3]
    assert not [m for m in messages if any(c in m for c in "\n\r\x1b")]  # nothing can forge a line
    forged = [m for m in messages if "forged line" in m]
    # init's one message (its 2 GiB claim cut to the message limit) + process's first 100
    assert len(forged) == 1 + LOG_MAX_MESSAGES_PER_CALL
    assert forged[1] == r"plugin flood: hi\x0a2026-01-01 00:00:00,000 INFO server: forged line\x1b[2J"
    assert forged[0].endswith(f"[... {2**31 - 1 - LOG_MAX_MESSAGE_BYTES} more bytes not shown]")
    dropped = 20_000 - LOG_MAX_MESSAGES_PER_CALL
    assert [m for m in messages if "dropped" in m] == [
        f"plugin flood: {dropped} more log messages ({dropped * FORGED} bytes) dropped: over the limit of "
        f"{LOG_MAX_MESSAGES_PER_CALL} messages and {LOG_MAX_BYTES_PER_CALL} bytes per call"
    ]
    assert messages[-1] == "plugin flood: cleaned up"  # the next call has a budget of its own


async def test_host_log_bytes_are_capped_per_call_and_per_instance(make_client, store, caplog):
    """Two requests at once each get the whole byte budget: it belongs to the instance."""
    store.add("flood", "log_flood")
    client = await make_client(workers=2)
    caplog.set_level(logging.INFO, logger="wasmedge_py.plugin")
    responses = await asyncio.gather(*(post_run(client, {"plugin": "flood", "input": -1000}) for _ in range(2)))
    assert [r.status for r in responses] == [200, 200]
    messages = await flood_messages(caplog, 2)
    big = [m for m in messages if "forged line" in m and "more bytes not shown" not in m]
    per_call = LOG_MAX_BYTES_PER_CALL // LOG_MAX_MESSAGE_BYTES
    assert len(big) == 2 * per_call
    assert len([m for m in messages if f"{1000 - per_call} more log messages" in m]) == 2


# -- WASI stdio: a real server process, since it changes the process's file descriptors ----------


@pytest.mark.parametrize("entry_point", ["python -m server", "gunicorn", "gunicorn --preload"])
def test_wasi_output_is_routed_escaped_and_stdin_is_empty(store, entry_point):
    """A WASI plugin's stdout and stderr reach the log only as escaped, labelled lines, and its
    stdin is /dev/null, not what the operator's terminal (here, a pipe) holds."""
    store.add("wasi_stdio", "wasi_stdio", manifest="wasi = true\n")
    port = free_port()
    if entry_point.startswith("gunicorn"):  # --preload: the app is made before the fork
        args = gunicorn_command(port, 1, *entry_point.split()[1:])
    else:
        args = [sys.executable, "-m", "server", "--port", str(port)]
    process = subprocess.Popen(
        args,
        cwd=REPO,
        env=clean_env(WASMEDGE_PY_PLUGINS=str(store.root)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        process.stdin.write(b"operator secret\n")
        process.stdin.flush()
        lines = Lines(io.TextIOWrapper(process.stdout, encoding="utf-8", errors="replace", newline="\n"))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                get(f"{base}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "".join(lines.all)
                time.sleep(0.05)
        assert post(f"{base}/run", {"plugin": "wasi_stdio", "input": 0}) == (200, {"output": 0})  # read nothing
        for stream in ("stdout", "stderr"):
            lines.wait_for(rf"server\.plugin_stdio: WASI plugin {stream}: hello from WASI$", timeout=5)
            lines.wait_for(
                rf"server\.plugin_stdio: WASI plugin {stream}: 2026-01-01 00:00:00,000 INFO server: "
                r"forged by WASI\\x1b\[2J$",
                timeout=5,
            )
        assert not [line for line in lines.all if line.startswith("2026-01-01") or "\x1b" in line]
        lines.wait_for(r"server\.registry: loaded plugin wasi_stdio", timeout=5)  # our own log still flows
    finally:
        process.kill()
        process.wait()


def test_wasi_output_router_caps_lines_and_rate(caplog, monkeypatch):
    """The router behind fds 1 and 2, fed directly (its clock stopped): lines cut at the message
    limit, at most a second's worth of lines at once, then one line saying how many were dropped."""
    from server import stdio
    from server.stdio import STDIO_LINES_PER_SECOND, STDIO_LOGGER, _Router

    monkeypatch.setattr(stdio, "time", SimpleNamespace(monotonic=lambda: 1000.0))
    router = _Router({7: ("stdout", logging.INFO)}, logging.getLogger(STDIO_LOGGER))
    caplog.set_level(logging.INFO, logger=STDIO_LOGGER)
    router.feed(7, b"x" * (3 * LOG_MAX_MESSAGE_BYTES) + b"\nnext\x1b[2J\n")
    router.feed(7, b"partial, no newline yet")
    router.flush_partial(7)
    router.feed(7, b"flood\n" * 1000)
    router.reported -= 1  # a second has passed
    router.report_dropped()
    messages = [r.getMessage() for r in caplog.records]
    assert (
        messages[0] == f"WASI plugin stdout: {'x' * LOG_MAX_MESSAGE_BYTES} [... cut at {LOG_MAX_MESSAGE_BYTES} bytes]"
    )
    assert messages[1:3] == [r"WASI plugin stdout: next\x1b[2J", "WASI plugin stdout: partial, no newline yet"]
    floods = STDIO_LINES_PER_SECOND - 3
    assert messages[3:-1] == ["WASI plugin stdout: flood"] * floods
    assert messages[-1] == (
        f"WASI plugin output: {1000 - floods} lines ({(1000 - floods) * 5} bytes) dropped: "
        f"over the limit of {STDIO_LINES_PER_SECOND} lines a second"
    )
