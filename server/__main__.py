"""``python -m server``: serve the plugin store over HTTP (``POST /run``).

Every option can also be set by an environment variable; a flag on the command line wins over
it. ``main(argv)`` is also what ``wasmedge-py serve`` calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from typing import Awaitable, Callable, Mapping, Sequence

from aiohttp import web

from .app import POOL, describe_store, make_app
from .process import prepare_process
from .settings import FLUID_MOUNT_PATH_ENV, OPTIONS, PLUGIN_STORE_ENV, Settings, SettingsError

log = logging.getLogger("server")

# The process exits at the latest this long after the --grace period (see _exit_after).
SHUTDOWN_MARGIN_S = 0.5
# After the grace: how long aiohttp waits for a request to finish, then again once cancelled.
CANCEL_WAIT_S = 0.1


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The flags, each documented with its environment variable and default."""
    parser = argparse.ArgumentParser(
        prog=prog or "python -m server",
        description='Serve WebAssembly plugins over HTTP: POST /run {"plugin": NAME, "input": INT} '
        '-> {"output": INT}; GET /healthz, /plugins, /metrics.',
        epilog=f"Plugin store: {PLUGIN_STORE_ENV}=fluid reads the same <name>/<name>.wasm layout from "
        f"${FLUID_MOUNT_PATH_ENV} (default /mnt/fluid/plugins) unless --plugins or WASMEDGE_PY_PLUGINS "
        "is given. SIGTERM or SIGINT stops accepting connections, lets in-flight requests finish "
        "within --grace seconds and exits 0, leaving behind plugin calls that did not stop (within --grace + 1 s "
        "in any case).",
    )
    for option in OPTIONS:
        default = "see above" if option.default is None else option.default
        if option.switch:
            parser.add_argument(
                option.flag,
                dest=option.field,
                action="store_const",
                const=True,
                default=None,
                help=f"{option.help} [env {option.env}=1]",
            )
            continue
        parser.add_argument(
            option.flag,
            dest=option.field,
            type=_checked(option.parse),
            default=None,  # None = not given: Settings.resolve falls back to the environment
            metavar=option.metavar,
            help=f"{option.help} [env {option.env}; default {default}]",
        )
    return parser


def _checked(parse: Callable[[str], object]) -> Callable[[str], object]:
    """argparse reports ArgumentTypeError as a usage error naming the flag."""

    def convert(text: str) -> object:
        try:
            return parse(text)
        except SettingsError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    app = make_app(settings)
    in_flight = _InFlight()
    app.middlewares.append(in_flight.middleware)
    http = web.AppRunner(app, shutdown_timeout=CANCEL_WAIT_S)  # aiohttp's: the HTTP server around the app
    await http.setup()
    try:
        site = web.TCPSite(http, settings.host, settings.port)
        await site.start()
        host, port = http.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        pool = app[POOL]
        log.info(
            "serving on http://%s:%d from %s with %d worker threads, queue %d (per plugin: %d running, %d waiting), "
            "%s event loop",
            shown,
            port,
            describe_store(settings),
            settings.workers,
            settings.queue,
            pool.plugin_concurrency,
            pool.plugin_queue,
            settings.event_loop,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        for signum in (signal.SIGTERM, signal.SIGINT):  # a second signal ends the process at once
            loop.remove_signal_handler(signum)
        log.info("shutting down: no new connections, waiting up to %gs for in-flight requests", settings.grace)
        _exit_after(settings.grace + SHUTDOWN_MARGIN_S)
        await site.stop()  # no new connections
        if http.server is None:  # set by setup(), cleared only by cleanup()
            raise RuntimeError("the aiohttp runner lost its server before shutdown")
        http.server.pre_shutdown()  # nor new requests on the open ones
        await in_flight.drained(settings.grace)
    finally:
        await http.cleanup()  # cancels what is still running after the grace
    if app[POOL].running:
        # Runs still going after the grace (a call the engine cannot stop, say): their threads may
        # be inside the engine, so no interpreter teardown under them.
        log.warning("stopped, leaving %d plugin run(s) on their threads", app[POOL].running)
        os._exit(0)
    log.info("stopped")


class _InFlight:
    """The requests being handled, so that the shutdown waits for them for exactly --grace
    (aiohttp's own wait rounds a timeout over 5 s up to the next whole second)."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self._count += 1
        self._idle.clear()
        try:
            return await handler(request)
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    async def drained(self, timeout: float) -> None:
        """Return when no request is being handled, or after ``timeout`` seconds."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)


def _exit_after(seconds: float) -> None:
    """The last resort: whatever still holds the process ``seconds`` from now (say, a thread in a
    store read that never returns, which the interpreter would wait for at exit), it exits then."""

    def exit_now() -> None:
        time.sleep(seconds)
        log.error("shutdown did not finish within %gs of the signal: exiting now", seconds)
        os._exit(1)

    threading.Thread(target=exit_now, name="shutdown-deadline", daemon=True).start()


def loop_factory(event_loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """``--event-loop``'s loop (None: asyncio's default)."""
    if event_loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def parse_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None, prog: str | None = None
) -> Settings:
    """Flags over environment over defaults; a bad value exits with status 2 and a usage message."""
    parser = build_parser(prog)
    options = parser.parse_args(argv)
    try:
        return Settings.resolve(vars(options), environ)
    except SettingsError as exc:
        parser.error(str(exc))
        raise  # not reached: parser.error exits


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv``, serve until SIGTERM/SIGINT, and return the exit status (0 after a
    graceful stop). ``prog`` names the command in usage messages (e.g. "wasmedge-py serve")."""
    settings = parse_settings(argv, prog=prog)
    prepare_process(settings)
    try:
        with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
            runner.run(serve(settings))
    except OSError as exc:  # e.g. the port is taken
        log.error("cannot serve on %s:%d: %s", settings.host, settings.port, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
