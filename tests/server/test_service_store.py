"""The plugin store as an attacker or an unlucky operator leaves it (issue 12): FIFOs and a hung
mount in it, huge files, plugins deleted while requests stream in, and ``/plugins`` asked again
and again for plugins that fail."""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import wasmedge_py.plugin
from server.app import REGISTRY

MNT_DETACH = 2


async def run(client, plugin: str, x: int = 1) -> tuple[int, dict]:
    response = await client.post("/run", json={"plugin": plugin, "input": x})
    return response.status, await response.json()


async def listing(client) -> dict[str, dict]:
    response = await asyncio.wait_for(client.get("/plugins"), 3)
    assert response.status == 200
    return {p["name"]: p for p in (await response.json())["plugins"]}


async def others_still_served(client) -> None:
    """Another plugin, /healthz and /plugins each answer within a second or two."""
    assert await asyncio.wait_for(run(client, "hello", 20), 2) == (200, {"output": 41})
    assert (await asyncio.wait_for(client.get("/healthz"), 1)).status == 200
    assert (await listing(client))["hello"]["exports"]


# -- bounded store I/O ---------------------------------------------------------------------------


@pytest.fixture
def fifo():
    """``fifo(path)`` makes a FIFO. At the end a writer opens each for a moment, which releases
    a reader blocked in ``open`` (what the server did before it refused FIFOs)."""
    made: list[Path] = []

    def make(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        made.append(path)
        return path

    yield make
    for path in made:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # ENXIO: nobody is reading it
            pass


async def test_fifos_are_500_naming_the_file_and_block_nothing(make_client, store, fifo):
    store.add("fifo_toml", "hello")
    fifo(store.root / "fifo_toml" / "plugin.toml")  # opening it for reading blocks: no writer
    fifo(store.path("fifo_wasm"))
    client = await make_client(workers=2, timeout_ms=1000)
    hostile = [asyncio.ensure_future(run(client, name)) for name in ("fifo_toml", "fifo_wasm") for _ in range(3)]
    try:
        await others_still_served(client)
        answers = await asyncio.wait_for(asyncio.gather(*hostile), 3)
    finally:
        for task in hostile:
            task.cancel()
    for (status, body), name in zip(answers, ["fifo_toml"] * 3 + ["fifo_wasm"] * 3):
        path = f"{name}/plugin.toml" if name == "fifo_toml" else f"{name}/{name}.wasm"
        assert status == 500, body
        assert body["error"] == f"failed to load plugin: {path} is not a regular file but a FIFO"
    described = await listing(client)
    assert "not a regular file" in described["fifo_toml"]["error"]
    assert "not a regular file" in described["fifo_wasm"]["error"]


@pytest.fixture
def hung_mount(tmp_path) -> Path:
    """A directory where every access blocks in the kernel until the test ends: a FUSE mount whose
    daemon never answers, the way a hung network mount behaves (needs root and /dev/fuse)."""
    mountpoint = tmp_path / "hung-mount"
    mountpoint.mkdir()
    try:
        fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        pytest.skip(f"no FUSE device: {exc}")
    libc = ctypes.CDLL(None, use_errno=True)
    options = f"fd={fd},rootmode=40000,user_id=0,group_id=0".encode()
    if libc.mount(b"hung", bytes(mountpoint), b"fuse.hung", 0, options) != 0:
        os.close(fd)
        pytest.skip(f"cannot mount FUSE here: {os.strerror(ctypes.get_errno())}")
    yield mountpoint
    os.close(fd)  # aborts the connection: every call blocked on it fails with ENOTCONN
    libc.umount2(bytes(mountpoint), MNT_DETACH)


@pytest.mark.slow
async def test_hung_store_read_is_503_within_the_timeout_and_blocks_nothing(make_client, store, hung_mount):
    store.add("hung", "hello")
    (store.root / "hung" / "plugin.toml").symlink_to(hung_mount / "plugin.toml")
    client = await make_client(workers=2, timeout_ms=500)
    started = time.monotonic()
    hung = [asyncio.ensure_future(run(client, "hung")) for _ in range(3)]
    try:
        await others_still_served(client)
        answers = await asyncio.wait_for(asyncio.gather(*hung), 3)
    finally:
        for task in hung:
            task.cancel()
    # Two workers wait 500 ms for the hung read, the third request then learns at once that it
    # still hangs.
    assert time.monotonic() - started < 1.5
    for status, body in answers:
        assert status == 503, body
        assert body["error"].startswith("plugin store unavailable: reading plugin hung's files ")
    registry = client.app[REGISTRY]
    assert registry.io.stuck == 1  # one store thread is held, however often the plugin is asked for
    assert "plugin store unavailable" in (await listing(client))["hung"]["error"]
    await others_still_served(client)
    assert registry.io.stuck == 1


@pytest.mark.slow
async def test_hung_store_under_a_loaded_plugin_is_503_within_the_timeout(make_client, store, hung_mount):
    # The version is loaded, so its requests run on the native threads (API mode), which check its
    # files first: that check hangs now, and it is answered as a hung stat on a store thread is.
    store.add("hung", "hello")
    client = await make_client(workers=2, timeout_ms=500)
    assert await run(client, "hung", 21) == (200, {"output": 43})
    (store.root / "hung" / "plugin.toml").symlink_to(hung_mount / "plugin.toml")
    for _ in range(2):  # the second while the first still hangs: at once
        started = time.monotonic()
        status, body = await run(client, "hung")
        assert status == 503, body
        assert body["error"].startswith("plugin store unavailable: reading plugin hung's files ")
        assert time.monotonic() - started < 1.0
    await others_still_served(client)


@pytest.mark.slow
async def test_unknown_plugin_on_a_hung_store_is_503_within_the_timeout_and_blocks_nothing(make_client, hung_mount):
    # The store's directory itself hangs: the listing the event loop answers 404s from cannot be
    # read. The loop never touches the store; the requests wait for the scan, on a store thread.
    client = await make_client(plugins=hung_mount, timeout_ms=500)
    started = time.monotonic()
    waiting = [asyncio.ensure_future(run(client, "hello")) for _ in range(3)]
    try:
        assert (await asyncio.wait_for(client.get("/healthz"), 0.3)).status == 200
        answers = await asyncio.wait_for(asyncio.gather(*waiting), 2)
    finally:
        for task in waiting:
            task.cancel()
    assert time.monotonic() - started < 1.0
    for status, body in answers:
        assert status == 503, body
        assert body["error"].startswith("plugin store unavailable: reading the store's listing ")
    started = time.monotonic()
    assert (await run(client, "other"))[0] == 503  # while the scan still hangs: at once
    assert time.monotonic() - started < 0.2
    assert client.app[REGISTRY].io.stuck == 1


# -- size limits ---------------------------------------------------------------------------------


def _sparse_wasm(path: Path, size: int) -> None:
    """A module with one custom section that fills ``size`` bytes, written as a sparse file."""
    payload = size - 8 - 1 - 5
    section = b"\x00" + bytes([0x80 | (payload >> 7 * i) & 0x7F for i in range(4)] + [payload >> 28]) + b"\x03pad"
    path.write_bytes(b"\x00asm\x01\x00\x00\x00" + section)
    os.truncate(path, size)


def _peak_rss() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))


@pytest.mark.parametrize("which", ["wasm", "manifest"])
async def test_oversized_file_is_refused_in_milliseconds_without_memory(make_client, store, which):
    store.add("huge", "hello")
    path = store.path("huge") if which == "wasm" else store.root / "huge" / "plugin.toml"
    if which == "wasm":
        _sparse_wasm(path, 1 << 30)
    else:
        path.write_text("timeout_ms = 100\n")
        os.truncate(path, 1 << 30)
    client = await make_client()
    assert (await run(client, "hello"))[0] == 200
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # peak RSS := current RSS
    rss = _peak_rss()
    started = time.monotonic()
    status, body = await asyncio.wait_for(run(client, "huge"), 10)
    took, grew = time.monotonic() - started, _peak_rss() - rss
    assert (status, took < 0.5, grew < 16 << 20) == (500, True, True), (status, took, grew)
    limit = 32 << 20 if which == "wasm" else 64 << 10
    assert (
        body["error"]
        == f"failed to load plugin: {path.relative_to(store.root)} is 1073741824 bytes, over the limit of {limit}"
    )


async def test_size_limits_are_settings(make_client, store, hello_wasm):
    size = hello_wasm.stat().st_size
    store.add("configured", "hello", manifest="timeout_ms = 100\n")
    client = await make_client(max_plugin_bytes=size - 1)
    status, body = await run(client, "hello")
    assert status == 500 and body["error"].endswith(f"is {size} bytes, over the limit of {size - 1}")
    client = await make_client(max_plugin_bytes=size, max_manifest_bytes=len("timeout_ms = 100\n") - 1)
    assert (await run(client, "hello"))[0] == 200
    status, body = await run(client, "configured")
    assert status == 500 and "configured/plugin.toml is 17 bytes" in body["error"]


# -- a plugin that disappears --------------------------------------------------------------------


@pytest.mark.slow
async def test_plugin_deleted_while_requests_stream_in_is_404_never_5xx(make_client, store):
    client = await make_client(workers=2)
    stop = threading.Event()

    # A long plugin.toml (comments) widens the window between the first stat and reading the
    # .wasm, in which the plugin may vanish.
    manifest = ("# " + "-" * 76 + "\n") * 700 + "timeout_ms = 1000\n"

    def churn() -> None:
        """Delete and recreate the plugin again and again: every version is a new file."""
        while not stop.is_set():
            shutil.rmtree(store.root / "hello")
            store.add("hello", "hello", manifest=manifest)
            time.sleep(0.001)  # there for a moment: some requests find it

    statuses: Counter[int] = Counter()
    thread = threading.Thread(target=churn)
    thread.start()
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            for status, body in await asyncio.gather(*(run(client, "hello", 1) for _ in range(8))):
                statuses[status] += 1
                assert status in (200, 404), body
    finally:
        stop.set()
        thread.join()
    assert statuses[200] and statuses[404], statuses


# -- /plugins is cheap ---------------------------------------------------------------------------


async def test_plugins_describes_a_failing_plugin_once_per_version(make_client, store, monkeypatch):
    store.add("loops", "loop_start", manifest="timeout_ms = 200\n")  # instantiating it costs 200 ms
    store.add("future", "abi_v9")
    instances: Counter[str] = Counter()
    init = wasmedge_py.plugin.Plugin.__init__

    def counting_init(self, path, *args, **kwargs):
        instances[Path(path).stem] += 1
        init(self, path, *args, **kwargs)

    monkeypatch.setattr(wasmedge_py.plugin.Plugin, "__init__", counting_init)
    client = await make_client()
    for _ in range(5):
        described = await listing(client)
        assert described["loops"]["error"].startswith("failed to load plugin: ")
        assert "v9.0.0" in described["future"]["error"]
        assert described["hello"]["exports"]
    assert instances == {"loops": 1, "future": 1, "hello": 1}
    store.add("loops", "loop_start", manifest="timeout_ms = 100\n")  # a new version is described anew
    assert (await listing(client))["loops"]["error"]
    assert instances["loops"] == 2


async def test_requests_waiting_for_a_compile_are_not_refused_as_store_timeouts(make_client, store, wat):
    # A version nobody has compiled yet (a custom section makes it new): compiling it takes longer
    # than the store timeout, and the second request waits for the first one's compile.
    nonce = os.urandom(16)
    store.add("fresh", wat("triple").read_bytes() + b"\x00\x16\x05nonce" + nonce)
    client = await make_client(workers=2, plugin_concurrency=2, timeout_ms=100)
    answers = await asyncio.gather(run(client, "fresh", 2), run(client, "fresh", 3))
    assert answers == [(200, {"output": 6}), (200, {"output": 9})]
