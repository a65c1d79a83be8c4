"""The service's side of a plugin request: lease the plugin's cached module from the registry,
run the request through the plugin runtime (``wasmedge_py.run_plugin``) on the pool, and turn
the runtime's outcome into the service's errors, each with its HTTP status.

The runtime owns the lifecycle and its policy; this module adds what only the service knows:
the request's deadline (which starts once the module is ready), the answer sent as soon as
``process`` has answered (the cleanup goes on in the worker), and messages redacted of paths."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable

from wasmedge_py import (
    Interrupted,
    PluginCodeError,
    PluginInputError,
    PluginLoadError,
    PluginStepError,
    native_workers,
    run_plugin,
)
from wasmedge_py.plugin_errors import STEP_FAILURES
from wasmedge_py.runtime import RunUsage

from .errors import ServiceError
from .pool import Native, Pool, PoolTimeout, call_soon_from
from .registry import Registry
from .storeio import StoreUnavailable

log = logging.getLogger(__name__)


class BadInput(ServiceError, ValueError):
    """The input does not fit the plugin's ABI: v1 takes a 32-bit signed integer (400)."""

    status = 400


class RunTimeout(ServiceError):
    """A plugin run exceeded the request timeout; ``step`` is where it was at the time (504)."""

    status = 504

    def __init__(self, step: str, timeout_ms: int) -> None:
        super().__init__(f"{STEP_FAILURES[step]}: timed out after {timeout_ms} ms")
        self.step = step


class LifecycleError(ServiceError):
    """A lifecycle step failed; ``cause`` is the runtime's error, the message is for clients.

    504 when the engine stopped the step at its deadline; 422 for the plugin's own error code (its
    answer that it cannot work on this input, not a server fault); 500 otherwise."""

    def __init__(self, step: str, cause: BaseException, message: str) -> None:
        super().__init__(f"{STEP_FAILURES[step]}: {message}")
        self.step = step
        self.cause = cause
        self.status = 504 if _stopped_at_deadline(cause) else 422 if isinstance(cause, PluginCodeError) else 500

    def extra(self) -> dict[str, Any]:
        if isinstance(self.cause, PluginCodeError):
            return {"code": self.cause.code, "code_name": self.cause.code_name}
        return {}


def _stopped_at_deadline(exc: BaseException | None) -> bool:
    """The engine stopped the step at its timeout, also when wrapped: a start function,
    ``_initialize`` or ``get_abi_version`` that loops fails the load with ``Interrupted`` as its
    cause."""
    while exc is not None:
        if isinstance(exc, Interrupted):
            return True
        exc = exc.__cause__
    return False


class _Progress:
    """Where a run is, written by its thread: the step (read when the request gives up on it), and
    the request's answer, handed over as soon as ``process`` has answered -- the cleanup that
    follows runs on the same thread (holding its slot) but is not waited for."""

    __slots__ = (
        "_step",
        "answer",
        "_loop",
        "_loop_thread",
        "_service_error",
        "native_entry",
        "native_started",
        "native",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, service_error: Callable[[BaseException], BaseException]
    ) -> None:
        self._step = "load"
        self.native: native_workers.NativeRequest | None = None
        self._loop = loop
        self._loop_thread = threading.get_ident()  # made on the loop
        self._service_error = service_error
        self.answer: asyncio.Future[Any] = loop.create_future()
        self.native_entry: Any = None  # the lease of a native run, until it starts
        self.native_started = False

    def to(self, step: str) -> None:
        self._step = step

    @property
    def step(self) -> str:
        """The step the run is in: its native request's, when it runs on the native threads."""
        return self._step if self.native is None else self.native.step

    def answered(self, output: Any, error: BaseException | None) -> None:
        """From the run's thread: this is the request's answer, whatever the cleanup does."""
        error = None if error is None else self._service_error(error)
        call_soon_from(self._loop, self._loop_thread, _settle, self.answer, output, error)


def _settle(answer: asyncio.Future[Any], output: Any, error: BaseException | None) -> None:
    if answer.done():  # the request gave up already (timeout, cancelled)
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(output)


class PluginRunner:
    """Runs one request to a plugin on the pool: lease -> ``run_plugin`` -> the service's errors.
    ``on_usage(name, usage)`` is told what each lifecycle cost (CPU, fuel), on the run's thread."""

    def __init__(
        self,
        registry: Registry,
        pool: Pool,
        timeout_ms: int,
        on_usage: Callable[[str, RunUsage], None] | None = None,
    ) -> None:
        self.registry = registry
        self.pool = pool
        self.timeout_ms = timeout_ms
        self.on_usage = on_usage
        self._native: tuple[asyncio.AbstractEventLoop, native_workers.Channel] | None = None
        self._hanging: dict[str, Any] = {}  # plugin -> a native file check past the store timeout

    async def run(self, name: str, x: Any) -> Any:
        """Plugin ``name``'s answer to ``x``: ``process(x)`` for ABI v1 (``x`` must be an i32,
        else ``BadInput``), ``call_json(x)`` for ABI v2. Raises the registry's lookup errors,
        ``BadInput``, ``LifecycleError``, ``QueueFull`` or ``RunTimeout``.

        The answer is returned once ``process`` has answered: a cleanup that fails or runs past
        the deadline after that is logged, and the answer stands."""
        loop = asyncio.get_running_loop()
        progress = _Progress(loop, self._service_error)
        native = self._native_start(loop, name, x, progress)
        try:
            outcome, job = self.pool.submit(
                self._lease_and_run,
                name,
                x,
                progress,
                key=name,
                limits=self.registry.cached_limits(name),
                timeout=self.timeout_ms / 1000,
                deferred_start=True,
                native=native,
            )
        except BaseException:  # refused at once (PluginBusy, QueueFull)
            if progress.native_entry is not None:
                self.registry.release(progress.native_entry)
            raise
        outcome.add_done_callback(lambda done: self._job_done(name, progress, done))
        try:
            return await progress.answer
        except asyncio.CancelledError:
            self.pool.withdraw(job)  # frees its place if it had not started; a running job goes on
            outcome.cancel()
            raise

    def _native_start(self, loop: asyncio.AbstractEventLoop, name: str, x: Any, progress: _Progress) -> Native | None:
        """How the pool starts this request on the extension's native threads, or None (ABI mode,
        a version not loaded yet, a lock file, a request the native lifecycle does not take):
        then it runs on a pool thread. The native thread checks first that the plugin's files are
        still the loaded version (else the request takes the pool thread's way, ``_lease_and_run``);
        a check that has not returned by the request's deadline is a 503, and so is every request
        for the plugin until it returns, as on a store thread (server/storeio.py)."""
        if not native_workers.AVAILABLE:
            return None
        self._refuse_while_store_hangs(name)
        leased = self.registry.loaded_entry(name)
        if leased is None:
            return None
        entry, files = leased
        usage = RunUsage() if self.on_usage is not None else None
        try:
            request = native_workers.native_request(
                self._channel(loop), entry.path, x, entry.limits, entry.module, usage
            )
        except PluginInputError as exc:
            self.registry.release(entry)
            raise self._service_error(exc) from None
        if request is None:
            self.registry.release(entry)
            return None
        request.files = files
        request.on_step = progress.to
        request.on_answer = progress.answered
        progress.native_entry = entry
        progress.native = request

        def start(
            finish: Callable[[Any, BaseException | None], None], to_thread: Callable[[Callable[[], Any]], None]
        ) -> None:
            progress.native_started = True

            def done(result: Any, error: BaseException | None) -> None:
                self.registry.release(entry)
                if self.on_usage is not None and usage is not None:
                    self.on_usage(name, usage)
                finish(result, error)

            def on_thread(fn: Callable[[], Any]) -> None:
                def rest() -> Any:
                    try:
                        return fn()
                    except (PluginStepError, PluginInputError, PluginLoadError) as exc:
                        raise self._service_error(exc) from None
                    finally:
                        self.registry.release(entry)
                        if self.on_usage is not None and usage is not None:
                            self.on_usage(name, usage)

                to_thread(rest)

            def stale() -> None:
                self.registry.release(entry)
                progress.native = None
                to_thread(lambda: self._lease_and_run(_clock_started, name, x, progress))

            request.on_done, request.to_thread, request.on_stale = done, on_thread, stale
            request.start()

        return start

    def _timed_out(self, name: str, progress: _Progress) -> ServiceError | StoreUnavailable:
        """The request's deadline has passed: a native run whose file check has not returned by
        then (the store timeout is the request timeout, see registry_for) is a store that hangs
        (503), else the run took too long (504)."""
        job = None if progress.native is None else progress.native.job
        if job is not None and not job.Checked:
            self._hanging[name] = job
            return StoreUnavailable(
                f"plugin store unavailable: reading plugin {name}'s files took longer than {self.timeout_ms} ms"
            )
        return RunTimeout(progress.step, self.timeout_ms)

    def _refuse_while_store_hangs(self, name: str) -> None:
        job = self._hanging.get(name)
        if job is None:
            return
        if not job.Checked:
            raise StoreUnavailable(f"plugin store unavailable: reading plugin {name}'s files has not returned")
        del self._hanging[name]

    def _channel(self, loop: asyncio.AbstractEventLoop) -> native_workers.Channel:
        """This loop's channel for native jobs (its reader is added once)."""
        if self._native is None or self._native[0] is not loop:
            channel = native_workers.Channel()
            loop.add_reader(channel.fd, channel.drain)
            self._native = (loop, channel)
        return self._native[1]

    def close(self) -> None:
        """Stop listening for native jobs (at the app's cleanup)."""
        if self._native is not None:
            loop, channel = self._native
            self._native = None
            if not loop.is_closed():
                loop.remove_reader(channel.fd)
            channel.close()

    def _job_done(self, name: str, progress: _Progress, job: asyncio.Future[Any]) -> None:
        """The run's thread is done (or the request gave up on it): answer, unless it has been."""
        if progress.native_entry is not None and not progress.native_started:  # withdrawn, or refused later
            self.registry.release(progress.native_entry)
        if job.cancelled():
            progress.answer.cancel()
            return
        error = job.exception()
        if not progress.answer.done():
            if isinstance(error, PoolTimeout):
                error = self._timed_out(name, progress)
            _settle(progress.answer, None if error else job.result(), error)
        elif isinstance(error, PoolTimeout):
            log.warning(
                "plugin %s: cleanup still running at the request's %d ms deadline (the answer was sent)",
                name,
                self.timeout_ms,
            )
        elif error is not None and not isinstance(error, LifecycleError):
            log.error("plugin %s: the run failed after its answer was sent", name, exc_info=error)

    def _lease_and_run(self, start_clock: Callable[[], None], name: str, x: Any, progress: _Progress) -> Any:
        """The request's timeout starts once the plugin's module is ready: compiling a new
        version (bounded by the compile limits) is the service's cost, not the plugin's run."""
        try:
            with self.registry.lease(name) as entry:
                start_clock()
                usage = RunUsage() if self.on_usage is not None else None
                try:
                    return run_plugin(
                        entry.path,
                        x,
                        entry.limits,
                        module=entry.module,
                        on_step=progress.to,
                        on_answer=progress.answered,
                        usage=usage,
                    )
                finally:
                    if self.on_usage is not None and usage is not None:
                        self.on_usage(name, usage)
        except (PluginStepError, PluginInputError, PluginLoadError) as exc:
            raise self._service_error(exc) from None

    def _service_error(self, exc: BaseException) -> BaseException:
        """The runtime's error as the service's: a bad input (400) or a failed step."""
        if isinstance(exc, PluginInputError):
            return BadInput(str(exc))
        if isinstance(exc, PluginStepError):
            return LifecycleError(exc.step, exc.cause, self.registry.redact(str(exc.cause)))
        if isinstance(exc, PluginLoadError):  # from the lease: the cached version itself is broken
            return LifecycleError("load", exc, self.registry.redact(str(exc)))
        return exc


def _clock_started() -> None:
    """A run moved to a pool thread after the pool started its clock."""
