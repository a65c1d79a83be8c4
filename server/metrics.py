"""Prometheus metrics, and the middleware that answers every error as JSON and counts every
``POST /run`` by plugin and status.

One process (``python -m server``): the metrics live in a registry of the app's own, read live.
Several processes (gunicorn with ``-c python:server.gunicorn_conf``, which sets
``PROMETHEUS_MULTIPROC_DIR`` before anything imports prometheus_client): every process writes its
values to files in that directory and a scrape of any worker adds them all up (prometheus-client's
multiprocess mode). Gauges then cannot be read live from another process: each worker writes its
own every ``GAUGE_REFRESH_S`` and at each scrape it answers, and each gauge says how the
processes' values combine (``livesum``: the sum over the live processes)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import AsyncIterator, Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

from wasmedge_py.runtime import RunUsage

from .errors import error_response
from .pool import Pool
from .runner import LifecycleError, RunTimeout

NO_PLUGIN = "-"
# The plugin a /run request is for, set on the request by the handler once the name is valid.
PLUGIN = web.RequestKey("plugin", str)

# Whether prometheus-client writes values to PROMETHEUS_MULTIPROC_DIR (decided by it at import).
MULTIPROCESS = values.ValueClass is not values.MutexValue
# How stale another worker's gauges may be in a multiprocess scrape.
GAUGE_REFRESH_S = 1.0


class Metrics:
    """The service's Prometheus metrics. In one process they are in a registry of their own, so
    any number of apps can coexist (the tests make many); in multiprocess mode ``registry``
    collects the files of every process instead, so there must be one app per process."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.registry = CollectorRegistry(auto_describe=True)
        if MULTIPROCESS:
            MultiProcessCollector(self.registry)
        r = None if MULTIPROCESS else self.registry  # multiprocess: the values go to files only
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
        self.cpu = Counter(
            "wasmedge_py_plugin_cpu_seconds",
            "CPU time of plugin lifecycles (instantiate, init, process, cleanup) on their threads, by plugin",
            ["plugin"],
            registry=r,
        )
        self.fuel = Counter(
            "wasmedge_py_plugin_fuel_used",
            "Fuel (WasmEdge cost units) used by the calls of plugins that run with a fuel limit, by plugin",
            ["plugin"],
            registry=r,
        )

        self._cpu_by_plugin: dict[str, Counter] = {}
        self._fuel_by_plugin: dict[str, Counter] = {}

        def gauge(name: str, documentation: str) -> Gauge:
            return Gauge(name, documentation, registry=r, multiprocess_mode="livesum")

        # (gauge, what it reads): live in one process, written by refresh() in multiprocess mode.
        self._gauges: list[tuple[Gauge, Callable[[], float]]] = [
            (gauge("wasmedge_py_processes", "Serving processes"), lambda: 1),
            (gauge("wasmedge_py_workers", "Worker threads (all processes)"), lambda: pool.workers),
            (gauge("wasmedge_py_in_flight", "Plugin runs executing on a worker thread"), lambda: pool.running),
            (gauge("wasmedge_py_queue_depth", "Requests waiting for a worker thread"), lambda: pool.waiting),
            (
                gauge("wasmedge_py_abandoned_runs", "Runs past their deadline whose thread was replaced"),
                lambda: pool.abandoned,
            ),
        ]
        if not MULTIPROCESS:
            for metric, read in self._gauges:
                metric.set_function(read)

    def observe(self, plugin: str, status: int, seconds: float) -> None:
        self.requests.labels(plugin, str(status)).inc()
        self.latency.labels(plugin).observe(seconds)

    def loaded(self, plugin: str, ok: bool) -> None:
        self.loads.labels(plugin, "ok" if ok else "error").inc()

    def used(self, plugin: str, usage: RunUsage) -> None:
        """What one lifecycle of ``plugin`` cost (from the runner, on the run's thread). The
        labelled children are kept by plugin name: ``labels()`` costs a lock and a lookup per
        call, and names here are of plugins that exist, so bounded like the metrics themselves."""
        _child(self._cpu_by_plugin, self.cpu, plugin).inc(usage.cpu_seconds)
        if usage.fuel_used is not None:  # a plugin without fuel has no fuel sample, not a 0
            _child(self._fuel_by_plugin, self.fuel, plugin).inc(usage.fuel_used)

    def refresh(self) -> None:
        """Multiprocess mode: write this process's gauges to its files (a no-op otherwise)."""
        if MULTIPROCESS:
            for metric, read in self._gauges:
                metric.set(read())

    def exposition(self) -> bytes:
        """The Prometheus text exposition: this process's metrics, or every process's."""
        self.refresh()
        return generate_latest(self.registry)

    async def keep_gauges_fresh(self, _app: web.Application) -> AsyncIterator[None]:
        """A cleanup context (so it runs in the serving process, after any fork): in multiprocess
        mode, write the gauges now and every ``GAUGE_REFRESH_S`` until the app stops."""
        if not MULTIPROCESS:
            yield
            return

        async def refresh_forever() -> None:
            while True:
                self.refresh()
                await asyncio.sleep(GAUGE_REFRESH_S)

        task = asyncio.create_task(refresh_forever())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _child(children: dict[str, Counter], metric: Counter, plugin: str) -> Counter:
    """``metric.labels(plugin)``, kept (a race only makes the same child twice)."""
    child = children.get(plugin)
    if child is None:
        child = children[plugin] = metric.labels(plugin)
    return child


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
