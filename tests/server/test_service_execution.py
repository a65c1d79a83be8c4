"""The execution model: a bounded pool of threads, each running one isolated lifecycle with the GIL
released during the native call; 503 when the queue is full, 504 past the timeout."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from support.hostile import build
from support.server import wait_until

import server.runner
from server.app import POOL
from wasmedge_py.limits import DEFAULT_TIMEOUT_MS


def record_execute_spans(monkeypatch) -> list[tuple[float, float, str]]:
    """Wrap the runner's run_plugin to record (start, end, thread) of each lifecycle (one native
    call in API mode: _lifecycle.py)."""
    spans: list[tuple[float, float, str]] = []
    original = server.runner.run_plugin

    def run_plugin(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spans.append((start, time.perf_counter(), threading.current_thread().name))

    monkeypatch.setattr(server.runner, "run_plugin", run_plugin)
    return spans


@pytest.mark.slow
async def test_two_cpu_heavy_requests_overlap_in_wall_time(make_client, store, monkeypatch, busy):
    store.add("busy", "busy")
    client = await make_client(workers=2, plugin_concurrency=2, timeout_ms=30_000)  # one plugin may use both
    spans = record_execute_spans(monkeypatch)

    first, second = await asyncio.gather(
        client.post("/run", json={"plugin": "busy", "input": busy}),
        client.post("/run", json={"plugin": "busy", "input": busy + 1}),
    )
    assert first.status == second.status == 200
    await wait_until(lambda: len(spans) == 2)  # the answer comes before cleanup: the span ends after it
    (a_start, a_end, a_thread), (b_start, b_end, b_thread) = sorted(spans)
    assert a_thread != b_thread
    # Had the GIL been held during the native call, the second call could only have started
    # after the first returned. They must share most of their time instead.
    overlap = min(a_end, b_end) - max(a_start, b_start)
    assert overlap > 0.5 * min(a_end - a_start, b_end - b_start), spans


@pytest.mark.slow
async def test_healthz_is_not_queued_behind_plugin_work(make_client, store, busy):
    store.add("busy", "busy")
    client = await make_client(workers=1, queue=4, timeout_ms=30_000)
    pool = client.app[POOL]
    runs = [asyncio.ensure_future(client.post("/run", json={"plugin": "busy", "input": busy})) for _ in range(3)]
    await wait_until(lambda: pool.running == 1 and pool.waiting == 2)
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    # Answered while one run was executing and two were still waiting for the only thread.
    assert body["status"] == "ok" and body["in_flight"] == 1 and body["queued"] == 2
    assert not all(run.done() for run in runs)
    assert all(r.status == 200 for r in await asyncio.gather(*runs))


@pytest.mark.slow
async def test_full_queue_is_503_with_retry_after(make_client, store, busy):
    store.add("busy", "busy")
    client = await make_client(workers=1, queue=1, timeout_ms=30_000)
    pool = client.app[POOL]
    accepted = [asyncio.ensure_future(client.post("/run", json={"plugin": "busy", "input": busy})) for _ in range(2)]
    await wait_until(lambda: pool.running == 1 and pool.waiting == 1)

    refused = await client.post("/run", json={"plugin": "hello", "input": 1})
    assert refused.status == 503
    assert refused.content_type == "application/json"
    assert int(refused.headers["Retry-After"]) >= 1
    assert "busy" in (await refused.json())["error"]

    assert [r.status for r in await asyncio.gather(*accepted)] == [200, 200]
    await wait_until(lambda: pool.running == 0 and pool.waiting == 0)
    assert (await client.post("/run", json={"plugin": "hello", "input": 1})).status == 200


@pytest.mark.slow
async def test_run_past_the_timeout_is_504_and_the_thread_finishes_on_its_own(make_client, store):
    # The engine's own limit for this plugin (plugin.toml, allowed by the operator) is far longer
    # than the request's, so the request gives up first and the thread spins on until the engine
    # stops it at 800 ms.
    build("runaway_loop", store.root)
    (store.root / "runaway_loop" / "plugin.toml").write_text("timeout_ms = 800\n")
    client = await make_client(workers=1, queue=0, timeout_ms=100, allow_unlimited_timeout=True)
    pool = client.app[POOL]
    assert (await client.get("/plugins")).status == 200  # compiled before the clock matters
    started = time.perf_counter()
    response = await client.post("/run", json={"plugin": "runaway_loop", "input": 1})
    elapsed = time.perf_counter() - started
    assert response.status == 504, await response.text()
    assert (await response.json())["error"] == "failed to execute plugin: timed out after 100 ms"
    assert elapsed < 0.6
    # The thread still holds its slot (no other run can start) until its call ends.
    assert pool.running == 1
    assert (await client.post("/run", json={"plugin": "hello", "input": 1})).status == 503
    await wait_until(lambda: pool.running == 0)
    assert (await client.post("/run", json={"plugin": "hello", "input": 1})).status == 200


async def test_engine_stops_a_runaway_plugin_at_the_timeout(make_client, store):
    build("runaway_loop", store.root)
    client = await make_client(workers=1, queue=0, timeout_ms=200)
    pool = client.app[POOL]
    response = await client.post("/run", json={"plugin": "runaway_loop", "input": 1})
    assert response.status == 504
    assert "timed out" in (await response.json())["error"]
    await wait_until(lambda: pool.running == 0, timeout=2.0)  # stopped by the engine, not left spinning


@pytest.mark.slow
async def test_timeout_counts_from_start_of_run_not_from_arrival(make_client, store, busy):
    """Time spent queued is bounded by the queue, not charged to the plugin."""
    store.add("busy", "busy")
    client = await make_client(workers=1, queue=3, timeout_ms=30_000)
    assert (await client.post("/run", json={"plugin": "busy", "input": 1})).status == 200  # loads it
    one = time.perf_counter()
    assert (await client.post("/run", json={"plugin": "busy", "input": busy})).status == 200
    single = time.perf_counter() - one
    timeout_ms = max(200, int(single * 1000 * 2))
    client2 = await make_client(workers=1, queue=3, plugin_queue=3, timeout_ms=timeout_ms)
    started = time.perf_counter()
    results = await asyncio.gather(*(client2.post("/run", json={"plugin": "busy", "input": busy}) for _ in range(4)))
    # The last one waited about three runs before starting, longer than the timeout, and is
    # still not timed out: only its own run counts.
    assert [r.status for r in results] == [200] * 4
    assert time.perf_counter() - started > timeout_ms / 1000


@pytest.mark.slow
async def test_64_clients_times_50_requests(make_client):
    client = await make_client(workers=4, plugin_queue=64)  # the queue holds every client of the one plugin

    async def one_client(k: int) -> list[tuple[int, int, int]]:
        answers = []
        for i in range(50):
            x = k * 1000 + i
            response = await client.post("/run", json={"plugin": "hello", "input": x})
            answers.append((response.status, x, (await response.json()).get("output")))
        return answers

    started = time.perf_counter()
    results = [a for batch in await asyncio.gather(*(one_client(k) for k in range(64))) for a in batch]
    elapsed = time.perf_counter() - started
    assert len(results) == 64 * 50
    wrong = [(status, x, out) for status, x, out in results if status != 200 or out != 2 * x + 1]
    assert not wrong, wrong[:5]
    print(f"3200 requests in {elapsed:.2f}s")


@pytest.mark.slow
async def test_sixteen_runaway_requests_do_not_starve_other_plugins(make_client, store, hostile_dir):
    """With the default settings (2 workers, queue 64, 1000 ms), a flood of runaways to one plugin
    holds at most its share of the workers: health checks and another plugin's request are
    answered at once, not after the runaways queued in front of them (about 8 s with one FIFO)."""
    store.add("runaway", hostile_dir / "runaway_loop" / "runaway_loop.wasm")
    client = await make_client(workers=2, timeout_ms=DEFAULT_TIMEOUT_MS)
    pool = client.app[POOL]
    assert (await client.post("/run", json={"plugin": "hello", "input": 1})).status == 200  # loaded
    runaways = [asyncio.ensure_future(client.post("/run", json={"plugin": "runaway", "input": i})) for i in range(16)]
    await wait_until(lambda: pool.running >= 1 and pool.running + pool.waiting == 16)
    started = time.perf_counter()
    health = await client.get("/healthz")
    assert health.status == 200 and time.perf_counter() - started < 0.5
    started = time.perf_counter()
    normal = await client.post("/run", json={"plugin": "hello", "input": 21})
    assert await normal.json() == {"output": 43}
    assert time.perf_counter() - started < 0.5
    assert (await runaways[0]).status == 504
    for runaway in runaways[1:]:  # the others would take a second each on the plugin's one thread
        runaway.cancel()


@pytest.mark.slow
async def test_compiling_a_new_plugin_is_not_charged_to_its_timeout(make_client, store, tmp_path, monkeypatch):
    """The first request for a new version waits for its AOT compile (bounded by the compile
    limits), then gets its whole timeout for the run itself."""
    import wasmedge_py.compiler as compiler
    from wasmedge_py.compiler import AotCache

    cache = AotCache(tmp_path / "fresh-aot")  # nothing compiled yet
    monkeypatch.setattr(compiler, "_default_cache", cache)
    store.add("counter", "counter")
    client = await make_client(timeout_ms=50)
    started = time.perf_counter()
    response = await client.post("/run", json={"plugin": "counter", "input": 3})
    elapsed = time.perf_counter() - started
    assert response.status == 200, await response.text()
    assert (await response.json())["output"] == 3001
    assert cache.compiles == 1 and elapsed > 0.05  # the compile alone outlasted the timeout
