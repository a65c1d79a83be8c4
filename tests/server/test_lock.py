"""Pinning: `wasmedge-py lock DIR` writes plugins.lock; a service started with --lock serves only
plugins whose .wasm and plugin.toml hash to what it pins, answers others 500 naming the plugin
and both digests (logged once per file version), and follows the lock file when it changes."""

from __future__ import annotations

import logging

import pytest

from server.__main__ import parse_settings
from wasmedge_py import cli
from wasmedge_py.lockfile import LOCK_NAME, LockFileError, Pin, digest, parse_lock, pin_store, read_lock, write_lock


@pytest.fixture
def lock_path(store):
    path = store.root.parent / LOCK_NAME
    write_lock(path, pin_store(store.root))
    return path


async def run_hello(client):
    response = await client.post("/run", json={"plugin": "hello", "input": 21})
    return response.status, await response.json()


async def test_matching_plugin_is_served(make_client, lock_path):
    client = await make_client(lock=lock_path)
    assert await run_hello(client) == (200, {"output": 43})


async def test_replaced_wasm_is_refused_naming_both_digests_and_logged_once(make_client, store, lock_path, caplog):
    client = await make_client(lock=lock_path)
    expected = read_lock(lock_path)["hello"].wasm
    actual = digest(store.add("hello", "triple").read_bytes())
    with caplog.at_level(logging.WARNING, logger="server.registry"):
        for _ in range(3):
            status, body = await run_hello(client)
            assert status == 500
            assert "plugin hello does not match the lock file" in body["error"]
            assert f"wasm expected {expected}, actual {actual}" in body["error"]
    assert sum("does not match the lock file" in r.getMessage() for r in caplog.records) == 1


async def test_added_or_changed_manifest_is_refused(make_client, store, lock_path):
    client = await make_client(lock=lock_path)
    manifest = store.root / "hello" / "plugin.toml"
    manifest.write_text("timeout_ms = 300\n")
    status, body = await run_hello(client)
    assert status == 500 and f"plugin.toml expected none, actual {digest(manifest.read_bytes())}" in body["error"]
    write_lock(lock_path, pin_store(store.root))  # pinned as it is now: served, without a restart
    assert (await run_hello(client))[0] == 200
    pinned = digest(manifest.read_bytes())
    manifest.write_text("timeout_ms = 400\n")
    status, body = await run_hello(client)
    assert status == 500 and f"plugin.toml expected {pinned}, actual {digest(manifest.read_bytes())}" in body["error"]


async def test_plugin_missing_from_the_lock_is_refused(make_client, store, lock_path):
    store.add("triple", "triple")
    client = await make_client(lock=lock_path)
    response = await client.post("/run", json={"plugin": "triple", "input": 2})
    assert response.status == 500 and "plugin triple is not in the lock file" in (await response.json())["error"]
    assert await run_hello(client) == (200, {"output": 43})


async def test_lock_file_broken_while_serving_fails_closed(make_client, lock_path):
    client = await make_client(lock=lock_path)
    assert (await run_hello(client))[0] == 200
    lock_path.write_text("version = 1\n[hello]\nwasm = 'md5:nope'\n")
    status, body = await run_hello(client)
    assert status == 500 and "plugins.lock" in body["error"] and str(lock_path.parent) not in body["error"]


async def test_without_lock_a_replaced_plugin_is_served(make_client, store, lock_path):
    client = await make_client()  # lock_path exists but is not used
    store.add("hello", "triple")
    assert await run_hello(client) == (200, {"output": 63})


def test_cli_lock_writes_the_store_digests(store, capsys):
    (store.root / "hello" / "plugin.toml").write_text("timeout_ms = 300\n")
    assert cli.main(["lock", str(store.root)]) == 0
    pins = read_lock(store.root / LOCK_NAME)
    wasm = (store.root / "hello" / "hello.wasm").read_bytes()
    assert pins == {"hello": Pin.of(wasm, b"timeout_ms = 300\n")}
    assert "locked 1 plugin(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "text",
    ["", "version = 2\n", "version = 1\n[hello]\n", "version = 1\n['a b']\nwasm = 'sha256:00'\n", "version = 1\n[x\n"],
)
def test_malformed_lock_files_are_refused(text):
    with pytest.raises(LockFileError):
        parse_lock(text.encode())


def test_server_refuses_to_start_with_an_unreadable_lock(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        parse_settings(["--lock", str(tmp_path / "missing.lock")], environ={})
    assert info.value.code == 2 and "cannot read lock file" in capsys.readouterr().err
