"""The pool on its own, with plain Python jobs: how many threads it keeps, and the cap on abandoned
ones (the service tests drive it with real plugins)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from support.server import wait_until

import server.pool
from server.pool import PluginBusy, Pool, PoolTimeout, QueueFull


def pool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("plugin-")]


async def test_many_jobs_of_many_plugins_run_on_at_most_workers_threads():
    pool = Pool(2, 64)
    before = len(pool_threads())
    most = 0

    def job(x: int) -> int:
        nonlocal most
        most = max(most, len(pool_threads()) - before)
        return 2 * x

    try:
        results = await asyncio.gather(*(pool.run(job, i, key=f"p{i % 5}") for i in range(60)))
        assert results == [2 * i for i in range(60)]
        assert most <= 2 and (pool.running, pool.waiting) == (0, 0)
    finally:
        pool.shutdown()
    await wait_until(lambda: len(pool_threads()) == before)  # idle threads end with the pool


async def test_abandoned_threads_are_capped(monkeypatch):
    """Past 4 abandoned threads per worker, a stuck job keeps its worker: capacity shrinks rather
    than threads pile up without bound."""
    monkeypatch.setattr(server.pool, "ABANDON_AFTER_S", 0.05)
    pool = Pool(1, 8)
    assert pool.max_abandoned == 4
    release = threading.Event()
    stuck = [asyncio.ensure_future(pool.run(release.wait, key=f"p{i}", timeout=0.05)) for i in range(6)]
    try:
        await wait_until(lambda: pool.abandoned == 4 and pool.running == 5, timeout=5)
        await asyncio.sleep(0.2)
        assert (pool.abandoned, pool.running, pool.waiting) == (4, 5, 1)  # the sixth has no thread
    finally:
        release.set()
    for job in stuck[:5]:
        with pytest.raises(PoolTimeout):
            await job
    assert await stuck[5] is True  # it only started once the others had returned
    await wait_until(lambda: (pool.abandoned, pool.running, pool.waiting) == (0, 0, 0))
    pool.shutdown()


async def test_waiting_jobs_are_served_round_robin_over_plugins_within_their_limits():
    """One thread, held by a job of plugin a: a's backlog must not keep b's job behind it, and a
    plugin past its own queue share (or everyone past the whole queue) is refused at once."""
    pool = Pool(1, 4, plugin_queue=3)
    release = threading.Event()
    order: list[str] = []

    def job(name: str) -> None:
        if name == "a0":
            release.wait()
        order.append(name)

    try:
        first = asyncio.ensure_future(pool.run(job, "a0", key="a"))
        await wait_until(lambda: pool.running == 1)
        queued = [asyncio.ensure_future(pool.run(job, name, key="a")) for name in ("a1", "a2", "a3")]
        queued.append(asyncio.ensure_future(pool.run(job, "b1", key="b")))
        await wait_until(lambda: pool.waiting == 4)
        with pytest.raises(PluginBusy):  # a already has its 3 waiting
            await pool.run(job, "a4", key="a")
        with pytest.raises(QueueFull) as full:  # 4 waiting in all
            await pool.run(job, "c1", key="c")
        assert type(full.value) is QueueFull  # not c's share (PluginBusy is a QueueFull)
        release.set()
        await asyncio.gather(first, *queued)
        assert order == ["a0", "a1", "b1", "a2", "a3"]
    finally:
        release.set()
        pool.shutdown()
