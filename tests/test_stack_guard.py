"""The stack guard: runaway recursion ends in StackExhausted with bounded memory, and guarded
modules compute exactly what the originals do."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

import wasmedge_py as w
from wasmedge_py import sandbox
from wasmedge_py.sandbox import guard_stack

RECURSIVE = """(module
  (table 2 funcref) (elem (i32.const 0) $fib $ping)
  (func $forever (export "forever") (call $forever))
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2)) (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func $depth (export "depth") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $depth (i32.sub (local.get 0) (i32.const 1)))))))
  (func $ping (export "ping") (param i32) (result i32) (call $pong (local.get 0)))
  (func $pong (param i32) (result i32) (call $ping (local.get 0)))
  (func $via_table (export "via_table") (param i32) (result i32)
    (call_indirect (param i32) (result i32) (local.get 0) (i32.const 1)))
  (func (export "fib_indirect") (param i32) (result i32)
    (call_indirect (param i32) (result i32) (local.get 0) (i32.const 0)))
  (func (export "leaf") (param i32) (result i32) (call $helper (local.get 0)))
  (func $helper (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
)"""


@pytest.fixture(scope="module")
def recursive(wat):
    return wat(source=RECURSIVE)


@pytest.fixture
def guarded(recursive):
    with w.Module.from_file(recursive, max_stack_bytes=4 << 20) as module, w.Instance(module) as instance:
        yield instance


@pytest.mark.parametrize("name, args", [("forever", ()), ("ping", (1,)), ("via_table", (1,)), ("depth", (10**7,))])
def test_runaway_recursion_is_stack_exhausted(guarded, name, args):
    with pytest.raises(w.StackExhausted, match="call stack exhausted") as info:
        guarded.call(name, *args)
    assert isinstance(info.value, w.TrapError)


def test_instance_stays_usable_after_exhaustion(guarded):
    for _ in range(3):
        with pytest.raises(w.StackExhausted):
            guarded.call("forever")
        assert guarded.call("depth", 1000) == 1000
        assert guarded.call("fib", 15) == 610


def test_ordinary_traps_stay_ordinary(wat):
    path = wat(
        source='(module (func $f (export "f") (param i32) (result i32) (if (result i32) (local.get 0) (then (call $f (i32.sub (local.get 0) (i32.const 1)))) (else unreachable))))'
    )
    with w.Module.from_file(path, max_stack_bytes=1 << 20) as module, w.Instance(module) as instance:
        with pytest.raises(w.TrapError, match="unreachable") as info:
            instance.call("f", 100)
        assert not isinstance(info.value, w.StackExhausted)


def test_guarded_module_computes_the_same(recursive):
    with w.Module.from_file(recursive) as plain_module, w.Instance(plain_module) as plain:
        with w.Module.from_file(recursive, max_stack_bytes=64 << 20) as module, w.Instance(module) as guarded:
            for name, arg in [("fib", 20), ("depth", 5000), ("leaf", 14)]:
                assert guarded.call(name, arg) == plain.call(name, arg)
            assert guarded.call("fib_indirect", 12) == plain.call("fib", 12) == 144


def test_internal_export_is_hidden(recursive):
    with w.Module.from_file(recursive, max_stack_bytes=1 << 20) as module:
        assert not any(e.name.startswith("__wasmedge_py") for e in module.exports)
        assert {"fib", "forever"} <= {e.name for e in module.exports}


def test_rewritten_modules_validate(recursive, built_plugins, tmp_path):
    validate = shutil.which("wasm-validate")
    if validate is None:
        pytest.fail("wasm-validate not found: run `make setup`", pytrace=False)
    sources = [recursive, built_plugins / "cpp" / "plugin_abi.wasm", built_plugins / "plugins" / "hello" / "hello.wasm"]
    for index, source in enumerate(sources):
        out = tmp_path / f"guarded{index}.wasm"
        out.write_bytes(guard_stack(source.read_bytes(), 1 << 16))
        done = subprocess.run([validate, str(out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_plugins_run_unchanged_when_guarded(built_plugins):
    path = built_plugins / "cpp" / "plugin_abi.wasm"
    with w.Module.from_file(path, max_stack_bytes=1 << 20) as module, w.load_plugin(path, module=module) as plugin:
        plugin.init()
        assert plugin.execute(21) == 43 and plugin.abi_version == "v1.0.0"


def test_a_long_chain_of_big_frames_is_counted(wat):
    # No recursion at all, but 200 nested calls into frames of 4000 locals each (~12 MB of stack):
    # big frames are always counted, so a 1 MiB budget stops it.
    funcs = "\n".join(
        f"(func $f{i} (result i32) (local i64 i64 i64 i64) (local {'i64 ' * 4000}) call $f{i + 1})" for i in range(200)
    )
    path = wat(source=f'(module {funcs} (func $f200 (result i32) i32.const 7) (export "start" (func $f0)))')
    with w.Module.from_file(path, max_stack_bytes=1 << 20) as module, w.Instance(module) as instance:
        with pytest.raises(w.StackExhausted):
            instance.call("start")
    with w.Module.from_file(path, max_stack_bytes=256 << 20) as module, w.Instance(module) as instance:
        assert instance.call("start") == 7


def test_memory_stays_bounded_under_runaway_recursion(recursive):
    """Unguarded, this recursion grows the heap by ~0.4 GB/s until the process aborts."""
    script = (
        "import wasmedge_py as w\n"
        f"i = w.Instance(w.Module.from_file({str(recursive)!r}, max_stack_bytes=8 << 20))\n"
        "for _ in range(20):\n"
        "    try:\n        i.call('forever')\n    except w.StackExhausted:\n        pass\n"
        "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 300_000  # KiB: a few MB of wasm stack on top of Python + WasmEdge


def _deepest(path, max_stack_bytes: int) -> int:
    """The deepest ``depth(n)`` that ends without StackExhausted (binary search)."""
    with w.Module.from_file(path, max_stack_bytes=max_stack_bytes) as module, w.Instance(module) as instance:
        low, high = 0, 1 << 16
        while low + 1 < high:
            middle = (low + high) // 2
            try:
                instance.call("depth", middle)
                low = middle
            except w.StackExhausted:
                high = middle
        return low


def test_twins_change_nothing_about_how_deep_a_recursion_may_go(recursive, monkeypatch):
    """A recursive function's calls go to its twin, which calls back unguarded: the guarded call
    is charged for both frames, so the budget allows the same depth as guarding every call."""
    assert sandbox.TWINS_SECTION.encode() in guard_stack(recursive.read_bytes(), 1 << 16)
    with_twins = _deepest(recursive, 64 << 10)
    monkeypatch.setattr(sandbox, "TWIN_BUDGET_BYTES", 0)
    assert sandbox.TWINS_SECTION.encode() not in guard_stack(recursive.read_bytes(), 1 << 16)
    without = _deepest(recursive, 64 << 10)
    assert 100 < without and abs(with_twins - without) <= 2, (with_twins, without)


def test_a_call_into_a_frame_larger_than_the_budget_is_stack_exhausted(wat):
    path = wat(
        source='(module (func $f (export "f") (param i32) (result i32) (if (result i32) (local.get 0) (then (call $f (i32.sub (local.get 0) (i32.const 1)))) (else (i32.const 5)))))'
    )
    with w.Module.from_file(path, max_stack_bytes=16) as module, w.Instance(module) as instance:
        assert instance.call("f", 0) == 5
        with pytest.raises(w.StackExhausted, match=r"call stack exhausted \(limit 16 bytes\)"):
            instance.call("f", 1)
