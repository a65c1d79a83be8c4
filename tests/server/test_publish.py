"""The publish API: PUT/DELETE /plugins/{name} behind the bearer token, validated before anything
is replaced, both files swapped together (concurrent publishes never mix), the lock file kept up
to date; and with the features off, the service as before."""

from __future__ import annotations

import asyncio
import os
import threading
import urllib.request

import aiohttp
import pytest
from support.server import clean_env, post, server_command

from server.app import REGISTRY
from server.publish import PUBLISHED_DIR
from wasmedge_py.lockfile import LOCK_NAME, Pin, pin_store, read_lock, write_lock

TOKEN = "publish-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PUBLISHING = {"publish": True, "token": TOKEN}


@pytest.fixture
async def publisher(make_client):
    return await make_client(**PUBLISHING)


def upload(wasm: bytes, manifest: str | bytes | None = None) -> aiohttp.FormData | bytes:
    """A raw body without a manifest, a multipart one with it."""
    if manifest is None:
        return wasm
    form = aiohttp.FormData()
    form.add_field("wasm", wasm, filename="plugin.wasm", content_type="application/wasm")
    form.add_field("manifest", manifest, filename="plugin.toml", content_type="application/toml")
    return form


async def put(client, name, wasm, manifest=None, headers=AUTH):
    response = await client.put(f"/plugins/{name}", data=upload(wasm, manifest), headers=headers)
    return response.status, await response.json()


async def run(client, name, x, headers=None):
    response = await client.post("/run", json={"plugin": name, "input": x}, headers=headers)
    return response.status, await response.json()


# -- off by default ------------------------------------------------------------------------------


async def test_without_publish_there_is_no_publish_api_and_run_needs_no_token(client, wat):
    for method in ("PUT", "DELETE"):
        response = await client.request(method, "/plugins/hello", data=b"x", headers=AUTH)
        assert response.status == 404
    assert await run(client, "hello", 21) == (200, {"output": 43})


def test_publish_without_a_token_is_a_start_up_error():
    from server.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="need a bearer token"):
        Settings.resolve({"publish": True}, environ={})
    with pytest.raises(SettingsError, match="at least 16"):
        Settings.resolve({"publish": True}, environ={"WASMEDGE_PY_TOKEN": "short"})
    assert "publish-token" not in repr(Settings.resolve({"publish": True}, environ={"WASMEDGE_PY_TOKEN": TOKEN}))


# -- the token -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, status",
    [({}, 401), ({"Authorization": TOKEN}, 401), ({"Authorization": "Bearer wrong-token-0123456789"}, 403)],
)
async def test_publish_and_delete_need_the_token(publisher, wat, headers, status):
    response = await publisher.put("/plugins/hello", data=wat("triple").read_bytes(), headers=headers)
    assert response.status == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await publisher.delete("/plugins/hello", headers=headers)).status == status
    assert await run(publisher, "hello", 21) == (200, {"output": 43})  # unchanged


async def test_require_token_run(make_client):
    client = await make_client(**PUBLISHING, require_token=("run",))
    assert (await run(client, "hello", 21))[0] == 401
    assert (await run(client, "hello", 21, {"Authorization": "Bearer wrong-token-0123456789"}))[0] == 403
    assert await run(client, "hello", 21, AUTH) == (200, {"output": 43})
    assert (await client.get("/healthz")).status == 200  # only /run


# -- publishing ----------------------------------------------------------------------------------


async def test_publish_replaces_a_plugin_and_adds_a_new_one(publisher, store, wat):
    triple = wat("triple").read_bytes()
    status, body = await put(publisher, "hello", triple)
    assert status == 200 and body["wasm"] == Pin.of(triple, None).wasm and body["manifest"] is None
    assert await run(publisher, "hello", 21) == (200, {"output": 63})
    assert (await put(publisher, "fresh", triple))[0] == 200
    assert await run(publisher, "fresh", 2) == (200, {"output": 6})
    # The hand-installed hello directory was moved aside, not deleted.
    originals = [e for e in os.listdir(store.root / PUBLISHED_DIR / "hello") if e.startswith("original-")]
    assert len(originals) == 1 and (store.root / PUBLISHED_DIR / "hello" / originals[0] / "hello.wasm").is_file()


@pytest.mark.slow  # AOT compiles
async def test_publish_with_a_manifest_and_config(publisher, built_sdk_plugins):
    # The service passes the input as JSON text: the key the plugin reads is "greeting", quotes
    # included, and the value it returns must be JSON too.
    manifest = "timeout_ms = 300\n[config]\n'\"greeting\"' = '\"hi from plugin.toml\"'\n"
    status, body = await put(publisher, "cfg", built_sdk_plugins["config_c"].read_bytes(), manifest)
    assert status == 200 and body["manifest"] == Pin.of(b"", manifest.encode()).manifest
    assert body["abi_version"] == "v2.0.0"
    assert await run(publisher, "cfg", "greeting") == (200, {"output": "hi from plugin.toml"})
    status, body = await run(publisher, "cfg", "other")
    assert status == 422 and 'config key not found: "other"' in body["error"]
    listing = await (await publisher.get("/plugins")).json()
    limits = next(p["limits"] for p in listing["plugins"] if p["name"] == "cfg")
    assert limits["timeout_ms"] == 300 and limits["config_keys"] == ['"greeting"']


@pytest.mark.parametrize(
    "wasm, manifest, message",
    [
        (b"\0asm\x01\0\0\0\x01", None, "failed to load"),  # truncated
        (b"not wasm at all", None, "failed to load"),
        ("no_process", None, "does not export the required function process"),
        ("triple", "timeout_ms = 'soon'\n", "timeout_ms"),
        ("triple", "[config]\nkey = 1\n", "config.key must be a string"),
    ],
)
async def test_invalid_plugin_is_refused_and_the_old_one_still_served(publisher, store, wat, wasm, manifest, message):
    if isinstance(wasm, str):
        wasm = wat(wasm).read_bytes()
    before = pin_store(store.root)
    status, body = await put(publisher, "hello", wasm, manifest)
    assert status == 422 and message in body["error"]
    assert str(store.root) not in body["error"]
    assert pin_store(store.root) == before
    assert await run(publisher, "hello", 21) == (200, {"output": 43})


async def test_upload_limits_and_malformed_uploads(make_client, wat):
    client = await make_client(**PUBLISHING, max_plugin_bytes=1024, max_manifest_bytes=64)
    status, body = await put(client, "big", b"\0" * 2048)
    assert status == 413 and "1024" in body["error"]
    status, body = await put(client, "big", wat("triple").read_bytes(), "#" * 100)
    assert status == 413 and "64" in body["error"]
    form = aiohttp.FormData()
    form.add_field("other", b"x", filename="x")
    assert (await client.put("/plugins/x", data=form, headers=AUTH)).status == 400
    assert (await client.put("/plugins/bad.name", data=b"x", headers=AUTH)).status == 400


async def test_another_replica_on_the_same_store_serves_the_new_version(publisher, make_client, wat):
    replica = await make_client()  # no publish API of its own
    assert await run(replica, "hello", 21) == (200, {"output": 43})
    assert (await put(publisher, "hello", wat("triple").read_bytes()))[0] == 200
    assert await run(replica, "hello", 21) == (200, {"output": 63})
    assert (await publisher.delete("/plugins/hello", headers=AUTH)).status == 200
    assert (await run(replica, "hello", 21))[0] == 404


async def test_delete(publisher, store, wat):
    response = await publisher.delete("/plugins/hello", headers=AUTH)
    assert response.status == 200 and await response.json() == {"deleted": "hello"}
    assert (await run(publisher, "hello", 21))[0] == 404
    assert (await publisher.delete("/plugins/hello", headers=AUTH)).status == 404
    assert (await put(publisher, "hello", wat("triple").read_bytes()))[0] == 200  # and back
    assert (await publisher.delete("/plugins/hello", headers=AUTH)).status == 200
    assert not (store.root / "hello").exists()
    assert [e for e in os.listdir(store.root / PUBLISHED_DIR / "hello") if not e.startswith("original-")] == []


async def test_publish_and_delete_keep_the_lock_file(make_client, store, wat):
    lock_path = store.root.parent / LOCK_NAME
    write_lock(lock_path, pin_store(store.root))
    client = await make_client(**PUBLISHING, lock=lock_path)
    triple = wat("triple").read_bytes()
    assert (await put(client, "fresh", triple, "timeout_ms = 300\n"))[0] == 200
    assert read_lock(lock_path)["fresh"] == Pin.of(triple, b"timeout_ms = 300\n")
    assert await run(client, "fresh", 2) == (200, {"output": 6})  # served: pinned by the publish
    assert (await client.delete("/plugins/fresh", headers=AUTH)).status == 200
    assert "fresh" not in read_lock(lock_path) and "hello" in read_lock(lock_path)


async def test_unwritable_lock_file_refuses_the_publish_and_keeps_the_old_version(make_client, store, wat):
    lock_path = store.root.parent / LOCK_NAME
    write_lock(lock_path, pin_store(store.root))
    client = await make_client(**PUBLISHING, lock=lock_path)
    lock_path.write_text("not a lock file")
    status, body = await put(client, "hello", wat("triple").read_bytes())
    assert status == 500 and body["error"].startswith("cannot write the plugin store: plugins.lock")
    write_lock(lock_path, pin_store(store.root))
    assert await run(client, "hello", 21) == (200, {"output": 43})


VARIANT = """(module
  (func (export "v{i}"))
  (func (export "process") (param i32) (result i32) (i32.const {i})))"""


@pytest.mark.slow  # AOT compiles
async def test_concurrent_publishes_never_mix_and_the_last_one_wins(publisher, store, wat):
    """Each variant's .wasm exports v<i> and its plugin.toml sets max_memory_pages = 10 + i: a
    reader that ever saw one variant's module with another's limits would catch a mix."""
    variants = 6
    files = [(wat(source=VARIANT.format(i=i)).read_bytes(), f"max_memory_pages = {10 + i}\n") for i in range(variants)]
    registry = publisher.server.app[REGISTRY]
    done = threading.Event()
    seen: set[tuple[frozenset[str], int]] = set()
    mixes: list[str] = []

    def read_continuously() -> None:
        while not done.is_set():
            with registry.lease("hello") as entry:
                assert entry.module is not None and entry.limits is not None
                exported = frozenset(e.name for e in entry.module.exports if e.name.startswith("v"))
                seen.add((exported, entry.limits.max_memory_pages))
                if exported and exported != {f"v{entry.limits.max_memory_pages - 10}"}:
                    mixes.append(f"{sorted(exported)} with max_memory_pages {entry.limits.max_memory_pages}")

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        for _ in range(2):
            results = await asyncio.gather(*(put(publisher, "hello", wasm, toml) for wasm, toml in files))
            assert all(status == 200 for status, _ in results)
    finally:
        done.set()
        reader.join()
    assert mixes == []
    assert len(seen) > 1  # the reader did see versions change
    last = max((body for _, body in results), key=lambda body: body["version"])
    assert os.readlink(store.root / "hello").endswith(last["version"])
    assert pin_store(store.root)["hello"] == Pin(last["wasm"], last["manifest"])
    winner = next(i for i, (wasm, _) in enumerate(files) if Pin.of(wasm, None).wasm == last["wasm"])
    assert await run(publisher, "hello", 0) == (200, {"output": winner})


async def test_registry_reads_the_two_files_of_one_version_while_the_link_swaps(client, store, wat):
    """What makes a mix impossible for readers: the registry resolves the plugin's symlink once per
    read. Here the link flips between two versions as fast as it can while the registry reloads."""
    registry = client.server.app[REGISTRY]
    versions = store.root / PUBLISHED_DIR / "hello"
    for i in (1, 2):
        (versions / f"v{i}").mkdir(parents=True)
        (versions / f"v{i}" / "hello.wasm").write_bytes(wat(source=VARIANT.format(i=i)).read_bytes())
        (versions / f"v{i}" / "plugin.toml").write_text(f"aot = false\nmax_memory_pages = {10 + i}\n")
    (store.root / "hello" / "hello.wasm").unlink()
    (store.root / "hello").rmdir()
    os.symlink(f"{PUBLISHED_DIR}/hello/v1", store.root / "hello")
    done = threading.Event()

    def flip() -> None:
        link, temp = store.root / "hello", store.root / ".hello.link"
        while not done.is_set():
            for i in (1, 2):
                os.symlink(f"{PUBLISHED_DIR}/hello/v{i}", temp)
                os.replace(temp, link)

    flipper = threading.Thread(target=flip)
    flipper.start()
    pairs = set()
    try:
        for _ in range(3000):
            with registry.lease("hello") as entry:
                assert entry.module is not None and entry.limits is not None
                exported = next(e.name for e in entry.module.exports if e.name.startswith("v"))
                pairs.add((exported, entry.limits.max_memory_pages))
    finally:
        done.set()
        flipper.join()
    assert pairs <= {("v1", 11), ("v2", 12)} and len(pairs) == 2  # (breaking _directory fails it most runs)


@pytest.mark.slow  # a real process
def test_real_server_publish_lock_and_require_token(spawn, store, wat, tmp_path):
    """python -m server with every feature on, the token from a secret file."""
    lock_path = tmp_path / LOCK_NAME
    write_lock(lock_path, pin_store(store.root))
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    flags = ["--publish", "--require-token", "run", "--lock", str(lock_path), "--token-file", str(token_file)]
    process, lines = spawn(
        server_command(store.root, "--workers", "2", *flags),
        clean_env(),
    )
    base = lines.wait_for(r"serving on (http://127\.0\.0\.1:\d+)").group(1)
    request = urllib.request.Request(
        f"{base}/plugins/fresh", data=wat("triple").read_bytes(), method="PUT", headers=AUTH
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    assert "fresh" in read_lock(lock_path)
    assert post(f"{base}/run", {"plugin": "fresh", "input": 2})[0] == 401
    authorized = urllib.request.Request(
        f"{base}/run", data=b'{"plugin": "fresh", "input": 2}', method="POST", headers=AUTH
    )
    with urllib.request.urlopen(authorized, timeout=10) as response:
        assert response.read() == b'{"output": 6}'
    process.terminate()
    assert process.wait(timeout=10) == 0
