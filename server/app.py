"""The aiohttp application: HTTP in, HTTP out. Handlers only parse and answer; the work is in
``registry`` (modules by name) and ``runner`` (one request through the plugin runtime, on the
``pool``); every error becomes its HTTP status in the ``metrics`` middleware (``errors``).

``make_app()`` with no argument is gunicorn's entry point: it reads its settings from the
environment and prepares the worker process (``process``) when the app starts, in the worker (with
``--preload`` the factory itself runs in the master); ``server/gunicorn_conf.py`` makes the metrics
add up across the workers::

    gunicorn -c python:server.gunicorn_conf 'server.app:make_app()' -w 2
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from aiohttp import HttpVersion11, web
from prometheus_client import CONTENT_TYPE_LATEST

from wasmedge_py import strict_json

from .console import add_console
from .errors import BodyTooLarge, RequestError
from .metrics import METRICS, PLUGIN, Metrics, errors_and_metrics
from .pool import Pool
from .process import prepare_process
from .publish import install as install_publishing
from .registry import PluginNotFound, Registry, check_name, registry_for
from .runner import PluginRunner
from .settings import Settings
from .warm import install_warmup, is_ready

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
REGISTRY = web.AppKey("registry", Registry)
POOL = web.AppKey("pool", Pool)
RUNNER = web.AppKey("runner", PluginRunner)


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
    request[PLUGIN] = name
    if not await app[REGISTRY].listing.may_hold(name):  # answered on the loop (server/listing.py)
        raise PluginNotFound(name)
    output = await app[RUNNER].run(name, x)
    return web.json_response({"output": output})


async def healthz(request: web.Request) -> web.Response:
    """Liveness: answered on the event loop, never queued behind plugin runs. ``ready`` says
    whether ``--warm`` is done; readiness probes use ``/readyz`` (server/warm.py), which is 503 until then."""
    pool = request.app[POOL]
    return web.json_response(
        {
            "status": "ok",
            "ready": is_ready(request.app),
            "in_flight": pool.running,
            "queued": pool.waiting,
            "abandoned": pool.abandoned,
        }
    )


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
    body = request.app[METRICS].exposition()
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
    app = web.Application(middlewares=[errors_and_metrics], client_max_size=settings.max_body)
    pool = Pool(settings.workers, settings.queue, settings.plugin_concurrency, settings.plugin_queue)
    app_metrics = Metrics(pool)
    registry = registry_for(settings, on_load=app_metrics.loaded)
    app[SETTINGS] = settings
    app[POOL] = pool
    app[METRICS] = app_metrics
    app[REGISTRY] = registry
    app[RUNNER] = PluginRunner(registry, pool, settings.timeout_ms, on_usage=app_metrics.used)
    app.router.add_post("/run", run, expect_handler=invite_body)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/plugins", plugins)
    app.router.add_get("/metrics", metrics)
    install_publishing(app, settings, registry)
    install_warmup(app, registry, settings)
    add_console(app)

    async def announce_store(_app: web.Application) -> None:
        log.info(
            "serving plugins from %s (%d worker threads, queue %d)",
            describe_store(settings),
            settings.workers,
            settings.queue,
        )

    async def close(_app: web.Application) -> None:
        pool.shutdown()
        app[RUNNER].close()
        registry.close()

    async def prepare_worker(_app: web.Application) -> None:
        """A gunicorn worker is a serving process of its own, and gunicorn configures only its own
        loggers: ours (and aiohttp's) need a handler too. At start-up, not in this factory: with
        ``--preload`` the factory runs in gunicorn's master, before the fork, and threads (the
        stdio router) do not survive a fork."""
        prepare_process(settings)

    if announce:
        app.on_startup.extend([prepare_worker, announce_store])
    app.on_cleanup.append(close)
    app.cleanup_ctx.append(app_metrics.keep_gauges_fresh)
    return app
