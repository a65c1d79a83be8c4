"""The registry: validated modules cached by file identity, reloaded on change without a restart,
safe under concurrent requests; a store that cannot be read is 503, not 404."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from support.server import wait_until

from server.app import REGISTRY
from server.registry import InvalidPluginName, PluginNotFound, Registry, StoreUnavailable
from wasmedge_py import PluginLoadError


async def output(client, plugin: str, x: int):
    response = await client.post("/run", json={"plugin": plugin, "input": x})
    return response.status, await response.json()


async def test_replacing_a_plugin_takes_effect_on_the_next_request(client, store):
    assert await output(client, "hello", 21) == (200, {"output": 43})
    store.add("hello", "triple")  # atomic rename over the old file
    assert await output(client, "hello", 21) == (200, {"output": 63})
    store.add("hello", "hello")
    assert await output(client, "hello", 21) == (200, {"output": 43})


async def test_in_place_rewrite_is_picked_up(client, store, wat):
    assert await output(client, "hello", 2) == (200, {"output": 5})
    store.path("hello").write_bytes(wat("triple").read_bytes())  # not atomic, new size/mtime
    assert await output(client, "hello", 2) == (200, {"output": 6})


async def test_plugin_added_after_start_is_found(client, store):
    assert (await output(client, "later", 4))[0] == 404
    store.add("later", "triple")
    assert await output(client, "later", 4) == (200, {"output": 12})


async def test_removed_plugin_is_404(client, store):
    assert (await output(client, "hello", 1))[0] == 200
    store.path("hello").unlink()
    assert await output(client, "hello", 1) == (404, {"error": "plugin not found: hello"})


async def test_broken_replacement_fails_only_that_plugin(client, store):
    store.add("other", "triple")
    assert (await output(client, "hello", 1))[0] == 200
    store.add("hello", b"\x00asm\x01\x00\x00\x00garbage")
    for _ in range(3):
        status, body = await output(client, "hello", 1)
        assert status == 500 and body["error"].startswith("failed to load plugin: ")
        assert await output(client, "other", 1) == (200, {"output": 3})
    store.add("hello", "hello")  # fixed again: no restart needed
    assert await output(client, "hello", 1) == (200, {"output": 3})


async def test_versions_are_loaded_once_not_per_request(client, store):
    for _ in range(5):
        await output(client, "hello", 1)
    store.add("broken", b"not wasm at all")
    for _ in range(5):
        await output(client, "broken", 1)
    text = await (await client.get("/metrics")).text()
    assert 'wasmedge_py_plugin_loads_total{plugin="hello",result="ok"} 1.0' in text
    assert 'wasmedge_py_plugin_loads_total{plugin="broken",result="error"} 1.0' in text


async def test_manifest_change_reloads_with_new_limits(client, store):
    async def hello_limits():
        listing = (await (await client.get("/plugins")).json())["plugins"]
        return next(p["limits"] for p in listing if p["name"] == "hello")

    assert (await hello_limits())["timeout_ms"] == 5000  # the server's --timeout-ms
    (store.root / "hello" / "plugin.toml").write_text("timeout_ms = 250\n")
    assert (await hello_limits())["timeout_ms"] == 250


@pytest.mark.slow
async def test_reloads_under_concurrent_requests_are_safe(make_client, store):
    client = await make_client(workers=4)
    stop = threading.Event()
    swaps = 0

    def swapper():
        nonlocal swaps
        while not stop.is_set():
            store.add("hello", "triple" if swaps % 2 == 0 else "hello")
            swaps += 1

    thread = threading.Thread(target=swapper)
    thread.start()
    try:

        async def worker(k: int):
            seen = []
            for i in range(25):
                x = k * 100 + i
                status, body = await output(client, "hello", x)
                assert status == 200, body
                assert body["output"] in (2 * x + 1, 3 * x), (x, body)
                seen.append(body["output"] == 3 * x)
            return seen

        seen = [s for batch in await asyncio.gather(*(worker(k) for k in range(16))) for s in batch]
    finally:
        stop.set()
        thread.join()
    assert swaps > 10
    assert any(seen) and not all(seen)  # both versions were actually served


async def test_replaced_module_is_closed_after_its_last_request(make_client, store, busy):
    store.add("busy", "busy")
    client = await make_client(workers=2, plugin_concurrency=2, timeout_ms=30_000)  # both versions at once
    registry = client.app[REGISTRY]
    running = asyncio.ensure_future(client.post("/run", json={"plugin": "busy", "input": busy}))
    await wait_until(lambda: "busy" in registry._entries and registry._entries["busy"].users == 1)
    old = registry._entries["busy"]
    store.add("busy", "triple")
    assert await output(client, "busy", 5) == (200, {"output": 15})
    assert old.retired and not old.module.closed  # still in use by the running request
    assert (await running).status == 200
    await wait_until(lambda: old.module.closed)  # the lease ends after cleanup, which follows the answer


async def test_store_that_disappears_is_503_not_404(client, store):
    assert (await output(client, "hello", 1))[0] == 200
    moved = store.root.with_name("moved-away")
    store.root.rename(moved)  # the mount is gone
    try:
        response = await client.post("/run", json={"plugin": "hello", "input": 1})
        assert response.status == 503
        assert "Retry-After" in response.headers
        assert (await response.json())["error"].startswith("plugin store unavailable")
        assert (await client.get("/plugins")).status == 503
    finally:
        moved.rename(store.root)
    assert (await output(client, "hello", 1))[0] == 200


async def test_store_that_is_not_a_directory_is_503(make_client, tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    client = await make_client(plugins=not_a_dir)
    assert (await client.post("/run", json={"plugin": "hello", "input": 1})).status == 503


# -- the registry on its own ---------------------------------------------------------------------


def test_unreadable_store_is_unavailable(store, monkeypatch):
    registry = Registry(store.root)
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if os.fspath(path).startswith(str(store.root)):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    with pytest.raises(StoreUnavailable, match="Permission denied"):
        with registry.lease("hello"):
            pass


@pytest.mark.parametrize("name", ["..", "../hello", "/etc/passwd", "a\x00b", "hello.wasm", ".", "", "a" * 65])
def test_invalid_names_never_reach_the_filesystem(store, monkeypatch, name):
    registry = Registry(store.root)
    touched = []
    for function in ("stat", "open", "scandir", "access"):
        real = getattr(os, function)
        monkeypatch.setattr(os, function, lambda *a, _real=real, **k: touched.append(a) or _real(*a, **k))
    with pytest.raises(InvalidPluginName):
        with registry.lease(name):
            pass
    assert touched == []


def test_lease_errors(store):
    registry = Registry(store.root)
    with pytest.raises(PluginNotFound, match="plugin not found: nope"):
        with registry.lease("nope"):
            pass
    store.add("junk", b"junk")
    with pytest.raises(PluginLoadError, match="failed to load WASM file junk/junk.wasm"):
        with registry.lease("junk"):
            pass
    with registry.lease("hello") as entry:
        assert entry.module is not None and not entry.module.closed
    registry.close()
    assert entry.module.closed


def test_names_lists_only_valid_plugins(store):
    store.add("zeta", "hello")
    (store.root / "empty").mkdir()
    (store.root / "bad.name").mkdir()
    (store.root / "bad.name" / "bad.name.wasm").write_bytes(b"")
    assert Registry(store.root).names() == ["hello", "zeta"]
