"""Compile every plugin of the store before anyone asks for it: ``wasmedge-py compile --store DIR``
at deploy time (an init container), or ``--warm`` in the server, whose ``GET /readyz`` answers 503
until it is done.

A plugin is warmed by loading it through the service's own registry (``registry_for``): the same
``plugin.toml`` limits, the same compile options, so exactly the AOT cache entries the service
will look up. Loads run on ``jobs`` threads, each compile in a child process of its own under the
compile limits (``AotCache``), so a plugin that crashes or exhausts the compiler costs its own
result, never the process; a plugin that fails counts as done, so readiness never waits for it."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

from aiohttp import web

from wasmedge_py import WasmEdgeError

from .registry import PluginNotFound, Registry
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Warmed:
    """What warming one plugin did."""

    name: str
    seconds: float
    origin: str | None = None  # Module.origin: "aot, compiled in 0.41 s", "aot, from the AOT cache", ...
    note: str | None = None  # why it runs in the interpreter although native code was asked for
    error: str | None = None  # why it does not load at all

    @property
    def ok(self) -> bool:
        """Loaded as native code: anything else is worth a look before the deploy goes on."""
        return self.error is None and self.note is None

    def line(self) -> str:
        if self.error is not None:
            return f"{self.name}: FAILED: {self.error}"
        return f"{self.name}: {self.origin}" + (f" ({self.note})" if self.note else "")


class Warmup:
    """Warms every plugin of ``registry``, ``jobs`` at a time; thread-safe progress for readiness."""

    def __init__(self, registry: Registry, jobs: int) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.registry = registry
        self.jobs = jobs
        self.total: int | None = None  # None until the store is listed
        self.results: list[Warmed] = []
        self.store_error: str | None = None  # the store could not be listed: nothing to warm
        self.seconds = 0.0
        self._lock = threading.Lock()
        self._finished = threading.Event()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def start(self) -> None:
        """Warm on background threads (the server: requests are served meanwhile, and a request
        for a plugin being compiled waits for that compile instead of starting another)."""
        threading.Thread(target=self.run, name="warmup", daemon=True).start()

    def run(self) -> list[Warmed]:
        """Warm every plugin, ``jobs`` at a time, and return the results sorted by name."""
        started = time.perf_counter()
        try:
            try:
                names = self.registry.names()
            except Exception as exc:  # StoreUnavailable, or anything else: never kill the server
                self.store_error = str(exc)
                log.error("warm-up: cannot list the plugin store: %s", exc)
                return []
            self.total = len(names)
            pending = iter(names)
            workers = [
                threading.Thread(target=self._work, args=(pending,), name=f"warmup-{i}", daemon=True)
                for i in range(min(self.jobs, len(names)))
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            failed = sum(not r.ok for r in self.results)
            log.info(
                "warm-up: %d plugin(s) in %.2f s, %d job(s) at a time%s",
                len(names),
                time.perf_counter() - started,
                self.jobs,
                f", {failed} not compiled (see above)" if failed else "",
            )
            return sorted(self.results, key=lambda r: r.name)
        finally:
            self.seconds = time.perf_counter() - started
            self._finished.set()

    def _work(self, pending: Iterator[str]) -> None:
        while True:
            with self._lock:  # one iterator shared by the jobs
                name = next(pending, None)
            if name is None:
                return
            result = self._warm(name)
            with self._lock:
                self.results.append(result)
            (log.info if result.ok else log.warning)("warm-up: %s", result.line())

    def _warm(self, name: str) -> Warmed:
        started = time.perf_counter()

        def result(**found: Any) -> Warmed:
            return Warmed(name, time.perf_counter() - started, **found)

        try:
            with self.registry.lease(name) as entry:
                assert entry.module is not None  # lease raises for a version that does not load
                note = entry.module.interpreter_fallback_reason
                return result(origin=entry.module.origin, note=self.registry.redact(note) if note else None)
        except PluginNotFound:
            return result(error="removed from the store while warming up")
        except WasmEdgeError as exc:  # the registry's messages are already redacted
            return result(error=str(exc))
        except Exception as exc:  # a store error, a bug: this plugin's result, not the server's end
            return result(error=f"{type(exc).__name__}: {exc}")

    def status(self) -> dict[str, Any]:
        """For ``/readyz`` and ``/healthz``: how far the warm-up is, and what failed."""
        with self._lock:
            done = len(self.results)
            failed = {r.name: r.error or r.note for r in self.results if not r.ok}
        status: dict[str, Any] = {"finished": self.finished, "done": done, "total": self.total}
        if failed:
            status["failed"] = dict(sorted(failed.items()))
        if self.store_error is not None:
            status["store_error"] = self.store_error
        return status

    def readiness(self) -> tuple[int, dict[str, Any]]:
        """``(HTTP status, body)`` for ``GET /readyz``: 503 with the reason until warm."""
        status = self.status()
        if self.finished:
            return 200, {"status": "ready", "warmup": status}
        total = "?" if status["total"] is None else status["total"]
        reason = f"warming up: {status['done']} of {total} plugin(s) compiled"
        return 503, {"status": "warming", "reason": reason, "warmup": status}


WARMUP = web.AppKey("warmup", Warmup)


def install_warmup(app: web.Application, registry: Registry, settings: Settings) -> None:
    """``GET /readyz``, and with ``--warm`` the warm-up it waits for, started with the app (so under
    gunicorn in each worker, after the fork), ``--workers`` compiles at a time."""
    if settings.warm:
        warmup = Warmup(registry, settings.workers)
        app[WARMUP] = warmup

        async def start(_app: web.Application) -> None:
            warmup.start()

        app.on_startup.append(start)
    app.router.add_get("/readyz", readyz)


def is_ready(app: web.Application) -> bool:
    warmup = app.get(WARMUP)
    return warmup is None or warmup.finished


async def readyz(request: web.Request) -> web.Response:
    """Readiness (Kubernetes' readinessProbe): 503 with the reason while ``--warm`` is still
    compiling, else 200. Liveness is ``/healthz``, which a warm-up never fails."""
    warmup = request.app.get(WARMUP)
    if warmup is None:
        return web.json_response({"status": "ready"})
    status, body = warmup.readiness()
    return web.json_response(body, status=status)
