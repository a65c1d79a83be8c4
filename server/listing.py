"""The store's listing on the event loop: a request for a plugin the store does not hold is
answered 404 there, without a thread hop per request, and without the loop ever touching the
store itself (a hung mount blocks a store thread, never the loop).

The loop keeps the names found by the last scan of the store's directory. A name in it (or one
the registry has a module cached for) goes the usual way: its files are ``stat``-ed on a store
thread, which answers 404 if it has been deleted since (and frees the cached module). A name not
in it is answered from a scan *started after the request arrived*, so a plugin created before a
request was sent is always found: requests that miss wait for the next scan, one scan runs at a
time (on a store thread, ``StoreIO``), and every request that missed while one ran is answered by
the one after it. A flood of unknown names thus costs one scan per batch of requests. A scan that fails (the store is unreadable) sends its requests the usual way, which
answers as it always has; one that does not return within the store timeout is 503, and so is
every miss until it returns (it holds one store thread, as a hung ``stat`` would).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Container

from .storeio import StoreIO, StoreUnavailable

log = logging.getLogger(__name__)

WHAT = "the store's listing"


class StoreListing:
    """The plugin directories' names, as an event loop's requests need them. Used from one loop."""

    def __init__(self, io: StoreIO, scan: Callable[[], list[str]], cached: Container[str] = ()) -> None:
        """``scan()`` lists the store (on a store thread); when it fails, the usual path answers.
        Names in ``cached`` (the registry's loaded plugins) always go the usual way."""
        self._io = io
        self._scan = scan
        self._cached = cached
        self._names: frozenset[str] = frozenset()
        self._scans = 0  # scans started: the key of the one in flight
        self._started: float | None = None  # loop.time() the scan in flight started at, if any
        self._timer: asyncio.TimerHandle | None = None
        self._answered_by_this: list[asyncio.Future[frozenset[str] | None]] = []  # the scan in flight
        self._answered_by_next: list[asyncio.Future[frozenset[str] | None]] = []  # arrived during it

    async def may_hold(self, name: str) -> bool:
        """False if the store has no directory ``name`` (as of now or later); True if it has
        one or cannot say (its files' ``stat`` decides). ``StoreUnavailable`` when the listing
        does not return within the store timeout."""
        if name in self._names or name in self._cached:
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[frozenset[str] | None] = loop.create_future()
        if self._started is None:  # no scan in flight: one starts once this loop turn's misses are in
            if not self._answered_by_this:
                loop.call_soon(self._start, loop)
            self._answered_by_this.append(waiter)
        elif loop.time() - self._started >= self._io.timeout:
            raise self._hung(loop.time() - self._started)
        else:
            self._answered_by_next.append(waiter)
        names = await waiter
        return names is None or name in names

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Scan for the requests in ``_answered_by_this``, all of which arrived before now."""
        self._scans += 1
        scan = self._scans
        try:
            self._io.submit(("listing", scan), WHAT, lambda: self._run(loop, scan))
        except StoreUnavailable as exc:  # refused at once: the server is shutting down
            self._fail(exc)
            return
        self._started = loop.time()
        self._timer = loop.call_later(self._io.timeout, self._expire, scan)

    def _run(self, loop: asyncio.AbstractEventLoop, scan: int) -> None:
        """On a store thread: scan, and hand the names (None: the scan failed) to the loop."""
        try:
            names: frozenset[str] | None = frozenset(self._scan())
        except Exception:  # noqa: BLE001 - the usual path answers for an unreadable store
            names = None
        try:
            loop.call_soon_threadsafe(self._finished, scan, names)
        except RuntimeError:  # the loop has closed (a hung scan returning after the shutdown)
            pass

    def _finished(self, scan: int, names: frozenset[str] | None) -> None:
        if scan != self._scans:
            return
        if names is not None:
            self._names = names
        if self._timer is not None:
            self._timer.cancel()
        self._started = self._timer = None
        answered, self._answered_by_this = self._answered_by_this, []
        for waiter in answered:
            if not waiter.done():  # its request may have been cancelled
                waiter.set_result(names)
        if self._answered_by_next:
            self._answered_by_this, self._answered_by_next = self._answered_by_next, []
            loop = asyncio.get_running_loop()
            loop.call_soon(self._start, loop)

    def _expire(self, scan: int) -> None:
        """The scan has not returned within the store timeout: every waiting request is 503, and
        so are misses until it returns."""
        if scan == self._scans and self._started is not None:
            log.warning(
                "plugin store: reading %s has not returned after %.0f ms; it holds a store thread until it does",
                WHAT,
                self._io.timeout * 1000,
            )
            self._fail(self._hung(self._io.timeout))

    def _fail(self, exc: StoreUnavailable) -> None:
        waiting = self._answered_by_this + self._answered_by_next
        self._answered_by_this, self._answered_by_next = [], []
        for waiter in waiting:
            if not waiter.done():
                waiter.set_exception(exc)

    def _hung(self, seconds: float) -> StoreUnavailable:
        return StoreUnavailable(f"plugin store unavailable: reading {WHAT} has not returned for {seconds:.1f} s")
