"""Ahead-of-time compilation with WasmEdge's LLVM compiler, and a content-addressed cache of the result.

    from wasmedge_py.compiler import AotCache, CompileOptions, load_aot

    so_path = AotCache().get_or_compile(wasm_bytes)          # compiled once per machine
    module = Module.from_file(so_path, Config())             # the loader recognises the shared object

What WasmEdge 0.14.1 does with the output (measured; see tests/test_compiler.py):

- ``WasmEdge_LoaderParseFromFile`` on the native ``.so`` loads (``dlopen``) the machine code; no
  special Config is needed (``force_interpreter=False`` is already the default). With
  ``force_interpreter=True`` the same file runs in the interpreter, from the WebAssembly the
  ``.so`` embeds. ``LoaderParseFromBuffer`` rejects the ``.so`` bytes ("magic header not detected").
- Options are baked into the machine code, so they must match how the module is run:
  * ``interruptible=False`` code ignores cancellation: a call with a ``timeout`` that runs away
    never returns (``WasmEdge_AsyncWait`` blocks for ever). Keep it ``True`` (the default) whenever
    timeouts matter. WasmEdge's own interruptible code performs an atomic exchange at every call
    and loop iteration (fib(30): 20 ms vs 2.6 ms), so by default ``interruptible`` code gets our
    deadline checks instead (``CompileOptions.deadline_checks``; see deadline.py) and is compiled
    without WasmEdge's flag; ``engine_interrupts=True`` asks for WasmEdge's checks.
  * code compiled without ``cost_measuring`` does not count: a fuel limit is silently not
    enforced. Code compiled *with* it needs a statistics context at run time
    (``Config(cost_measuring=True)``); without one every call traps "out of bounds memory access".
  * ``instruction_counting`` likewise.
- AOT code runs on the native stack: unbounded recursion is a SIGSEGV that kills the process, not a
  trap. Compile the stack-guarded bytes (``sandbox.rewrite``), as :func:`load_aot` does.
- A truncated ``.so`` may still load (the ELF section table is at the end and ``dlopen`` does not
  need it), so the cache verifies a size + sha256 sidecar instead of trusting the loader.

A cached ``.so`` is native code this process will ``dlopen``: the cache directory must be private
(owned by the current user, not writable by group or others); :class:`AotCache` creates it with
mode 0700 and refuses one that is not.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _checks, errors
from ._binary import UnsupportedModule, memory_minimums
from ._ffi import ffi, lib
from .config import Config
from .errors import CompileError, CompileLimitExceeded, ValueRangeError, check
from .files import write_atomically
from .module import Module, sandboxed
from .sandbox import add_deadline_checks

log = logging.getLogger(__name__)

CACHE_ENV = "WASMEDGE_PY_CACHE_DIR"
CACHE_FORMAT = "wasmedge-py-aot-3"  # bump when the key, the sidecar layout or what compile_module does changes

OPTIMIZATION_LEVELS = {
    "O0": lib.WasmEdge_CompilerOptimizationLevel_O0,
    "O1": lib.WasmEdge_CompilerOptimizationLevel_O1,
    "O2": lib.WasmEdge_CompilerOptimizationLevel_O2,
    "O3": lib.WasmEdge_CompilerOptimizationLevel_O3,
    "Os": lib.WasmEdge_CompilerOptimizationLevel_Os,
    "Oz": lib.WasmEdge_CompilerOptimizationLevel_Oz,
}


@dataclass(frozen=True)
class CompileOptions:
    """Everything that changes the machine code; part of the cache key.

    ``generic_binary=False`` (WasmEdge's default) tunes for this CPU, so the cache key then also
    includes the CPU's identity: a cache shared between machines never hands out code the CPU
    cannot run.

    ``interruptible`` code can be stopped by a timeout. How: with ``deadline_checks`` (the default)
    the module gets our counted deadline checks (sandbox.add_deadline_checks, applied by
    :func:`compile_module`) and no engine checks; ``engine_interrupts=True``, and code that counts
    statistics (its fuel would be charged for the checks), use WasmEdge's own interruptible code,
    which is what code run outside this binding needs (no ``__wasmedge_py`` import to provide)."""

    optimization: str = "O2"
    interruptible: bool = True
    cost_measuring: bool = False
    instruction_counting: bool = False
    generic_binary: bool = False
    engine_interrupts: bool = False

    def __post_init__(self) -> None:
        for flag in ("interruptible", "cost_measuring", "instruction_counting", "generic_binary", "engine_interrupts"):
            _checks.boolean(getattr(self, flag), flag)
        if self.optimization not in OPTIMIZATION_LEVELS:
            raise ValueRangeError(
                f"optimization must be one of {', '.join(OPTIMIZATION_LEVELS)}, got {self.optimization!r}"
            )

    @property
    def deadline_checks(self) -> bool:
        """Whether the code is stopped by our deadline checks rather than by WasmEdge's."""
        return self.interruptible and not (self.engine_interrupts or self.cost_measuring or self.instruction_counting)

    def key_text(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))

    def _native_config(self) -> Any:
        """A new ``WasmEdge_ConfigureContext`` for the compiler (the caller deletes it)."""
        conf = lib.WasmEdge_ConfigureCreate()
        if conf == ffi.NULL:
            raise MemoryError("WasmEdge could not create a configuration")
        lib.WasmEdge_ConfigureCompilerSetOptimizationLevel(conf, OPTIMIZATION_LEVELS[self.optimization])
        lib.WasmEdge_ConfigureCompilerSetOutputFormat(conf, lib.WasmEdge_CompilerOutputFormat_Native)
        lib.WasmEdge_ConfigureCompilerSetInterruptible(conf, self.interruptible and not self.deadline_checks)
        lib.WasmEdge_ConfigureCompilerSetGenericBinary(conf, self.generic_binary)
        lib.WasmEdge_ConfigureStatisticsSetCostMeasuring(conf, self.cost_measuring)
        lib.WasmEdge_ConfigureStatisticsSetInstructionCounting(conf, self.instruction_counting)
        return conf


@dataclass(frozen=True)
class CompileLimits:
    """Bounds on one compile, which then runs in a child process (``wasmedge_py._aot_worker``).

    LLVM's time and memory grow with the module and can be made to explode by a hostile one (or
    to crash the compiler); in a child they cost a ``CompileLimitExceeded`` and nothing else.
    ``timeout`` is wall-clock seconds, ``max_memory_bytes`` the child's address space."""

    timeout: float = 120.0
    max_memory_bytes: int = 4 << 30

    def __post_init__(self) -> None:
        _checks.timeout_seconds(self.timeout)
        _checks.integer(self.max_memory_bytes, "max_memory_bytes", 16 << 20, 2**48)


_VERSION = ffi.string(lib.WasmEdge_VersionGet()).decode()


def wasmedge_version() -> str:
    """The loaded libwasmedge's version (part of every cache key)."""
    return _VERSION


def compile_module(
    wasm: bytes,
    out_path: str | os.PathLike[str],
    *,
    interruptible: bool = True,
    cost_measuring: bool = False,
    optimization: str = "O2",
    options: CompileOptions | None = None,
) -> None:
    """Compile the WebAssembly ``wasm`` to a native shared object at ``out_path``.

    Malformed bytes raise ``LoadError``, an invalid module ``ValidationError`` (WasmEdge validates
    before compiling), any other compiler failure ``EngineError``. ``out_path`` is written by
    WasmEdge directly; use :class:`AotCache` for atomic, verified files. ``options`` replaces the
    three keyword options when given. With ``options.deadline_checks`` the code compiled is
    ``wasm`` with deadline checks added (a module the rewrite cannot handle raises ``LoadError``)."""
    if options is None:
        options = CompileOptions(optimization=optimization, interruptible=interruptible, cost_measuring=cost_measuring)
    wasm = bytes(wasm)
    if options.deadline_checks:
        wasm = _with_deadline_checks(wasm)
    out_path = os.fspath(out_path)
    parent = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(parent):
        # WasmEdge would report success here: its linker fails on stderr and writes nothing.
        raise FileNotFoundError(errno.ENOENT, "output directory does not exist", parent)
    out = os.fsencode(out_path)
    conf = options._native_config()
    try:
        compiler = lib.WasmEdge_CompilerCreate(conf)
        if compiler == ffi.NULL:
            raise MemoryError("WasmEdge could not create the AOT compiler")
        try:
            result = lib.WasmEdge_CompilerCompileFromBuffer(compiler, wasm, len(wasm), out)
        finally:
            lib.WasmEdge_CompilerDelete(compiler)
    finally:
        lib.WasmEdge_ConfigureDelete(conf)
    check(result, "cannot compile module", CompileError)
    try:
        with open(out_path, "rb") as file:
            produced = file.read(4) == b"\x7fELF"
    except OSError:
        produced = False
    if not produced:  # the linker's failures do not reach the result code
        raise CompileError(f"cannot compile module: the compiler wrote no shared object to {out_path}")


def _with_deadline_checks(wasm: bytes) -> bytes:
    """``wasm`` with deadline checks. If the rewrite fails, the engine's loader and validator say
    what is wrong with a malformed or invalid module, in their own words."""
    try:
        return add_deadline_checks(wasm)
    except UnsupportedModule as exc:
        Module.from_bytes(wasm, sandbox=False).close()
        raise errors.LoadError(f"cannot add deadline checks to the module: {exc}", engine_message=str(exc)) from None


# The worker's report names an exception class; only these may be rebuilt from it.
_REPORTED_ERRORS = {
    cls.__name__: cls for cls in (errors.LoadError, errors.ValidationError, CompileError, errors.EngineError)
}


def compile_isolated(
    wasm: bytes, out_path: str | os.PathLike[str], options: CompileOptions, limits: CompileLimits
) -> None:
    """:func:`compile_module` in a child process under ``limits``; raises what it would raise, or
    ``CompileLimitExceeded`` / ``CompileError`` when the child runs out of time or memory or dies."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    command = [
        sys.executable,
        "-m",
        "wasmedge_py._aot_worker",
        os.fspath(out_path),
        json.dumps(dataclasses.asdict(options)),
        str(limits.max_memory_bytes),
        str(max(1, int(limits.timeout) + 1)),
    ]
    try:
        done = subprocess.run(command, input=bytes(wasm), capture_output=True, timeout=limits.timeout, env=env)
    except subprocess.TimeoutExpired:
        raise CompileLimitExceeded(
            f"cannot compile module: the AOT compiler took longer than {limits.timeout:g} s",
            engine_message="compile timeout",
        ) from None
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        report = None
    stderr = done.stderr.decode("utf-8", "replace")
    out_of_memory = CompileLimitExceeded(
        f"cannot compile module: the AOT compiler needed more than {limits.max_memory_bytes} bytes of memory",
        engine_message="compile memory limit",
    )
    if isinstance(report, dict) and done.returncode in (0, 1):
        if report.get("ok"):
            return
        if report.get("error") == "MemoryError":
            raise out_of_memory
        cls = _REPORTED_ERRORS.get(str(report.get("error")), CompileError)
        raise cls(
            str(report.get("message")),
            code=int(report.get("code") or 0),
            engine_message=str(report.get("engine_message") or ""),
        )
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise CompileLimitExceeded(
            f"cannot compile module: the AOT compiler used more than {limits.timeout:g} s of CPU",
            engine_message="compile timeout",
        )
    if "std::bad_alloc" in stderr:  # out of address space, LLVM aborts rather than failing the call
        raise out_of_memory
    died = (
        f"signal {signal.Signals(-done.returncode).name}" if done.returncode < 0 else f"exit status {done.returncode}"
    )
    detail = stderr.strip().splitlines()[-1:] or [""]
    raise CompileError(
        f"cannot compile module: the AOT compiler died ({died}; memory limit {limits.max_memory_bytes} bytes) {detail[0]}".rstrip(),
        engine_message=f"compiler died ({died})",
    )


def default_cache_dir() -> Path:
    """``$WASMEDGE_PY_CACHE_DIR``, else ``$XDG_CACHE_HOME/wasmedge-py/aot``, else ``~/.cache/wasmedge-py/aot``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "wasmedge-py" / "aot"


def _cpu_identity() -> str:
    """Architecture + CPU model + feature flags: what host-tuned code depends on."""
    parts = [platform.machine()]
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            for line in file:
                name, _, value = line.partition(":")
                if name.strip() in ("model name", "flags", "Features", "CPU part"):
                    parts.append(value.strip())
                if line.strip() == "":  # the first processor is enough
                    break
    except OSError:
        pass
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


_CPU_IDENTITY = _cpu_identity()


def _sha256_file(path: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()


class AotCache:
    """Compiled modules on disk, keyed by sha256(module bytes, WasmEdge version, compile options,
    and the CPU unless ``generic_binary``).

    Each entry is ``KEY.so`` plus a ``KEY.json`` sidecar with its size and sha256, written after the
    ``.so``; both are written to a temporary file in the same directory and renamed into place, so
    a reader never sees half a file. A hit is verified against the sidecar (hashed once per process
    per file version; later hits only ``stat``), and a missing, truncated or corrupt entry is
    rebuilt. Compiling holds ``KEY.lock`` (``flock`` on a descriptor of its own, so it also excludes
    other threads), so when several processes or threads ask for the same module at once one
    compiles and the others wait and reuse its result; different modules compile in parallel.

    Compiles run in a child process under ``compile_limits`` (see :class:`CompileLimits`);
    ``compile_limits=None`` compiles in this process (trusted modules only)."""

    def __init__(
        self, directory: str | os.PathLike[str] | None = None, *, compile_limits: CompileLimits | None = CompileLimits()
    ) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.compile_limits = compile_limits
        self._verified: dict[str, tuple[int, ...]] = {}  # path -> (dev, ino, size, mtime_ns, ctime_ns)
        self.compiles = 0  # modules this object compiled (the rest were hits)
        self._ready = False

    # -- keys and paths ------------------------------------------------------------------------

    def key(self, wasm: bytes, options: CompileOptions | None = None) -> str:
        options = options or CompileOptions()
        digest = hashlib.sha256()
        for part in (
            CACHE_FORMAT,
            wasmedge_version(),
            options.key_text(),
            "" if options.generic_binary else _CPU_IDENTITY,
        ):
            digest.update(part.encode())
            digest.update(b"\0")
        digest.update(wasm)
        return digest.hexdigest()

    def path_for(self, key: str) -> Path:
        return self.directory / f"{key}.so"

    # -- public operations ---------------------------------------------------------------------

    def get(self, wasm: bytes, options: CompileOptions | None = None) -> Path | None:
        """The verified ``.so`` for ``wasm`` if it is cached, else None (never compiles)."""
        self._ensure_directory()
        path = self.path_for(self.key(wasm, options))
        return path if self._is_valid(path) else None

    def get_or_compile(self, wasm: bytes, options: CompileOptions | None = None) -> Path:
        """The path of the verified ``.so`` for ``wasm``, compiling it first if needed."""
        return self.fetch(wasm, options)[0]

    def fetch(self, wasm: bytes, options: CompileOptions | None = None) -> tuple[Path, float | None]:
        """``get_or_compile``, also saying what it cost: the seconds this call spent compiling,
        or None when the entry was already there (compiled by an earlier deploy step, say)."""
        wasm = bytes(wasm)
        options = options or CompileOptions()
        self._ensure_directory()
        path = self.path_for(self.key(wasm, options))
        if self._is_valid(path):
            return path, None
        with self._file_lock(path):
            if self._is_valid(path):  # another process compiled it while we waited
                return path, None
            started = time.perf_counter()
            self._compile_into(wasm, options, path)
            self.compiles += 1
        return path, time.perf_counter() - started

    def rebuild(self, wasm: bytes, options: CompileOptions | None = None) -> Path:
        """Replace an entry that matched its sidecar but would not load as native code (damaged,
        or written by something that is not this cache), unless another thread or process has
        replaced it meanwhile."""
        options = options or CompileOptions()
        path = self.path_for(self.key(wasm, options))
        name = str(path)
        with self._file_lock(path):
            try:
                info = os.stat(name)
                unchanged = self._verified.get(name) == _stamp(info)
            except FileNotFoundError:
                unchanged = True
            if not unchanged and self._is_valid(path):
                return path  # someone else rebuilt it
            self._verified.pop(name, None)
            for damaged in (name, str(path.with_suffix(".json"))):
                _unlink_quietly(damaged)
            self._compile_into(bytes(wasm), options, path)
            self.compiles += 1
        return path

    def clear(self) -> int:
        """Delete every entry (and stray temporary file); returns how many files were removed."""
        removed = 0
        if not self.directory.is_dir():
            return 0
        for entry in self.directory.iterdir():
            if entry.suffix in (".so", ".json", ".lock", ".tmp", ".o"):  # .o: the compiler's, if it was killed
                try:
                    entry.unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
        self._verified.clear()
        return removed

    def ready_directory(self) -> Path:
        """The cache directory, created (mode 0700) if missing; raises ``OSError`` if it cannot be
        used (not a directory, not private). A deploy step checks this once, up front."""
        self._ensure_directory()
        return self.directory

    # -- internals -----------------------------------------------------------------------------

    def _ensure_directory(self) -> None:
        if self._ready:
            return
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except FileExistsError:
            raise NotADirectoryError(errno.ENOTDIR, "AOT cache path is not a directory", str(self.directory)) from None
        info = self.directory.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            raise PermissionError(
                errno.EPERM,
                "AOT cache directory must be owned by the current user and not writable by group or others "
                "(its files are loaded as native code)",
                str(self.directory),
            )
        self._ready = True

    def _is_valid(self, path: Path) -> bool:
        """Does ``path`` exist and match its sidecar? Hashes only a file version not seen before."""
        name = str(path)
        try:
            info = os.stat(name)
        except FileNotFoundError:
            return False
        stamp = _stamp(info)
        if self._verified.get(name) == stamp:
            return True
        try:
            sidecar = json.loads(path.with_suffix(".json").read_text())
            expected_size, expected_hash = int(sidecar["size"]), str(sidecar["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if info.st_size != expected_size:
            return False
        try:
            size, digest = _sha256_file(name)
        except OSError:
            return False
        if size != expected_size or digest != expected_hash:
            return False
        self._verified[name] = stamp
        return True

    def _compile_into(self, wasm: bytes, options: CompileOptions, path: Path) -> None:
        # We hold this key's lock, so any temporary file of this key (ours, or the compiler's own
        # .o) was left by a process killed while compiling.
        for stale in self.directory.glob(f".{path.stem}.*"):
            _unlink_quietly(str(stale))
        # Never rewrite the old file in place: a process that has it dlopen()ed would crash (SIGBUS).
        temp = self._temp_name(path, ".so")
        try:
            if self.compile_limits is None:
                compile_module(wasm, temp, options=options)
            else:
                compile_isolated(wasm, temp, options, self.compile_limits)
            _fsync(temp)
            size, digest = _sha256_file(temp)
            os.replace(temp, path)
        except BaseException:
            _unlink_quietly(temp)
            raise
        sidecar = {
            "format": CACHE_FORMAT,
            "size": size,
            "sha256": digest,
            "wasmedge": wasmedge_version(),
            "options": dataclasses.asdict(options),
            "module_sha256": hashlib.sha256(wasm).hexdigest(),
        }
        write_atomically(path.with_suffix(".json"), json.dumps(sidecar).encode())  # also syncs the directory

    def _temp_name(self, path: Path, suffix: str) -> str:
        handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f"{suffix}.tmp", dir=self.directory)
        os.close(handle)
        return name

    def _file_lock(self, path: Path) -> "_FileLock":
        return _FileLock(str(path.with_suffix(".lock")))

    def __repr__(self) -> str:
        return f"AotCache({str(self.directory)!r})"


class _FileLock:
    """An exclusive ``flock`` on a lock file, held for one ``with`` block."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> "_FileLock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(self.fd)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)


def _stamp(info: os.stat_result) -> tuple[int, ...]:
    """A file version: ctime changes with any write and, unlike mtime, cannot be set back."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


_default_cache: AotCache | None = None


def default_cache() -> AotCache:
    """One process-wide cache in :func:`default_cache_dir` (created on first use)."""
    global _default_cache
    if _default_cache is None:
        _default_cache = AotCache()
    return _default_cache


def load_aot(
    wasm: bytes,
    config: Config | None = None,
    *,
    options: CompileOptions | None = None,
    cache: AotCache | None = None,
    max_stack_bytes: int | None = None,
    source: str = "<bytes>",
) -> Module:
    """Compile ``wasm`` (through ``cache``) and load the native code as a validated ``Module``.

    ``max_stack_bytes`` applies the stack guard *before* compiling, so runaway recursion raises
    ``StackExhausted`` instead of overflowing the native stack. The compile options must agree
    with ``config``: fuel (``config.cost_measuring``) needs ``options.cost_measuring`` (else the
    budget would silently not be enforced) and the reverse (else every call traps)."""
    config = config or Config()
    options = options or CompileOptions(
        cost_measuring=config.cost_measuring, instruction_counting=config.instruction_counting
    )
    if options.cost_measuring != config.cost_measuring:
        raise ValueRangeError(
            f"compile option cost_measuring={options.cost_measuring} does not match "
            f"Config(cost_measuring={config.cost_measuring}): fuel would not be enforced, or every call would trap"
        )
    if options.instruction_counting and not config.wants_statistics:
        raise ValueRangeError(
            "code compiled with instruction_counting needs a Config with statistics (instruction_counting=True)"
        )
    wasm, slots = sandboxed(bytes(wasm), config, max_stack_bytes, source)
    cache = cache or default_cache()

    def load(path: Path) -> Module:
        return Module.from_compiled(
            path,
            config,
            source=source,
            stack_slots=slots,
            memory_minimums=memory_minimums(wasm),
            compiled_with=options,
            wasm=wasm,
        )

    path, compile_seconds = cache.fetch(wasm, options)
    try:
        module = load(path)
        module.compile_seconds = compile_seconds
        return module
    except errors.LoadError as exc:
        # The module itself loaded and validated before it was compiled: an entry that will not
        # load is the cache's fault (damaged, or not written by it), never the plugin's.
        log.warning("AOT cache entry %s does not load (%s): rebuilding it", path, exc.engine_message or exc)
    started = time.perf_counter()
    path = cache.rebuild(wasm, options)
    compile_seconds = time.perf_counter() - started
    try:
        module = load(path)
        module.compile_seconds = compile_seconds
        return module
    except errors.LoadError as exc:  # e.g. a cache directory on a noexec mount
        raise CompileError(
            f"compiled code for {source} does not load from {path}: {exc.engine_message or exc}",
            engine_message=exc.engine_message,
        ) from exc


def load_aot_or_interpreted(
    path: str, config: Config, options: CompileOptions, *, max_stack_bytes: int | None, wasm: bytes | None = None
) -> Module:
    """The file at ``path`` (or its contents ``wasm``, read by the caller) compiled through the
    default cache (see :func:`load_aot`); if the compiler fails on it, exceeds its limits, or the
    cache directory is unusable, the module is loaded for the interpreter instead, with
    ``Module.interpreter_fallback_reason`` saying why. Malformed or invalid modules raise as they would in the
    interpreter."""
    if wasm is None:
        with open(path, "rb") as file:
            wasm = file.read()
    try:
        return load_aot(wasm, config, options=options, max_stack_bytes=max_stack_bytes, source=path)
    except (CompileError, OSError) as exc:
        module = Module.from_bytes(wasm, config, max_stack_bytes=max_stack_bytes, sandbox=True, source=path)
        module.interpreter_fallback_reason = f"AOT compile failed, running in the interpreter: {exc}"
        return module
