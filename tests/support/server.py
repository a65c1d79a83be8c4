"""Helpers for the service tests: a plugin store in a directory, settings over it, and what
the tests that run a real server process need (HTTP without aiohttp, output lines, free ports)."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import shutil
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import gunicorn
from prometheus_client.parser import text_string_to_metric_families

from server.settings import Settings


class Store:
    """A plugin store directory: ``add(name, wasm_file)`` installs ``<name>/<name>.wasm`` by an
    atomic rename, the way a deployment should replace a plugin."""

    def __init__(self, root: Path, wat: Callable[[str], Path], hello: Path) -> None:
        self.root = root
        self._wat = wat
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
                source = self._hello if source == "hello" else self._wat(source)
            shutil.copyfile(source, staging)
        staging.replace(target)  # atomic: a reader sees the old file or the new one, never half
        return target


def settings_for(store: Store, **overrides: Any) -> Settings:
    """The tests' service settings over ``store`` (2 workers, 5 s timeout), with ``overrides``."""
    base = Settings(plugins=store.root, workers=2, timeout_ms=5000, grace=2.0)
    return replace(base, **overrides)


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate`` on the event loop until it holds; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def clean_env(**extra: str) -> dict[str, str]:
    # The test session's AOT cache stays: the servers compile into it, not into ~/.cache.
    env = {
        k: v
        for k, v in os.environ.items()
        if (not k.startswith("WASMEDGE_PY_") or k == "WASMEDGE_PY_CACHE_DIR") and k != "PLUGIN_STORE"
    }
    env.update(extra)
    return env


class Lines:
    """Collects a process's output lines on a thread, so tests can wait for one without blocking."""

    def __init__(self, stream) -> None:
        self.all: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._queue.put(line)

    def wait_for(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.all:
                match = re.search(pattern, line)
                if match:
                    return match
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.all)}")
            try:
                self.all.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                pass


def post(url: str, payload: dict, timeout: float = 10.0) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def get(url: str, timeout: float = 5.0) -> tuple[int, dict]:
    """(status, JSON body), for error statuses too (a 503 from /readyz, say)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def wait_until_serving(base: str, lines: Lines, timeout: float = 20.0) -> None:
    """Poll ``base``/healthz until the server answers; fail with its output after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            get(f"{base}/healthz")
            return
        except OSError:
            assert time.monotonic() < deadline, "".join(lines.all)
            time.sleep(0.05)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def metric_samples(text: str) -> Samples:
    """A Prometheus text exposition as {(sample name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


# gunicorn 27 opens a control socket in $HOME by default; two test runs at once would share it.
NO_CONTROL_SOCKET = ["--no-control-socket"] if gunicorn.version_info >= (27,) else []


def server_command(plugins: Path | str | None, *flags: str) -> list[str]:
    """``python -m server`` on a port it picks (its "serving on URL" line names it), serving the
    store ``plugins`` (None: the store the settings choose)."""
    store = [] if plugins is None else ["--plugins", str(plugins)]
    return [sys.executable, "-m", "server", "--port", "0", *store, *flags]


def gunicorn_command(port: int, workers: int, *flags: str) -> list[str]:
    """The service under gunicorn with aiohttp workers, as the README runs it."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "server.app:make_app()",
        "-k",
        "aiohttp.GunicornWebWorker",
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        *flags,
        *NO_CONTROL_SOCKET,
    ]


# gunicorn flag: the service's gunicorn settings (metrics that add up across workers).
GUNICORN_CONF = ("-c", "python:server.gunicorn_conf")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
