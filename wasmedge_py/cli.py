"""wasmedge-py: run, inspect and compile WebAssembly modules, and serve plugins over HTTP.

Every failure is one line on stderr and a non-zero exit: never a Python traceback."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from . import _ffi, version
from .config import Config
from .errors import ArgumentError, WasmEdgeError
from .instance import Instance
from .module import Module
from .plugin import load_plugin
from .runtime import PLUGIN_NAME_RULE, is_plugin_name
from .textvalues import format_value, parse_argument


def load(path: str, config: Config, *, interpreter: bool = False) -> Module:
    """``path`` compiled to native code through the AOT cache, or interpreted with ``interpreter``
    (or when the compiler fails on it: a note on stderr says so). Nothing interrupts a CLI call,
    so the code has no interruption checks; the stack guard still turns runaway recursion into a
    trap instead of a crash of this process."""
    if interpreter or not os.path.isfile(path):  # from_file reports a missing file
        return Module.from_file(path, config)
    from .compiler import CompileOptions, load_aot_or_interpreted
    from .limits import DEFAULT_MAX_STACK_BYTES

    options = CompileOptions(interruptible=False, cost_measuring=config.cost_measuring)
    module = load_aot_or_interpreted(path, config, options, max_stack_bytes=DEFAULT_MAX_STACK_BYTES)
    if module.interpreter_fallback_reason:
        print(f"wasmedge-py: note: {path}: {module.interpreter_fallback_reason}", file=sys.stderr)
    return module


def run(
    path: str, function_name: str, arguments: Sequence[str], config: Config, *, interpreter: bool = False
) -> list[str]:
    """Call ``function_name`` in a fresh instance of ``path``; returns the printed result lines."""
    with load(path, config, interpreter=interpreter) as module, Instance(module) as instance:
        function = instance.function(function_name)
        params = function.signature.params
        if len(arguments) != len(params):
            raise ArgumentError(
                f"{function_name}{function.signature} takes {len(params)} argument(s), got {len(arguments)}"
            )
        values = [parse_argument(text, t, i) for i, (text, t) in enumerate(zip(arguments, params))]
        result = function(*values)
        results = function.signature.results
        flat = [] if result is None else [result] if len(results) == 1 else list(result)
        return [format_value(v, t) for v, t in zip(flat, results)]


def _abi_line(path: str) -> str:
    """The ABI a plugin speaks, found the way the host finds it (by instantiating it)."""
    try:
        with load_plugin(path) as plugin:
            version = plugin.abi_version or "v1 (no get_abi_version)"
            return f"abi: {version}, major {plugin.abi_major}"
    except WasmEdgeError as exc:
        return f"abi: not a loadable plugin ({exc})"


def inspect(path: str, config: Config) -> list[str]:
    with Module.from_file(path, config) as module:
        lines = [f"module {path}", _abi_line(path), "imports:"]
        lines += [f"  {item}" for item in module.imports] or ["  (none)"]
        lines.append("exports:")
        lines += [f"  {item}" for item in module.exports] or ["  (none)"]
        memories = [m for m in (*module.imports, *module.exports) if m.kind == "memory"]
        lines.append("memories:")
        lines += [
            f"  {'imported ' if hasattr(m, 'module') else ''}{m.name}: {m.type.limits.min} pages initial "
            f"({m.type.limits.min * 64} KiB), maximum {m.type.limits.max if m.type.limits.max is not None else 'none'}"
            for m in memories
        ] or ["  (none)"]
        return lines


def compile_file(source: str, target: str, config: Config, *, interruptible: bool, fuel: bool) -> list[str]:
    """AOT-compile ``source`` to the native shared object ``target`` (sandboxed like plugins). The
    file stands alone (any WasmEdge runtime loads it), so an interruptible one gets WasmEdge's own
    interruption checks, not ours (which import a host function only this binding provides)."""
    from .compiler import CompileLimits, CompileOptions, compile_isolated
    from .module import sandboxed

    with open(source, "rb") as file:
        wasm, _ = sandboxed(file.read(), config, None, source)
    options = CompileOptions(interruptible=interruptible, cost_measuring=fuel, engine_interrupts=True)
    compile_isolated(wasm, target, options, CompileLimits())
    return [f"compiled {source} -> {target}"]


def compile_store(store: str, jobs: int | None) -> tuple[list[str], bool]:
    """Compile every plugin of ``store`` into the AOT cache (``$WASMEDGE_PY_CACHE_DIR``), loading
    each as the service would (its ``plugin.toml``, the service's ``WASMEDGE_PY_*`` settings from
    the environment), ``jobs`` at a time (default: the service's workers). Returns the report
    and whether every plugin compiled to native code. Needs the service package (``[server]``)."""
    import logging

    from server.registry import registry_for
    from server.settings import Settings
    from server.warm import Warmup

    from .compiler import default_cache

    settings = Settings.resolve({"plugins": store})
    cache = default_cache().ready_directory()  # an unusable cache is the deploy's error, not each plugin's
    logging.basicConfig(level=logging.CRITICAL, format="wasmedge-py: %(message)s")  # the report says it all
    registry = registry_for(settings)
    try:
        warmup = Warmup(registry, jobs or settings.workers)
        results = warmup.run()
    finally:
        registry.close()
    if warmup.store_error is not None:
        raise OSError(f"{store}: {warmup.store_error}")
    failed = sum(not r.ok for r in results)
    summary = (
        f"{len(results)} plugin(s) of {store} in the AOT cache {cache} in {warmup.seconds:.2f} s, "
        f"{warmup.jobs} at a time" + (f"; {failed} not compiled to native code" if failed else "")
    )
    return [r.line() for r in results] + [summary], failed == 0


TEMPLATES = Path(__file__).resolve().parent / "templates" / "plugin_v2"


def new_plugin(name: str, store: str) -> list[str]:
    """Scaffold ``store/NAME/`` with an ABI v2 C source using the SDK and a ``plugin.toml``."""
    if not is_plugin_name(name):  # the rule the service applies to the names it is sent
        raise ValueError(f"invalid plugin name {name!r}: use {PLUGIN_NAME_RULE}")
    target = Path(store) / name
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    # Plain replacement, not str.format: the C source has braces of its own.
    files = {
        target / output: (TEMPLATES / template).read_text().replace("{name}", name)
        for template, output in (("NAME.c.tmpl", f"{name}.c"), ("plugin.toml.tmpl", "plugin.toml"))
    }
    target.mkdir(parents=True)
    written = []
    for path, text in files.items():
        path.write_text(text)
        written.append(str(path))
    return [f"created {path}" for path in written] + [
        f'next: make plugins  (builds {target / name}.wasm), then POST /run {{"plugin": "{name}", "input": ...}}'
    ]


def lock_store(store: str, output: str | None) -> list[str]:
    """Write ``output`` (default ``STORE/plugins.lock``): the sha256 of every plugin's files, for
    ``serve --lock``."""
    from .lockfile import LOCK_NAME, pin_store, write_lock

    pins = pin_store(store)
    target = output or os.path.join(store, LOCK_NAME)
    write_lock(target, pins)
    return [f"{name}: {pin.wasm}" for name, pin in sorted(pins.items())] + [f"locked {len(pins)} plugin(s) in {target}"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _check_compile_arguments(parser: argparse.ArgumentParser, options: argparse.Namespace) -> None:
    """``compile FILE OUTPUT`` or ``compile --store DIR``: say which when the two are mixed."""
    if options.store is None:
        if options.output is None:
            parser.error("give FILE OUTPUT (one module) or --store DIR (every plugin of a store)")
        if options.jobs is not None or options.strict:
            parser.error("--jobs and --strict go with --store DIR")
        return
    if options.file is not None:
        parser.error("give FILE OUTPUT or --store DIR, not both")
    if not options.interruptible or options.fuel or options.max_memory_pages is not None:
        parser.error(
            "--no-interruptible, --fuel and --max-memory-pages do not apply to --store "
            "(each plugin is compiled as its plugin.toml says)"
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wasmedge-py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--version", action="version", version=f"wasmedge-py (WasmEdge {version()}, cffi {_ffi.MODE} mode)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="call an exported function and print its results")
    run_cmd.add_argument("file")
    run_cmd.add_argument("function")
    run_cmd.add_argument(
        "--interpreter",
        action="store_true",
        help="run in WasmEdge's interpreter instead of native code compiled ahead of time (cached)",
    )
    run_cmd.add_argument("args", nargs=argparse.REMAINDER, help="arguments, parsed by the parameter types")
    inspect_cmd = commands.add_parser("inspect", help="list a module's imports and exports with their types")
    inspect_cmd.add_argument("file")
    compile_cmd = commands.add_parser(
        "compile",
        help="AOT-compile a module to a native shared object, or (--store) every plugin of a store into the cache",
        usage="%(prog)s FILE OUTPUT [--no-interruptible] [--fuel] | %(prog)s --store DIR [--jobs N] [--strict]",
    )
    compile_cmd.set_defaults(command_parser=compile_cmd)  # for its usage errors
    compile_cmd.add_argument("file", nargs="?")
    compile_cmd.add_argument("output", nargs="?")
    compile_cmd.add_argument(
        "--store",
        metavar="DIR",
        help="compile every plugin of this store into the AOT cache ($WASMEDGE_PY_CACHE_DIR), as the service "
        "loads them (their plugin.toml, the service's WASMEDGE_PY_* environment): a deploy step",
    )
    compile_cmd.add_argument(
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="with --store: compiles at once (default: the service's --workers)",
    )
    compile_cmd.add_argument(
        "--strict", action="store_true", help="with --store: exit 1 unless every plugin compiled to native code"
    )
    compile_cmd.add_argument(
        "--no-interruptible",
        dest="interruptible",
        action="store_false",
        help="faster code that timeouts cannot stop (only for trusted modules)",
    )
    compile_cmd.add_argument("--fuel", action="store_true", help="compile with cost measuring (needed for fuel)")
    new_cmd = commands.add_parser("new", help="scaffold an ABI v2 plugin (C, using the SDK header)")
    new_cmd.add_argument("name")
    new_cmd.add_argument("--dir", default="plugins", help="the plugin store (default: ./plugins)")
    lock_cmd = commands.add_parser("lock", help="pin every plugin of a store by sha256 (for `serve --lock`)")
    lock_cmd.add_argument("dir", help="the plugin store")
    lock_cmd.add_argument("-o", "--output", help="the lock file to write (default: DIR/plugins.lock)")
    commands.add_parser("serve", help="serve plugins over HTTP (see `wasmedge-py serve --help`)", add_help=False)
    for sub in (run_cmd, inspect_cmd, compile_cmd):
        sub.add_argument("--max-memory-pages", type=int, default=None, help="cap on linear memory (64 KiB pages)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:  # the service parses its own options
        try:
            from server.__main__ import main as serve
        except ImportError as exc:
            print(
                f"wasmedge-py: error: the service is not installed ({exc}); pip install 'wasmedge-py[server]'",
                file=sys.stderr,
            )
            return 1
        return serve(argv[1:], prog="wasmedge-py serve")
    options = _parser().parse_args(argv)
    if options.command == "compile":
        _check_compile_arguments(options.command_parser, options)
    if options.command == "compile" and options.store is not None:
        try:
            lines, all_native = compile_store(options.store, options.jobs)
        except ImportError as exc:
            print(
                f"wasmedge-py: error: compile --store needs the service ({exc}); pip install 'wasmedge-py[server]'",
                file=sys.stderr,
            )
            return 1
        except (ValueError, OSError) as exc:  # a bad WASMEDGE_PY_* setting, an unusable store or cache
            print(f"wasmedge-py: error: {exc}", file=sys.stderr)
            return 1
        print("\n".join(lines), flush=True)
        return 1 if options.strict and not all_native else 0
    if options.command in ("new", "lock"):
        try:
            if options.command == "new":
                lines = new_plugin(options.name, options.dir)
            else:
                lines = lock_store(options.dir, options.output)
        except (ValueError, OSError, WasmEdgeError) as exc:
            print(f"wasmedge-py: error: {exc}", file=sys.stderr)
            return 1
        print("\n".join(lines))
        return 0
    try:
        with Config(max_memory_pages=options.max_memory_pages) as config:
            if options.command == "run":
                lines = run(options.file, options.function, options.args, config, interpreter=options.interpreter)
            elif options.command == "compile":
                lines = compile_file(
                    options.file, options.output, config, interruptible=options.interruptible, fuel=options.fuel
                )
            else:
                lines = inspect(options.file, config)
    except (WasmEdgeError, ValueError, OSError) as exc:
        print(f"wasmedge-py: error: {exc}", file=sys.stderr)
        return 1
    try:
        if lines:
            print("\n".join(lines), flush=True)
    except BrokenPipeError:  # e.g. piped into `head`: not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
