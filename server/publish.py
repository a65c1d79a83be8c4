"""The publish API, off unless ``--publish``: ``PUT /plugins/{name}`` installs a plugin (the body is
the ``.wasm``, or a ``multipart/form-data`` upload with a ``wasm`` part and an optional
``manifest`` part, the plugin.toml), ``DELETE /plugins/{name}`` removes it. Both need the bearer
token (``server.auth``); with ``--require-token run``, so does ``POST /run``.

A published plugin is validated as the registry would load it (the same size limits, manifest
and timeout cap; loaded, validated, compiled into the AOT cache and instantiated once) before it
replaces anything: a plugin that fails is refused (422) and the old version stays served.

Its two files are replaced together. Each publish writes a new version directory, and the
plugin's directory in the store becomes a symlink swapped onto it by an atomic rename::

    STORE/NAME -> .published/NAME/v<time_ns>-<sha256 prefix>
    STORE/.published/NAME/v<...>/NAME.wasm (+ plugin.toml)

The registry resolves that link once per access, so a reader gets one version's pair, never one
file of each (see ``server.registry``). Publishes of one name hold ``flock`` on
``STORE/.published/NAME.flock`` while they write and swap, across processes: the last to finish
wins, whole. The previous ``KEEP_VERSIONS`` versions are kept for readers still on them. A real
directory in the store's place (a plugin installed by hand) is moved aside to
``.published/NAME/original-<time_ns>`` and never deleted by the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import BodyPartReader, web

from wasmedge_py import WasmEdgeError, load_module, load_plugin
from wasmedge_py.files import sync_directory
from wasmedge_py.limits import MANIFEST_NAME
from wasmedge_py.lockfile import LockFileError, Pin, exclusive, update_lock

from .auth import require_token
from .errors import BodyTooLarge, RequestError, ServiceError
from .registry import PluginNotFound, Registry, check_name
from .settings import Settings, SettingsError

log = logging.getLogger(__name__)

PUBLISHED_DIR = ".published"
KEEP_VERSIONS = 3  # the current version and the two before it
MULTIPART_OVERHEAD = 64 << 10  # room for the boundaries and part headers of an upload
_CHUNK = 1 << 16


class InvalidPlugin(ServiceError):
    """The uploaded plugin does not load, validate or instantiate (422); nothing was replaced."""

    status = 422


class StoreNotWritable(ServiceError):
    """The store (or the lock file) cannot be written (500); the old version is still served."""


class Publisher:
    """The store side of the API: validate, write a version, swap it in (blocking: run it on a
    thread). ``lock_path``: the lock file to keep up to date, if the service uses one."""

    def __init__(self, registry: Registry, token: str, lock_path: Path | None) -> None:
        self.registry = registry
        self.token = token
        self.lock_path = lock_path
        self.root = registry.root

    def _versions(self, name: str) -> str:
        return os.path.join(self.root, PUBLISHED_DIR, name)

    def _exclusive(self, name: str) -> contextlib.AbstractContextManager[None]:
        os.makedirs(os.path.join(self.root, PUBLISHED_DIR), exist_ok=True)
        return exclusive(os.path.join(self.root, PUBLISHED_DIR, f"{name}.flock"))

    # -- publish ---------------------------------------------------------------------------------

    def publish(self, name: str, wasm: bytes, manifest: bytes | None) -> dict[str, Any]:
        """Validate, then install ``name``; what it installed, for the response."""
        abi_version, engine = self.validate(name, wasm, manifest)
        pin = Pin.of(wasm, manifest)
        with self._exclusive(name):
            version = self._write_version(name, wasm, manifest, pin)
            if self.lock_path is not None:
                update_lock(self.lock_path, name, pin)
            self._point(name, os.path.join(PUBLISHED_DIR, name, version))
            self._collect(name)
        log.info("published plugin %s (%s, %s)", name, pin.wasm, version)
        described = {"abi_version": abi_version, "engine": engine}
        return {"plugin": name, "version": version, "wasm": pin.wasm, "manifest": pin.manifest, **described}

    def validate(self, name: str, wasm: bytes, manifest: bytes | None) -> tuple[str | None, str]:
        """What the registry would do with these files, and an instance made once (the ABI is only
        known by asking one): its ABI version and engine; ``InvalidPlugin`` otherwise."""
        path = self.registry.path_for(name)  # names the files in messages only
        try:
            limits = self.registry.limits_for(name, manifest)
            module = load_module(path, limits, data=wasm)
        except WasmEdgeError as exc:  # PluginLoadError: a bad manifest, a module that does not load
            raise InvalidPlugin(self.registry.redact(str(exc))) from None
        try:
            with load_plugin(path, limits, module=module) as plugin:
                return plugin.abi_version, module.engine
        except WasmEdgeError as exc:
            raise InvalidPlugin(f"failed to load plugin: {self.registry.redact(str(exc))}") from None
        finally:
            module.close()

    def _write_version(self, name: str, wasm: bytes, manifest: bytes | None, pin: Pin) -> str:
        versions = self._versions(name)
        os.makedirs(versions, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".tmp-", dir=versions)
        try:
            os.chmod(staging, 0o755)
            _write_file(os.path.join(staging, f"{name}.wasm"), wasm)
            if manifest is not None:
                _write_file(os.path.join(staging, MANIFEST_NAME), manifest)
            version = f"v{time.time_ns()}-{pin.wasm.removeprefix('sha256:')[:12]}"
            os.rename(staging, os.path.join(versions, version))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        sync_directory(versions)
        return version

    def _point(self, name: str, target: str) -> None:
        """Make ``STORE/name`` a symlink to ``target`` in one rename."""
        link = os.path.join(self.root, name)
        temp = os.path.join(self.root, f".{name}.link-{secrets.token_hex(4)}")
        os.symlink(target, temp)
        try:
            if os.path.isdir(link) and not os.path.islink(link):
                self._displace(name, link, temp)
            else:
                os.replace(temp, link)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        sync_directory(self.root)

    def _displace(self, name: str, directory: str, link: str) -> None:
        """Put ``link`` where a real plugin directory is, and the directory aside (kept)."""
        aside = os.path.join(self._versions(name), f"original-{time.time_ns()}")
        if _exchange(link, directory):  # atomic: readers see the directory or the link
            os.rename(link, aside)  # ``link`` names the old directory now
            return
        log.warning("plugin %s: this file system cannot swap a directory atomically: replacing it in two renames", name)
        os.rename(directory, aside)
        os.replace(link, directory)

    def _collect(self, name: str) -> None:
        """Remove versions older than the last ``KEEP_VERSIONS`` and what a crashed publish left
        (only the holder of the name's flock writes, so a staging directory now is an orphan)."""
        versions = self._versions(name)
        entries = sorted(os.listdir(versions))
        published = [entry for entry in entries if entry.startswith("v")]
        orphans = [entry for entry in entries if entry.startswith(".tmp-")]
        for entry in published[:-KEEP_VERSIONS] + orphans:
            shutil.rmtree(os.path.join(versions, entry), ignore_errors=True)

    # -- delete ----------------------------------------------------------------------------------

    def delete(self, name: str) -> dict[str, Any]:
        """Remove ``name`` from the store (and the lock file); ``PluginNotFound`` if it is not there."""
        link = os.path.join(self.root, name)
        with self._exclusive(name):
            if os.path.islink(link):
                os.unlink(link)
            elif os.path.isdir(link):
                os.makedirs(self._versions(name), exist_ok=True)
                os.rename(link, os.path.join(self._versions(name), f"original-{time.time_ns()}"))
            else:
                raise PluginNotFound(name)
            sync_directory(self.root)
            if self.lock_path is not None:
                update_lock(self.lock_path, name, None)
            versions = self._versions(name)
            for entry in os.listdir(versions) if os.path.isdir(versions) else ():
                if not entry.startswith("original-"):
                    shutil.rmtree(os.path.join(versions, entry), ignore_errors=True)
        log.info("deleted plugin %s", name)
        return {"deleted": name}


def _write_file(path: str, data: bytes) -> None:
    with open(path, "xb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.chmod(path, 0o644)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True)


def _exchange(a: str, b: str) -> bool:
    """Swap paths ``a`` and ``b`` atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where
    the C library or the file system cannot."""
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), b)


# -- HTTP ------------------------------------------------------------------------------------------

PUBLISHER = web.AppKey("publisher", Publisher)


async def _read_limited(read: Callable[[int], Awaitable[bytes]], limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_upload(request: web.Request, max_wasm: int, max_manifest: int) -> tuple[bytes, bytes | None]:
    """``(wasm, manifest or None)`` from a raw body or a multipart upload, each within its limit."""
    if request.content_type != "multipart/form-data":
        if request.content_length is not None and request.content_length > max_wasm:
            raise BodyTooLarge(max_wasm)
        return await _read_limited(request.content.read, max_wasm), None
    total = max_wasm + max_manifest + MULTIPART_OVERHEAD
    if request.content_length is not None and request.content_length > total:
        raise BodyTooLarge(total)
    parts: dict[str, bytes] = {}
    try:
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader) or part.name not in ("wasm", "manifest") or part.name in parts:
                raise RequestError("an upload has one wasm part and at most one manifest part (plugin.toml)")
            limit = max_wasm if part.name == "wasm" else max_manifest
            parts[part.name] = await _read_limited(part.read_chunk, limit)
    except ValueError as exc:  # a malformed multipart body (RequestError is a ValueError too)
        if isinstance(exc, RequestError):
            raise
        raise RequestError(f"invalid multipart upload: {exc}") from None
    if "wasm" not in parts:
        raise RequestError("the upload has no wasm part")
    return parts["wasm"], parts.get("manifest")


async def put_plugin(request: web.Request) -> web.Response:
    """PUT /plugins/{name}: validate and install the uploaded plugin."""
    publisher = request.app[PUBLISHER]
    require_token(request, publisher.token)
    name = check_name(request.match_info["name"])
    registry = publisher.registry
    wasm, manifest = await read_upload(request, registry.max_plugin_bytes, registry.max_manifest_bytes)
    return web.json_response(await _writing(publisher, publisher.publish, name, wasm, manifest))


async def delete_plugin(request: web.Request) -> web.Response:
    """DELETE /plugins/{name}: remove the plugin (and its lock file entry)."""
    publisher = request.app[PUBLISHER]
    require_token(request, publisher.token)
    name = check_name(request.match_info["name"])
    return web.json_response(await _writing(publisher, publisher.delete, name))


async def _writing(publisher: Publisher, change: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """``change(*args)`` on a thread (it compiles, writes and fsyncs), a failed write as a 500
    that says so."""
    try:
        return await asyncio.to_thread(change, *args)
    except (OSError, LockFileError) as exc:
        log.error("cannot publish: %s", exc)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StoreNotWritable(f"cannot write the plugin store: {publisher.registry.redact(reason)}") from None


def install(app: web.Application, settings: Settings, registry: Registry) -> None:
    """What the settings turn on: the publish routes (``--publish``) and the token check of
    ``POST /run`` (``--require-token run``). Settings guarantee a token when either is on."""
    token = settings.token
    if not (settings.publish or settings.require_token):
        return
    if token is None:
        raise SettingsError("--publish and --require-token need a bearer token")
    if settings.require_token and "run" in settings.require_token:

        @web.middleware
        async def run_needs_token(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            if request.path == "/run":
                require_token(request, token)
            return await handler(request)

        app.middlewares.append(run_needs_token)
    if settings.publish:
        app[PUBLISHER] = Publisher(registry, token, settings.lock)
        app.router.add_put("/plugins/{name}", put_plugin)
        app.router.add_delete("/plugins/{name}", delete_plugin)
