"""The bounded, fair thread pool that runs plugin requests (``runner``) off the event loop.

Why threads: a plugin call is a native call made through cffi, which releases the GIL, so N
threads really run N plugins at once while the event loop stays free for other requests. Runs
that need no Python (``Pool.run(native=...)``) do not even take a pool thread: the loop starts
them on the extension's native threads (wasmedge_py/native_workers.py) and the pool only keeps
their accounting.

Why bounded and fair: at most ``workers`` plugins run and at most ``queue`` requests wait; the
next one is refused at once (``QueueFull`` -> 503) instead of piling up memory and latency. Each
plugin has its own share of both (``Pool``), taken round robin, so one plugin's flood or runaways
cannot make the others wait; a run that outlives its deadline is abandoned to a thread of its own.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import threading
import time
from typing import Any, Callable, TypeVar

from wasmedge_py import PluginLimits

from .errors import RetryLater

log = logging.getLogger(__name__)

T = TypeVar("T")


class QueueFull(RetryLater):
    """Every thread is busy and the queue in front of them is full (503 with ``Retry-After``)."""

    retry_after = 1  # seconds; a run is normally far shorter than this


class PluginBusy(QueueFull):
    """One plugin is at its own share of the pool; the other plugins are not affected (503)."""


class PoolTimeout(Exception):
    """The job ran longer than the caller was willing to wait (it goes on in its thread)."""


class _Clock:
    """When a job's timed part started, on the event loop's clock; written once by its thread."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started: float | None = None

    def start(self) -> None:
        if self.started is None:
            self.started = time.monotonic()  # the clock asyncio's loop.time() reads


# A run still going this long after its deadline is abandoned: its thread is given up (it runs on
# until its call returns) and a new thread takes its place, so the pool keeps its capacity.
ABANDON_AFTER_S = 1.0
# At most this many abandoned threads per worker; past that, stuck runs keep their worker.
ABANDONED_PER_WORKER = 4

_WAITING, _RUNNING, _DONE = "waiting", "running", "done"


# How a job starts off the pool's threads: ``native(finish, to_thread)`` (see ``Pool.submit``).
Native = Callable[[Callable[[Any, BaseException | None], None], Callable[[Callable[[], Any]], None]], None]


def call_soon_from(loop: asyncio.AbstractEventLoop, loop_thread: int, fn: Callable[..., Any], *args: Any) -> None:
    """``fn(*args)`` on ``loop`` (whose thread is ``loop_thread``) soon, from any thread: from the
    loop's own thread without waking it through its self-pipe (a syscall and a loop round)."""
    if threading.get_ident() == loop_thread:
        loop.call_soon(fn, *args)
    else:
        loop.call_soon_threadsafe(fn, *args)


def default_plugin_concurrency(workers: int) -> int:
    """One worker is always left to the other plugins (when there are two or more)."""
    return max(1, workers - 1)


def default_plugin_queue(queue: int) -> int:
    """Half the queue (at least one place, if the queue has any)."""
    return min(queue, max(1, queue // 2))


def _held_by_abandoned(key: str) -> PluginBusy:
    return PluginBusy(
        f"plugin {key} busy: runs that did not stop at their deadline hold all its threads, try again later"
    )


class _Lane:
    """One plugin's part of the pool: its waiting jobs and how many of its jobs are on a thread."""

    __slots__ = ("waiting", "active", "abandoned", "concurrency")

    def __init__(self) -> None:
        self.waiting: collections.deque[_Job] = collections.deque()
        self.active = 0  # on a thread, abandoned ones included: they still count against the plugin
        self.abandoned = 0
        self.concurrency = 1


class _Job:
    """One accepted run: ``call()`` does the work on a pool thread, ``report(result, error)``
    hands the outcome to the event loop (thread-safe)."""

    __slots__ = ("key", "lane", "call", "report", "clock", "state", "abandoned", "kept", "native")

    def __init__(
        self,
        key: str,
        lane: _Lane,
        call: Callable[[], Any],
        report: Callable[[Any, BaseException | None], None],
        clock: _Clock,
    ) -> None:
        self.key = key
        self.lane = lane
        self.call = call
        self.report = report
        self.clock = clock
        self.state = _WAITING
        self.abandoned = False
        self.kept = False  # past the abandonment time, but kept its worker (too many abandoned)
        self.native: Callable[[], None] | None = None  # starts it off Python threads (``Pool.run``)


class _Idle:
    """A pool thread waiting for work: the job given to it, and how to wake it (on the pool's lock)."""

    __slots__ = ("job", "wake")

    def __init__(self, lock: threading.Lock) -> None:
        self.job: _Job | None = None
        self.wake = threading.Condition(lock)


class Pool:
    """``workers`` threads shared fairly by the plugins (the ``key`` of each job).

    Each plugin has a queue of its own; a free thread takes the next job round robin over the
    plugins that are under their concurrency limit, so a flood of one plugin's requests waits
    behind itself, not in front of everyone. Limits: a plugin runs at most ``plugin_concurrency``
    jobs at once (default: all workers but one) and has at most ``plugin_queue`` waiting (default:
    half the queue), else ``PluginBusy``; all plugins together have at most ``queue`` waiting,
    else ``QueueFull``. A plugin's ``PluginLimits.max_concurrency``/``max_queue`` override its
    share (up to ``workers``/``queue``).

    The timeout starts when the job says so (or when a thread picks it up); past it the caller
    gets ``PoolTimeout`` while the job goes on. A job still running ``ABANDON_AFTER_S`` later is
    abandoned: a new thread replaces its one (so capacity is kept) while the job keeps counting
    against its plugin's concurrency until it really ends. Threads are daemons: a call that
    never returns does not keep the process from exiting."""

    def __init__(
        self, workers: int, queue: int, plugin_concurrency: int | None = None, plugin_queue: int | None = None
    ) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("need workers >= 1 and queue >= 0")
        self.workers = workers
        self.queue = queue
        self.plugin_concurrency = min(workers, plugin_concurrency or default_plugin_concurrency(workers))
        self.plugin_queue = min(queue, default_plugin_queue(queue) if plugin_queue is None else plugin_queue)
        self.max_abandoned = ABANDONED_PER_WORKER * workers
        self._lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}
        self._order: collections.deque[str] = collections.deque()  # plugins with waiting jobs, next first
        self._idle: list[_Idle] = []  # threads waiting for a job, most recently idle last
        self._free = workers  # worker slots no job holds
        self._waiting = 0
        self._running = 0  # on a thread, abandoned included
        self._abandoned = 0
        self._closed = False
        self._thread_ids = itertools.count(1)

    @property
    def running(self) -> int:
        """Jobs on a thread, abandoned ones included."""
        return self._running

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def abandoned(self) -> int:
        """Jobs running on threads that were given up and replaced."""
        return self._abandoned

    async def run(
        self,
        fn: Callable[..., T],
        *args: Any,
        key: str,
        limits: PluginLimits | None = None,
        timeout: float | None = None,
        deferred_start: bool = False,
        native: Native | None = None,
    ) -> T:
        """``submit``, then wait for the outcome; cancelled, a job that has not started leaves."""
        outcome, job = self.submit(
            fn, *args, key=key, limits=limits, timeout=timeout, deferred_start=deferred_start, native=native
        )
        try:
            return await outcome
        except asyncio.CancelledError:
            self.withdraw(job)
            raise

    def submit(
        self,
        fn: Callable[..., T],
        *args: Any,
        key: str,
        limits: PluginLimits | None = None,
        timeout: float | None = None,
        deferred_start: bool = False,
        native: Native | None = None,
    ) -> tuple[asyncio.Future[T], _Job]:
        """Run ``fn(*args)`` on a pool thread, in plugin ``key``'s share (``limits`` may override
        it). Raises ``PluginBusy`` or ``QueueFull`` at once when there is no room,
        ``PoolTimeout`` when it has run ``timeout`` seconds (the thread finishes on its own).

        With ``deferred_start`` the clock starts when the job says so: it is called as
        ``fn(start_clock, *args)`` and calls ``start_clock()`` once its untimed part is done.

        With ``native`` the job needs no pool thread: once granted, ``native(finish, to_thread)``
        is called on the event loop (its clock started) and starts the work elsewhere (the
        extension's native threads); it ends the job by ``finish(result, error)`` on the loop, or
        hands the rest to a pool thread by ``to_thread(fn)`` (its slot goes with it).

        Returns the outcome's future (no task: the caller awaits it or adds a callback) and the
        job, for ``withdraw``."""
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        outcome: asyncio.Future[T] = loop.create_future()
        clock = _Clock()
        timer: list[asyncio.TimerHandle] = []

        def call() -> T:
            if not deferred_start:
                clock.start()
            return fn(clock.start, *args) if deferred_start else fn(*args)

        def settle(result: Any, error: BaseException | None) -> None:
            for handle in timer:
                handle.cancel()
            if outcome.done():  # timed out or cancelled: nobody waits for this any more
                return
            if error is not None:
                outcome.set_exception(error)
            else:
                outcome.set_result(result)

        def report(result: Any, error: BaseException | None) -> None:
            try:
                call_soon_from(loop, loop_thread, settle, result, error)
            except RuntimeError:  # the loop is gone: nobody waits for this any more
                pass

        def watch(timeout: float) -> None:
            """The deadline (``PoolTimeout`` for the caller), then the abandonment check. The loop
            is not woken when a job starts: this looks at its clock when it fires."""
            if job.state == _DONE:
                return
            now = loop.time()
            if clock.started is None:  # waiting, or in its untimed part: look again a timeout later
                timer[:] = [loop.call_at(now + timeout, watch, timeout)]
                return
            deadline = clock.started + timeout
            if now < deadline:
                timer[:] = [loop.call_at(deadline, watch, timeout)]
                return
            if not outcome.done():
                outcome.set_exception(PoolTimeout())
            if now < deadline + ABANDON_AFTER_S:
                timer[:] = [loop.call_at(deadline + ABANDON_AFTER_S, watch, timeout)]
            elif not self._abandon(job):  # too many abandoned threads already: look again later
                timer[:] = [loop.call_later(ABANDON_AFTER_S, watch, timeout)]

        def finish(result: Any, error: BaseException | None) -> None:
            with self._lock:
                self._finished(job)
                job.report(result, error)
                self._dispatch()  # its slot goes to the next job (a pool thread would take it itself)

        def to_thread(fn: Callable[[], Any]) -> None:
            job.call = fn
            with self._lock:
                self._to_thread(job)

        def start_native() -> None:
            """Granted (pool lock held, on any thread): start on the loop, outside the lock."""
            assert native is not None
            clock.start()
            call_soon_from(loop, loop_thread, native, finish, to_thread)

        job = self._submit(key, limits, call, report, clock, start_native if native is not None else None)
        if timeout is not None:
            timer.append(loop.call_later(timeout, watch, timeout))
        return outcome, job

    # -- scheduling (every method below with "lock held" runs under self._lock) -------------------

    def _submit(
        self,
        key: str,
        limits: PluginLimits | None,
        call: Callable[[], Any],
        report: Callable[[Any, BaseException | None], None],
        clock: _Clock,
        native: Callable[[], None] | None = None,
    ) -> _Job:
        """Admit a job or refuse it at once (``PluginBusy``, ``QueueFull``)."""
        with self._lock:
            if self._closed:
                raise QueueFull("server shutting down")
            lane = self._lanes.get(key) or _Lane()
            concurrency, queue = self._share(limits)
            lane.concurrency = concurrency
            if lane.abandoned >= concurrency:
                raise _held_by_abandoned(key)
            if not (lane.active < concurrency and self._free > 0):  # cannot start now: it waits
                if len(lane.waiting) >= queue:
                    raise PluginBusy(
                        f"plugin {key} busy: {lane.active} running and {len(lane.waiting)} "
                        "waiting (its share of the server), try again later"
                    )
                if self._waiting >= self.queue:
                    raise QueueFull(
                        f"server busy: {self.workers - self._free} requests running and "
                        f"{self._waiting} queued, try again later"
                    )
            job = _Job(key, lane, call, report, clock)
            job.native = native
            self._lanes[key] = lane
            lane.waiting.append(job)
            self._waiting += 1
            if len(lane.waiting) == 1:
                self._order.append(key)
            self._dispatch()
            return job

    def _share(self, limits: PluginLimits | None) -> tuple[int, int]:
        """A plugin's (concurrency, queue): the pool's defaults unless its limits say otherwise."""
        concurrency, queue = self.plugin_concurrency, self.plugin_queue
        if limits is not None and limits.max_concurrency is not None:
            concurrency = min(self.workers, limits.max_concurrency)
        if limits is not None and limits.max_queue is not None:
            queue = min(self.queue, limits.max_queue)
        return concurrency, queue

    def _next(self) -> _Job | None:
        """Take the next job that may start, round robin over the plugins (lock held)."""
        if self._free == 0:
            return None
        for i, key in enumerate(self._order):
            lane = self._lanes[key]
            if lane.active < lane.concurrency:
                del self._order[i]
                job = lane.waiting.popleft()
                if lane.waiting:
                    self._order.append(key)  # its next job goes behind the other plugins'
                job.state = _RUNNING
                lane.active += 1
                self._free -= 1
                self._waiting -= 1
                self._running += 1
                return job
        return None

    def _dispatch(self) -> None:
        """Give every job that may start now to an idle thread, or to a new one (lock held)."""
        while (job := self._next()) is not None:
            if job.native is not None:
                job.native()
            else:
                self._to_thread(job)

    def _to_thread(self, job: _Job) -> None:
        """Run a granted job on an idle thread, or on a new one (lock held)."""
        if self._idle:
            idle = self._idle.pop()
            idle.job = job
            idle.wake.notify()
        else:
            name = f"plugin-{next(self._thread_ids)}"
            threading.Thread(target=self._work, args=(job,), name=name, daemon=True).start()

    def _next_for_thread(self) -> _Job | None:
        """The next job this pool thread runs; native ones are started on their way (lock held)."""
        while (job := self._next()) is not None and job.native is not None:
            job.native()
        return job

    def _take(self, idle: _Idle) -> _Job | None:
        """Wait until a job is given to this thread; None once the pool is shut down (lock held)."""
        idle.job = None
        self._idle.append(idle)
        while idle.job is None and not self._closed:
            idle.wake.wait()
        return idle.job

    def _work(self, job: _Job | None) -> None:
        """A pool thread: run jobs until the pool shuts down, or until the job it runs has been
        abandoned (a replacement thread has its slot by then)."""
        idle = _Idle(self._lock)
        while job is not None:
            try:
                result, error = job.call(), None
            except BaseException as exc:  # noqa: BLE001 - the caller's to handle
                result, error = None, exc
            with self._lock:
                keep = self._finished(job)
                job.report(result, error)  # after the bookkeeping: the caller may send the next one at once
                job = (self._next_for_thread() or self._take(idle)) if keep else None

    def _finished(self, job: _Job) -> bool:
        """Account for a job that has returned; False if its thread is no longer a worker (lock held)."""
        job.state = _DONE
        lane = job.lane
        lane.active -= 1
        self._running -= 1
        if job.abandoned:
            lane.abandoned -= 1
            self._abandoned -= 1
            self._dispatch()  # its plugin may have waiting jobs that can start now
        else:
            self._free += 1
        self._tidy(job.key, lane)
        return not job.abandoned

    def _tidy(self, key: str, lane: _Lane) -> None:
        """Forget a plugin with nothing waiting or running (lock held)."""
        if not lane.waiting and lane.active == 0 and self._lanes.get(key) is lane:
            del self._lanes[key]

    def withdraw(self, job: _Job) -> None:
        """The caller gave up: a job still waiting leaves its queue (a running job goes on)."""
        with self._lock:
            if job.state != _WAITING:
                return
            job.state = _DONE
            job.lane.waiting.remove(job)
            self._waiting -= 1
            if not job.lane.waiting:
                self._order.remove(job.key)
            self._tidy(job.key, job.lane)

    def _abandon(self, job: _Job) -> bool:
        """Give up a job's thread and start another in its place; False at the cap on abandoned
        threads. When a plugin's abandoned jobs hold all its concurrency, its waiting jobs are
        refused (``PluginBusy``) rather than left to wait for calls that may never return."""
        with self._lock:
            if job.state == _DONE or self._closed:
                return True
            if self._abandoned >= self.max_abandoned:
                first, job.kept = not job.kept, True
                if first:
                    log.warning(
                        "plugin %s: a run is still going %g s past its deadline, but %d threads are "
                        "abandoned already: it keeps its worker",
                        job.key,
                        ABANDON_AFTER_S,
                        self._abandoned,
                    )
                return False
            lane = job.lane
            job.abandoned = True
            lane.abandoned += 1
            self._abandoned += 1
            self._free += 1
            refused: list[_Job] = []
            if lane.abandoned >= lane.concurrency and lane.waiting:
                refused = list(lane.waiting)
                lane.waiting.clear()
                self._waiting -= len(refused)
                self._order.remove(job.key)
                for waiting in refused:
                    waiting.state = _DONE
            self._dispatch()
            abandoned = self._abandoned
        log.warning(
            "plugin %s: a run still going %g s past its deadline is abandoned: its thread runs on until "
            "the call returns, a new thread takes its place (%d abandoned now)",
            job.key,
            ABANDON_AFTER_S,
            abandoned,
        )
        for waiting in refused:
            waiting.report(None, _held_by_abandoned(job.key))
        return True

    def shutdown(self) -> None:
        """Refuse new jobs and the waiting ones (503); running jobs go on, on daemon threads, so
        that a call the engine cannot stop never keeps the process from exiting."""
        with self._lock:
            self._closed = True
            refused = [job for lane in self._lanes.values() for job in lane.waiting]
            for lane in self._lanes.values():
                lane.waiting.clear()
            for job in refused:
                job.state = _DONE
            self._order.clear()
            self._waiting = 0
            for idle in self._idle:
                idle.wake.notify()
            self._idle.clear()
        for job in refused:
            job.report(None, QueueFull("server shutting down"))
