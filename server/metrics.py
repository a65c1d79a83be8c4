"""Prometheus metrics, and the middleware that answers every error as JSON and counts every
``POST /run`` by plugin and status."""

from __future__ import annotations

import time
from typing import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .errors import error_response
from .pool import Pool
from .runner import LifecycleError, RunTimeout

NO_PLUGIN = "-"
# The plugin a /run request is for, set on the request by the handler once the name is valid.
PLUGIN = web.RequestKey("plugin", str)


class Metrics:
    """Prometheus metrics in a registry of their own, so any number of apps can coexist."""

    def __init__(self, pool: Pool) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "wasmedge_py_requests",
            "POST /run requests answered, by plugin and HTTP status",
            ["plugin", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "wasmedge_py_request_duration_seconds",
            "Time to answer POST /run, by plugin",
            ["plugin"],
            registry=r,
        )
        self.loads = Counter(
            "wasmedge_py_plugin_loads",
            "Plugin file versions loaded (result: ok or error)",
            ["plugin", "result"],
            registry=r,
        )
        in_flight = Gauge("wasmedge_py_in_flight", "Plugin runs executing on a worker thread", registry=r)
        in_flight.set_function(lambda: pool.running)
        queued = Gauge("wasmedge_py_queue_depth", "Requests waiting for a worker thread", registry=r)
        queued.set_function(lambda: pool.waiting)
        Gauge("wasmedge_py_workers", "Worker threads", registry=r).set(pool.workers)
        abandoned = Gauge(
            "wasmedge_py_abandoned_runs", "Runs past their deadline whose thread was replaced", registry=r
        )
        abandoned.set_function(lambda: pool.abandoned)

    def observe(self, plugin: str, status: int, seconds: float) -> None:
        self.requests.labels(plugin, str(status)).inc()
        self.latency.labels(plugin).observe(seconds)

    def loaded(self, plugin: str, ok: bool) -> None:
        self.loads.labels(plugin, "ok" if ok else "error").inc()


METRICS = web.AppKey("metrics", Metrics)


def _plugin_label(request: web.Request, exc: BaseException | None) -> str:
    """Label with the plugin name only once the plugin is known to exist, so random names sent
    by clients cannot grow the metrics without bound."""
    name = request.get(PLUGIN)
    if name is None:
        return NO_PLUGIN
    if exc is None or isinstance(exc, LifecycleError) or (isinstance(exc, RunTimeout) and exc.step != "load"):
        return name
    return NO_PLUGIN


@web.middleware
async def errors_and_metrics(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        response = await handler(request)
    except Exception as exc:  # noqa: BLE001 - every error becomes a JSON answer
        error = exc
        response = error_response(exc)
    if request.path == "/run":
        request.app[METRICS].observe(_plugin_label(request, error), response.status, time.perf_counter() - started)
    return response
