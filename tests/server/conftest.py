"""Fixtures for the service tests: a plugin store of our own in tmp_path (the repo's built hello
plus WAT plugins from tests/server/wat compiled with wat2wasm), and app/client factories."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from server.app import make_app
from server.settings import Settings

REPO = Path(__file__).resolve().parents[2]
WAT_DIR = Path(__file__).resolve().parent / "wat"
HELLO = REPO / "plugins" / "hello" / "hello.wasm"


@pytest.fixture(scope="session")
def hello_wasm() -> Path:
    """The repo's hello plugin, built by `make plugins` if it is not there yet."""
    if not HELLO.is_file():
        subprocess.run(["make", "-s", "-C", str(REPO), "plugins"], check=True)
    return HELLO


@pytest.fixture(scope="session")
def compiled(tmp_path_factory) -> Callable[[str], Path]:
    """``compiled("busy")`` -> tests/server/wat/busy.wat compiled once per session."""
    wat2wasm = shutil.which("wat2wasm")
    if wat2wasm is None:
        pytest.fail("wat2wasm not found: run `make setup`", pytrace=False)
    out = tmp_path_factory.mktemp("server-wasm")
    cache: dict[str, Path] = {}

    def compile_wat(name: str) -> Path:
        if name not in cache:
            target = out / f"{name}.wasm"
            subprocess.run([wat2wasm, str(WAT_DIR / f"{name}.wat"), "-o", str(target)], check=True)
            cache[name] = target
        return cache[name]

    return compile_wat


@pytest.fixture(scope="session")
def busy(compiled) -> int:
    """Iterations of tests/server/wat/busy.wat's loop that keep one core busy for about 300 ms
    in the server's default engine (AOT, interruptible), measured on this machine."""
    from wasmedge_py import PluginLimits, load_plugin

    probe = 20_000_000
    with load_plugin(compiled("busy"), PluginLimits(timeout_ms=60_000)) as plugin:
        plugin.init()
        plugin.execute(1000)  # first call: page in the code
        started = time.perf_counter()
        plugin.execute(probe)
        took = time.perf_counter() - started
    return min(2**31 - 1, max(1, int(probe * 0.3 / took)))


class Store:
    """A plugin store directory: ``add(name, wasm_file)`` installs ``<name>/<name>.wasm`` by an
    atomic rename, the way a deployment should replace a plugin."""

    def __init__(self, root: Path, compiled: Callable[[str], Path], hello: Path) -> None:
        self.root = root
        self._compiled = compiled
        self._hello = hello

    def path(self, name: str) -> Path:
        return self.root / name / f"{name}.wasm"

    def add(self, name: str, source: str | Path | bytes, manifest: str | None = None) -> Path:
        """``source``: a WAT fixture name, "hello", a wasm file, or raw bytes."""
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if manifest is not None:
            (target.parent / "plugin.toml").write_text(manifest)
        staging = target.with_name(f".{name}.wasm.new")
        if isinstance(source, bytes):
            staging.write_bytes(source)
        else:
            if isinstance(source, str):
                source = self._hello if source == "hello" else self._compiled(source)
            shutil.copyfile(source, staging)
        staging.replace(target)  # atomic: a reader sees the old file or the new one, never half
        return target


@pytest.fixture
def store(tmp_path, compiled, hello_wasm) -> Store:
    s = Store(tmp_path / "plugins", compiled, hello_wasm)
    s.root.mkdir()
    s.add("hello", "hello")
    return s


def settings_for(store: Store, **overrides: Any) -> Settings:
    base = Settings(plugins=store.root, workers=2, timeout_ms=5000, grace=2.0)
    return replace(base, **overrides)


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
    """A plugin store holding every hostile plugin of tests/hostile (see tests/hostile.py)."""
    from hostile import HOSTILE, build

    out = tmp_path_factory.mktemp("hostile-store")
    for case in HOSTILE:
        build(case.name, out)
    return out
