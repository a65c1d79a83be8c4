"""The one ownership base for native handles: a pointer, the function that frees it, and the rules.

- ``close()`` frees the pointer exactly once and is idempotent; a finalizer does the same as a
  safety net for objects that were never closed, on the reaper thread (see ``_Reaper``).
- Using a closed object raises ``ClosedError`` instead of touching freed memory.
- An object another one depends on (a module its instances run from) is *retained* by the
  dependant; closing it while retained only marks it closed, and the pointer is freed when the
  last dependant releases it, so a handle is never freed under a live user.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import threading
import weakref
from typing import Any, Callable

from ._ffi import ffi
from .errors import ClosedError

log = logging.getLogger(__name__)


class _Owned:
    """The pointer and its deleter, kept apart from the Python object so the finalizer can run
    without resurrecting it."""

    __slots__ = ("ptr", "delete", "closed", "retained", "lock")

    def __init__(self, ptr: Any, delete: Callable[[Any], None]) -> None:
        self.ptr = ptr
        self.delete = delete
        self.closed = False
        self.retained = 0
        self.lock = threading.Lock()

    def free_if_unused(self) -> None:
        with self.lock:
            if not self.closed or self.retained or self.ptr is None:
                return
            ptr, self.ptr = self.ptr, None
        self.delete(ptr)

    def close(self) -> None:
        with self.lock:
            self.closed = True
        self.free_if_unused()


class _Reaper:
    """Frees, on a thread of its own, the handles the garbage collector found unclosed.

    A finalizer runs on whatever thread the collector interrupts, at any allocation: inside
    cffi's declaration parser (ABI mode parses ``ffi.new``/``ffi.cast`` type strings under the
    FFI's non-reentrant lock) or inside one of the binding's own locks. Freeing there calls back
    into the same lock and the thread deadlocks on itself. So a finalizer only queues the handle
    (``SimpleQueue.put`` is safe from finalizers) and this thread frees it, taking the locks as
    any other caller would."""

    def __init__(self) -> None:
        self._collected: queue.SimpleQueue[_Owned | threading.Event] = queue.SimpleQueue()
        self._started_in: int | None = None  # the process whose reaper thread runs
        self._start_lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget_thread)

    def ensure_running(self) -> None:
        """Start the thread in this process (called for each new handle, never by a finalizer)."""
        if self._started_in == os.getpid():
            return
        with self._start_lock:
            if self._started_in != os.getpid():
                threading.Thread(target=self._run, name="wasmedge-py-reaper", daemon=True).start()
                self._started_in = os.getpid()

    def collected(self, owned: _Owned) -> None:
        """The finalizer: hand the handle over, nothing else."""
        self._collected.put(owned)

    def wait(self, timeout: float) -> bool:
        """Wait until every handle queued so far is freed; False after ``timeout`` seconds."""
        self.ensure_running()
        done = threading.Event()
        self._collected.put(done)
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            owned = self._collected.get()
            if isinstance(owned, threading.Event):  # wait(): everything before it is freed
                owned.set()
                continue
            try:
                owned.close()
            except Exception:  # one failed delete must not stop the freeing of the others
                log.exception("freeing a collected WasmEdge handle failed")
            del owned  # not kept alive while the queue is empty

    def _forget_thread(self) -> None:
        """After fork: the thread did not come along (the next handle starts one)."""
        self._start_lock = threading.Lock()
        self._started_in = None


_REAPER = _Reaper()


def free_collected(timeout: float = 5.0) -> bool:
    """Collect garbage and wait until the reaper has freed every unclosed handle it found (leak
    accounting, tests); False if it has not within ``timeout`` seconds."""
    gc.collect()
    return _REAPER.wait(timeout)


class Handle:
    """Base for every class that owns one native WasmEdge object."""

    _kind = "object"

    def __init__(self, ptr: Any, delete: Callable[[Any], None]) -> None:
        if ptr == ffi.NULL:
            raise MemoryError(f"WasmEdge could not create the {self._kind}")
        _REAPER.ensure_running()
        self._owned = _Owned(ptr, delete)
        self._finalizer = weakref.finalize(self, _REAPER.collected, self._owned)
        # Not at interpreter exit: a daemon thread may still be in a call on it (the OS frees it all).
        self._finalizer.atexit = False

    @property
    def _ptr(self) -> Any:
        """The live pointer; raises ``ClosedError`` once the object is closed."""
        owned = self._owned
        if owned.closed:
            raise ClosedError(f"{self._kind} is closed")
        return owned.ptr

    @property
    def closed(self) -> bool:
        return self._owned.closed

    def close(self) -> None:
        """Free the native object now (or as soon as no dependant needs it). Safe to call twice."""
        self._finalizer.detach()
        self._owned.close()

    def _retain(self) -> Callable[[], None]:
        """Keep the native object alive for a dependant; call the returned function to let go."""
        owned = self._owned
        with owned.lock:
            if owned.closed:
                raise ClosedError(f"{self._kind} is closed")
            owned.retained += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            with owned.lock:
                owned.retained -= 1
            owned.free_if_unused()

        return release

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} {state}>"
