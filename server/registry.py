"""Registry: plugin name -> validated ``Module``, cached by file identity and reloaded on change.

Loading and validating a module (and rewriting it for the stack guard) costs far more than
instantiating it, so it is done once per file version; every request then builds its own instance
from the cached module. A file version is ``(st_dev, st_ino, st_size, st_mtime_ns)`` of
``<name>/<name>.wasm`` plus that of its optional ``plugin.toml``: an atomic rename gives a new inode,
an in-place write a new size or mtime, so either is picked up by the next request without a
restart. A broken version is cached as broken (its error answered at once, not re-parsed per
request) until the file changes again.

Replaced modules are closed when the last request using them has finished (``lease``), so a reload
never frees a module under a running request.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from wasmedge_py import Module, PluginLimits, PluginLoadError, WasmEdgeError, load_module, load_plugin
from wasmedge_py.limits import MANIFEST_NAME

log = logging.getLogger(__name__)

# Checked before any path is built, so "..", "/", NUL, dots and absolute paths never reach the
# filesystem. fullmatch, not "$": "$" would accept a trailing newline.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

FileId = tuple[int, int, int, int]


class InvalidPluginName(ValueError):
    """The name is not 1-64 characters of ``[A-Za-z0-9_-]``."""


class PluginNotFound(LookupError):
    """The store is readable but has no ``<name>/<name>.wasm``."""

    def __init__(self, name: str) -> None:
        super().__init__(f"plugin not found: {name}")
        self.name = name


class StoreUnavailable(Exception):
    """The store itself cannot be read (mount gone, permission, I/O error): retry later, not 404."""


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidPluginName("invalid plugin name")
    return name


@dataclass(eq=False)
class Entry:
    """One version of one plugin file: its validated module, or why it is broken."""

    name: str
    path: str
    identity: tuple[FileId, FileId | None]
    limits: PluginLimits | None = None
    module: Module | None = None
    error: str | None = None
    users: int = 0
    retired: bool = False
    abi_version: str | None = None
    abi_checked: bool = False

    def close(self) -> None:
        if self.module is not None:
            self.module.close()


def _file_id(st: os.stat_result) -> FileId:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Registry:
    """Thread-safe: requests on many worker threads look plugins up concurrently."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        base_limits: PluginLimits | None = None,
        *,
        on_load: Callable[[str, bool], None] | None = None,
    ) -> None:
        """``base_limits`` apply to every plugin unless its ``plugin.toml`` overrides them;
        ``on_load(name, ok)`` is told of every (re)load, for metrics."""
        self.root = os.path.abspath(os.fspath(root))
        self.base_limits = base_limits or PluginLimits()
        self._on_load = on_load
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()  # guards _entries, _load_locks and every Entry.users/retired
        self._load_locks: dict[str, threading.Lock] = {}

    def path_for(self, name: str) -> str:
        name = check_name(name)
        return os.path.join(self.root, name, f"{name}.wasm")

    def redact(self, message: str) -> str:
        """Messages go to clients: show paths relative to the store, not the server's layout."""
        return message.replace(self.root + os.sep, "")

    # -- lookup --------------------------------------------------------------------------------

    @contextmanager
    def lease(self, name: str) -> Iterator[Entry]:
        """The current, loaded version of plugin ``name``, kept open until the block ends.

        Raises ``InvalidPluginName``, ``PluginNotFound``, ``StoreUnavailable``, or
        ``PluginLoadError`` for a version that does not load or validate."""
        entry = self._acquire(check_name(name))
        try:
            if entry.error is not None:
                raise PluginLoadError(entry.error)
            yield entry
        finally:
            self._release(entry)

    def _acquire(self, name: str) -> Entry:
        try:
            identity = self._identity(name)
        except PluginNotFound:
            self._forget(name)
            raise
        entry = self._cached(name, identity)
        if entry is not None:
            return entry
        with self._lock:
            load_lock = self._load_locks.setdefault(name, threading.Lock())
        with load_lock:  # one load per new version, however many requests ask for it at once
            # Stat again: another thread may have loaded a newer version while we waited. The
            # version is labelled with the identity seen *before* reading it, so a change during
            # the load only causes one more reload on the next request.
            identity = self._identity(name)
            entry = self._cached(name, identity)
            if entry is not None:
                return entry
            fresh = self._load(name, identity)
            with self._lock:
                old = self._entries.get(name)
                self._entries[name] = fresh
                fresh.users += 1
                close_old = old is not None and self._retire(old)
        if close_old:
            old.close()
        return fresh

    def _cached(self, name: str, identity: tuple[FileId, FileId | None]) -> Entry | None:
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and entry.identity == identity:
                entry.users += 1
                return entry
        return None

    def _release(self, entry: Entry) -> None:
        with self._lock:
            entry.users -= 1
            close = entry.retired and entry.users == 0
        if close:
            entry.close()

    def _retire(self, entry: Entry) -> bool:
        """Mark a replaced version; True if nobody uses it and it can be closed now (lock held)."""
        entry.retired = True
        return entry.users == 0

    def _forget(self, name: str) -> None:
        with self._lock:
            old = self._entries.pop(name, None)
            close = old is not None and self._retire(old)
        if close:
            old.close()

    # -- filesystem ----------------------------------------------------------------------------

    def _identity(self, name: str) -> tuple[FileId, FileId | None]:
        path = self.path_for(name)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            self.check_store()
            raise PluginNotFound(name) from None
        except OSError as exc:
            raise self._unavailable(exc) from None
        if not stat.S_ISREG(st.st_mode):
            raise PluginNotFound(name)
        try:
            manifest: FileId | None = _file_id(os.stat(os.path.join(self.root, name, MANIFEST_NAME)))
        except FileNotFoundError:
            manifest = None
        except OSError as exc:
            raise self._unavailable(exc) from None
        return _file_id(st), manifest

    def check_store(self) -> None:
        """Raise ``StoreUnavailable`` unless the store is a directory we can list and enter."""
        try:
            st = os.stat(self.root)
        except OSError as exc:
            raise self._unavailable(exc) from None
        if not stat.S_ISDIR(st.st_mode):
            raise StoreUnavailable("plugin store unavailable: not a directory")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise StoreUnavailable("plugin store unavailable: permission denied")

    def _unavailable(self, exc: OSError) -> StoreUnavailable:
        log.warning("plugin store %s cannot be read: %s", self.root, exc)
        return StoreUnavailable(f"plugin store unavailable: {exc.strerror or exc}")

    def _load(self, name: str, identity: tuple[FileId, FileId | None]) -> Entry:
        path = self.path_for(name)
        entry = Entry(name, path, identity)
        try:
            entry.limits = self.base_limits.with_manifest(os.path.join(self.root, name, MANIFEST_NAME))
            entry.module = load_module(path, entry.limits)
        except PluginLoadError as exc:
            entry.error = self.redact(str(exc))
            log.warning("plugin %s does not load: %s", name, exc)
        except OSError as exc:  # the file vanished or became unreadable while we read it
            raise self._unavailable(exc) from None
        else:
            log.info("loaded plugin %s from %s (%s)", name, path, entry.module.engine)
        if self._on_load is not None:
            self._on_load(name, entry.error is None)
        return entry

    # -- listing -------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every well-named plugin directory that holds its ``<name>.wasm``, sorted."""
        self.check_store()
        try:
            with os.scandir(self.root) as listing:
                candidates = [d.name for d in listing if NAME_PATTERN.fullmatch(d.name)]
        except OSError as exc:
            raise self._unavailable(exc) from None
        return sorted(n for n in candidates if os.path.isfile(self.path_for(n)))

    def describe(self, name: str) -> dict[str, Any]:
        """Name, ABI version, exports and limits of the current version (or its error)."""
        try:
            with self.lease(name) as entry:
                if not entry.abi_checked:
                    # The ABI version is only known by asking an instance; once per version.
                    with load_plugin(entry.path, entry.limits, module=entry.module) as plugin:
                        entry.abi_version = plugin.abi_version
                    entry.abi_checked = True
                assert entry.module is not None and entry.limits is not None
                return {
                    "name": name,
                    "abi_version": entry.abi_version,
                    "exports": sorted(e.name for e in entry.module.exports if e.kind == "function"),
                    "limits": entry.limits.to_dict(),
                    "engine": entry.module.engine,
                    **({"engine_note": self.redact(entry.module.engine_note)} if entry.module.engine_note else {}),
                }
        except PluginNotFound:
            raise
        except WasmEdgeError as exc:
            return {"name": name, "error": f"failed to load plugin: {self.redact(str(exc))}"}

    def close(self) -> None:
        """Close every cached module (those still leased close when their request ends)."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            closable = [e for e in entries if self._retire(e)]
        for entry in closable:
            entry.close()
