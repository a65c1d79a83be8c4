"""The aiohttp application: HTTP in, HTTP out. Handlers only parse and answer; the work is in
``registry`` and ``executor``, and every exception becomes an HTTP status in exactly one place,
``error_response``.

``make_app()`` with no argument reads its settings from the environment, which is how gunicorn
runs it::

    gunicorn 'server.app:make_app()' -k aiohttp.GunicornWebWorker -w 2
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import sys
import time
from typing import Any, Awaitable, Callable

from aiohttp import HttpVersion11, web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from wasmedge_py import Interrupted, PluginCodeError, PluginLimits, strict_json

from .executor import BadInput, LifecycleError, PluginRunner, Pool, QueueFull, RunTimeout
from .registry import InvalidPluginName, PluginNotFound, Registry, StoreUnavailable, check_name
from .settings import Settings
from .stdio import isolate_stdio

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STORE_RETRY_AFTER_S = 5

SETTINGS = web.AppKey("settings", Settings)
REGISTRY = web.AppKey("registry", Registry)
POOL = web.AppKey("pool", Pool)
RUNNER = web.AppKey("runner", PluginRunner)


class RequestError(ValueError):
    """The request itself is malformed (400)."""


class BodyTooLarge(Exception):
    """The body is over ``--max-body`` (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body too large: the limit is {limit} bytes")


# -- the one place where exceptions become HTTP statuses -----------------------------------------


def error_response(exc: BaseException) -> web.Response:
    """``{"error": "..."}`` with the status (and headers) that ``exc`` stands for."""
    status, message = 500, "internal server error"
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(exc, (RequestError, BadInput, InvalidPluginName)):
        status, message = 400, str(exc)
    elif isinstance(exc, PluginNotFound):
        status, message = 404, str(exc)
    elif isinstance(exc, BodyTooLarge):
        status, message = 413, str(exc)
    elif isinstance(exc, LifecycleError):
        message = str(exc)
        if _stopped_at_deadline(exc.cause):
            status = 504
        elif isinstance(exc.cause, PluginCodeError):
            # The plugin's own answer that it cannot work on this input, not a server fault.
            status = 422
            extra = {"code": exc.cause.code, "code_name": exc.cause.code_name}
    elif isinstance(exc, QueueFull):
        status, message = 503, str(exc)
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, StoreUnavailable):
        status, message = 503, str(exc)
        headers["Retry-After"] = str(STORE_RETRY_AFTER_S)
    elif isinstance(exc, RunTimeout):
        status, message = 504, str(exc)
    elif isinstance(exc, web.HTTPMethodNotAllowed):
        status, message = 405, "method not allowed"
        headers["Allow"] = exc.headers.get("Allow", "")
    elif isinstance(exc, web.HTTPException):  # the router's 404 for unknown paths, and the like
        status, message = exc.status, exc.reason.lower()
    else:
        log.error("unhandled error", exc_info=exc)
    response = web.json_response({"error": message, **extra}, status=status, headers=headers)
    if status == 413:
        response.force_close()  # the unread rest of the body makes the connection useless
    return response


def _stopped_at_deadline(exc: BaseException | None) -> bool:
    """The engine stopped the step at its timeout, also when wrapped: a start function,
    ``_initialize`` or ``get_abi_version`` that loops fails the load with ``Interrupted`` as its
    cause."""
    while exc is not None:
        if isinstance(exc, Interrupted):
            return True
        exc = exc.__cause__
    return False


# -- metrics -------------------------------------------------------------------------------------

# The plugin a /run request is for, set by the handler and read by the middleware (same task).
_PLUGIN: contextvars.ContextVar[str | None] = contextvars.ContextVar("plugin", default=None)
NO_PLUGIN = "-"


class Metrics:
    """Prometheus metrics in a registry of their own, so any number of apps can coexist."""

    def __init__(self, pool: Pool) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "wasmedge_py_requests", "POST /run requests answered, by plugin and HTTP status",
            ["plugin", "status"], registry=r,
        )
        self.latency = Histogram(
            "wasmedge_py_request_duration_seconds", "Time to answer POST /run, by plugin", ["plugin"], registry=r,
        )
        self.loads = Counter(
            "wasmedge_py_plugin_loads", "Plugin file versions loaded (result: ok or error)",
            ["plugin", "result"], registry=r,
        )
        in_flight = Gauge("wasmedge_py_in_flight", "Plugin runs executing on a worker thread", registry=r)
        in_flight.set_function(lambda: pool.running)
        queued = Gauge("wasmedge_py_queue_depth", "Requests waiting for a worker thread", registry=r)
        queued.set_function(lambda: pool.waiting)
        Gauge("wasmedge_py_workers", "Worker threads", registry=r).set(pool.workers)
        abandoned = Gauge("wasmedge_py_abandoned_runs", "Runs past their deadline whose thread was replaced", registry=r)
        abandoned.set_function(lambda: pool.abandoned)

    def observe(self, plugin: str, status: int, seconds: float) -> None:
        self.requests.labels(plugin, str(status)).inc()
        self.latency.labels(plugin).observe(seconds)

    def loaded(self, plugin: str, ok: bool) -> None:
        self.loads.labels(plugin, "ok" if ok else "error").inc()


METRICS = web.AppKey("metrics", Metrics)
SWITCH_INTERVAL = 0.0005  # seconds


def _plugin_label(exc: BaseException | None) -> str:
    """Label with the plugin name only once the plugin is known to exist, so random names sent
    by clients cannot grow the metrics without bound."""
    name = _PLUGIN.get()
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
    token = _PLUGIN.set(None)
    error: BaseException | None = None
    try:
        response = await handler(request)
    except Exception as exc:  # noqa: BLE001 - every error becomes a JSON answer
        error = exc
        response = error_response(exc)
    finally:
        label = _plugin_label(error)
        _PLUGIN.reset(token)
    if request.path == "/run":
        request.app[METRICS].observe(label, response.status, time.perf_counter() - started)
    return response


# -- handlers ------------------------------------------------------------------------------------


def parse_run_request(body: bytes) -> tuple[str, Any]:
    """``{"plugin": name, "input": value}`` -> ``(name, value)``; raises ``RequestError`` or
    ``InvalidPluginName`` (the name is checked here, before any path is built from it). What
    ``value`` may be depends on the plugin's ABI (an i32 for v1, any JSON for v2): the runner
    checks that once it knows the plugin."""
    try:
        data = strict_json.loads(body, max_depth=None)  # the depth that counts is the input's
    except ValueError as exc:  # also bad UTF-8, NaN, 1e400, over-long integers
        raise RequestError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError("request body must be a JSON object")
    name = data.get("plugin")
    if name is None or name == "":
        raise RequestError("plugin name is required")
    if not isinstance(name, str):
        raise RequestError("plugin must be a string")
    check_name(name)
    if "input" not in data:
        raise RequestError("input is required")
    try:
        strict_json.check_depth(data["input"])
    except ValueError as exc:
        raise RequestError(f"invalid JSON: input {exc}") from None
    return name, data["input"]


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, refused as soon as it is known to be over ``limit``: from Content-Length
    before reading anything, or while reading a chunked body (aiohttp's ``client_max_size``)."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(limit)
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge(limit) from None


async def invite_body(request: web.Request) -> None:
    """``Expect: 100-continue``: invite the body only if it may be accepted. For one that is too
    large, say nothing: the handler then answers 413 before the client has sent any of it."""
    length = request.content_length
    if length is not None and length > request.app[SETTINGS].max_body:
        return
    if request.version == HttpVersion11 and request.headers.get("Expect", "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # as aiohttp's own handler: the response has not started


async def run(request: web.Request) -> web.Response:
    """POST /run {"plugin": name, "input": x} -> {"output": the plugin's answer}."""
    app = request.app
    name, x = parse_run_request(await read_body(request, app[SETTINGS].max_body))
    _PLUGIN.set(name)
    output = await app[RUNNER].run(name, x)
    return web.json_response({"output": output})


async def healthz(request: web.Request) -> web.Response:
    """Liveness and readiness: answered on the event loop, never queued behind plugin runs."""
    pool = request.app[POOL]
    return web.json_response({"status": "ok", "in_flight": pool.running, "queued": pool.waiting,
                              "abandoned": pool.abandoned})


def _describe_all(registry: Registry) -> list[dict[str, Any]]:
    described = []
    for name in registry.names():
        try:
            described.append(registry.describe(name))
        except PluginNotFound:  # removed while we listed
            pass
    return described


async def plugins(request: web.Request) -> web.Response:
    """GET /plugins: every plugin in the store with its ABI version, exports and limits."""
    # Reading the store and instantiating each plugin once (for its ABI version) is blocking
    # work: do it off the event loop, but not in the plugin pool, whose slots are for /run.
    listing = await asyncio.to_thread(_describe_all, request.app[REGISTRY])
    return web.json_response({"store": request.app[SETTINGS].store_kind, "plugins": listing})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# -- the application -----------------------------------------------------------------------------


def describe_store(settings: Settings) -> str:
    """For the start-up line: which store, and the directory it resolves to."""
    return f"{settings.store_kind} plugin store {os.path.abspath(settings.plugins)}"


def make_app(settings: Settings | None = None) -> web.Application:
    """The application. Without ``settings`` they come from the environment (gunicorn), and the
    store is announced in the log at start-up (``python -m server`` announces it itself)."""
    announce = settings is None
    if settings is None:
        settings = Settings.resolve()
        isolate_stdio()  # a gunicorn worker is a serving process of its own (see server/stdio.py)
        # gunicorn configures only its own loggers; ours (and aiohttp's) need a handler too.
        logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    app = web.Application(middlewares=[errors_and_metrics], client_max_size=settings.max_body)
    # Every native call of a plugin run releases the GIL and must win it back from the event loop
    # thread; under load CPython's default 5 ms switch interval makes that wait long (measured:
    # /run throughput +25 % at 0.5 ms).
    sys.setswitchinterval(SWITCH_INTERVAL)
    pool = Pool(settings.workers, settings.queue, settings.plugin_concurrency, settings.plugin_queue)
    app_metrics = Metrics(pool)
    registry = Registry(settings.plugins, PluginLimits(timeout_ms=settings.timeout_ms), on_load=app_metrics.loaded,
                        max_timeout_ms=None if settings.allow_unlimited_timeout else settings.timeout_ms,
                        max_plugin_bytes=settings.max_plugin_bytes, max_manifest_bytes=settings.max_manifest_bytes,
                        store_threads=settings.store_threads, store_timeout_ms=settings.timeout_ms)
    app[SETTINGS] = settings
    app[POOL] = pool
    app[METRICS] = app_metrics
    app[REGISTRY] = registry
    app[RUNNER] = PluginRunner(registry, pool, settings.timeout_ms)
    app.router.add_post("/run", run, expect_handler=invite_body)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/plugins", plugins)
    app.router.add_get("/metrics", metrics)

    async def announce_store(_app: web.Application) -> None:
        log.info("serving plugins from %s (%d worker threads, queue %d)",
                 describe_store(settings), settings.workers, settings.queue)

    async def close(_app: web.Application) -> None:
        pool.shutdown()
        registry.close()

    if announce:
        app.on_startup.append(announce_store)
    app.on_cleanup.append(close)
    return app
