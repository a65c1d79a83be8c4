"""Whole plugin requests on the extension's own worker threads (wasmedge_py/_native/workers.c).

A server's event loop submits a ``NativeRequest``; a native thread runs its lifecycle stages with
no Python thread involved and the channel's file descriptor wakes the loop when they are done
(``Channel.fd`` for ``loop.add_reader``, then ``Channel.drain``). Only what needs Python (an answer
that must be parsed, a step that stopped and must be replayed) comes back to Python: a stopped run
goes on through ``python_path`` (the replay, _lifecycle.py), which the owner runs on a Python thread.

Available in API mode for the requests ``_lifecycle.takes`` (``native_request`` returns None else).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

from . import _lifecycle, strict_json
from ._ffi import ffi, lib
from .limits import PluginLimits
from .module import Module
from .runtime import RunUsage, _run, checked_input

log = logging.getLogger(__name__)

AVAILABLE = _lifecycle.NATIVE and hasattr(lib, "WPY_JOB_STALE")
STALE = lib.WPY_JOB_STALE if AVAILABLE else -1
_TAKE = 64
STEPS = ("load", "initialize", "execute", "cleanup", "cleanup")  # by the lifecycle's next stage


@dataclass(frozen=True)
class NativeFileCheck:
    """What a plugin's files must still be (``(st_dev, st_ino, st_size, st_mtime_ns)`` of the wasm,
    then of the manifest) for a run: checked on the native thread before anything runs; a
    mismatch, or any error, ends the run as stale (``NativeRequest.on_stale``)."""

    directory: str  # followed one level if it is a symlink, relative to ``root``
    root: str
    wasm: str
    manifest: str
    expect: tuple[int, ...]
    manifest_present: bool

    @functools.cached_property
    def strings(self) -> tuple[Any, ...]:
        """The paths as C strings (made once; a job points to them)."""
        return tuple(ffi.new("char[]", os.fsencode(p)) for p in (self.directory, self.root, self.wasm, self.manifest))


# Every job a native thread may still touch: its struct, the lifecycle state its callbacks hold
# and the file check its strings belong to. Module-level, so that neither closing nor losing a
# Channel frees memory a native thread is using (a closed channel's jobs stay here for good).
_IN_FLIGHT: dict[int, tuple[Any, Callable[[int, float], None], Callable[[], None] | None, Any]] = {}


class Channel:
    """Where one event loop's native jobs come back. Use from that loop only."""

    def __init__(self) -> None:
        self._ptr = lib.wpy_channel_new()
        if self._ptr == ffi.NULL:
            raise OSError("cannot create a native worker channel (eventfd)")
        self.fd: int = lib.wpy_channel_fd(self._ptr)
        self._buffer = ffi.new("wpy_event *[]", _TAKE)

    def submit(
        self,
        state: Any,
        until: int,
        done: Callable[[int, float], None],
        answered: Callable[[], None] | None = None,
        answer_after: int | None = None,
        files: NativeFileCheck | None = None,
    ) -> Any:
        """Run ``state``'s stages through ``until`` on a native thread; ``done(status, cpu_seconds)``
        is called from ``drain``, and before it ``answered()`` once the stages through
        ``answer_after`` are done (the rest runs on meanwhile); ``files`` are checked first (a
        mismatch: status ``STALE``). The job (its ``Checked`` is 1 once the check has returned).
        OSError if no thread can start."""
        job = ffi.new("wpy_job *")
        job.Lifecycle, job.Until, job.Channel = state, until, self._ptr
        job.AnswerAfter = until if answer_after is None else answer_after
        if files is not None:
            job.Dir, job.Root, job.Wasm, job.Manifest = files.strings
            job.Expect = files.expect
            job.ExpectManifest = files.manifest_present
        key = int(ffi.cast("uintptr_t", job))
        _IN_FLIGHT[key] = (job, done, answered, files)
        if lib.wpy_job_submit(job) != 0:
            del _IN_FLIGHT[key]
            raise OSError("cannot start a native worker thread")
        return job

    def drain(self) -> None:
        """Hand every event to its job's callbacks (the fd's reader)."""
        while True:
            n = lib.wpy_channel_take(self._ptr, self._buffer, _TAKE)
            for i in range(n):
                event = self._buffer[i]
                key = int(ffi.cast("uintptr_t", event.Job))
                try:
                    if event.Kind == lib.WPY_EVENT_ANSWERED:
                        _IN_FLIGHT[key][2]()  # type: ignore[misc]
                    else:
                        job, done, _answered, _files = _IN_FLIGHT.pop(key)
                        done(job.Status, job.CpuNs / 1e9)
                except Exception:  # a bug in a callback must not lose the other events
                    log.exception("wasmedge_py: a native job's callback failed")
            if n < _TAKE:
                return

    def close(self) -> None:
        """No more jobs; those in flight are dropped when done (their requests are gone)."""
        if self._ptr is not None:
            lib.wpy_channel_close(self._ptr)
            self._ptr = None


def threads_started() -> int:
    """Native worker threads this process has started."""
    return lib.wpy_workers_started() if AVAILABLE else 0


class NativeRequest:
    """One ``run_plugin`` request driven from an event loop: ``start`` submits its stages, the
    answer goes to ``on_answer`` as soon as it is known (before a cleanup export runs), and
    ``on_done(result, error)`` ends it. A run the C stops is handed to ``to_thread`` (which runs
    the function given on a Python thread and ends the request with its outcome)."""

    def __init__(
        self,
        channel: Channel,
        path: str,
        value: Any,
        limits: PluginLimits,
        module: Module,
        plan: _lifecycle.ModulePlan,
        usage: RunUsage | None,
    ) -> None:
        self.kind, self.payload = checked_input(plan.major, value)  # PluginInputError: before anything runs
        self.channel = channel
        self.path, self.value, self.limits, self.module, self.plan = path, value, limits, module, plan
        self.usage = usage
        self.native: _lifecycle.NativeRun | None = None
        self.answered = False
        self.output: Any = None
        self.python_step: str | None = None  # once on the Python path
        self.on_answer: Callable[[Any, BaseException | None], None] = _ignore_answer
        self.on_done: Callable[[Any, BaseException | None], None] = _ignore_answer
        self.to_thread: Callable[[Callable[[], Any]], None] = _no_thread
        self.on_step: Callable[[str], None] = _ignore_step
        self.files: NativeFileCheck | None = None  # checked before the run (its first job)
        self.on_stale: Callable[[], None] = lambda: self._python(None)
        self.job: Any = None  # the first job, once submitted

    @property
    def step(self) -> str:
        """The step it is in (for a timeout's message): the C's stage, or the Python path's step."""
        if self.python_step is not None:
            return self.python_step
        return STEPS[self.native.state.Stage] if self.native is not None else "load"

    def _to_step(self, step: str) -> None:
        self.python_step = step
        self.on_step(step)

    def start(self) -> None:
        """Make the run and submit its first stages (on the loop, in the pool's grant)."""
        try:
            self.native = native = _lifecycle.NativeRun(self.path, self.module, self.limits, self.plan, ())
        except Exception:  # e.g. the module closed meanwhile: the Python path says what
            self._python(None)
            return
        state = native.state
        if self.kind == "process":
            state.Input = self.payload
        else:
            native.data = self.payload if self.kind == "bytes" else self.payload[1]
            state.Data, state.DataLen = ffi.from_buffer(native.data), len(native.data)
        if self.kind == "json":  # its answer is parsed before the cleanup runs
            self._submit(_lifecycle.EXECUTE)
        elif self.plan.flags & lib.WPY_LC_HAS_CLEANUP:  # answered before the cleanup, in one job
            self._submit(_lifecycle.CLEANUP, answer_after=_lifecycle.EXECUTE)
        else:
            self._submit(_lifecycle.CLEANUP)

    def _submit(self, until: int, answer_after: int | None = None) -> None:
        answered = self._answered if answer_after is not None else None
        files, self.files = self.files, None
        try:
            job = self.channel.submit(self.native.state, until, self._stages_done, answered, answer_after, files)  # type: ignore[union-attr]
            self.job = self.job or job
        except OSError:  # no native thread: the rest on a Python thread
            if files is not None:  # its first job: the files are unchecked
                self.native.close()  # type: ignore[union-attr]
                self.on_stale()
            elif self.native.state.Instance == ffi.NULL:  # type: ignore[union-attr]
                self.native.close()  # type: ignore[union-attr]
                self._python(None)
            else:
                self._python(self._adopt)

    def _answered(self) -> None:
        """The stages through execute are done (v1 or bytes): answer; the cleanup runs on."""
        state = self.native.state  # type: ignore[union-attr]
        self.output = state.Result if self.kind == "process" else self.native.output()  # type: ignore[union-attr]
        self.answered = True
        self.on_answer(self.output, None)

    def _stages_done(self, status: int, cpu_seconds: float) -> None:
        native = self.native
        assert native is not None
        if self.usage is not None:
            self.usage.cpu_seconds += cpu_seconds
        if status == STALE:  # nothing ran: the files are another version now
            native.close()
            self.on_stale()
            return
        if status == _lifecycle.STOPPED:
            self._python(self._adopt)
            return
        if status != _lifecycle.OK:  # not instantiated: nothing ran, the Python path says why
            native.close()
            self._python(None)
            return
        finished = native.state.Stage == _lifecycle.CLEANUP + 1
        if not self.answered:
            output = native.state.Result if self.kind == "process" else native.output()
            if self.kind == "json":
                try:
                    output = strict_json.loads(output)
                except Exception:  # not JSON: the Python path raises it, without a cleanup
                    self._python(self._adopt)
                    return
            self.answered = True
            self.output = output
            if not finished:
                self.on_answer(output, None)
                self._submit(_lifecycle.CLEANUP)
                return
        if self.usage is not None:
            self.usage.fuel_used = None if self.limits.fuel is None else native.state.FuelUsed
        native.close()
        self.on_done(self.output, None)

    def _adopt(self) -> Any:
        native = self.native
        assert native is not None
        return lambda: _lifecycle._AdoptedPlugin(native, self.path, self.module, self.limits, ())

    def _python(self, adopt: Callable[[], Any] | None) -> None:
        """The rest of the request on the Python path, on a Python thread (replaying what ran)."""
        answer = None if self.answered else self.on_answer
        native = self.native
        self.python_step = self.step

        def python_path() -> Any:
            usage = RunUsage() if self.usage is not None else None
            started = time.thread_time()
            try:
                open_plugin = adopt() if adopt is not None else None
                return _run(
                    self.path, self.value, self.limits, self.module, (), self._to_step, answer, usage, open_plugin
                )
            finally:
                if native is not None:
                    native.close()
                if usage is not None and self.usage is not None:
                    self.usage.fuel_used = usage.fuel_used
                    self.usage.cpu_seconds += time.thread_time() - started

        self.to_thread(python_path)


def native_request(
    channel: Channel,
    path: str | os.PathLike[str],
    value: Any,
    limits: PluginLimits | None,
    module: Module | None,
    usage: RunUsage | None,
) -> NativeRequest | None:
    """A request the native workers can run (no Python host functions of the caller's), or None:
    then ``run_plugin`` on a Python thread is the way."""
    if not AVAILABLE or not isinstance(module, Module) or not isinstance(limits, PluginLimits):
        return None
    plan = _lifecycle.takes(module, limits)
    if plan is None:
        return None
    return NativeRequest(channel, os.fspath(path), value, limits, module, plan, usage)


def _ignore_answer(output: Any, error: BaseException | None) -> None:
    pass


def _ignore_step(step: str) -> None:
    pass


def _no_thread(fn: Callable[[], Any]) -> None:
    raise RuntimeError("NativeRequest.to_thread was not set")
