"""Fuzzing: whatever the bytes or arguments, the binding answers with a result or a WasmEdgeError.

Hypothesis properties run here, in the pytest process (random bytes, mutated valid modules,
random argument values), plus a short run of the child-process harness, tests/fuzz/fuzz.py; `make fuzz`
runs that harness on 10,000 modules.

Modules are instantiated sandboxed (the default), with ``init_timeout``: without the sandbox,
WasmEdge itself aborts the process on a huge table and runs a start function with no timeout. On a
checkout without ``sandbox=`` the modules ``fuzz.in_process_hazards`` names are only loaded and
validated here (the harness still runs them, in child processes).

The ``test_regression_*`` tests keep the minimal reproducers of what the fuzzer has found. A bug
found and not fixed yet goes into ``KNOWN_BUGS`` (the properties then set its violations aside) or
``KNOWN_INCIDENTS`` (crashes and hangs the harness may report), with a ``xfail(strict=True)``
regression test; fixing it makes that test XPASS, i.e. fail: then delete the entry and the marker.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wasmedge_py as w

pytestmark = pytest.mark.slow  # processes, compiles or long property runs: `make test-fast` skips them

REPO = Path(__file__).resolve().parent.parent
FUZZ_SCRIPT = REPO / "tests" / "fuzz" / "fuzz.py"


def _load_fuzz():
    spec = importlib.util.spec_from_file_location("wasmedge_py_fuzz_fuzz", FUZZ_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


fuzz = _load_fuzz()

TIMEOUT = 0.2  # per call, in seconds
CONFIG_PAGES = fuzz.MAX_PAGES

# -- bugs found and not fixed yet: none at the moment (see the regression tests) ---------------
# id -> (what is wrong, pattern of the harness's violation signature "step: message"), e.g.
# "float-overflow": ("an int beyond a double as an f64 argument raises OverflowError",
#                    r"^call: builtins\.OverflowError: int too large to convert to float")
KNOWN_BUGS: dict[str, tuple[str, str]] = {}
# Crashes and hangs the harness may report: (kind, patterns of its detail, of its stderr's last
# line and of one of the module's in_process_hazards), e.g. ("crash", r"SIGABRT", r"std::bad_alloc",
# r"table") for table.grow by a huge delta before the sandbox capped tables.
KNOWN_INCIDENTS: list[tuple[str, str, str, str]] = []


def known_bug(violation: dict) -> str | None:
    signature = f"{violation['step']}: {violation.get('exception') or violation['message']}"
    return next((bug for bug, (_, pattern) in KNOWN_BUGS.items() if re.search(pattern, signature)), None)


def unknown_violations(report) -> list[dict]:
    return [v for v in report.violations if known_bug(v) is None]


def describe(violations: list[dict]) -> str:
    return "\n\n".join("\n".join(f"{k}: {v}" for k, v in violation.items()) for violation in violations)


# -- seeds ------------------------------------------------------------------------------------

IN_PROCESS_WAT = [
    "tests/wat/fuzz/features.wat",
    "tests/wat/unit_pure.wat",
    "tests/wat/v2_reverse.wat",
    "tests/wat/parity_traps.wat",
    "tests/wat/hostile/deep_recursion.wat",
    "tests/wat/hostile/bad_indirect_call.wat",
]


@pytest.fixture(scope="module")
def seeds(built_plugins, wat) -> list[bytes]:
    """Seed modules for the in-process properties: the built plugins and a few WAT modules."""
    data = [(built_plugins / rel).read_bytes() for rel, _ in fuzz.PLUGIN_SEEDS]
    data += [
        path.read_bytes()
        for path in sorted(built_plugins.glob("plugins/*/*.wasm"))
        if path.relative_to(built_plugins).as_posix() not in {rel for rel, _ in fuzz.PLUGIN_SEEDS}
    ]
    for rel in IN_PROCESS_WAT:
        data.append(Path(wat(source=(REPO / rel).read_text())).read_bytes())
    return data


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory(prefix="fuzz-") as directory:
        yield Path(directory)


mutations = st.lists(
    st.tuples(
        st.sampled_from(fuzz.OPS),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.binary(min_size=1, max_size=16),
    ),
    min_size=1,
    max_size=4,
)
body_mutations = st.lists(
    st.tuples(
        st.sampled_from(["body_insert", "body_swap", "body_bytes", "leb"]),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.binary(min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=2,
)
sections = st.lists(st.tuples(st.integers(0, 14), st.binary(max_size=48)), max_size=6).map(
    lambda items: fuzz.MAGIC + b"".join(bytes([sid]) + fuzz.uleb(len(p)) + p for sid, p in items)
)
random_modules = st.one_of(
    st.binary(max_size=64),
    st.binary(max_size=200).map(lambda tail: fuzz.MAGIC + tail),
    sections,
)


# -- random bytes ------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(random_modules)
def test_random_bytes_load_or_raise_load_or_validation_error(data):
    variants = [{}, {"max_stack_bytes": 1 << 20}] + ([{"sandbox": False}] if fuzz.api_features()["sandbox"] else [])
    for options in variants:
        try:
            module = w.Module.from_bytes(data, **options)
        except (w.LoadError, w.ValidationError):
            continue
        with module:
            [str(item) for item in module.exports + module.imports]


@settings(max_examples=300, deadline=None)
@given(random_modules, st.sampled_from([1, 2, 100, 65536, 2**31 - 1]))
def test_stack_guard_rewriter_only_refuses(data, slots):
    """guard_stack on any bytes (the binding only hands it modules the loader accepted, so this
    is its own robustness): rewritten bytes or UnsupportedModule, nothing else."""
    from wasmedge_py.sandbox import UnsupportedModule, guard_stack

    try:
        rewritten = guard_stack(data, slots)
    except UnsupportedModule:
        return
    assert isinstance(rewritten, bytes)


# -- mutated modules ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), mutations)
def test_mutated_modules_end_in_a_result_or_a_wasmedge_error(seeds, scratch, draw, ops):
    """Load, validate, stack-guard, instantiate and call every export (binding and plugin runtime);
    the guarded module validates exactly when the original does and computes the same."""
    seed = draw.draw(st.sampled_from(range(len(seeds))), label="seed")
    data = fuzz.mutate(seeds[seed], ops, seeds)
    path = scratch / "mutant.wasm"
    path.write_bytes(data)
    report = fuzz.exercise(data, path=path, timeout=TIMEOUT, in_process=True)
    violations = unknown_violations(report)
    assert not violations, f"module {data.hex()}\n\n{describe(violations)}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), body_mutations)
def test_stack_guard_keeps_validity_and_results_of_mutated_code(seeds, draw, ops):
    """Mutations inside function bodies keep many modules valid: for those the guarded module must
    validate too and return the same values for every call both complete."""
    seed = draw.draw(st.sampled_from(range(len(seeds))), label="seed")
    data = fuzz.mutate(seeds[seed], ops, seeds)
    report = fuzz.exercise(data, timeout=TIMEOUT, in_process=True, wrong_args=False)
    violations = unknown_violations(report)
    assert not violations, f"module {data.hex()}\n\n{describe(violations)}"


def test_the_seeds_themselves_run_clean(seeds, scratch):
    for data in seeds:
        path = scratch / "seed.wasm"
        path.write_bytes(data)
        report = fuzz.exercise(data, path=path, timeout=TIMEOUT, in_process=True, wrong_args=False)
        assert not report.violations, describe(report.violations)
        assert report.counts["load:ok"] == report.counts["load_guarded:ok"] == 1


# -- random argument values --------------------------------------------------------------------

INT_BOUNDARIES = [0, 1, -1, 2**31 - 1, -(2**31), 2**31, 2**32 - 1, 2**32, 2**63 - 1, -(2**63), 2**63, 2**64 - 1, 2**64]
FLOAT_SPECIALS = [
    0.0,
    -0.0,
    math.nan,
    -math.nan,
    math.inf,
    -math.inf,
    5e-324,
    1.4e-45,
    1.17549435e-38,
    3.4028234663852886e38,
    3.4028235677973366e38,
    1.7976931348623157e308,
]
ints = st.one_of(st.sampled_from(INT_BOUNDARIES), st.integers(-(2**64), 2**65), st.integers())
floats = st.one_of(st.sampled_from(FLOAT_SPECIALS), st.floats(), st.floats(width=32), st.integers(-(2**64), 2**64))
wrong = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=3),
    st.binary(max_size=3),
    st.complex_numbers(),
    st.lists(st.integers(), max_size=2),
)
VALUES = {"i32": ints, "i64": ints, "f32": floats, "f64": floats}
RANGES = {"i32": (-(2**31), 2**32 - 1), "i64": (-(2**63), 2**64 - 1)}


def _fits(valtype: str, value) -> bool:
    if isinstance(value, bool):
        return False
    if valtype in RANGES:
        return isinstance(value, int) and RANGES[valtype][0] <= value <= RANGES[valtype][1]
    if isinstance(value, float):
        return True
    try:
        return isinstance(value, int) and math.isfinite(float(value))
    except OverflowError:  # an int beyond the largest double
        return False


@pytest.fixture(scope="module")
def callee(wat):
    """Functions of known signatures: the features seed (stack-guarded) and unit_pure."""
    config = w.Config(max_memory_pages=CONFIG_PAGES)
    modules = [
        w.Module.from_file(
            wat(source=(REPO / "tests/wat/fuzz/features.wat").read_text()), config, max_stack_bytes=1 << 20
        ),
        w.Module.from_file(wat("unit_pure"), config),
    ]
    instances = [w.Instance(module) for module in modules]
    functions = [(instance, e.name, e.type) for instance in instances for e in instance.exports if e.kind == "function"]
    yield functions
    for handle in instances + modules:
        handle.close()


@settings(max_examples=1000, deadline=None)
@given(st.data())
def test_random_arguments_give_a_result_or_a_wasmedge_error(callee, draw):
    instance, name, signature = draw.draw(st.sampled_from(callee), label="function")
    params = [str(p) for p in signature.params]
    args = draw.draw(
        st.tuples(*(st.one_of(VALUES[p], wrong) if draw.draw(st.booleans()) else VALUES[p] for p in params)),
        label="args",
    )
    args = list(args)
    if draw.draw(st.integers(0, 9), label="arity change") == 0:  # a wrong count now and then
        args = args[:-1] if args else [0]
    valid = len(args) == len(params) and all(_fits(p, a) for p, a in zip(params, args))
    try:
        result = instance.function(name)(*args, timeout=TIMEOUT)
    except (w.ArgumentError, w.ValueRangeError):
        assert not valid, f"{name}{signature} refused valid arguments {args!r}"
        return
    except w.WasmEdgeError:
        return
    assert valid, f"{name}{signature} accepted invalid arguments {args!r}"
    results = result if isinstance(result, tuple) else () if result is None else (result,)
    assert len(results) == len(signature.results)
    for valtype, value in zip(map(str, signature.results), results):
        if valtype in RANGES:
            bits = 32 if valtype == "i32" else 64
            assert isinstance(value, int) and -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)
        else:
            assert isinstance(value, float)


# -- the child-process harness -----------------------------------------------------------------


def test_quick_harness_run(built_plugins, tmp_path):
    """`tests/fuzz/fuzz.py --quick`: 300 mutated modules in child processes; every crash, hang and
    violation it reports must be a known bug."""
    report_file = tmp_path / "fuzz.json"
    done = subprocess.run(
        [
            sys.executable,
            str(FUZZ_SCRIPT),
            "--quick",
            "--quiet",
            "--seed",
            "7",
            "--crash-dir",
            str(tmp_path / "crashes"),
            "--json",
            str(report_file),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    assert report_file.exists(), done.stdout + done.stderr
    result = json.loads(report_file.read_text())
    assert result["modules"] == 300, done.stdout
    counts = result["counts"]
    for key in (
        "load:ok",
        "load:LoadError",
        "load_guarded:ok",
        "instantiate_guarded:ok",
        "call:ok",
        "call_guarded:ok",
        "plugin_load:ok",
        "plugin_execute:ok",
    ):
        assert counts.get(key, 0) > 0, f"the harness never got {key}:\n{done.stdout}"
    for incident in result["incidents"]:
        assert any(
            incident["kind"] == kind
            and re.search(detail, incident["detail"])
            and re.search(err, incident["stderr"])
            and any(re.search(hazard, x) for x in incident["hazards"] or [""])
            for kind, detail, err, hazard in KNOWN_INCIDENTS
        ), f"unknown {incident['kind']}: {incident}\n{done.stdout}"
    for violation in result["violations"]:
        assert any(re.search(pattern, violation["signature"]) for _, pattern in KNOWN_BUGS.values()), (
            f"unknown violation: {violation}\n{done.stdout}"
        )
    assert done.returncode == (1 if result["incidents"] or result["violations"] else 0)


# -- regressions: what the fuzzer found -------------------------------------------------------


def _run_python(code: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_regression_huge_int_as_float_argument(wat):
    with w.Module.from_file(wat("unit_pure")) as module, w.Instance(module) as instance:
        for name in ("id_f32", "id_f64"):
            with pytest.raises(w.WasmEdgeError):
                instance.function(name)(10**400)


@pytest.mark.parametrize(
    "method, args",
    [("read", (-1, 4)), ("read", (0, -1)), ("read", (2**32, 4)), ("read", (0, 2**62)), ("write", (-1, b"x"))],
)
def test_regression_memory_access_out_of_range(wat, method, args):
    with w.Module.from_file(wat("unit_pure")) as module, w.Instance(module) as instance:
        with pytest.raises(w.WasmEdgeError):
            getattr(instance.memory(), method)(*args)


# A function section naming type 0 and no type section: "unknown type". The guard's appended
# `() -> i32` becomes type 0, so the guarded module validates (with a new signature for process).
NO_TYPE_SECTION = bytes.fromhex("0061736d0100000003020100070b010770726f6365737300000a06010400417d0b")
# `global.get 0` in a module without globals: "unknown global"; the guard's counter becomes global 0.
NO_GLOBAL = bytes.fromhex("0061736d010000000105016000017f03020100070501016600000a0601040023000b")


@pytest.mark.parametrize("data", [NO_TYPE_SECTION, NO_GLOBAL], ids=["unknown-type", "unknown-global"])
def test_regression_guard_keeps_invalid_modules_invalid(data):
    with pytest.raises(w.ValidationError):
        w.Module.from_bytes(data)
    with pytest.raises((w.LoadError, w.ValidationError)):
        w.Module.from_bytes(data, max_stack_bytes=1 << 20).close()


# Without the sandbox, WasmEdge 0.14.1 aborts the process (std::bad_alloc) on both: a table grown
# by 2^31-1 elements, and a table declaring 2^32-1. The sandbox caps tables.
TABLE_GROW = """
import wasmedge_py as w
data = bytes.fromhex("0061736d0100000001060160017f017f03020100040401700001070501016600000a0b010900d0702000fc0f000b")
with w.Module.from_bytes(data, sandbox=True) as module, w.Instance(module) as instance:
    print(instance.function("f")(2**31 - 1, timeout=1))
"""
HUGE_TABLE = """
import wasmedge_py as w
try:
    with w.Module.from_bytes(bytes.fromhex("0061736d010000000408017000ffffffff0f"), sandbox=True) as module:
        w.Instance(module).close()
except w.WasmEdgeError as exc:
    print("refused:", exc)
"""


@pytest.mark.parametrize("code", [TABLE_GROW, HUGE_TABLE], ids=["table.grow", "huge-table"])
def test_regression_huge_tables_do_not_abort_a_sandboxed_module(code):
    done = _run_python(code, timeout=60)
    assert done.returncode == 0, f"exit status {done.returncode}: {done.stderr[-500:]}"


# Each runs for ever before any call can carry the plugin's timeout.
RUNAWAY_BEFORE_CALLS = {
    "start": '(module (func $s (loop br 0)) (start $s) (func (export "process") (param i32) (result i32) local.get 0))',
    "_initialize": '(module (func (export "_initialize") (loop br 0))'
    ' (func (export "process") (param i32) (result i32) local.get 0))',
    "get_abi_version": '(module (func (export "get_abi_version") (result i32) (loop br 0) i32.const 10000)'
    ' (func (export "process") (param i32) (result i32) local.get 0))',
}


def test_regression_plugin_timeout_covers_code_run_at_load(wat):
    script = (
        "import sys, wasmedge_py as w\n"
        "try:\n    w.load_plugin(sys.argv[1], w.PluginLimits(timeout_ms=200)).close()\n"
        "except w.WasmEdgeError as exc:\n    print(type(exc).__name__)\n"
    )
    procs = {
        name: subprocess.Popen([sys.executable, "-c", script, str(wat(source=src))], stdout=subprocess.PIPE, text=True)
        for name, src in RUNAWAY_BEFORE_CALLS.items()
    }
    hung = []
    deadline = time.monotonic() + 4  # import + 200 ms each, in parallel
    for name, proc in procs.items():
        try:
            proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            hung.append(name)
    assert not hung, f"load_plugin never returned for: {', '.join(hung)}"


def test_regression_plugin_file_is_never_native_code(tmp_path):
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler to build a shared object")
    source = tmp_path / "native.c"
    source.write_text(
        '#include <unistd.h>\n__attribute__((constructor)) static void ran(void) { write(1, "NATIVE CODE RAN\\n", 16); }\n'
    )
    plugin = tmp_path / "native.wasm"
    subprocess.run([compiler, "-shared", "-fPIC", str(source), "-o", str(plugin)], check=True)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, wasmedge_py as w\ntry:\n    w.load_plugin(sys.argv[1])\n"
            "except w.WasmEdgeError as exc:\n    print(exc)\n",
            str(plugin),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert "NATIVE CODE RAN" not in done.stdout
