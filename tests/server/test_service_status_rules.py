"""One rule per failure (issue 12): past a deadline is 504 at whatever step, a trap 500, a
plugin's error code 422, and a cleanup that fails or loops after the answer keeps the answer."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest


async def post_run(client, payload):
    return await client.post("/run", data=json.dumps(payload), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("fixture", ["loop_start", "loop_initialize", "loop_abi_version"])
@pytest.mark.parametrize("plugin_timeout_ms", [None, 200])
@pytest.mark.slow
async def test_looping_load_step_is_504(make_client, store, fixture, plugin_timeout_ms):
    """Whether the engine stops the call (the plugin's own, shorter timeout_ms) or the request
    gives up first (the service's timeout), a load step past its deadline is 504."""
    manifest = None if plugin_timeout_ms is None else f"timeout_ms = {plugin_timeout_ms}\n"
    store.add("spin", fixture, manifest=manifest)
    client = await make_client(timeout_ms=300 if plugin_timeout_ms is None else 5000)
    response = await post_run(client, {"plugin": "spin", "input": 1})
    body = await response.json()
    assert response.status == 504, body
    assert body["error"].startswith("failed to load plugin: "), body


@pytest.mark.parametrize("x, status, body", [(5, 200, {"output": 6}), (-3, 422, None)])
@pytest.mark.slow
async def test_looping_cleanup_keeps_the_answer_and_sends_it_at_once(make_client, store, caplog, x, status, body):
    """The answer (a value or an error code) leaves when process() returned; the looping cleanup
    keeps its thread and slot until the engine stops it, and is logged."""
    store.add("spincleanup", "loop_cleanup")
    client = await make_client(timeout_ms=1000)
    caplog.set_level(logging.WARNING)
    started = time.perf_counter()
    response = await post_run(client, {"plugin": "spincleanup", "input": x})
    took = time.perf_counter() - started
    answer = await response.json()
    assert response.status == status, answer
    assert body is None or answer == body
    assert status != 422 or answer["code"] == -3
    assert took < 0.8, f"answered after {took:.2f} s: it waited for cleanup"
    assert (await (await client.get("/healthz")).json())["in_flight"] == 1  # cleanup still runs
    deadline = time.monotonic() + 5
    while not any("cleanup failed" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
        await asyncio.sleep(0.05)
    assert (await (await client.get("/healthz")).json())["in_flight"] == 0


async def test_bad_input_is_400_before_the_plugin_is_instantiated(make_client, store):
    """The module alone says the plugin speaks v1, so an input that is not an i32 is the client's
    error, answered before any instance is built: not the 504 of a start function that loops."""
    store.add("spin", "loop_start", manifest="timeout_ms = 200\n")
    client = await make_client(timeout_ms=5000)
    response = await post_run(client, {"plugin": "spin", "input": "21"})
    assert response.status == 400
    assert await response.json() == {"error": "input must be an integer"}
