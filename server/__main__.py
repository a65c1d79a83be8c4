"""``python -m server``: serve the plugin store over HTTP (``POST /run``).

Every option can also be set by an environment variable; a flag on the command line wins over
it. ``main(argv)`` is also what ``wasmedge-py serve`` calls.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Callable, Mapping, Sequence

from aiohttp import web

from .app import LOG_FORMAT, describe_store, make_app
from .settings import FLUID_MOUNT_PATH_ENV, OPTIONS, PLUGIN_STORE_ENV, Settings, SettingsError

log = logging.getLogger("server")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The flags, each documented with its environment variable and default."""
    parser = argparse.ArgumentParser(
        prog=prog or "python -m server",
        description="Serve WebAssembly plugins over HTTP: POST /run {\"plugin\": NAME, \"input\": INT} "
        "-> {\"output\": INT}; GET /healthz, /plugins, /metrics.",
        epilog=f"Plugin store: {PLUGIN_STORE_ENV}=fluid reads the same <name>/<name>.wasm layout from "
        f"${FLUID_MOUNT_PATH_ENV} (default /mnt/fluid/plugins) unless --plugins or WASMEDGE_PY_PLUGINS "
        "is given. SIGTERM or SIGINT stops accepting connections, lets in-flight requests finish "
        "within --grace seconds and exits 0.",
    )
    for option in OPTIONS:
        default = "see above" if option.default is None else option.default
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
    runner = web.AppRunner(app, shutdown_timeout=settings.grace)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        log.info("serving on http://%s:%d from %s with %d worker threads, queue %d",
                 shown, port, describe_store(settings), settings.workers, settings.queue)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        for signum in (signal.SIGTERM, signal.SIGINT):  # a second signal ends the process at once
            loop.remove_signal_handler(signum)
        log.info("shutting down: no new connections, waiting up to %gs for in-flight requests", settings.grace)
    finally:
        await runner.cleanup()
    log.info("stopped")


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
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    try:
        asyncio.run(serve(settings))
    except OSError as exc:  # e.g. the port is taken
        log.error("cannot serve on %s:%d: %s", settings.host, settings.port, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
