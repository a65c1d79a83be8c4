"""Fair sharing of the workers: each plugin has its own share of the threads and of the queue,
taken round robin; the service's timeout caps the engine's; a run the engine cannot stop is
abandoned to a thread of its own, and its plugin keeps paying for it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from support.server import wait_until

import server.runner
from server.app import POOL
from wasmedge_py import PluginLimits, native_workers
from wasmedge_py.limits import ManifestError

WASI = "wasi = true\n"


def start(client, plugin: str, x: int) -> asyncio.Future:
    return asyncio.ensure_future(client.post("/run", json={"plugin": plugin, "input": x}))


@pytest.mark.slow
async def test_a_plugin_over_its_share_gets_503_and_the_others_do_not(make_client, store, hostile_dir):
    store.add("runaway", hostile_dir / "runaway_loop" / "runaway_loop.wasm")
    client = await make_client(workers=2, queue=4, timeout_ms=1000)  # per plugin: 1 thread, 2 waiting
    pool = client.app[POOL]
    assert (pool.plugin_concurrency, pool.plugin_queue) == (1, 2)
    assert (await client.post("/run", json={"plugin": "hello", "input": 1})).status == 200  # loaded
    accepted = [start(client, "runaway", i) for i in range(3)]
    await wait_until(lambda: pool.running == 1 and pool.waiting == 2)

    refused = await client.post("/run", json={"plugin": "runaway", "input": 9})
    assert refused.status == 503 and int(refused.headers["Retry-After"]) >= 1
    assert (await refused.json())["error"].startswith("plugin runaway busy: 1 running and 2 waiting")
    started = time.perf_counter()
    assert await (await client.post("/run", json={"plugin": "hello", "input": 21})).json() == {"output": 43}
    assert time.perf_counter() - started < 0.5  # the thread left to the other plugins
    assert (await accepted[0]).status == 504
    for request in accepted[1:]:
        request.cancel()


async def test_plugin_toml_sets_its_own_share(make_client, store, busy):
    store.add("busy", "busy", manifest="max_concurrency = 2\nmax_queue = 0\n")
    client = await make_client(workers=2, timeout_ms=30_000)
    pool = client.app[POOL]
    assert (await client.post("/run", json={"plugin": "busy", "input": 1})).status == 200  # loads plugin.toml
    await wait_until(lambda: pool.running == 0)  # its cleanup, after the answer, is done too
    both = [start(client, "busy", busy) for _ in range(2)]
    await wait_until(lambda: pool.running == 2)  # both threads, not the default one
    refused = await client.post("/run", json={"plugin": "busy", "input": 1})
    assert refused.status == 503 and "plugin busy busy" in (await refused.json())["error"]  # no queue
    assert [r.status for r in await asyncio.gather(*both)] == [200, 200]
    listing = await (await client.get("/plugins")).json()
    limits = next(p["limits"] for p in listing["plugins"] if p["name"] == "busy")
    assert (limits["max_concurrency"], limits["max_queue"]) == (2, 0)


@pytest.mark.parametrize(
    "text, message",
    [
        ("max_concurrency = 0", "max_concurrency must be in 1..100000, got 0"),
        ("max_queue = -1", "max_queue must be in 0..100000, got -1"),
        ("max_queue = true", "max_queue must be an int in 0..100000, not bool"),
    ],
)
def test_plugin_toml_share_is_checked(tmp_path, text, message):
    manifest = tmp_path / "plugin.toml"
    manifest.write_text(text)
    with pytest.raises(ManifestError, match="invalid .*plugin.toml") as info:
        PluginLimits().with_manifest(manifest)
    assert message in str(info.value)


async def test_waiting_plugins_take_turns(make_client, store, busy, monkeypatch):
    """Round robin: a backlog of one plugin does not run before a request of another that came later."""
    store.add("first", "busy")
    store.add("second", "busy")
    client = await make_client(workers=1, queue=8, timeout_ms=30_000)
    order: list[str] = []
    original = server.runner.run_plugin

    def run_plugin(path, *args, **kwargs):  # each run, as its worker starts it (natively or not)
        order.append(Path(path).stem)
        return original(path, *args, **kwargs)

    native_start = native_workers.NativeRequest.start

    def start_native(request):  # a run on the extension's native threads
        order.append(Path(request.path).stem)
        native_start(request)

    monkeypatch.setattr(server.runner, "run_plugin", run_plugin)
    monkeypatch.setattr(native_workers.NativeRequest, "start", start_native)
    pool = client.app[POOL]
    runs = [start(client, "first", busy)]  # holds the only thread while the others queue
    await wait_until(lambda: pool.running == 1)
    runs += [start(client, "first", busy // 10) for _ in range(3)]
    await wait_until(lambda: pool.waiting == 3)
    runs += [start(client, "second", busy // 10) for _ in range(2)]
    await wait_until(lambda: pool.waiting == 5)
    assert [r.status for r in await asyncio.gather(*runs)] == [200] * 6
    assert order == ["first", "first", "second", "first", "second", "first"]  # FIFO: 4 x first, then second


async def test_timeout_ms_0_is_capped_at_the_service_timeout(make_client, store, hostile_dir):
    """By default a plugin.toml cannot switch the engine's timeout off: the engine stops the loop
    at --timeout-ms, so its thread is free again (not spinning for ever after the 504)."""
    store.add("runaway", hostile_dir / "runaway_loop" / "runaway_loop.wasm", manifest="timeout_ms = 0\n")
    client = await make_client(workers=2, timeout_ms=300)
    pool = client.app[POOL]
    assert (await client.post("/run", json={"plugin": "runaway", "input": 1})).status == 504
    await wait_until(lambda: pool.running == 0, timeout=1.0)
    listing = await (await client.get("/plugins")).json()
    assert next(p for p in listing["plugins"] if p["name"] == "runaway")["limits"]["timeout_ms"] == 300


@pytest.mark.slow
async def test_a_call_the_engine_cannot_stop_is_abandoned_and_its_thread_replaced(make_client, store):
    """Two plugins asleep in WASI's poll_oneoff hold both workers past their deadline; a second
    later both threads are replaced, so other plugins run again, while each sleeper's own share
    stays taken (503) until its call returns."""
    for name in ("sleep_a", "sleep_b"):
        store.add(name, "sleep", manifest=WASI)
    client = await make_client(workers=2, timeout_ms=300)
    pool = client.app[POOL]
    assert (await client.get("/plugins")).status == 200  # every plugin compiled before the clock matters
    sleepers = [start(client, name, 4000) for name in ("sleep_a", "sleep_b")]
    assert [r.status for r in await asyncio.gather(*sleepers)] == [504, 504]
    timed_out = time.perf_counter()
    normal = await client.post("/run", json={"plugin": "hello", "input": 21})
    assert await normal.json() == {"output": 43}
    assert time.perf_counter() - timed_out < 2.5  # long before a sleeper's call returns (3.7 s later)
    assert (await (await client.get("/healthz")).json())["abandoned"] == 2
    again = await client.post("/run", json={"plugin": "sleep_a", "input": 1})
    assert again.status == 503 and "did not stop at their deadline" in (await again.json())["error"]

    await wait_until(lambda: pool.abandoned == 0 and pool.running == 0, timeout=5.0)  # the calls returned
    assert (await client.post("/run", json={"plugin": "sleep_a", "input": 1})).status == 200
