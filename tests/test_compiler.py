"""AOT compilation and its cache, against the real WasmEdge compiler (no mocks)."""

from __future__ import annotations

import math
import multiprocessing
import os
import stat
import time

import pytest

import wasmedge_py as w
from wasmedge_py.compiler import AotCache, CompileOptions, compile_module, default_cache_dir, load_aot

pytestmark = pytest.mark.slow  # processes, compiles or long property runs: `make test-fast` skips them

# Every non-trapping export of unit_pure with arguments covering signs, edges and float specials.
PURE_CALLS = [
    ("add_i32", (2, 3)),
    ("add_i32", (2**31 - 1, 1)),
    ("add_i32", (-5, 0xFFFFFFFF)),
    ("neg_i64", (0,)),
    ("neg_i64", (-(2**63),)),
    ("neg_i64", (12345678901234,)),
    ("half_f32", (3.0,)),
    ("half_f32", (-math.inf,)),
    ("half_f32", (1e-45,)),
    ("half_f64", (1.0,)),
    ("half_f64", (5e-324,)),
    ("id_f64", (-0.0,)),
    ("id_f32", (math.inf,)),
    ("swap", (7, 2.5)),
    ("nothing", ()),
    ("bump", ()),
    ("bump", ()),
    ("store", (64, -1)),
    ("load", (64,)),
    ("grow", (1,)),
    ("grow", (5,)),
    ("div", (-7, 2)),
]


@pytest.fixture
def cache(tmp_path):
    return AotCache(tmp_path / "aot")


def _run_calls(module: w.Module) -> list:
    with w.Instance(module) as instance:
        return [instance.call(name, *args) for name, args in PURE_CALLS]


def _trap_messages(module: w.Module) -> list[str]:
    messages = []
    with w.Instance(module) as instance:
        for name, args in [("boom", ()), ("div", (1, 0)), ("div", (-(2**31), -1)), ("load", (65536 * 4,))]:
            with pytest.raises(w.TrapError) as info:
                instance.call(name, *args)
            messages.append(info.value.engine_message)
    return messages


def test_aot_gives_the_interpreters_results(wat, cache):
    wasm = wat("unit_pure").read_bytes()
    with w.Module.from_bytes(wasm, w.Config(force_interpreter=True)) as interpreted:
        expected, expected_traps = _run_calls(interpreted), _trap_messages(interpreted)
    path = cache.get_or_compile(wasm)
    assert path.read_bytes()[:4] == b"\x7fELF"
    with w.Module.from_compiled(path) as compiled:
        assert [e.name for e in compiled.exports] == [e.name for e in w.Module.from_bytes(wasm).exports]
        results = _run_calls(compiled)
        traps = _trap_messages(compiled)
    # Compare floats by bit pattern so -0.0 and NaN signs count.
    assert repr(results) == repr(expected)
    assert traps == expected_traps


def test_compute_heavy_function_is_faster_compiled(wat, cache):
    wasm = wat("spin").read_bytes()
    with w.Module.from_bytes(wasm, w.Config(force_interpreter=True)) as module, w.Instance(module) as instance:
        started = time.perf_counter()
        expected = instance.call("fib", 24)
        interpreted = time.perf_counter() - started
    with w.Module.from_compiled(cache.get_or_compile(wasm)) as module, w.Instance(module) as instance:
        instance.call("fib", 10)  # first call maps the code
        started = time.perf_counter()
        assert instance.call("fib", 24) == expected == 46368
        compiled = time.perf_counter() - started
    assert compiled < interpreted / 3, (compiled, interpreted)


def test_compile_module_writes_a_loadable_shared_object(wat, tmp_path):
    out = tmp_path / "spin.so"
    compile_module(wat("spin").read_bytes(), out, optimization="O1")
    with w.Module.from_compiled(out) as module, w.Instance(module) as instance:
        assert instance.call("count", 1000) == 1000


def test_force_interpreter_runs_the_embedded_wasm(wat, cache):
    path = cache.get_or_compile(wat("spin").read_bytes())
    with w.Module.from_compiled(path, w.Config(force_interpreter=True)) as module, w.Instance(module) as instance:
        assert instance.call("fib", 15) == 610


def test_cache_hit_returns_the_same_path_fast(wat, cache):
    wasm = wat("unit_pure").read_bytes()
    first = cache.get_or_compile(wasm)
    assert cache.compiles == 1
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        assert cache.get_or_compile(wasm) == first
        timings.append(time.perf_counter() - started)
    assert cache.compiles == 1
    assert min(timings) < 0.005 and sorted(timings)[len(timings) // 2] < 0.005, timings
    # A fresh cache object (another process, say) verifies the entry once and then hits as well.
    other = AotCache(cache.directory)
    assert other.get_or_compile(wasm) == first and other.compiles == 0
    assert other.get(wasm) == first


def test_key_covers_options_and_bytes(wat, cache):
    wasm = wat("unit_pure").read_bytes()
    keys = {
        cache.key(wasm),
        cache.key(wasm, CompileOptions(optimization="O3")),
        cache.key(wasm, CompileOptions(interruptible=False)),
        cache.key(wasm, CompileOptions(cost_measuring=True)),
        cache.key(wasm, CompileOptions(generic_binary=True)),
        cache.key(wasm + b"\0"),
    }
    assert len(keys) == 6
    assert cache.key(wasm) == AotCache(cache.directory).key(wasm, CompileOptions())
    with pytest.raises(ValueError, match="optimization must be one of"):
        CompileOptions(optimization="O9")


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete_sidecar", "garbage_sidecar", "delete_so"])
def test_damaged_entry_is_detected_and_rebuilt(wat, cache, damage):
    wasm = wat("spin").read_bytes()
    path = cache.get_or_compile(wasm)
    good = path.read_bytes()
    sidecar = path.with_suffix(".json")
    if damage == "truncate":
        # In place, as a crash or a full disk would leave it. (A truncated .so can still load!)
        with open(path, "r+b") as file:
            file.truncate(len(good) * 9 // 10)
    elif damage == "flip":
        data = bytearray(good)
        data[len(data) // 2] ^= 0xFF
        before = path.stat()
        with open(path, "r+b") as file:
            file.write(data)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime
    elif damage == "delete_sidecar":
        sidecar.unlink()
    elif damage == "garbage_sidecar":
        sidecar.write_text("{not json")
    else:
        path.unlink()
    for checker in (AotCache(cache.directory), cache):  # a new process, and the one that compiled it
        assert checker.get(wasm) is None
    fresh = AotCache(cache.directory)
    assert fresh.get_or_compile(wasm) == path
    assert fresh.compiles == 1
    assert path.read_bytes() == good
    with w.Module.from_compiled(path) as module, w.Instance(module) as instance:
        assert instance.call("fib", 20) == 6765
    assert sorted(p.suffix for p in cache.directory.iterdir()) == [".json", ".lock", ".so"]


def _compile_in_child(directory: str, wasm: bytes, barrier, results) -> None:
    cache = AotCache(directory)
    barrier.wait()
    path = cache.get_or_compile(wasm)
    with w.Module.from_compiled(path) as module, w.Instance(module) as instance:
        value = instance.call("fib", 20)
    results.put((str(path), cache.compiles, value))


def test_two_processes_compiling_at_once_share_one_entry(wat, tmp_path):
    wasm = wat("spin").read_bytes()
    directory = tmp_path / "shared"
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=_compile_in_child, args=(str(directory), wasm, barrier, results)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert outcomes[0][0] == outcomes[1][0]
    assert sorted(compiles for _, compiles, _ in outcomes) == [0, 1]  # one compiled, one waited
    assert [value for _, _, value in outcomes] == [6765, 6765]
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [
            os.path.basename(outcomes[0][0]),
            os.path.basename(outcomes[0][0])[:-3] + ".json",
            os.path.basename(outcomes[0][0])[:-3] + ".lock",
        ]
    )
    assert AotCache(directory).get(wasm) is not None


@pytest.mark.parametrize(
    "data, error, message",
    [
        (b"", w.LoadError, "unexpected end"),
        (b"not wasm at all", w.LoadError, "magic header not detected"),
        (b"\0asm\x01\0\0\0\x01", w.LoadError, "unexpected end"),
    ],
)
def test_malformed_module_raises(cache, tmp_path, data, error, message):
    with pytest.raises(error, match=message) as info:
        compile_module(data, tmp_path / "out.so")
    assert isinstance(info.value, w.WasmEdgeError)
    with pytest.raises(error, match=message):
        cache.get_or_compile(data)
    assert not [p for p in cache.directory.iterdir() if p.suffix in (".so", ".json", ".tmp")]


def test_invalid_module_raises_validation_error(wat, cache):
    wasm = wat(source='(module (func (export "f") (result i32) i64.const 1))', check=False).read_bytes()
    with pytest.raises(w.ValidationError, match="type mismatch"):
        cache.get_or_compile(wasm)


def test_missing_output_directory_is_an_os_error(wat, tmp_path):
    # WasmEdge itself reports success there (its linker only complains on stderr).
    with pytest.raises(FileNotFoundError):
        compile_module(wat("spin").read_bytes(), tmp_path / "no" / "such" / "x.so")


@pytest.mark.timeout(30)
def test_timeout_stops_a_runaway_loop_in_compiled_code(wat, cache):
    path = cache.get_or_compile(wat("spin").read_bytes())  # interruptible by default
    with w.Module.from_compiled(path) as module, w.Instance(module) as instance:
        started = time.perf_counter()
        with pytest.raises(w.Interrupted, match="timed out after 200 ms"):
            instance.function("spin")(timeout=0.2)
        assert time.perf_counter() - started < 2.0
        assert instance.call("count", 10) == 10  # still usable
        assert instance.function("count")(100, timeout=5) == 100


def test_fuel_needs_and_works_with_cost_measuring_code(wat, cache):
    wasm = wat("spin").read_bytes()
    config = w.Config(cost_measuring=True)
    with load_aot(wasm, config, cache=cache) as module:
        with w.Instance(module, fuel=1_000) as instance:
            with pytest.raises(w.CostLimitExceeded):
                instance.call("count", 1_000_000)
            assert instance.call("count", 10) == 10  # the budget is per call
        with w.Instance(module, fuel=10**9) as instance:
            assert instance.call("fib", 20) == 6765
            assert instance.total_cost > 0
    with pytest.raises(ValueError, match="fuel would not be enforced"):
        load_aot(wasm, config, cache=cache, options=CompileOptions(cost_measuring=False))


@pytest.mark.timeout(60)
def test_stack_guard_is_compiled_in(wat, cache):
    # Unguarded, runaway recursion in native code overflows the thread's stack: SIGSEGV.
    with load_aot(wat("spin").read_bytes(), cache=cache, max_stack_bytes=1 << 20, source="spin") as module:
        assert [e.name for e in module.exports] == ["spin", "count", "runaway", "fib"]
        with w.Instance(module) as instance:
            with pytest.raises(w.StackExhausted, match="call stack exhausted"):
                instance.call("runaway")
            with pytest.raises(w.StackExhausted):
                instance.function("runaway")(timeout=5)
            assert instance.call("fib", 20) == 6765


def test_cache_directory_defaults_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("WASMEDGE_PY_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "wasmedge-py" / "aot"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "wasmedge-py" / "aot"
    monkeypatch.setenv("WASMEDGE_PY_CACHE_DIR", str(tmp_path / "env"))
    assert AotCache().directory == tmp_path / "env"
    assert AotCache(tmp_path / "arg").directory == tmp_path / "arg"


def test_cache_directory_must_be_private(wat, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(PermissionError, match="not writable by group or others"):
        AotCache(shared).get_or_compile(wat("spin").read_bytes())
    created = tmp_path / "new" / "aot"
    AotCache(created).get_or_compile(wat("spin").read_bytes())
    assert stat.S_IMODE(created.stat().st_mode) & 0o077 == 0


def test_clear_removes_entries(wat, cache):
    wasm = wat("spin").read_bytes()
    cache.get_or_compile(wasm)
    assert cache.clear() == 3
    assert cache.get(wasm) is None
    cache.get_or_compile(wasm)
    assert cache.compiles == 2


def test_leftovers_of_a_killed_compile_are_swept(wat, cache):
    wasm = wat("spin").read_bytes()
    key = cache.key(wasm)
    cache.directory.mkdir(parents=True, mode=0o700)
    leftovers = [cache.directory / f".{key}.k1ll3d.so.tmp", cache.directory / f".{key}.k1ll3d.so.0123456789.o"]
    for leftover in leftovers:
        leftover.write_bytes(b"half a file")
    unrelated = cache.directory / ".other.tmp"
    unrelated.write_bytes(b"")
    cache.get_or_compile(wasm)
    assert not any(leftover.exists() for leftover in leftovers)
    assert unrelated.exists()


# -- compiles run in a child process under limits -------------------------------------------------


def test_cache_compiles_in_a_child_process_by_default(wat, cache, monkeypatch):
    # compile_module in *this* process is never reached: the cache goes through the worker.
    import wasmedge_py.compiler as compiler

    def refuse(*_args, **_kwargs):
        raise AssertionError("compiled in-process")

    monkeypatch.setattr(compiler, "compile_module", refuse)
    path = cache.get_or_compile(wat("spin").read_bytes())
    with w.Instance(w.Module.from_compiled(path)) as instance:
        assert instance.call("fib", 20) == 6765


def test_errors_from_the_child_keep_their_class_and_engine_message(wat, tmp_path):
    from wasmedge_py.compiler import CompileLimits, compile_isolated

    with pytest.raises(w.LoadError) as in_process:
        compile_module(b"not wasm at all", tmp_path / "x.so")
    with pytest.raises(w.LoadError, match="magic header not detected") as isolated:
        compile_isolated(b"not wasm at all", tmp_path / "x.so", CompileOptions(), CompileLimits())
    assert (str(isolated.value), isolated.value.engine_message, isolated.value.code) == (
        str(in_process.value),
        in_process.value.engine_message,
        in_process.value.code,
    )
    invalid = wat(source='(module (func (export "f") (result i32) i64.const 1))', check=False).read_bytes()
    with pytest.raises(w.ValidationError, match="type mismatch"):
        compile_isolated(invalid, tmp_path / "y.so", CompileOptions(), CompileLimits())


def test_a_compile_past_its_time_limit_is_stopped(wat, tmp_path):
    from wasmedge_py.compiler import CompileLimits

    cache = AotCache(tmp_path / "aot", compile_limits=CompileLimits(timeout=0.05))
    started = time.perf_counter()
    with pytest.raises(w.CompileLimitExceeded, match="longer than 0.05 s"):
        cache.get_or_compile(wat("spin").read_bytes())
    assert time.perf_counter() - started < 5
    assert not [p for p in cache.directory.iterdir() if p.suffix in (".so", ".json")]


def test_a_compile_past_its_memory_limit_is_stopped(built_plugins, tmp_path):
    from wasmedge_py.compiler import CompileLimits

    cache = AotCache(tmp_path / "aot", compile_limits=CompileLimits(max_memory_bytes=150 << 20))
    with pytest.raises(w.CompileLimitExceeded, match="more than 157286400 bytes of memory"):
        cache.get_or_compile((built_plugins / "plugins" / "json_stats" / "json_stats.wasm").read_bytes())
    # This process is untouched and the same module compiles under the default limits.
    assert AotCache(tmp_path / "aot2").get_or_compile(
        (built_plugins / "plugins" / "json_stats" / "json_stats.wasm").read_bytes()
    )
