"""The bounded thread pool, and the one isolated plugin lifecycle it runs per request.

Why threads: a plugin call is a native call made through cffi, which releases the GIL, so N
threads really run N plugins at once while the event loop stays free for other requests.

Why bounded: each request holds a slot from the moment it is accepted until its thread has
finished (even after the request gave up waiting), so at most ``workers`` plugins run and at
most ``queue`` requests wait; the next one is refused at once (``QueueFull`` -> 503) instead of
piling up memory and latency.

Why a fresh instance per request: nothing is shared between requests but the validated module,
so a plugin cannot leak state from one caller to the next, and a trap only loses that instance.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from typing import Any, Callable, TypeVar

from wasmedge_py import Plugin, PluginCodeError, PluginLoadError, WasmEdgeError, load_plugin

from .registry import Entry, Registry

log = logging.getLogger(__name__)

T = TypeVar("T")

# What the client is told failed, by lifecycle step (the original service's wording).
STEP_FAILURES = {
    "load": "failed to load plugin",
    "initialize": "failed to initialize plugin",
    "execute": "failed to execute plugin",
    "cleanup": "failed to clean up plugin",
}


I32_MIN, I32_MAX = -(2**31), 2**31 - 1


class BadInput(ValueError):
    """The input does not fit the plugin's ABI: v1 takes a 32-bit signed integer (400)."""


def v1_input(x: Any) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise BadInput("input must be an integer")
    if not I32_MIN <= x <= I32_MAX:
        raise BadInput(f"input out of range: must be a 32-bit signed integer ({I32_MIN}..{I32_MAX})")
    return x


class QueueFull(Exception):
    """Every thread is busy and the queue in front of them is full."""

    retry_after = 1  # seconds; a run is normally far shorter than this

    def __init__(self, capacity: int) -> None:
        super().__init__(f"server busy: {capacity} requests running or queued, try again later")


class PoolTimeout(Exception):
    """The job ran longer than the caller was willing to wait (it goes on in its thread)."""


class RunTimeout(Exception):
    """A plugin run exceeded the request timeout; ``step`` is where it was at the time."""

    def __init__(self, step: str, timeout_ms: int) -> None:
        super().__init__(f"{STEP_FAILURES[step]}: timed out after {timeout_ms} ms")
        self.step = step


class LifecycleError(Exception):
    """A lifecycle step failed; ``cause`` is the binding's exception, the message is for clients."""

    def __init__(self, step: str, cause: WasmEdgeError, message: str) -> None:
        super().__init__(f"{STEP_FAILURES[step]}: {message}")
        self.step = step
        self.cause = cause


class _Clock:
    """When a job's timed part started, on the event loop's clock; written once by its thread."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started: float | None = None

    def start(self) -> None:
        if self.started is None:
            self.started = time.monotonic()  # the clock asyncio's loop.time() reads


class Pool:
    """A thread pool with a hard limit on running + waiting jobs, and a timeout that starts when
    a thread picks the job up (time spent queued is bounded by the queue, not counted)."""

    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("need workers >= 1 and queue >= 0")
        self.workers = workers
        self.capacity = workers + queue
        self._threads = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="plugin")
        self._lock = threading.Lock()
        self._pending = 0  # accepted and not yet finished (running + waiting)
        self._running = 0

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        with self._lock:
            return max(0, self._pending - self._running)

    async def run(self, fn: Callable[..., T], *args: Any, timeout: float | None = None, deferred_start: bool = False) -> T:
        """Run ``fn(*args)`` on a pool thread. Raises ``QueueFull`` at once when the pool is
        full, ``PoolTimeout`` when it has run ``timeout`` seconds (the thread finishes on its own).

        With ``deferred_start`` the clock starts when the job says so: it is called as
        ``fn(start_clock, *args)`` and calls ``start_clock()`` once its untimed part is done."""
        with self._lock:
            if self._pending >= self.capacity:
                raise QueueFull(self.capacity)
            self._pending += 1
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[T] = loop.create_future()
        # When the timed part started (loop.time()); written by the job's thread. The loop is not
        # woken for it: the timer below checks it when it fires (one wake-up per run, not two).
        clock = _Clock()

        def job() -> T:
            if not deferred_start:
                clock.start()
            with self._lock:
                self._running += 1
            try:
                return fn(clock.start, *args) if deferred_start else fn(*args)
            finally:
                with self._lock:
                    self._running -= 1

        def check_deadline() -> None:
            if outcome.done():
                return
            now = loop.time()
            if clock.started is not None and now >= clock.started + timeout:
                outcome.set_exception(PoolTimeout())
                return
            # Not started yet (queued, or in its untimed part): look again a timeout later.
            wake_at = clock.started + timeout if clock.started is not None else now + timeout
            timers[0] = loop.call_at(wake_at, check_deadline)

        def settle(done: concurrent.futures.Future[T]) -> None:
            for timer in timers:
                timer.cancel()
            if outcome.done():  # timed out or cancelled: nobody waits for this any more
                if not done.cancelled():
                    done.exception()
                return
            if done.cancelled():
                outcome.cancel()
            elif done.exception() is not None:
                outcome.set_exception(done.exception())
            else:
                outcome.set_result(done.result())

        def finished(done: concurrent.futures.Future[T]) -> None:
            self._finished(done)
            try:
                loop.call_soon_threadsafe(settle, done)
            except RuntimeError:  # the loop is gone: nobody waits for this any more
                pass

        try:
            done = self._threads.submit(job)
        except RuntimeError:  # shut down
            self._finished(None)
            raise
        timers: list[asyncio.TimerHandle] = []
        if timeout is not None:
            timers.append(loop.call_later(timeout, check_deadline))
        done.add_done_callback(finished)
        try:
            return await outcome
        except asyncio.CancelledError:
            done.cancel()  # frees the slot if it had not started; a running job finishes
            raise

    def _finished(self, _future: object) -> None:
        with self._lock:
            self._pending -= 1

    def shutdown(self) -> None:
        """Drop jobs that have not started; running ones finish (the engine's timeout bounds them)."""
        self._threads.shutdown(wait=False, cancel_futures=True)


class _Progress:
    """The step a run is at, written by its thread and read when the request gives up on it."""

    __slots__ = ("step",)

    def __init__(self) -> None:
        self.step = "load"


class PluginRunner:
    """Runs ``init -> process(x) -> cleanup -> free`` in a fresh instance of the plugin's cached
    module, on the pool."""

    def __init__(self, registry: Registry, pool: Pool, timeout_ms: int) -> None:
        self.registry = registry
        self.pool = pool
        self.timeout_ms = timeout_ms

    async def run(self, name: str, x: Any) -> Any:
        """Plugin ``name``'s answer to ``x``: ``process(x)`` for ABI v1 (``x`` must be an i32,
        else ``BadInput``), ``call_json(x)`` for ABI v2. Raises the registry's lookup errors,
        ``BadInput``, ``LifecycleError``, ``QueueFull`` or ``RunTimeout``."""
        progress = _Progress()
        try:
            return await self.pool.run(self._lifecycle, name, x, progress, timeout=self.timeout_ms / 1000, deferred_start=True)
        except PoolTimeout:
            raise RunTimeout(progress.step, self.timeout_ms) from None

    def _lifecycle(self, start_clock: Callable[[], None], name: str, x: Any, progress: _Progress) -> Any:
        """The request's timeout starts once the plugin's module is ready: compiling a new
        version (bounded by the compile limits) is the service's cost, not the plugin's run."""
        try:
            with self.registry.lease(name) as entry:
                start_clock()
                return self._run(entry, x, progress)
        except PluginLoadError as exc:  # the cached version itself is broken
            raise self._failed("load", exc) from None

    def _run(self, entry: Entry, x: Any, progress: _Progress) -> Any:
        try:
            plugin = load_plugin(entry.path, entry.limits, module=entry.module)
        except WasmEdgeError as exc:
            raise self._failed("load", exc) from None
        with plugin:  # frees the instance whatever happens below
            if plugin.abi_major == 1:
                x = v1_input(x)
            progress.step = "initialize"
            try:
                plugin.init()
            except WasmEdgeError as exc:
                raise self._failed("initialize", exc) from None
            progress.step = "execute"
            try:
                output = plugin.call_json(x) if plugin.abi_major == 2 else plugin.execute(x)
            except PluginCodeError as exc:
                # The plugin answered normally (with an error code): its state is sound, clean up.
                self._cleanup(plugin, entry.name, progress)
                raise self._failed("execute", exc) from None
            except WasmEdgeError as exc:
                # A trap or timeout leaves the instance in an undefined state: it is discarded
                # without calling into it again.
                raise self._failed("execute", exc) from None
            self._cleanup(plugin, entry.name, progress)
            return output

    @staticmethod
    def _cleanup(plugin: Plugin, name: str, progress: _Progress) -> None:
        """A failing cleanup is the plugin's problem, not the caller's: log it, keep the answer."""
        progress.step = "cleanup"
        try:
            plugin.cleanup()
        except WasmEdgeError as exc:
            log.warning("plugin %s: cleanup failed (the request still succeeds): %s", name, exc)

    def _failed(self, step: str, exc: WasmEdgeError) -> LifecycleError:
        return LifecycleError(step, exc, self.registry.redact(str(exc)))
