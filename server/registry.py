"""Registry: plugin name -> validated ``Module``, cached by file identity and reloaded on change.

Loading and validating a module (and rewriting it for the stack guard) costs far more than
instantiating it, so it is done once per file version; every request then builds its own instance
from the cached module. A file version is ``(st_dev, st_ino, st_size, st_mtime_ns)`` of
``<name>/<name>.wasm`` plus that of its optional ``plugin.toml``: an atomic rename gives a new inode,
an in-place write a new size or mtime, so either is picked up by the next request without a
restart. A broken version is cached as broken (its error answered at once, not re-parsed per
request) until the file changes again.

A plugin directory may be a symlink (the publish API swaps one to replace a plugin's files
together, see ``server.publish``): it is resolved once per access, so the ``.wasm`` and the
``plugin.toml`` of one version are never read one from each of two versions.

With a lock file (``--lock``, ``wasmedge_py.lockfile``), a version is served only if its files
hash to the digests pinned for it; the lock's pin is part of a version's identity, so a changed
lock file re-checks the plugins on their next request, and a mismatch is logged once per version.

Replaced modules are closed when the last request using them has finished (``lease``), so a reload
never frees a module under a running request.

Every access to the store (``stat``, listing, reading) runs on ``StoreIO``'s threads and is waited
for at most one store timeout (and one more after waiting for another thread's load of the same
plugin), so a hung mount costs a store thread, never a plugin worker past that deadline. Only regular files are opened, only after ``stat`` shows they are within
the size limits (``wasmedge_py.files``). A plugin whose files vanish between ``stat`` and ``open``
is not found (404), not a broken store.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from wasmedge_py import Module, PluginLimits, PluginLoadError, WasmEdgeError, load_module, load_plugin
from wasmedge_py.files import FileRefused, read_regular_file
from wasmedge_py.limits import DEFAULT_MAX_MANIFEST_BYTES, DEFAULT_MAX_PLUGIN_BYTES, DEFAULT_TIMEOUT_MS, MANIFEST_NAME
from wasmedge_py.lockfile import LockFile, LockFileError, Pin
from wasmedge_py.native_workers import NativeFileCheck
from wasmedge_py.runtime import is_plugin_name

from .errors import ServiceError
from .listing import StoreListing
from .settings import Settings
from .storeio import DEFAULT_STORE_THREADS, StoreIO, StoreUnavailable

log = logging.getLogger(__name__)

FileId = tuple[int, int, int, int]
# What the lock file says of a plugin: its pin; why it cannot be served (not pinned, lock file
# unusable); or None when no lock file is in use.
Expected = Pin | str | None
Identity = tuple[FileId, FileId | None, Expected]  # the .wasm's, the plugin.toml's if there is one


class InvalidPluginName(ServiceError, ValueError):
    """The name is not 1-64 characters of ``[A-Za-z0-9_-]`` (400)."""

    status = 400


class PluginNotFound(ServiceError, LookupError):
    """The store is readable but has no ``<name>/<name>.wasm`` (404)."""

    status = 404

    def __init__(self, name: str) -> None:
        super().__init__(f"plugin not found: {name}")
        self.name = name


class PinMismatch(PluginLoadError):
    """The plugin's files are not those its lock file entry pins (served as a failed load, 500)."""


def check_name(name: str) -> str:
    """``name``, if it may name a plugin (the rule the CLI uses too): checked before any path is built."""
    if not is_plugin_name(name):
        raise InvalidPluginName("invalid plugin name")
    return name


@dataclass(frozen=True)
class Files:
    """One read of a plugin's files: their identity, and their contents or why they were refused."""

    identity: Identity
    wasm: bytes = b""
    manifest: bytes | None = None
    refused: str | None = None


@dataclass(eq=False)
class Entry:
    """One version of one plugin file: its validated module, or why it is broken."""

    name: str
    path: str
    identity: Identity
    limits: PluginLimits | None = None
    module: Module | None = None
    error: str | None = None
    users: int = 0
    retired: bool = False
    description: dict[str, Any] | None = None  # for /plugins, worked out once per version
    native_check: NativeFileCheck | None = None  # for loaded_entry, worked out once per version

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
        max_timeout_ms: int | None = None,
        max_plugin_bytes: int = DEFAULT_MAX_PLUGIN_BYTES,
        max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES,
        store_threads: int = DEFAULT_STORE_THREADS,
        store_timeout_ms: int = DEFAULT_TIMEOUT_MS,
        lock: LockFile | None = None,
    ) -> None:
        """``base_limits`` apply to every plugin unless its ``plugin.toml`` overrides them;
        ``on_load(name, ok)`` is told of every (re)load, for metrics; ``max_timeout_ms`` caps the
        engine timeout a ``plugin.toml`` may set (its ``timeout_ms = 0``, no limit, included).
        Files over ``max_plugin_bytes`` / ``max_manifest_bytes`` are refused unread; store
        accesses run on ``store_threads`` threads and are waited for ``store_timeout_ms`` at
        most (see ``StoreIO``). With ``lock``, only plugins whose files match it are served."""
        self.root = os.path.abspath(os.fspath(root))
        self.base_limits = base_limits or PluginLimits()
        self.max_timeout_ms = max_timeout_ms
        self.max_plugin_bytes = max_plugin_bytes
        self.max_manifest_bytes = max_manifest_bytes
        self.lock = lock
        self.io = StoreIO(store_threads, store_timeout_ms / 1000)
        self._describe_lock = threading.Lock()  # /plugins instantiates one plugin at a time
        self._on_load = on_load
        self._entries: dict[str, Entry] = {}
        self.listing = StoreListing(self.io, self._names_in_store, cached=self._entries)  # 404s on the loop
        self._lock = threading.Lock()  # guards _entries, _load_locks and every Entry.users/retired
        self._load_locks: dict[str, threading.Lock] = {}

    def path_for(self, name: str) -> str:
        name = check_name(name)
        return os.path.join(self.root, name, f"{name}.wasm")

    def _manifest_path(self, name: str) -> str:
        return os.path.join(self.root, name, MANIFEST_NAME)

    def redact(self, message: str) -> str:
        """Messages go to clients: show paths relative to the store (and the lock file by its
        name), not the server's layout."""
        if self.lock is not None:
            message = message.replace(self.lock.path, os.path.basename(self.lock.path))
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
            return self._current(name)
        except PluginNotFound:
            self._forget(name)
            raise

    def _current(self, name: str) -> Entry:
        entry = self._cached(name, self._stat(name, self.io.deadline()))
        if entry is not None:
            return entry
        with self._lock:
            load_lock = self._load_locks.setdefault(name, threading.Lock())
        with load_lock:  # one load per new version, however many requests ask for it at once
            # The wait for another thread's load (a compile) is not the store's: a new deadline.
            deadline = self.io.deadline()
            # Stat again: another thread may have loaded a newer version while we waited. The
            # version is labelled with the identity seen *before* reading it, so a change during
            # the load only causes one more reload on the next request.
            entry = self._cached(name, self._stat(name, deadline))
            if entry is not None:
                return entry
            files = self._read(name, deadline)
            entry = self._cached(name, files.identity)
            if entry is not None:
                return entry
            fresh = self._load(name, files)
            with self._lock:
                old = self._entries.get(name)
                self._entries[name] = fresh
                fresh.users += 1
                closable = old if old is not None and self._retire(old) else None
        if closable is not None:
            closable.close()
        return fresh

    def _cached(self, name: str, identity: Identity) -> Entry | None:
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
            closable = old if old is not None and self._retire(old) else None
        if closable is not None:
            closable.close()

    # -- filesystem, on the store threads ------------------------------------------------------

    def _stat(self, name: str, deadline: float) -> Identity:
        return self.io.call(("stat", name), f"plugin {name}'s files", lambda: self._identity(name), deadline)

    def _read(self, name: str, deadline: float) -> Files:
        return self.io.call(("read", name), f"plugin {name}'s files", lambda: self._read_files(name), deadline)

    def _directory(self, name: str) -> str:
        """The plugin's directory, with its symlink (if it is one) resolved: reading both files
        under the result reads one version, even while the link is swapped."""
        link = os.path.join(self.root, check_name(name))
        try:
            return os.path.join(self.root, os.readlink(link))  # relative to the store, or absolute
        except OSError:  # not a symlink (or absent: the stat says so)
            return link

    def _identity(self, name: str, directory: str | None = None) -> Identity:
        """What ``stat`` says of the plugin's files (in ``directory``, by default its directory
        now) and what the lock file pins for it; whether they are regular files that may be read
        is decided when they are read (a broken version is then cached by this identity)."""
        directory = directory or self._directory(name)
        try:
            wasm = os.stat(os.path.join(directory, f"{name}.wasm"))
        except (FileNotFoundError, NotADirectoryError):
            self.check_store()
            raise PluginNotFound(name) from None
        except OSError as exc:
            raise self._unavailable(exc) from None
        try:
            manifest: FileId | None = _file_id(os.stat(os.path.join(directory, MANIFEST_NAME)))
        except (FileNotFoundError, NotADirectoryError):
            manifest = None
        except OSError as exc:
            raise self._unavailable(exc) from None
        return _file_id(wasm), manifest, self._expected(name)

    def _expected(self, name: str) -> Expected:
        if self.lock is None:
            return None
        try:
            pin = self.lock.pin(name)
        except LockFileError as exc:  # served as a failed load: logged once per version, by _load
            return str(exc)
        return pin if pin is not None else f"plugin {name} is not in the lock file"

    def _read_files(self, name: str) -> Files:
        directory = self._directory(name)
        identity = self._identity(name, directory)
        try:
            manifest = None if identity[1] is None else self._read_manifest(directory)
            wasm = read_regular_file(os.path.join(directory, f"{name}.wasm"), self.max_plugin_bytes)
        except FileRefused as exc:
            return Files(identity, refused=str(exc))
        except (FileNotFoundError, NotADirectoryError):
            # Deleted since the stat: the plugin is gone (the store too, if check_store says so).
            self.check_store()
            raise PluginNotFound(name) from None
        except OSError as exc:
            raise self._unavailable(exc) from None
        return Files(identity, wasm, manifest)

    def _read_manifest(self, directory: str) -> bytes | None:
        try:
            return read_regular_file(os.path.join(directory, MANIFEST_NAME), self.max_manifest_bytes)
        except (FileNotFoundError, NotADirectoryError):  # removed since the stat, as the next stat will say
            return None

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

    def _load(self, name: str, files: Files) -> Entry:
        """Validate (and compile) what ``_read`` found: on the caller's thread, not a store thread."""
        path = self.path_for(name)
        entry = Entry(name, path, files.identity)
        try:
            if files.refused is not None:
                raise FileRefused(files.refused)
            self._check_pin(name, files)
            entry.limits = self.limits_for(name, files.manifest)
            entry.module = load_module(path, entry.limits, data=files.wasm)
        except PluginLoadError as exc:
            entry.error = self.redact(str(exc))
            log.warning("plugin %s does not load: %s", name, exc)
        else:
            log.info("loaded plugin %s from %s (%s)", name, path, entry.module.origin)
        if self._on_load is not None:
            self._on_load(name, entry.error is None)
        return entry

    def _check_pin(self, name: str, files: Files) -> None:
        expected = files.identity[2]
        if isinstance(expected, str):
            raise PinMismatch(expected)
        if expected is not None:
            mismatches = expected.mismatches(Pin.of(files.wasm, files.manifest))
            if mismatches:
                raise PinMismatch(f"plugin {name} does not match the lock file: {'; '.join(mismatches)}")

    def limits_for(self, name: str, manifest: bytes | None) -> PluginLimits:
        """The limits of plugin ``name`` with this plugin.toml (None: none): the service's, as
        the manifest changes them within its caps; ``ManifestError`` for a bad manifest."""
        limits = self.base_limits
        if manifest is not None:
            limits = limits.with_manifest(self._manifest_path(name), data=manifest)
        return self._capped(name, limits)

    def _capped(self, name: str, limits: PluginLimits) -> PluginLimits:
        """The engine may not run a plugin longer than ``max_timeout_ms``: past it, nobody waits."""
        cap = self.max_timeout_ms
        if cap is None or (limits.timeout_ms is not None and limits.timeout_ms <= cap):
            return limits
        log.warning(
            "plugin %s: plugin.toml timeout_ms = %d is capped at the service's %d ms "
            "(--allow-unlimited-timeout lifts the cap)",
            name,
            limits.timeout_ms or 0,
            cap,
        )
        return replace(limits, timeout_ms=cap)

    def loaded_entry(self, name: str) -> tuple[Entry, NativeFileCheck] | None:
        """The loaded version of ``name``, leased (give it back with ``release``), with what its
        files must still be for it to serve a request: a native run checks that itself, on its
        thread, before it runs (``NativeFileCheck``). None when there is no such version or a lock
        file is in use (its pins are the Python path's to check)."""
        if self.lock is not None:
            return None
        with self._lock:
            entry = self._entries.get(name)
            if entry is None or entry.error is not None or entry.retired:
                return None
            entry.users += 1
        if entry.native_check is None:
            wasm, manifest, _expected = entry.identity
            entry.native_check = NativeFileCheck(
                directory=os.path.join(self.root, name),
                root=self.root,
                wasm=f"{name}.wasm",
                manifest=MANIFEST_NAME,
                expect=(*wasm, *(manifest or (0, 0, 0, 0))),
                manifest_present=manifest is not None,
            )
        return entry, entry.native_check

    def release(self, entry: Entry) -> None:
        """Give back an entry from ``loaded_entry``."""
        self._release(entry)

    def cached_limits(self, name: str) -> PluginLimits | None:
        """The limits of the version of ``name`` loaded last, if any, without touching the store
        (the pool reads a plugin's share of the workers from them)."""
        entry = self._entries.get(name)
        return None if entry is None else entry.limits

    # -- listing -------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every well-named plugin directory that holds a ``<name>.wasm``, sorted (also one whose
        files do not answer in time: ``describe`` says so)."""
        listed = self.io.call(("list",), "the store's listing", self._list, self.io.deadline())
        return [name for name in listed if self._exists(name)]

    def _names_in_store(self) -> list[str]:
        """Every entry of the store's directory, for ``listing`` (on a store thread): one
        ``listdir``; what it cannot tell (an unreadable store) the usual path does."""
        return os.listdir(self.root)

    def _list(self) -> list[str]:
        self.check_store()
        try:
            with os.scandir(self.root) as listing:
                return sorted(d.name for d in listing if is_plugin_name(d.name))
        except OSError as exc:
            raise self._unavailable(exc) from None

    def _exists(self, name: str) -> bool:
        try:
            self._stat(name, self.io.deadline())
        except PluginNotFound:
            return False
        except StoreUnavailable:
            pass  # listed all the same: describe says why
        return True

    def describe(self, name: str) -> dict[str, Any]:
        """Name, ABI version, exports and limits of the current version, or why it fails; worked
        out once per version (failures included) and one plugin at a time, so asking again costs
        a ``stat``. Raises ``PluginNotFound``."""
        try:
            with self.lease(name) as entry, self._describe_lock:
                if entry.description is None:
                    entry.description = self._describe(entry)
                return entry.description
        except StoreUnavailable as exc:
            return {"name": name, "error": str(exc)}
        except WasmEdgeError as exc:  # the version does not load
            return {"name": name, "error": f"failed to load plugin: {self.redact(str(exc))}"}

    def _describe(self, entry: Entry) -> dict[str, Any]:
        assert entry.module is not None and entry.limits is not None
        try:
            # The ABI version is only known by asking an instance.
            with load_plugin(entry.path, entry.limits, module=entry.module) as plugin:
                abi_version = plugin.abi_version
        except WasmEdgeError as exc:
            return {"name": entry.name, "error": f"failed to load plugin: {self.redact(str(exc))}"}
        fallback = entry.module.interpreter_fallback_reason
        return {
            "name": entry.name,
            "abi_version": abi_version,
            "exports": sorted(e.name for e in entry.module.exports if e.kind == "function"),
            "limits": entry.limits.to_dict(),
            "engine": entry.module.engine,
            **({"engine_note": self.redact(fallback)} if fallback else {}),
        }

    def close(self) -> None:
        """Close every cached module (those still leased close when their request ends) and stop
        the store threads (one stuck in the kernel stays until its call returns)."""
        self.io.close()
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            closable = [e for e in entries if self._retire(e)]
        for entry in closable:
            entry.close()


def registry_for(settings: Settings, on_load: Callable[[str, bool], None] | None = None) -> Registry:
    """The service's registry over ``settings.plugins``. One construction for the server and for
    ``wasmedge-py compile --store``, so that a deploy-time compile uses the very limits (and so
    the AOT cache keys) the service will look up."""
    return Registry(
        settings.plugins,
        PluginLimits(timeout_ms=settings.timeout_ms),
        on_load=on_load,
        max_timeout_ms=None if settings.allow_unlimited_timeout else settings.timeout_ms,
        max_plugin_bytes=settings.max_plugin_bytes,
        max_manifest_bytes=settings.max_manifest_bytes,
        store_threads=settings.store_threads,
        store_timeout_ms=settings.timeout_ms,
        lock=None if settings.lock is None else LockFile(settings.lock),
    )
