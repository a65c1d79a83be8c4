"""Metrics that add up across processes: under gunicorn with two workers (with and without
``--preload``) one scrape of /metrics reports the whole server, per-plugin CPU time and fuel
included; and the same per-plugin counters in one process."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from support.server import (
    GUNICORN_CONF,
    Samples,
    clean_env,
    free_port,
    gunicorn_command,
    metric_samples,
    post,
    wait_until_serving,
)

from wasmedge_py import PluginLimits, run_plugin
from wasmedge_py.runtime import RunUsage

FUEL = 1_000_000
REQUESTS = "wasmedge_py_requests_total"
FUEL_USED = "wasmedge_py_plugin_fuel_used_total"


def fuel_per_run(hello: Path) -> int:
    """What one hello lifecycle costs in fuel, measured in this process (it is deterministic)."""
    usage = RunUsage()
    assert run_plugin(hello, 21, PluginLimits(fuel=FUEL), usage=usage) == 43
    assert usage.fuel_used is not None and usage.fuel_used > 0 and usage.cpu_seconds > 0
    return usage.fuel_used


def per_plugin(samples: Samples, name: str) -> dict[str, float]:
    """Sample ``name``'s value by its plugin label."""
    return {dict(labels)["plugin"]: value for (sample, labels), value in samples.items() if sample == name}


async def test_one_process_counts_cpu_and_fuel_per_plugin(client, store, hello_wasm):
    store.add("fueled", "hello", manifest=f"fuel = {FUEL}\n")
    for name in ("hello", "fueled", "fueled"):
        response = await client.post("/run", json={"plugin": name, "input": 21})
        assert response.status == 200, await response.text()
    # CPU and fuel are counted once a lifecycle is over, after its cleanup: the answer may come first.
    while (samples := metric_samples(await (await client.get("/metrics")).text()))[("wasmedge_py_in_flight", ())]:
        await asyncio.sleep(0.01)
    cpu = per_plugin(samples, "wasmedge_py_plugin_cpu_seconds_total")
    assert cpu["hello"] > 0 and cpu["fueled"] > 0
    assert per_plugin(samples, FUEL_USED) == {"fueled": 2 * fuel_per_run(hello_wasm)}
    assert samples[("wasmedge_py_processes", ())] == 1


# -- gunicorn: real processes --------------------------------------------------------------------


def served_by_pid(directory: Path) -> dict[int, float]:
    """/run requests counted by each process, from its own counter file (no pid label there)."""
    served = {}
    for path in directory.glob("counter_*.db"):
        samples = [s for m in MultiProcessCollector.merge([str(path)]) for s in m.samples if s.name == REQUESTS]
        if samples:
            served[int(path.stem.split("_")[1])] = sum(s.value for s in samples)
    return served


def send_until_both_workers_served(base: str, directory: Path) -> dict[str, int]:
    """Requests (on new connections, several at once) until both workers have answered some:
    how many went to each plugin, all answered 200 with 43."""
    sent = {"hello": 0, "fueled": 0}
    with ThreadPoolExecutor(8) as threads:
        while len(served_by_pid(directory)) < 2:
            assert sum(sent.values()) < 400, f"one worker served everything: {served_by_pid(directory)}"
            names = ["hello", "fueled"] * 10
            answers = threads.map(lambda name: post(f"{base}/run", {"plugin": name, "input": 21}), names)
            assert list(answers) == [(200, {"output": 43})] * len(names)
            for name in names:
                sent[name] += 1
    return sent


def write_stale_counter(directory: Path) -> None:
    """What an earlier run would have left: the server start must not add it up."""
    directory.mkdir()
    stale = MmapedDict(str(directory / "counter_99999999.db"))
    key = mmap_key(REQUESTS, REQUESTS, ["plugin", "status"], ["hello", "200"], "stale")
    stale.write_value(key, 1000.0, 0.0)
    stale.close()


@pytest.mark.slow
@pytest.mark.parametrize("preload", [False, True], ids=["import-in-workers", "preload"])
def test_one_scrape_reports_every_gunicorn_worker(spawn, store, tmp_path, hello_wasm, preload):
    """Without --preload the operator names the directory (emptied at start). With it the config
    makes a temporary one (removed at exit), and the app is made in the master before the fork: it
    must start nothing there that a forked worker would lose."""
    store.add("fueled", "hello", manifest=f"fuel = {FUEL}\n")
    env = clean_env(WASMEDGE_PY_PLUGINS=str(store.root), WASMEDGE_PY_WORKERS="2")
    if preload:
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    else:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
        write_stale_counter(tmp_path / "metrics")
    port = free_port()
    flags = [*GUNICORN_CONF, "--graceful-timeout", "5", *(["--preload"] if preload else [])]
    process, lines = spawn(gunicorn_command(port, 2, *flags), env)
    directory = Path(lines.wait_for(r"metrics of every worker in (\S+)").group(1))
    if not preload:
        assert directory == tmp_path / "metrics" and not (directory / "counter_99999999.db").exists()
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(base, lines)
    # The master made the app (with --preload) but started nothing a fork would lose: no stdio
    # router, no watchdog, no pool or store threads.
    assert len(os.listdir(f"/proc/{process.pid}/task")) == 1

    sent = send_until_both_workers_served(base, directory)
    expected_fuel = {"fueled": sent["fueled"] * fuel_per_run(hello_wasm)}
    samples = scrape_until(base, lambda samples: per_plugin(samples, FUEL_USED) == expected_fuel)
    assert per_plugin(samples, REQUESTS) == sent  # exactly: both workers, each request once
    assert sum(served_by_pid(directory).values()) == sum(sent.values())
    cpu = per_plugin(samples, "wasmedge_py_plugin_cpu_seconds_total")
    assert cpu["hello"] > 0 and cpu["fueled"] > 0
    assert samples[("wasmedge_py_request_duration_seconds_count", (("plugin", "hello"),))] == sent["hello"]
    assert samples[("wasmedge_py_processes", ())] == 2  # the master (with --preload too) adds nothing
    assert samples[("wasmedge_py_workers", ())] == 4  # threads: 2 per process

    # A worker that dies: its counters stay in the sum, its live gauges go with it (child_exit).
    old = set(served_by_pid(directory))
    os.kill(min(old), signal.SIGKILL)
    wait_for_replacement(directory, old | {process.pid})
    assert not (directory / f"gauge_livesum_{min(old)}.db").exists()
    samples = metric_samples(scrape(base))
    assert per_plugin(samples, REQUESTS) == sent
    assert samples[("wasmedge_py_processes", ())] == 2

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    assert directory.exists() != preload  # the operator's directory stays, a temporary one goes


def scrape(base: str) -> str:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        return response.read().decode()


def scrape_until(base: str, settled: Callable[[Samples], bool], timeout: float = 10.0) -> Samples:
    """Scrape until ``settled``: CPU and fuel are counted once a lifecycle is over, after its
    cleanup, and the answer may come before that."""
    deadline = time.monotonic() + timeout
    while not settled(samples := metric_samples(scrape(base))):
        assert time.monotonic() < deadline, samples
        time.sleep(0.05)
    return samples


def wait_for_replacement(directory: Path, known: set[int], timeout: float = 20.0) -> None:
    """Until the worker gunicorn starts in place of a dead one has written its gauges."""
    deadline = time.monotonic() + timeout
    while True:
        for path in directory.glob("gauge_livesum_*.db"):
            if int(path.stem.rsplit("_", 1)[1]) not in known:
                gauges = MultiProcessCollector.merge([str(path)])
                if any(s.name == "wasmedge_py_processes" and s.value == 1 for m in gauges for s in m.samples):
                    return
        assert time.monotonic() < deadline, "no replacement worker"
        time.sleep(0.05)
