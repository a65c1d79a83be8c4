"""Timeouts in AOT code compiled without WasmEdge's interruptible flag: the sandbox's deadline
checks (sandbox.add_deadline_checks, deadline.py) stop runaways within 10 ms of their deadline.

The lateness asserted is the best of a few tries (the machine may be loaded); every figure is
printed (``pytest -s``)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from support import REPO

import wasmedge_py as w
from wasmedge_py import deadline, sandbox
from wasmedge_py._ffi import lib
from wasmedge_py.compiler import AotCache, CompileOptions, load_aot
from wasmedge_py.limits import DEFAULT_MAX_STACK_BYTES

RUNAWAYS = """
(module
  (memory 16)
  (func (export "spin") (loop $l (br $l)))
  (func $step (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func (export "churn")
    (loop $l (i32.store (i32.const 0) (call $step (i32.load (i32.const 0)))) (br $l)))
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2)) (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "fill") (loop $l (memory.fill (i32.const 0) (i32.const 7) (i32.const 1048576)) (br $l)))
  (func (export "count") (param i32) (result i32) (local i32)
    (loop $l (local.set 1 (i32.add (local.get 1) (i32.const 1)))
             (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
    (local.get 1))
  (func $down (export "runaway") (result i32) (i32.add (i32.const 1) (call $down)))
)
"""

NESTED = """
(module
  (import "env" "nested" (func $nested))
  (func (export "spin") (loop $l (br $l)))
  (func (export "outer") (call $nested) (loop $l (br $l)))
)
"""

TIMEOUT = 0.05
LATE_LIMIT = 0.010


@pytest.fixture(scope="module")
def runaways(wat, tmp_path_factory):
    cache = AotCache(tmp_path_factory.mktemp("aot"))
    with load_aot(wat(source=RUNAWAYS).read_bytes(), cache=cache, max_stack_bytes=DEFAULT_MAX_STACK_BYTES) as module:
        yield module


def _lateness(function, *args, tries: int = 3) -> list[float]:
    """Seconds from the deadline to the exception, for each try."""
    late = []
    for _ in range(tries):
        start = time.monotonic()
        with pytest.raises(w.Interrupted, match=r"timed out after 50 ms: execution interrupted"):
            function(*args, timeout=TIMEOUT)
        late.append(time.monotonic() - start - TIMEOUT)
    print(f"{function.name}{args}: stopped {', '.join(f'{s * 1000:.2f}' for s in late)} ms after the deadline")
    return late


@pytest.mark.slow
def test_the_code_has_deadline_checks_and_not_the_engines(runaways):
    assert runaways.compiled_with.deadline_checks and not runaways.compiled_with.engine_interrupts
    assert runaways.imports == ()  # the check's import is the binding's business
    if deadline.NATIVE:
        assert lib.WPY_CHECK_INTERVAL == sandbox.CHECK_INTERVAL


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, args",
    [("spin", ()), ("churn", ()), ("fib", (60,)), ("fill", ())],
    ids=["loop without calls or memory", "loop with calls and memory", "exponential recursion", "bulk memory loop"],
)
def test_a_runaway_is_stopped_within_10_ms_of_its_deadline(runaways, name, args):
    with w.Instance(runaways) as instance:
        late = _lateness(instance.function(name), *args)
    assert min(late) < LATE_LIMIT
    assert max(late) < 0.25  # even on a loaded machine


MUTUAL = """
(module
  (func $wide (export "wide") (param i32) (result i32)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2)) (then (local.get 0))
      (else (i32.add (call $step (i32.sub (local.get 0) (i32.const 1)))
                     (call $step (i32.sub (local.get 0) (i32.const 2)))))))
  (func $step (param i32) (result i32) (call $wide (local.get 0)))
)
"""


@pytest.mark.slow
@pytest.mark.parametrize("first, count", [(0, 1), (1, 1), (0, 2)], ids=["wide", "step", "both"])
def test_a_forged_twins_section_cannot_skip_the_checks(wat, tmp_path, first, count):
    """The stack guard's twins section lets a twin's calls go undecremented (their callees'
    weights are counted in the twin's), but never a call to a twin: whatever a module claims is
    a twin, every cycle of calls still decrements (unguarded here, so nothing rewrites it)."""
    forged = wat(source=MUTUAL).read_bytes() + sandbox._twins_section(first, count)
    with load_aot(forged, cache=AotCache(tmp_path), max_stack_bytes=None) as module, w.Instance(module) as instance:
        late = _lateness(instance.function("wide"), 36, tries=1)
    assert late[0] < 0.25


@pytest.mark.slow
def test_a_call_that_ends_in_time_is_unaffected_and_the_instance_survives_stops(runaways):
    with w.Instance(runaways) as instance:
        assert instance.function("fib")(25, timeout=5) == 75025
        assert instance.function("count")(3_000_000, timeout=5) == 3_000_000
        _lateness(instance.function("spin"), tries=1)
        assert instance.function("fib")(20, timeout=5) == 6765  # the stopped call left nothing behind
        assert instance.function("fib")(20) == 6765  # nor a deadline for calls without one
        with pytest.raises(w.StackExhausted):  # the stack guard still holds
            instance.function("runaway")(timeout=5)
        assert instance.function("count")(10) == 10


@pytest.mark.slow
def test_a_nested_call_runs_under_the_outer_deadline(wat, tmp_path):
    """A host function's call back into the instance (without a timeout of its own) is stopped at
    the outer call's deadline; when the host function swallows that, the outer call still stops.

    Run on the deadline-checked code in the interpreter (``force_interpreter``): in WasmEdge
    0.14.1's AOT code any host call made after a host function re-entered the executor fails with
    "out of bounds memory access", with or without deadline checks (see README)."""
    stopped = []

    @w.host_function()
    def nested(_caller):
        try:
            holder[0].function("spin")()
        except w.Interrupted as exc:
            stopped.append(exc)

    holder: list[w.Instance] = []
    path = AotCache(tmp_path).get_or_compile(wat(source=NESTED).read_bytes())
    with w.Module.from_compiled(path, w.Config(force_interpreter=True)) as module:
        assert module.compiled_with is not None and module.compiled_with.deadline_checks  # found from the import
        with w.Instance(module, host_modules=[w.HostModule("env", [nested])]) as instance:
            holder.append(instance)
            start = time.monotonic()
            with pytest.raises(w.Interrupted, match="timed out"):
                instance.function("outer")(timeout=TIMEOUT)
            late = time.monotonic() - start - TIMEOUT
    print(f"nested: outer stopped {late * 1000:.2f} ms after the deadline")
    assert len(stopped) == 1 and late < 0.25


def test_a_module_importing_the_reserved_name_is_refused(wat):
    wasm = wat(source='(module (import "__wasmedge_py" "deadline_check" (func (result i32))))').read_bytes()
    with pytest.raises(w.LoadError, match="reserved for the host"):
        w.Module.from_bytes(wasm)
    with pytest.raises(sandbox.UnsupportedModule, match="reserved"):
        sandbox.add_deadline_checks(wasm)


def test_what_uses_the_engines_checks_and_the_cache_tells_them_apart():
    assert CompileOptions().deadline_checks
    assert not CompileOptions(engine_interrupts=True).deadline_checks
    assert not CompileOptions(cost_measuring=True).deadline_checks  # fuel would be charged for the checks
    assert not CompileOptions(interruptible=False).deadline_checks
    cache = AotCache("/nonexistent")
    assert cache.key(b"\0asm", CompileOptions()) != cache.key(b"\0asm", CompileOptions(engine_interrupts=True))


REWRITTEN = """
(module
  (import "env" "seven" (func $seven (result i32)))
  (type $unary (func (param i32) (result i32)))
  (table 4 funcref)
  (elem (i32.const 0) $double $inc)
  (elem declare func $triple)
  (global $g funcref (ref.func $triple))
  (global (mut i32) (i32.const 0))
  (memory 1)
  (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func $inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $triple (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
  (func $init (global.set 1 (i32.const 5)))
  (start $init)
  (func (export "mix") (param i32) (result i32)
    (local.set 0 (call_indirect (type $unary) (local.get 0) (i32.const 0)))
    (local.set 0 (call_indirect (type $unary) (local.get 0) (i32.const 1)))
    (table.set 0 (i32.const 2) (global.get $g))
    (local.set 0 (call_indirect (type $unary) (local.get 0) (i32.const 2)))
    (i32.add (i32.add (local.get 0) (call $seven)) (global.get 1)))
  (func (export "loops") (param i32) (result i32) (local i32)
    (memory.fill (i32.const 0) (i32.const 1) (i32.const 4096))
    (loop $outer
      (local.set 1 (i32.add (local.get 1) (i32.load8_u (i32.const 100))))
      (br_if $outer (i32.lt_u (local.get 1) (local.get 0))))
    (local.get 1))
)
"""


def test_the_rewrite_keeps_what_the_module_computes(wat):
    """Renumbered calls, table elements, ref.func, start and exports, scratch locals: same results
    in the interpreter, with the check (a Python host function here) called as often as counted."""
    original = wat(source=REWRITTEN).read_bytes()
    checked = sandbox.add_deadline_checks(original, interval=1000)
    checks = []

    @w.host_function(results=["i32"], name=sandbox.DEADLINE_FUNCTION)
    def deadline_check(_caller):
        checks.append(1)
        return 1000

    env = w.HostModule("env", [w.host_function(results=["i32"], name="seven")(lambda _caller: 7)])
    results = []
    for wasm, hosts in ((original, [env]), (checked, [env, w.HostModule(sandbox.DEADLINE_MODULE, [deadline_check])])):
        with w.Module.from_bytes(wasm, sandbox=False) as module, w.Instance(module, host_modules=hosts) as instance:
            results.append((instance.function("mix")(4), instance.function("loops")(100_000)))
    assert results[0] == results[1] == ((4 * 2 + 1) * 3 + 7 + 5, 100_000)
    assert 100 < len(checks) < 2000  # ~100_000 iterations x their weight / 1000


@pytest.mark.slow
def test_a_runaway_on_a_daemon_thread_does_not_hang_the_exit(wat, tmp_path):
    """At exit every deadline check traps, so the call unwinds before finalization."""
    script = f"""
import sys, threading, time
sys.path.insert(0, {str(REPO)!r})
import wasmedge_py as w
from wasmedge_py.compiler import AotCache, load_aot
module = load_aot(open({str(wat(source=RUNAWAYS))!r}, "rb").read(), cache=AotCache({str(tmp_path)!r}))
instance = w.Instance(module)
threading.Thread(target=instance.function("spin"), daemon=True).start()
time.sleep(0.2)
print("exiting", flush=True)
"""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "exiting"
    print(f"exit with a runaway daemon thread: {time.monotonic() - start:.2f} s in all")
