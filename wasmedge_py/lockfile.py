"""Pinned plugin versions: ``plugins.lock`` maps each plugin name to the sha256 of its ``.wasm`` and of
its ``plugin.toml`` (or says it has none). ``wasmedge-py lock DIR`` writes one for a store; the
service started with ``--lock FILE`` serves only plugins whose files match it.

The format is TOML, one table per plugin (names are ``[A-Za-z0-9_-]``, so they are bare keys)::

    version = 1
    [hello]
    wasm = "sha256:9f86d0..."
    manifest = "sha256:2c26b4..."   # absent: the plugin has no plugin.toml

Writes go to a temporary file in the same directory, renamed over the old one (readers see the
old file or the new one, never half), and an update (read, change, write) holds ``flock`` on
``FILE.flock`` so that publishes from several processes never lose each other's entries.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import tomllib
from dataclasses import dataclass
from typing import Iterator, Mapping

from .files import FileRefused, read_regular_file, write_atomically
from .limits import DEFAULT_MAX_MANIFEST_BYTES, DEFAULT_MAX_PLUGIN_BYTES, MANIFEST_NAME
from .runtime import is_plugin_name

LOCK_NAME = "plugins.lock"
LOCK_FORMAT = 1
MAX_LOCK_BYTES = 16 << 20


class LockFileError(ValueError):
    """The lock file cannot be read, or is not a valid lock file."""


def digest(data: bytes) -> str:
    """How the lock file spells a file's contents: ``sha256:<hex>``."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class Pin:
    """What one plugin's files must hash to; ``manifest`` None: it must have no plugin.toml."""

    wasm: str
    manifest: str | None = None

    @classmethod
    def of(cls, wasm: bytes, manifest: bytes | None) -> "Pin":
        return cls(digest(wasm), None if manifest is None else digest(manifest))

    def mismatches(self, actual: "Pin") -> list[str]:
        """One line per file that differs: which, expected, actual."""
        lines = []
        if actual.wasm != self.wasm:
            lines.append(f"wasm expected {self.wasm}, actual {actual.wasm}")
        if actual.manifest != self.manifest:
            lines.append(f"{MANIFEST_NAME} expected {self.manifest or 'none'}, actual {actual.manifest or 'none'}")
        return lines


def format_lock(pins: Mapping[str, Pin]) -> str:
    lines = [
        "# Written by `wasmedge-py lock` (or the service's publish API): the sha256 of each plugin's files.",
        f"version = {LOCK_FORMAT}",
    ]
    for name in sorted(pins):
        pin = pins[name]
        lines += ["", f"[{name}]", f'wasm = "{pin.wasm}"']
        if pin.manifest is not None:
            lines.append(f'manifest = "{pin.manifest}"')
    return "\n".join(lines) + "\n"


def _is_digest(value: object) -> bool:
    if not isinstance(value, str) or not value.startswith("sha256:"):
        return False
    hexdigits = value[len("sha256:") :]
    return len(hexdigits) == 64 and all(c in "0123456789abcdef" for c in hexdigits)


def parse_lock(data: bytes, source: str = LOCK_NAME) -> dict[str, Pin]:
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LockFileError(f"{source}: {exc}") from None
    if table.pop("version", None) != LOCK_FORMAT:
        raise LockFileError(f"{source}: expected version = {LOCK_FORMAT}")
    pins = {}
    for name, entry in table.items():
        if not is_plugin_name(name) or not isinstance(entry, dict) or set(entry) - {"wasm", "manifest"}:
            raise LockFileError(f"{source}: [{name}] must be a plugin name with wasm and optional manifest digests")
        wasm, manifest = entry.get("wasm"), entry.get("manifest")
        if not _is_digest(wasm) or (manifest is not None and not _is_digest(manifest)):
            raise LockFileError(f'{source}: [{name}]: digests are written "sha256:<64 hex digits>"')
        pins[name] = Pin(wasm, manifest)  # type: ignore[arg-type]
    return pins


def read_lock(path: str | os.PathLike[str]) -> dict[str, Pin]:
    try:
        data = read_regular_file(path, MAX_LOCK_BYTES)
    except (OSError, FileRefused) as exc:
        raise LockFileError(f"cannot read lock file {os.fspath(path)}: {exc}") from None
    return parse_lock(data, os.fspath(path))


def write_lock(path: str | os.PathLike[str], pins: Mapping[str, Pin]) -> None:
    """Replace the lock file at ``path`` atomically (and durably) with ``pins``."""
    write_atomically(path, format_lock(pins).encode())


@contextlib.contextmanager
def exclusive(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold ``flock`` on ``path`` (created if needed) for the block: one holder at a time across
    processes and threads (each call opens its own descriptor)."""
    fd = os.open(os.fspath(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def update_lock(path: str | os.PathLike[str], name: str, pin: Pin | None) -> None:
    """Set (or with ``pin`` None, remove) ``name``'s entry in the lock file at ``path``; concurrent
    updates from any process are serialized, so none is lost."""
    with exclusive(f"{os.fspath(path)}.flock"):
        pins = read_lock(path)
        if pin is None:
            pins.pop(name, None)
        else:
            pins[name] = pin
        write_lock(path, pins)


def pin_store(root: str | os.PathLike[str]) -> dict[str, Pin]:
    """The pins of every plugin in the store at ``root`` (``NAME/NAME.wasm`` and its plugin.toml)."""
    pins = {}
    with os.scandir(root) as listing:
        names = sorted(entry.name for entry in listing if is_plugin_name(entry.name))
    for name in names:
        directory = os.path.join(root, name)
        try:
            wasm = read_regular_file(os.path.join(directory, f"{name}.wasm"), DEFAULT_MAX_PLUGIN_BYTES)
        except (FileNotFoundError, NotADirectoryError):
            continue  # not a plugin
        try:
            manifest: bytes | None = read_regular_file(
                os.path.join(directory, MANIFEST_NAME), DEFAULT_MAX_MANIFEST_BYTES
            )
        except FileNotFoundError:
            manifest = None
        pins[name] = Pin.of(wasm, manifest)
    return pins


class LockFile:
    """The lock file the service checks plugins against, read again whenever it changes (one
    ``stat`` per lookup), so a publish's update reaches every process that shares it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Reads it at once: ``LockFileError`` if it cannot be read or parsed."""
        self.path = os.path.abspath(path)
        self._lock = threading.Lock()
        self._version: tuple[int, int, int, int] | None = None
        self._pins: dict[str, Pin] = {}
        self.pins()

    def pin(self, name: str) -> Pin | None:
        """``name``'s pin, None if it has none; ``LockFileError`` when the file is unusable."""
        return self.pins().get(name)

    def pins(self) -> Mapping[str, Pin]:
        """Every pin, as the file says now; ``LockFileError`` when it is unusable."""
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise LockFileError(f"cannot read lock file {self.path}: {exc.strerror or exc}") from None
        version = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if version != self._version:
                self._pins = read_lock(self.path)
                self._version = version
            return self._pins
