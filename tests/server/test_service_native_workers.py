"""/run on the extension's native worker threads (wasmedge_py/native_workers.py): no Python thread
runs a plugin that needs no Python, and the pool's limits and fairness hold for such runs too."""

from __future__ import annotations

import asyncio
import threading

import pytest
from support.server import wait_until

from server.app import POOL
from wasmedge_py import native_workers

pytestmark = pytest.mark.skipif(not native_workers.AVAILABLE, reason="ABI mode: every run takes a Python thread")


def python_plugin_threads() -> list[str]:
    """The pool's Python threads (server/pool.py names them plugin-N)."""
    return [t.name for t in threading.enumerate() if t.name.startswith("plugin-")]


def start(client, plugin: str, x: int) -> asyncio.Future:
    return asyncio.ensure_future(client.post("/run", json={"plugin": plugin, "input": x}))


async def test_hello_runs_without_a_python_thread(make_client):
    client = await make_client(workers=4, queue=64)
    assert (await client.get("/plugins")).status == 200  # loaded: its runs can go native
    assert python_plugin_threads() == []
    answers = await asyncio.gather(*(start(client, "hello", i) for i in range(30)))  # 3 run, the rest wait
    assert [a.status for a in answers] == [200] * 30
    assert [(await a.json())["output"] for a in answers] == [2 * i + 1 for i in range(30)]
    assert python_plugin_threads() == []  # not one request took a Python thread
    assert native_workers.threads_started() >= 1
    await wait_until(lambda: client.app[POOL].running == 0)  # the cleanups, after the answers


async def test_a_failing_run_goes_on_on_a_python_thread_with_the_same_error(make_client, store):
    store.add("trap", "trap")
    store.add("cleanup_traps", "cleanup_traps")
    client = await make_client(workers=2)
    assert (await client.get("/plugins")).status == 200
    response = await client.post("/run", json={"plugin": "trap", "input": 1})
    assert response.status == 500
    assert "out of bounds memory access" in (await response.json())["error"]
    assert python_plugin_threads() != []  # the replay of the stopped run
    # Answered natively before its cleanup; the cleanup's trap is replayed on a Python thread.
    response = await client.post("/run", json={"plugin": "cleanup_traps", "input": 1})
    assert (response.status, await response.json()) == (200, {"output": 3})
    await wait_until(lambda: client.app[POOL].running == 0)


async def test_native_runs_keep_the_limits(make_client, store, busy):
    store.add("busy", "busy")
    client = await make_client(workers=1, queue=0, timeout_ms=30_000)
    assert (await client.get("/plugins")).status == 200
    pool = client.app[POOL]
    running = start(client, "busy", busy)
    await wait_until(lambda: pool.running == 1)
    refused = await client.post("/run", json={"plugin": "hello", "input": 1})
    assert refused.status == 503 and int(refused.headers["Retry-After"]) >= 1
    assert (await running).status == 200
    assert python_plugin_threads() == []
    # The answer comes before the plugin's cleanup: the slot is free once that has run too.
    await wait_until(lambda: pool.running == 0)
    assert (await client.post("/run", json={"plugin": "hello", "input": 1})).status == 200
