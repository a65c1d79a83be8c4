"""``wasmedge-py`` CLI: clean one-line errors, never a traceback, and no engine log noise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "wasmedge_py.cli"]


def cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=60)


def test_run_prints_results(built_plugins):
    done = cli("run", built_plugins / "cpp" / "plugin.wasm", "process", "21")
    assert (done.returncode, done.stdout, done.stderr) == (0, "43\n", "")


@pytest.mark.slow
def test_run_compiles_ahead_of_time_unless_told_to_interpret(wat, tmp_path):
    # A cache of its own, so what each run added to it shows which engine ran.
    env = {**__import__("os").environ, "WASMEDGE_PY_CACHE_DIR": str(tmp_path / "aot")}

    def run(*flags: str) -> tuple[str, int]:
        done = subprocess.run(
            [*CLI, "run", *flags, str(wat("unit_pure")), "neg_i64", "-9"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert done.returncode == 0 and done.stderr == "", done.stderr
        entries = len(list((tmp_path / "aot").glob("*.so"))) if (tmp_path / "aot").is_dir() else 0
        return done.stdout, entries

    assert run("--interpreter") == ("9\n", 0)
    assert run() == ("9\n", 1)
    assert run() == ("9\n", 1)  # a cache hit


def test_run_falls_back_to_the_interpreter_and_says_why(wat, tmp_path):
    # A cache directory others may write to is refused (its files would be loaded as native
    # code): the module runs in the interpreter, and stderr says why.
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    shared.chmod(0o777)
    env = {**__import__("os").environ, "WASMEDGE_PY_CACHE_DIR": str(shared)}
    done = subprocess.run(
        [*CLI, "run", str(wat("unit_pure")), "neg_i64", "-9"], capture_output=True, text=True, timeout=60, env=env
    )
    assert (done.returncode, done.stdout) == (0, "9\n")
    assert "running in the interpreter" in done.stderr and "must be owned by the current user" in done.stderr
    assert not list(shared.iterdir())


def test_inspect_lists_exports_with_signatures(built_plugins):
    done = cli("inspect", built_plugins / "cpp" / "plugin_abi.wasm")
    assert done.returncode == 0
    assert "abi: v1.0.0, major 1" in done.stdout.splitlines()
    assert "  memory: 2 pages initial (128 KiB), maximum none" in done.stdout.splitlines()
    assert "  function process: (i32) -> (i32)" in done.stdout.splitlines()
    assert "  function get_abi_version: () -> (i32)" in done.stdout.splitlines()


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda tmp, wat: ("run", tmp / "absent.wasm", "f"), "no such file"),
        (lambda tmp, wat: ("run", _write(tmp / "junk.wasm", b"junk"), "f"), "magic header not detected"),
        (lambda tmp, wat: ("run", _write(tmp / "empty.wasm", b""), "f"), "unexpected end"),
        (lambda tmp, wat: ("run", wat("unit_pure"), "missing"), "does not export a function named 'missing'"),
        (lambda tmp, wat: ("run", wat("unit_pure"), "boom"), "unreachable"),
        (lambda tmp, wat: ("run", wat("unit_pure"), "div", "1", "0"), "integer divide by zero"),
        (lambda tmp, wat: ("run", wat("unit_pure"), "add_i32", "1"), "takes 2 argument(s), got 1"),
        (lambda tmp, wat: ("run", wat("unit_pure"), "add_i32", "x", "1"), "is not a valid i32"),
        (lambda tmp, wat: ("run", wat("unit_pure"), "add_i32", "4294967296", "1"), "out of range for i32"),
        (lambda tmp, wat: ("run", wat("unit_basics"), "add_i32", "1", "2"), "unknown import"),
        (lambda tmp, wat: ("inspect", _write(tmp / "junk2.wasm", b"\0asm\1\0\0\0\1")), "unexpected end"),
    ],
)
@pytest.mark.slow
def test_failures_are_one_line_without_traceback(tmp_path, wat, make_args, message):
    done = cli(*make_args(tmp_path, wat))
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("wasmedge-py: error: ")
    assert message in lines[0]


@pytest.mark.slow
def test_engine_logging_is_off_by_default(wat):
    """A trap would make WasmEdge print its own '[error] ...' lines (on stdout); the binding keeps
    both streams clean."""
    script = (
        "import wasmedge_py as w\n"
        f"m = w.Module.from_file({str(wat('unit_pure'))!r})\n"
        "i = w.Instance(m)\n"
        "try:\n    i.call('boom')\nexcept w.TrapError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "boom() failed: unreachable"
    assert done.stderr == ""


@pytest.mark.slow
def test_engine_logging_can_be_turned_back_on(wat):
    script = (
        "import wasmedge_py as w\n"
        "w.set_engine_log_level('error')\n"
        f"i = w.Instance(w.Module.from_file({str(wat('unit_pure'))!r}))\n"
        "try:\n    i.call('boom')\nexcept w.TrapError:\n    pass\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "[error] execution failed: unreachable" in done.stdout  # spdlog writes to stdout


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.slow
def test_compile_produces_native_code_that_runs(built_plugins, tmp_path):
    import wasmedge_py as w

    target = tmp_path / "plugin_abi.so"
    done = cli("compile", built_plugins / "cpp" / "plugin_abi.wasm", target)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes()[:4] == b"\x7fELF"
    with w.Module.from_compiled(target) as module, w.load_plugin(str(target), module=module) as plugin:
        plugin.init()
        assert plugin.execute(21) == 43


@pytest.mark.slow
def test_serve_is_the_service(tmp_path):
    done = cli("serve", "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: wasmedge-py serve") and "--plugins" in done.stdout


@pytest.mark.slow
def test_new_scaffolds_a_v2_plugin_that_builds_and_runs(tmp_path, built_plugins):
    import wasmedge_py as w

    store = tmp_path / "plugins"
    done = cli("new", "demo", "--dir", store)
    assert done.returncode == 0, done.stderr
    assert (store / "demo" / "demo.c").is_file() and (store / "demo" / "plugin.toml").is_file()
    subprocess.run(["make", "-s", "-C", str(built_plugins), "plugins", f"PLUGINS_DIR={store}"], check=True)
    limits = w.PluginLimits().with_manifest(store / "demo" / "plugin.toml")
    with w.load_plugin(store / "demo" / "demo.wasm", limits) as plugin:
        assert plugin.abi_major == 2
        assert plugin.call_bytes(b"echo me") == b"echo me"
        assert plugin.call_json({"a": [1, 2]}) == {"a": [1, 2]}
    again = cli("new", "demo", "--dir", store)
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = cli("new", "../escape", "--dir", store)
    assert bad.returncode == 1 and "invalid plugin name" in bad.stderr
