"""Compile at deploy time: ``wasmedge-py compile --store`` fills the AOT cache so that the first
request after a deploy loads native code without compiling, and ``--warm`` keeps ``/readyz`` at 503
until the store is compiled, whatever a plugin does (slow to compile, or not loadable at all)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from support.server import clean_env, get, post, server_command, settings_for

from server.registry import registry_for
from server.warm import Warmup
from wasmedge_py.cli import main as cli

HELLO_REQUEST = {"plugin": "hello", "input": 21}
NOT_WASM = b"\0asm but not really"


def slow_wat(operations: int = 1500) -> str:
    """One long straight-line function: a few seconds of LLVM, well past a server's start-up."""
    body = "\n".join(
        f"local.get 0 i32.const {i * 7919 % 1000003} i32.mul local.get 0 i32.xor i32.const {i} i32.rotl local.set 0"
        for i in range(operations)
    )
    return (
        f'(module (memory (export "memory") 1) (func (export "process") (param i32) (result i32) {body} local.get 0))'
    )


def compile_store(root, cache, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wasmedge_py.cli", "compile", "--store", str(root), *flags],
        env=clean_env(WASMEDGE_PY_CACHE_DIR=str(cache)),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_first_request_after_compile_store_loads_from_the_cache(spawn, store, tmp_path):
    cache = tmp_path / "aot"
    store.add("bad", NOT_WASM)
    done = compile_store(store.root, cache)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("bad: FAILED: failed to load WASM file bad/bad.wasm")
    assert lines[1].startswith("hello: aot, compiled in ")
    assert lines[-1].startswith(f"2 plugin(s) of {store.root} in the AOT cache {cache}")
    assert "1 not compiled to native code" in lines[-1]
    assert compile_store(store.root, cache, "--strict").returncode == 1  # the broken plugin fails a strict deploy

    process, output = spawn(
        server_command(store.root),
        clean_env(WASMEDGE_PY_CACHE_DIR=str(cache)),
    )
    base = output.wait_for(r"serving on (http://[\d.]+:\d+)").group(1)
    assert post(f"{base}/run", HELLO_REQUEST) == (200, {"output": 43})
    output.wait_for(r"loaded plugin hello from \S+ \(aot, from the AOT cache\)")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert not [line for line in output.all if "compiled in" in line]


@pytest.mark.slow
def test_warm_server_is_ready_only_once_every_plugin_is_done(spawn, store, wat, tmp_path):
    store.add("slow", wat(source=slow_wat()))
    store.add("bad", NOT_WASM)
    process, output = spawn(
        server_command(store.root, "--workers", "2", "--warm"),
        clean_env(WASMEDGE_PY_CACHE_DIR=str(tmp_path / "aot")),  # a fresh cache: everything compiles
    )
    base = output.wait_for(r"serving on (http://[\d.]+:\d+)").group(1)

    status, body = get(f"{base}/readyz")
    assert status == 503 and body["status"] == "warming"
    assert body["reason"].startswith("warming up: ") and body["warmup"]["total"] in (None, 3)
    assert get(f"{base}/healthz")[1]["ready"] is False  # alive all the same: liveness is 200
    assert post(f"{base}/run", HELLO_REQUEST) == (200, {"output": 43})  # served meanwhile

    deadline = time.monotonic() + 240
    while status == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
        status, body = get(f"{base}/readyz")
    assert status == 200, body
    warmup = body["warmup"]
    assert (warmup["done"], warmup["total"], warmup["finished"]) == (3, 3, True)
    assert list(warmup["failed"]) == ["bad"] and "failed to load WASM file" in warmup["failed"]["bad"]
    status, health = get(f"{base}/healthz")
    assert status == 200 and health["ready"] is True
    output.wait_for(r"warm-up: slow: aot, compiled in")
    output.wait_for(r"warm-up: 3 plugin\(s\) in [\d.]+ s, 2 job\(s\) at a time, 1 not compiled")
    assert post(f"{base}/run", {"plugin": "slow", "input": 1})[0] == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


async def test_without_warm_readyz_is_ready_at_once(client):
    response = await client.get("/readyz")
    assert response.status == 200 and await response.json() == {"status": "ready"}
    assert (await (await client.get("/healthz")).json())["ready"] is True


def test_warmup_counts_a_plugin_that_does_not_load_as_done(store):
    store.add("bad", NOT_WASM)
    registry = registry_for(settings_for(store))
    try:
        warmup = Warmup(registry, jobs=2)
        assert warmup.readiness() == (
            503,
            {
                "status": "warming",
                "reason": "warming up: 0 of ? plugin(s) compiled",
                "warmup": {"finished": False, "done": 0, "total": None},
            },
        )
        results = warmup.run()
    finally:
        registry.close()
    assert [(r.name, r.ok) for r in results] == [("bad", False), ("hello", True)]
    assert results[0].line().startswith("bad: FAILED: failed to load WASM file bad/bad.wasm")
    status, body = warmup.readiness()
    assert status == 200 and body["warmup"]["done"] == 2 and list(body["warmup"]["failed"]) == ["bad"]


def test_warmup_of_a_store_that_cannot_be_listed_ends(store, tmp_path):
    registry = registry_for(settings_for(store, plugins=tmp_path / "missing"))
    try:
        warmup = Warmup(registry, jobs=1)
        assert warmup.run() == []
    finally:
        registry.close()
    assert warmup.finished and "No such file or directory" in (warmup.store_error or "")
    assert warmup.readiness()[0] == 200  # nothing to wait for: readiness does not hang on it


@pytest.mark.parametrize(
    "args, message",
    [
        (["compile"], "give FILE OUTPUT (one module) or --store DIR"),
        (["compile", "a.wasm"], "give FILE OUTPUT (one module) or --store DIR"),
        (["compile", "a.wasm", "a.so", "--store", "plugins"], "give FILE OUTPUT or --store DIR, not both"),
        (["compile", "--store", "plugins", "--fuel"], "--fuel and --max-memory-pages do not apply to --store"),
        (["compile", "a.wasm", "a.so", "--jobs", "2"], "--jobs and --strict go with --store DIR"),
        (["compile", "--store", "plugins", "--jobs", "0"], "--jobs: expected a whole number of at least 1, got '0'"),
    ],
)
def test_compile_argument_errors_say_what_to_give(capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        cli(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "wasmedge-py compile: error: " in err and message in err


def test_compile_store_errors_are_one_line(tmp_path):
    done = compile_store(tmp_path / "missing", tmp_path / "aot")
    assert (done.returncode, done.stdout) == (1, "")
    assert (
        done.stderr
        == f"wasmedge-py: error: {tmp_path / 'missing'}: plugin store unavailable: No such file or directory\n"
    )
    (tmp_path / "shared").mkdir(mode=0o777)
    (tmp_path / "shared").chmod(0o777)
    done = compile_store(tmp_path, tmp_path / "shared")
    assert done.returncode == 1 and "AOT cache directory must be owned by the current user" in done.stderr
