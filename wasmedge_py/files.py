"""Plugin files: reading those someone else controls (regular files only, and never more than a
limit), and writing ours so that a crash or a concurrent reader never sees half a file.

A plugin directory may hold anything: a FIFO whose ``open`` blocks for ever, a device, or a sparse
file of a terabyte. ``read_regular_file`` refuses those before reading a byte of them.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

from .plugin_errors import PluginLoadError

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


class FileRefused(PluginLoadError):
    """The file is not a regular file, or is larger than allowed; it was not read."""


def _check(path: str, info: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "a special file")
        raise FileRefused(f"{path} is not a regular file but {kind}")
    if info.st_size > max_bytes:
        raise FileRefused(f"{path} is {info.st_size} bytes, over the limit of {max_bytes}")


def read_regular_file(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The contents of the regular file at ``path``; ``FileRefused`` when it is anything else or
    over ``max_bytes``, ``OSError`` when it cannot be read.

    ``stat`` decides before the file is opened (opening a device can do things of its own). It
    is opened with ``O_NONBLOCK``, so a FIFO swapped in meanwhile cannot block the ``open``, and
    checked again on the open descriptor; at most ``max_bytes + 1`` bytes are read, so a file
    that grows meanwhile is refused too."""
    path = os.fspath(path)
    _check(path, os.stat(path), max_bytes)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with open(fd, "rb", buffering=0) as file:
        info = os.fstat(fd)
        _check(path, info, max_bytes)
        data = file.read(info.st_size + 1)  # one byte more than expected: did it grow?
        while len(data) <= max_bytes and (more := file.read(max_bytes + 1 - len(data))):
            data += more
    if len(data) > max_bytes:
        raise FileRefused(f"{path} grew past the limit of {max_bytes} bytes while it was read")
    return data


def write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """``data`` at ``path``: written to a temporary file in the same directory, flushed to disk,
    then renamed over ``path``, so a reader sees the old contents or the new, never a mix."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with open(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    sync_directory(directory)


def sync_directory(directory: str) -> None:
    """Make renames in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
