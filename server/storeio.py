"""Store I/O: every access to the plugin store runs on a few threads of its own, and whoever asked
waits for it only until a deadline.

A store may be a network mount, and a ``stat`` or ``read`` on a hung one can block in the kernel
for ever. Python cannot interrupt or kill a thread in such a call, so it must never happen on a
thread that matters: here it holds one store thread, and the request that asked is answered 503
at its deadline.

What a hung store can cost is bounded. Each access has a key (one plugin's files, or the store's
listing), and one access per key is in flight at a time: a caller that needs a key already in
flight waits for that access instead of starting another (single flight), so a plugin whose files
hang holds at most one thread however often it is asked for; once that access is past its
timeout, callers are refused at once. At most ``threads`` accesses run and ``backlog`` more wait;
beyond that, callers are refused at once too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Callable, Generic, Hashable, TypeVar

from .errors import RetryLater

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_STORE_THREADS = 4
BACKLOG = 64


class StoreUnavailable(RetryLater):
    """The store itself cannot be read (mount gone, permission, I/O error, or it does not answer):
    retry later (503), not 404."""

    retry_after = 5  # seconds: a store comes back (a remount, say) slower than a busy pool frees up


class _Access(Generic[T]):
    """One access in flight, and its outcome once ``done`` is set."""

    __slots__ = ("what", "fn", "started", "done", "value", "error", "reported")

    def __init__(self, what: str, fn: Callable[[], T]) -> None:
        self.what = what
        self.fn = fn
        self.started: float | None = None  # time.monotonic() when a thread took it
        self.done = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None
        self.reported = False  # its hang has been logged


class StoreIO:
    """Runs store accesses on at most ``threads`` daemon threads (started as needed): a thread
    stuck in the kernel never holds up the process's exit."""

    def __init__(self, threads: int, timeout: float, backlog: int = BACKLOG) -> None:
        if threads < 1 or timeout <= 0:
            raise ValueError("need threads >= 1 and timeout > 0")
        self.threads = threads
        self.timeout = timeout
        self.capacity = threads + backlog
        self._cond = threading.Condition()
        self._in_flight: dict[Hashable, _Access] = {}
        self._queue: deque[tuple[Hashable, _Access]] = deque()
        self._started = 0
        self._idle = 0
        self._closed = False

    def deadline(self) -> float:
        """A deadline (``time.monotonic()``) one timeout from now."""
        return time.monotonic() + self.timeout

    @property
    def stuck(self) -> int:
        """Accesses that have run longer than the timeout and not returned."""
        now = time.monotonic()
        with self._cond:
            return sum(1 for a in self._in_flight.values() if a.started is not None and now - a.started >= self.timeout)

    def call(self, key: Hashable, what: str, fn: Callable[[], T], deadline: float) -> T:
        """``fn()`` run on a store thread, or joined if an access of ``key`` is in flight;
        ``StoreUnavailable`` if it has not returned by ``deadline``. ``what`` names it in messages
        ("reading <what> ...")."""
        now = time.monotonic()
        access = self._join_or_start(key, what, fn, now)
        if not access.done.wait(max(0.0, deadline - now)):
            self._report(access)
            raise StoreUnavailable(
                f"plugin store unavailable: reading {what} took longer than {self.timeout * 1000:.0f} ms"
            )
        if access.error is not None:
            raise access.error
        return access.value  # type: ignore[return-value]

    def submit(self, key: Hashable, what: str, fn: Callable[[], object]) -> None:
        """Start ``fn()`` on a store thread and return at once: ``fn`` hands its outcome over
        itself (to an event loop, say), and whoever waits for it keeps the deadline. ``key`` must
        not be in flight (``ValueError``): joining would never run ``fn``."""
        self._join_or_start(key, what, fn, time.monotonic(), join=False)

    def _join_or_start(self, key: Hashable, what: str, fn: Callable[[], T], now: float, join: bool = True) -> _Access:
        """The access of ``key`` in flight (``ValueError`` unless ``join``), or a new one queued
        for a store thread; refused (``StoreUnavailable``) when the one in flight is past its
        timeout or the store is full."""
        with self._cond:
            access = self._in_flight.get(key)
            if access is not None and not join:
                raise ValueError(f"an access of {key!r} is already in flight")
            if access is None:
                if self._closed:
                    raise StoreUnavailable("plugin store unavailable: the server is shutting down")
                if len(self._in_flight) >= self.capacity:
                    raise StoreUnavailable(f"plugin store unavailable: {len(self._in_flight)} reads of it are pending")
                access = self._in_flight[key] = _Access(what, fn)
                self._queue.append((key, access))
                if len(self._queue) > self._idle and self._started < self.threads:
                    self._started += 1
                    threading.Thread(target=self._work, name=f"store-io-{self._started}", daemon=True).start()
                self._cond.notify()
            elif access.started is not None and now - access.started >= self.timeout:
                raise StoreUnavailable(
                    f"plugin store unavailable: reading {what} has not returned for {now - access.started:.1f} s"
                )
        return access

    def _report(self, access: _Access) -> None:
        with self._cond:
            first, access.reported = not access.reported, True
        if first:
            log.warning(
                "plugin store: reading %s has not returned after %.0f ms; it holds a store thread until it does",
                access.what,
                self.timeout * 1000,
            )

    def _work(self) -> None:
        while True:
            with self._cond:
                self._idle += 1
                while not self._queue and not self._closed:
                    self._cond.wait()
                self._idle -= 1
                if not self._queue:  # closed
                    return
                key, access = self._queue.popleft()
                access.started = time.monotonic()
            try:
                access.value = access.fn()
            except BaseException as exc:  # noqa: BLE001 - handed to every caller waiting for it
                access.error = exc
            with self._cond:
                del self._in_flight[key]
            if access.reported:
                log.warning(
                    "plugin store: reading %s returned after %.1f s", access.what, time.monotonic() - access.started
                )
            access.done.set()

    def close(self) -> None:
        """Refuse new accesses and let idle threads end; waiting ones fail, running ones finish
        (or hang) on their own."""
        with self._cond:
            self._closed = True
            waiting, self._queue = list(self._queue), deque()
            for key, access in waiting:
                del self._in_flight[key]
            self._cond.notify_all()
        for _key, access in waiting:
            access.error = StoreUnavailable("plugin store unavailable: the server is shutting down")
            access.done.set()
