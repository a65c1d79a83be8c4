"""Settings: every option of the service, read from flags or environment variables (flags win).

Kept apart from ``__main__`` so that ``make_app()`` under gunicorn, where there are no flags of
ours, reads exactly the same environment variables with the same defaults and checks.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from wasmedge_py.limits import (
    DEFAULT_MAX_MANIFEST_BYTES,
    DEFAULT_MAX_PLUGIN_BYTES,
    DEFAULT_TIMEOUT_MS,
    MAX_TIMEOUT_MS,
    MAX_TIMEOUT_S,
)

from .auth import TOKEN_ENV, TokenError, read_token
from .storeio import DEFAULT_STORE_THREADS


def default_workers() -> int:
    """The CPUs this process may run on (a container's cpuset, not the host's core count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_PLUGINS = "plugins"
DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_QUEUE = 64
DEFAULT_GRACE_S = 10.0
DEFAULT_FLUID_MOUNT_PATH = "/mnt/fluid/plugins"

# The original service's switch: PLUGIN_STORE=fluid reads the same layout from FLUID_MOUNT_PATH.
PLUGIN_STORE_ENV = "PLUGIN_STORE"
FLUID_MOUNT_PATH_ENV = "FLUID_MOUNT_PATH"


class SettingsError(ValueError):
    """An option (flag or environment variable) has an unusable value."""


@dataclass(frozen=True)
class Option:
    """One setting: its flag, environment variable, default and help, documented in one place."""

    field: str
    flag: str
    env: str
    parse: Callable[[str], object]
    default: object
    help: str
    metavar: str
    switch: bool = False  # a flag without a value; its variable takes 1/0, true/false, yes/no, on/off


def _int(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise SettingsError(f"expected an integer, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = "" if maximum is None else f"..{maximum}"
            raise SettingsError(f"expected an integer in {minimum}{upper}, got {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"expected a number of seconds, got {text!r}") from None
    if not 0 <= value <= MAX_TIMEOUT_S:  # also refuses nan and inf
        raise SettingsError(f"expected a number of seconds in 0..{MAX_TIMEOUT_S}, got {text!r}")
    return value


def _switch(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"expected 1/0, true/false, yes/no or on/off, got {text!r}")


def _level(text: str) -> str:
    level = text.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(f"expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {text!r}")
    return level


def _text(text: str) -> str:
    if not text:
        raise SettingsError("must not be empty")
    return text


EVENT_LOOPS = ("uvloop", "asyncio")


def default_event_loop() -> str:
    """uvloop when it is installed (the ``server`` extra): the same requests for less CPU (README
    "Performance"); asyncio's own loop otherwise."""
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def _event_loop(text: str) -> str:
    loop = text.strip().lower()
    if loop not in EVENT_LOOPS:
        raise SettingsError(f"expected {' or '.join(EVENT_LOOPS)}, got {text!r}")
    if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise SettingsError("uvloop is not installed (pip install uvloop, or the package's server extra)")
    return loop


def _path(text: str) -> Path:
    return Path(_text(text))


def _lock_file(text: str) -> Path:
    """A lock file must be usable when the service starts: a typo is a start-up error."""
    from wasmedge_py.lockfile import LockFileError, read_lock

    try:
        read_lock(_text(text))
    except LockFileError as exc:
        raise SettingsError(str(exc)) from None
    return Path(text)


TOKEN_PROTECTED = ("run",)  # what --require-token may name (the publish API always needs the token)


def _protected(text: str) -> tuple[str, ...]:
    names = tuple(sorted({part.strip() for part in text.split(",") if part.strip()}))
    if not names or set(names) - set(TOKEN_PROTECTED):
        raise SettingsError(f"expected {', '.join(TOKEN_PROTECTED)}, got {text!r}")
    return names


OPTIONS: tuple[Option, ...] = (
    Option(
        "host",
        "--host",
        "WASMEDGE_PY_HOST",
        _text,
        DEFAULT_HOST,
        "address to listen on (0.0.0.0 for all interfaces)",
        "ADDR",
    ),
    Option(
        "port",
        "--port",
        "WASMEDGE_PY_PORT",
        _int(0, 65535),
        DEFAULT_PORT,
        "TCP port (0 picks a free one; the start-up line names it)",
        "PORT",
    ),
    Option(
        "plugins",
        "--plugins",
        "WASMEDGE_PY_PLUGINS",
        _text,
        None,
        f"plugin store: DIR/<name>/<name>.wasm (default ./{DEFAULT_PLUGINS}, or $FLUID_MOUNT_PATH "
        f"when PLUGIN_STORE=fluid)",
        "DIR",
    ),
    Option(
        "workers",
        "--workers",
        "WASMEDGE_PY_WORKERS",
        _int(1, 1024),
        None,
        "threads running plugins at once (default: the CPUs available)",
        "N",
    ),
    Option(
        "queue",
        "--queue",
        "WASMEDGE_PY_QUEUE",
        _int(0, 100_000),
        DEFAULT_QUEUE,
        "requests that may wait for a free thread; beyond that: 503 with Retry-After",
        "N",
    ),
    Option(
        "plugin_concurrency",
        "--plugin-concurrency",
        "WASMEDGE_PY_PLUGIN_CONCURRENCY",
        _int(1, 1024),
        None,
        "threads one plugin may use at once (default: all workers but one, at least 1; a plugin.toml "
        "max_concurrency overrides it for that plugin)",
        "N",
    ),
    Option(
        "plugin_queue",
        "--plugin-queue",
        "WASMEDGE_PY_PLUGIN_QUEUE",
        _int(0, 100_000),
        None,
        "requests of one plugin that may wait (default: half the queue, at least 1; a plugin.toml "
        "max_queue overrides it); beyond that: 503 with Retry-After for that plugin only",
        "N",
    ),
    Option(
        "max_body",
        "--max-body",
        "WASMEDGE_PY_MAX_BODY",
        _int(1),
        DEFAULT_MAX_BODY,
        "largest request body in bytes; larger ones get 413 before being read",
        "BYTES",
    ),
    Option(
        "max_plugin_bytes",
        "--max-plugin-bytes",
        "WASMEDGE_PY_MAX_PLUGIN_BYTES",
        _int(1),
        DEFAULT_MAX_PLUGIN_BYTES,
        "largest <name>.wasm the service loads; a larger one is refused (500) unread",
        "BYTES",
    ),
    Option(
        "max_manifest_bytes",
        "--max-manifest-bytes",
        "WASMEDGE_PY_MAX_MANIFEST_BYTES",
        _int(1),
        DEFAULT_MAX_MANIFEST_BYTES,
        "largest plugin.toml the service reads; a larger one is refused (500) unread",
        "BYTES",
    ),
    Option(
        "store_threads",
        "--store-threads",
        "WASMEDGE_PY_STORE_THREADS",
        _int(1, 256),
        DEFAULT_STORE_THREADS,
        "threads that read the plugin store; a read that hangs holds one (a plugin at most two) and its "
        "requests get 503 after --timeout-ms",
        "N",
    ),
    Option(
        "timeout_ms",
        "--timeout-ms",
        "WASMEDGE_PY_TIMEOUT_MS",
        _int(1, MAX_TIMEOUT_MS),
        DEFAULT_TIMEOUT_MS,
        f"how long a run may take before 504 (1..{MAX_TIMEOUT_MS}); also the engine's per-call "
        "limit, which a plugin.toml timeout_ms may lower (raise or remove only with "
        "--allow-unlimited-timeout)",
        "MS",
    ),
    Option(
        "allow_unlimited_timeout",
        "--allow-unlimited-timeout",
        "WASMEDGE_PY_ALLOW_UNLIMITED_TIMEOUT",
        _switch,
        False,
        "let a plugin.toml raise the engine's timeout above --timeout-ms or remove it (timeout_ms = 0); "
        "runs past the request's deadline are then abandoned to threads of their own",
        "",
        switch=True,
    ),
    Option(
        "lock",
        "--lock",
        "WASMEDGE_PY_LOCK",
        _lock_file,
        None,
        "serve only plugins whose files match this lock file (`wasmedge-py lock DIR` writes one); "
        "others get 500 naming the expected and actual digests (default: no pinning)",
        "FILE",
    ),
    Option(
        "publish",
        "--publish",
        "WASMEDGE_PY_PUBLISH",
        _switch,
        False,
        f"enable PUT and DELETE /plugins/NAME, which need the bearer token (${TOKEN_ENV} or --token-file)",
        "",
        switch=True,
    ),
    Option(
        "token_file",
        "--token-file",
        "WASMEDGE_PY_TOKEN_FILE",
        _path,
        None,
        f"read the bearer token from this file instead of ${TOKEN_ENV} (default: none)",
        "FILE",
    ),
    Option(
        "require_token",
        "--require-token",
        "WASMEDGE_PY_REQUIRE_TOKEN",
        _protected,
        None,
        "also ask the bearer token of: run (POST /run) (default: nothing)",
        "WHAT",
    ),
    Option(
        "warm",
        "--warm",
        "WASMEDGE_PY_WARM",
        _switch,
        False,
        "at start-up, compile every plugin of the store into the AOT cache, --workers at a time; GET /readyz "
        "answers 503 until that is done (a plugin that fails counts as done)",
        "",
        switch=True,
    ),
    Option(
        "grace",
        "--grace",
        "WASMEDGE_PY_GRACE",
        _seconds,
        DEFAULT_GRACE_S,
        "on SIGTERM/SIGINT, how long in-flight requests may take to finish",
        "SECONDS",
    ),
    Option(
        "event_loop",
        "--event-loop",
        "WASMEDGE_PY_EVENT_LOOP",
        _event_loop,
        None,
        "the event loop: uvloop or asyncio (default: uvloop when it is installed)",
        "LOOP",
    ),
    Option(
        "log_level",
        "--log-level",
        "WASMEDGE_PY_LOG_LEVEL",
        _level,
        "INFO",
        "logging level (DEBUG, INFO, WARNING, ERROR)",
        "LEVEL",
    ),
)


@dataclass(frozen=True)
class Settings:
    """The resolved options; ``store_kind`` says where ``plugins`` came from (for the start-up line)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    plugins: Path = Path(DEFAULT_PLUGINS)
    store_kind: str = "local"
    workers: int = 1
    queue: int = DEFAULT_QUEUE
    plugin_concurrency: int | None = None  # None: derived from workers (see server.pool.Pool)
    plugin_queue: int | None = None  # None: derived from queue
    allow_unlimited_timeout: bool = False
    warm: bool = False
    max_body: int = DEFAULT_MAX_BODY
    max_plugin_bytes: int = DEFAULT_MAX_PLUGIN_BYTES
    max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    store_threads: int = DEFAULT_STORE_THREADS
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    grace: float = DEFAULT_GRACE_S
    log_level: str = "INFO"
    event_loop: str = field(default_factory=default_event_loop)  # for python -m server; gunicorn: its -k
    lock: Path | None = None
    publish: bool = False
    token_file: Path | None = None
    require_token: tuple[str, ...] | None = None  # None: nothing but the publish API needs the token
    token: str | None = field(default=None, repr=False)  # from token_file or $WASMEDGE_PY_TOKEN

    @classmethod
    def resolve(cls, given: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None) -> "Settings":
        """Combine explicit values (``given``, e.g. parsed flags; ``None`` = not given) with the
        environment and the defaults, in that order of precedence."""
        given = given or {}
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for option in OPTIONS:
            value = given.get(option.field)
            if value is None and environ.get(option.env):
                try:
                    value = option.parse(environ[option.env])
                except SettingsError as exc:
                    raise SettingsError(f"{option.env}: {exc}") from None
            values[option.field] = option.default if value is None else value
        if values["workers"] is None:
            values["workers"] = default_workers()
        if values["event_loop"] is None:
            values["event_loop"] = default_event_loop()
        plugins, kind = _store(values.pop("plugins"), environ)
        return cls(plugins=plugins, store_kind=kind, token=_token(values, environ), **values)  # type: ignore[arg-type]

    @property
    def timeout(self) -> float:
        return self.timeout_ms / 1000


def _token(values: Mapping[str, object], environ: Mapping[str, str]) -> str | None:
    """The bearer token, required when something asks for it."""
    try:
        token = read_token(values["token_file"], environ)  # type: ignore[arg-type]
    except TokenError as exc:
        raise SettingsError(str(exc)) from None
    if token is None and (values["publish"] or values["require_token"]):
        raise SettingsError(f"--publish and --require-token need a bearer token: set ${TOKEN_ENV} or --token-file")
    return token


def _store(explicit: object, environ: Mapping[str, str]) -> tuple[Path, str]:
    """An explicit directory wins; otherwise the original's PLUGIN_STORE switch decides."""
    if explicit is not None:
        return Path(str(explicit)), "local"
    store = environ.get(PLUGIN_STORE_ENV, "").strip().lower()
    if store == "fluid":
        return Path(environ.get(FLUID_MOUNT_PATH_ENV) or DEFAULT_FLUID_MOUNT_PATH), "fluid"
    if store not in ("", "local"):
        raise SettingsError(f"{PLUGIN_STORE_ENV} must be 'local' or 'fluid', got {environ[PLUGIN_STORE_ENV]!r}")
    return Path(DEFAULT_PLUGINS), "local"
