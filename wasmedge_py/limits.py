"""PluginLimits: what one plugin may cost — time, memory, stack, fuel — and what it may reach (WASI).

Defaults are safe for untrusted code; a plugin's ``plugin.toml`` may change them::

    timeout_ms = 500            # per call; the engine itself stops the call
    max_memory_pages = 32       # linear memory cap, 64 KiB pages
    max_stack_bytes = 1048576   # call-stack cap (see sandbox)
    fuel = 50_000_000           # instruction budget per call (about 2x slower in the interpreter, see README)
    max_output_bytes = 1048576  # ABI v2 output cap (default 16 MiB)
    aot = false                 # run in the interpreter (default: compiled to native code, cached)
    wasi = true                 # or a table: [wasi] args = [...], env = {...}, preopens = ["/data:/srv/data"]
    max_concurrency = 1         # the HTTP service: runs of this plugin at once (default: its workers but one)
    max_queue = 8               # the HTTP service: its requests waiting for a thread (default: half its queue)
    [config]                    # strings the plugin reads with env.config_get (wasmedge_py.plugin_config)
    greeting = "hi"
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any, Mapping

from . import _checks
from ._checks import MAX_FUEL, MAX_TIMEOUT_MS, MAX_TIMEOUT_S  # noqa: F401 - the public spelling of the ranges
from .config import Config
from .files import read_regular_file
from .module import Module
from .plugin_config import EMPTY_CONFIG, check_config
from .plugin_errors import PluginLoadError
from .wasi import Wasi

DEFAULT_TIMEOUT_MS = 1000
DEFAULT_MAX_MEMORY_PAGES = 256  # 16 MiB
DEFAULT_MAX_STACK_BYTES = 8 << 20
DEFAULT_MAX_OUTPUT_BYTES = 16 << 20
MANIFEST_NAME = "plugin.toml"
MAX_PLUGIN_SHARE = 100_000  # max_concurrency / max_queue; the service caps them at its workers / queue
# Largest files ``plugin.load_module`` and ``with_manifest`` read; bigger ones are refused unread.
DEFAULT_MAX_PLUGIN_BYTES = 32 << 20
DEFAULT_MAX_MANIFEST_BYTES = 64 << 10

log = logging.getLogger("wasmedge_py.plugin")


class ManifestError(PluginLoadError):
    """A plugin.toml that cannot be read or has invalid settings."""


@dataclass(frozen=True)
class PluginLimits:
    timeout_ms: int | None = DEFAULT_TIMEOUT_MS
    max_memory_pages: int = DEFAULT_MAX_MEMORY_PAGES
    max_stack_bytes: int | None = DEFAULT_MAX_STACK_BYTES
    fuel: int | None = None
    wasi: Wasi | None = None
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    aot: bool = True
    max_concurrency: int | None = None  # read by the HTTP service only (None: its default)
    max_queue: int | None = None
    # plugin.toml's [config]: not a limit, but what the plugin reads through env.config_get
    plugin_config: Mapping[str, str] = field(default_factory=lambda: EMPTY_CONFIG)

    def __post_init__(self) -> None:
        """Refuse bad limits when they are made, not when the first plugin runs under them."""
        _checks.timeout_ms(self.timeout_ms)
        _checks.integer(self.max_memory_pages, "max_memory_pages", 1, _checks.MAX_MEMORY_PAGES)
        _checks.stack_bytes(self.max_stack_bytes)
        _checks.fuel(self.fuel)
        _checks.instance_of(self.wasi, Wasi, "wasi", optional=True)
        _checks.integer(self.max_output_bytes, "max_output_bytes", 1, _checks.MAX_OUTPUT_BYTES)
        _checks.boolean(self.aot, "aot")
        _checks.optional_integer(self.max_concurrency, "max_concurrency", 1, MAX_PLUGIN_SHARE)
        _checks.optional_integer(self.max_queue, "max_queue", 0, MAX_PLUGIN_SHARE)
        object.__setattr__(self, "plugin_config", check_config(self.plugin_config, "plugin_config"))  # read-only copy

    @property
    def timeout(self) -> float | None:
        return None if self.timeout_ms is None else self.timeout_ms / 1000

    def config(self) -> Config:
        return Config(max_memory_pages=self.max_memory_pages, cost_measuring=self.fuel is not None)

    def load_module(self, path: str | os.PathLike[str], *, data: bytes | None = None) -> Module:
        """Load and validate ``path`` under these limits (with its stack guard); with ``data``, the
        file's contents already read by the caller (``path`` then only names it).

        With ``aot`` (the default) it is compiled to native code through the AOT cache, with
        interruption checks when there is a timeout to enforce and cost measuring when there is
        fuel, so every limit holds as in the interpreter. A module the compiler fails on (or that
        exceeds the compile limits) runs in the interpreter instead: ``Module.interpreter_fallback_reason`` and the
        log say why."""
        path = os.fspath(path)
        config = self.config()
        if not self.aot:
            if data is not None:
                return Module.from_bytes(data, config, max_stack_bytes=self.max_stack_bytes, sandbox=True, source=path)
            return Module.from_file(path, config, max_stack_bytes=self.max_stack_bytes, sandbox=True)
        from .compiler import CompileOptions, load_aot_or_interpreted  # only AOT users need the compiler

        options = CompileOptions(interruptible=self.timeout_ms is not None, cost_measuring=config.cost_measuring)
        module = load_aot_or_interpreted(path, config, options, max_stack_bytes=self.max_stack_bytes, wasm=data)
        if module.interpreter_fallback_reason:
            log.warning("%s: %s", path, module.interpreter_fallback_reason)
        return module

    def to_dict(self) -> dict[str, Any]:
        return {
            "timeout_ms": self.timeout_ms,
            "max_memory_pages": self.max_memory_pages,
            "max_stack_bytes": self.max_stack_bytes,
            "fuel": self.fuel,
            "wasi": self.wasi is not None,
            "max_output_bytes": self.max_output_bytes,
            "aot": self.aot,
            "max_concurrency": self.max_concurrency,
            "max_queue": self.max_queue,
            "config_keys": sorted(self.plugin_config),  # the values may be private to the plugin
        }

    def with_manifest(
        self, path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES, data: bytes | None = None
    ) -> "PluginLimits":
        """These limits overridden by the plugin.toml at ``path`` (unchanged if there is none).

        Only a regular file of at most ``max_bytes`` is read (else ``FileRefused``); with
        ``data``, its contents already read by the caller (``path`` then only names it)."""
        path = os.fspath(path)
        try:
            if data is None:
                data = read_regular_file(path, max_bytes)
            settings = tomllib.loads(data.decode("utf-8"))
        except FileNotFoundError:
            return self
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(f"invalid {path}: {exc}") from exc
        try:
            return dataclasses.replace(self, **_parse(settings))
        except (TypeError, ValueError) as exc:
            raise ManifestError(f"invalid {path}: {exc}") from None


# What plugin.toml may set, and how: the settings that are limits take 0 for "no limit" (TOML
# cannot spell None), then the same checks as the Python API apply.
_UNLIMITED_BY_ZERO = {"timeout_ms": _checks.timeout_ms, "max_stack_bytes": _checks.stack_bytes, "fuel": _checks.fuel}


def _parse(settings: dict[str, Any]) -> dict[str, Any]:
    known = {
        "timeout_ms",
        "max_memory_pages",
        "max_stack_bytes",
        "fuel",
        "wasi",
        "max_output_bytes",
        "aot",
        "max_concurrency",
        "max_queue",
        "config",
    }
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    changes: dict[str, Any] = {}
    for key, check in _UNLIMITED_BY_ZERO.items():
        if key in settings:
            value = settings[key]
            changes[key] = None if value == 0 and type(value) is int else check(value, key, no_limit="0")
    if "max_memory_pages" in settings:
        changes["max_memory_pages"] = _checks.integer(
            settings["max_memory_pages"], "max_memory_pages", 1, _checks.MAX_MEMORY_PAGES
        )
    if "max_output_bytes" in settings:
        changes["max_output_bytes"] = _checks.integer(
            settings["max_output_bytes"], "max_output_bytes", 1, _checks.MAX_OUTPUT_BYTES
        )
    if "aot" in settings:
        changes["aot"] = _checks.boolean(settings["aot"], "aot")
    if "wasi" in settings:
        changes["wasi"] = _parse_wasi(settings["wasi"])
    for key, low in (("max_concurrency", 1), ("max_queue", 0)):
        if key in settings:
            changes[key] = _checks.integer(settings[key], key, low, MAX_PLUGIN_SHARE)
    if "config" in settings:
        changes["plugin_config"] = check_config(settings["config"])
    return changes


def _parse_wasi(value: Any) -> Wasi | None:
    if isinstance(value, bool):
        return Wasi() if value else None
    if not isinstance(value, dict):
        raise ValueError("wasi must be true, false or a table")
    unknown = sorted(set(value) - {"enabled", "args", "env", "preopens"})
    if unknown:
        raise ValueError(f"unknown wasi setting(s) {', '.join(unknown)}")
    if value.get("enabled", True) is False:
        return None
    args, env, preopens = value.get("args", []), value.get("env", {}), value.get("preopens", [])
    if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        raise ValueError("wasi.args must be a list of strings")
    if not (isinstance(env, dict) and all(isinstance(v, str) for v in env.values())):
        raise ValueError("wasi.env must be a table of strings")
    if not (isinstance(preopens, list) and all(isinstance(p, str) and ":" in p for p in preopens)):
        raise ValueError('wasi.preopens must be a list of "guest:host" strings')
    return Wasi(tuple(args), dict(env), tuple(preopens))
