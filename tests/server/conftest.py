"""Fixtures for the service tests: a plugin store of our own in tmp_path (the repo's built hello
plus WAT plugins from tests/wat compiled by the `wat` fixture), and app/client factories."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient
from support import REPO
from support.hostile import HOSTILE, build
from support.server import Lines, Store, settings_for

from server.app import make_app

HELLO = REPO / "plugins" / "hello" / "hello.wasm"


@pytest.fixture(scope="session")
def hello_wasm() -> Path:
    """The repo's hello plugin, built by `make plugins` if it is not there yet."""
    if not HELLO.is_file():
        subprocess.run(["make", "-s", "-C", str(REPO), "plugins"], check=True)
    return HELLO


@pytest.fixture(scope="session")
def busy(wat) -> int:
    """Iterations of tests/wat/busy.wat's loop that keep one core busy for about 300 ms
    in the server's default engine (AOT, interruptible), measured on this machine."""
    from wasmedge_py import PluginLimits, load_plugin

    probe = 20_000_000
    with load_plugin(wat("busy"), PluginLimits(timeout_ms=60_000)) as plugin:
        plugin.init()
        plugin.execute(1000)  # first call: page in the code
        started = time.perf_counter()
        plugin.execute(probe)
        took = time.perf_counter() - started
    return min(2**31 - 1, max(1, int(probe * 0.3 / took)))


@pytest.fixture
def store(tmp_path, wat, hello_wasm) -> Store:
    s = Store(tmp_path / "plugins", wat, hello_wasm)
    s.root.mkdir()
    s.add("hello", "hello")
    return s


@pytest.fixture
def make_client(aiohttp_client, store) -> Callable[..., Awaitable[TestClient]]:
    """``await make_client(workers=4, ...)`` -> a test client on a fresh app over ``store``."""

    async def make(**overrides: Any) -> TestClient:
        return await aiohttp_client(make_app(settings_for(store, **overrides)))

    return make


@pytest.fixture
async def client(make_client) -> TestClient:
    return await make_client()


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory) -> Path:
    """A plugin store holding every hostile plugin of tests/wat/hostile (see support/hostile.py)."""

    out = tmp_path_factory.mktemp("hostile-store")
    for case in HOSTILE:
        build(case.name, out)
    return out


@pytest.fixture
def spawn():
    """Start a process (stderr merged into stdout); kill whatever a failing test left running."""
    started: list[subprocess.Popen] = []

    def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, Lines]:
        process = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started.append(process)
        return process, Lines(process.stdout)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
