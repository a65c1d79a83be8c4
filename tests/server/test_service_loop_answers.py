"""What needs no plugin is answered on the event loop (issue 14): a malformed request (400), an
unknown plugin (404), a wrong method (405) and a body over the limit (413) never wait for a worker
thread, and a flood of unknown names costs one scan of the store per batch, not a thread hop per
request -- while a plugin created a moment ago is still found at once."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from typing import Any, Callable, TypeVar

from support.server import wait_until

from server.app import POOL
from server.registry import Registry

T = TypeVar("T")


async def timed(request) -> tuple[int, float]:
    started = time.monotonic()
    response = await request
    await response.read()
    return response.status, time.monotonic() - started


async def test_no_plugin_answers_while_the_only_worker_is_busy_and_nothing_may_queue(make_client, store, busy):
    store.add("busy", "busy")
    # One worker, no queue: a request that needed a thread now would be refused (503), not answered.
    client = await make_client(workers=1, queue=0, plugin_queue=0, max_body=1024, timeout_ms=20_000)
    running = asyncio.ensure_future(client.post("/run", json={"plugin": "busy", "input": busy * 6}))
    try:
        await wait_until(lambda: client.app[POOL].running == 1)
        answers = [
            await timed(client.post("/run", data=b'{"plugin": "hello", "input": ')),
            await timed(client.post("/run", json={"plugin": "no_such_plugin", "input": 1})),
            await timed(client.post("/run", json={"plugin": "../etc", "input": 1})),
            await timed(client.get("/run")),
            await timed(client.post("/run", data=b"x" * 2048)),
        ]
        assert client.app[POOL].running == 1  # still the busy run, which is not done yet
        assert not running.done()
    finally:
        response = await running
    assert response.status == 200
    assert [status for status, _ in answers] == [400, 404, 400, 405, 413]
    assert max(took for _, took in answers) < 0.5, answers


async def test_a_flood_of_unknown_names_scans_the_store_once_per_batch(make_client, store, monkeypatch):
    calls: Counter[str] = Counter()
    for method in ("_names_in_store", "_identity"):  # the store's listing; one plugin's files
        monkeypatch.setattr(Registry, method, counted(calls, method, getattr(Registry, method)))
    client = await make_client()
    requests = [client.post("/run", json={"plugin": f"unknown{i}", "input": 1}) for i in range(50)]
    statuses = [response.status for response in await asyncio.gather(*requests)]
    assert statuses == [404] * 50
    # One scan per batch of requests that missed (50 without batching), and no per-name stat.
    assert 1 <= calls["_names_in_store"] < 10 and calls["_identity"] == 0, calls


def counted(calls: Counter[str], name: str, method: Callable[..., T]) -> Callable[..., T]:
    def count(*args: Any, **kwargs: Any) -> T:
        calls[name] += 1
        return method(*args, **kwargs)

    return count


async def test_a_plugin_created_after_a_404_is_found_by_the_next_request(make_client, store):
    client = await make_client()
    for round in range(3):
        response = await client.post("/run", json={"plugin": "late", "input": round})
        assert response.status == 404, await response.text()
        store.add("late", "hello")
        response = await client.post("/run", json={"plugin": "late", "input": round})
        assert (response.status, await response.json()) == (200, {"output": 2 * round + 1})
        shutil.rmtree(store.root / "late")
