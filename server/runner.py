"""The service's side of a plugin request: lease the plugin's cached module from the registry,
run the request through the plugin runtime (``wasmedge_py.run_plugin``) on the pool, and turn
the runtime's outcome into the service's errors, each with its HTTP status.

The runtime owns the lifecycle and its policy; this module adds what only the service knows:
the request's deadline (which starts once the module is ready), the answer sent as soon as
``process`` has answered (the cleanup goes on in the worker), and messages redacted of paths."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from wasmedge_py import Interrupted, PluginCodeError, PluginInputError, PluginLoadError, PluginStepError, run_plugin
from wasmedge_py.plugin_errors import STEP_FAILURES
from wasmedge_py.runtime import RunUsage

from .errors import ServiceError
from .pool import Pool, PoolTimeout
from .registry import Registry

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

    __slots__ = ("step", "answer", "_loop", "_service_error")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, service_error: Callable[[BaseException], BaseException]
    ) -> None:
        self.step = "load"
        self._loop = loop
        self._service_error = service_error
        self.answer: asyncio.Future[Any] = loop.create_future()

    def to(self, step: str) -> None:
        self.step = step

    def answered(self, output: Any, error: BaseException | None) -> None:
        """From the run's thread: this is the request's answer, whatever the cleanup does."""
        error = None if error is None else self._service_error(error)
        self._loop.call_soon_threadsafe(_settle, self.answer, output, error)


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

    async def run(self, name: str, x: Any) -> Any:
        """Plugin ``name``'s answer to ``x``: ``process(x)`` for ABI v1 (``x`` must be an i32,
        else ``BadInput``), ``call_json(x)`` for ABI v2. Raises the registry's lookup errors,
        ``BadInput``, ``LifecycleError``, ``QueueFull`` or ``RunTimeout``.

        The answer is returned once ``process`` has answered: a cleanup that fails or runs past
        the deadline after that is logged, and the answer stands."""
        progress = _Progress(asyncio.get_running_loop(), self._service_error)
        job = asyncio.ensure_future(
            self.pool.run(
                self._lease_and_run,
                name,
                x,
                progress,
                key=name,
                limits=self.registry.cached_limits(name),
                timeout=self.timeout_ms / 1000,
                deferred_start=True,
            )
        )
        job.add_done_callback(lambda done: self._job_done(name, progress, done))
        try:
            return await progress.answer
        except asyncio.CancelledError:
            job.cancel()
            raise

    def _job_done(self, name: str, progress: _Progress, job: asyncio.Future[Any]) -> None:
        """The run's thread is done (or the request gave up on it): answer, unless it has been."""
        if job.cancelled():
            progress.answer.cancel()
            return
        error = job.exception()
        if not progress.answer.done():
            if isinstance(error, PoolTimeout):
                error = RunTimeout(progress.step, self.timeout_ms)
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
