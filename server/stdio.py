"""Keep WASI plugins away from the server's own standard streams.

WasmEdge 0.14 gives every WASI module the process's file descriptors 0, 1 and 2 (its C API has no
way to give one module other ones), so a WASI plugin's ``printf`` would write straight into the
server's log stream, raw, and its ``read(0)`` would read the server's stdin. ``isolate_stdio``
therefore changes them for the whole process, once, before serving:

- fd 0 reads ``/dev/null``;
- fds 1 and 2 are pipes, made non-blocking so that a plugin writing faster than they drain gets
  an error instead of holding its worker thread; one thread reads them and logs each line,
  escaped and cut at ``LOG_MAX_MESSAGE_BYTES``, at most ``STDIO_LINES_PER_SECOND`` lines a second
  (one line says how many were dropped), under the logger ``STDIO_LOGGER``;
- the server's own output (``sys.stdout``, ``sys.stderr`` and every logging handler writing to
  them) goes to duplicates of the original descriptors, as before.

Which plugin wrote a line is not known (the descriptors are the process's): the lines say
"stdout"/"stderr" of WASI plugins. Anything else that writes to fd 1 or 2 from native code goes
the same way; a message written just before the process dies (an abort) is lost.
"""

from __future__ import annotations

import logging
import os
import selectors
import sys
import threading
import time

from wasmedge_py.plugin import LOG_MAX_MESSAGE_BYTES, escape_log_text

STDIO_LOGGER = "server.plugin_stdio"
STDIO_LINES_PER_SECOND = 100  # also the burst: a second's worth at once
_STREAMS = ((1, "stdout", logging.INFO), (2, "stderr", logging.WARNING))

_lock = threading.Lock()
_isolated = False


def isolate_stdio() -> None:
    """Give this process's fds 0, 1 and 2 to plugins as described above (once; later calls do
    nothing). Call it before logging is configured; handlers made earlier are moved too."""
    global _isolated
    with _lock:
        if _isolated:
            return
        _isolated = True
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        own = {
            fd: os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="backslashreplace")
            for fd, _, _ in _STREAMS
        }
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        readers = {}
        for fd, label, level in _STREAMS:
            read_end, write_end = os.pipe()
            os.set_blocking(write_end, False)
            os.dup2(write_end, fd)
            os.close(write_end)
            readers[read_end] = (label, level)
        _move_handlers({sys.stdout: own[1], sys.__stdout__: own[1], sys.stderr: own[2], sys.__stderr__: own[2]})
        sys.stdout, sys.stderr = own[1], own[2]
        router = _Router(readers, logging.getLogger(STDIO_LOGGER))
        threading.Thread(target=router.run, name="plugin-stdio", daemon=True).start()


def _move_handlers(moves: dict[object, object]) -> None:
    """Point every logging handler that writes to an old standard stream at its duplicate."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):  # placeholders have none
            if isinstance(handler, logging.StreamHandler) and handler.stream in moves:
                handler.setStream(moves[handler.stream])


class _Router:
    """Reads the pipes behind fds 1 and 2 and logs what comes out, line by line, within limits."""

    def __init__(self, readers: dict[int, tuple[str, int]], logger: logging.Logger) -> None:
        self.readers = readers
        self.logger = logger
        self.pending = {fd: bytearray() for fd in readers}
        self.skipping = dict.fromkeys(readers, False)  # the rest of an over-long line is dropped
        self.tokens = float(STDIO_LINES_PER_SECOND)
        self.refilled = time.monotonic()
        self.dropped = self.dropped_bytes = 0
        self.reported = self.refilled

    def run(self) -> None:
        with selectors.DefaultSelector() as selector:
            for fd in self.readers:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                ready = selector.select(timeout=1.0)
                for key, _ in ready:
                    chunk = os.read(key.fd, 65536)
                    if chunk:
                        self.feed(key.fd, chunk)
                    else:  # every writer is gone (not while the server runs)
                        selector.unregister(key.fd)
                if not ready:  # quiet for a second: show what is waiting for its newline
                    for fd in self.readers:
                        self.flush_partial(fd)
                self.report_dropped()

    def feed(self, fd: int, chunk: bytes) -> None:
        buffer = self.pending[fd]
        *lines, rest = chunk.split(b"\n")
        for line in lines:
            if self.skipping[fd]:
                self.skipping[fd] = False
            else:
                buffer += line
                self.emit(fd, bytes(buffer))
            buffer.clear()
        if not self.skipping[fd]:
            buffer += rest
            self.flush_partial(fd, only_if_full=True)

    def flush_partial(self, fd: int, only_if_full: bool = False) -> None:
        """Log a line with no newline yet: when it is over the limit (the rest of it is then
        dropped), or after a quiet second."""
        buffer = self.pending[fd]
        if not buffer or (only_if_full and len(buffer) <= LOG_MAX_MESSAGE_BYTES):
            return
        if len(buffer) > LOG_MAX_MESSAGE_BYTES:
            self.skipping[fd] = True
        self.emit(fd, bytes(buffer))
        buffer.clear()

    def emit(self, fd: int, line: bytes) -> None:
        now = time.monotonic()
        self.tokens = min(float(STDIO_LINES_PER_SECOND), self.tokens + (now - self.refilled) * STDIO_LINES_PER_SECOND)
        self.refilled = now
        if self.tokens < 1:
            self.dropped += 1
            self.dropped_bytes += len(line)
            return
        self.tokens -= 1
        label, level = self.readers[fd]
        text = escape_log_text(line[:LOG_MAX_MESSAGE_BYTES].decode("utf-8", "replace"))
        cut = " [... cut at %d bytes]" % LOG_MAX_MESSAGE_BYTES if len(line) > LOG_MAX_MESSAGE_BYTES else ""
        self.logger.log(level, "WASI plugin %s: %s%s", label, text, cut)

    def report_dropped(self) -> None:
        """At most once a second, one line for what the rate limit dropped."""
        now = time.monotonic()
        if self.dropped and now - self.reported >= 1:
            self.reported = now
            self.logger.warning(
                "WASI plugin output: %d lines (%d bytes) dropped: over the limit of %d lines a second",
                self.dropped,
                self.dropped_bytes,
                STDIO_LINES_PER_SECOND,
            )
            self.dropped = self.dropped_bytes = 0
