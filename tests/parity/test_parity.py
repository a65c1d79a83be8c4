"""Parity with the real ``wasmedge`` CLI (0.14.1).

Every case runs the same module, function and argument text three ways:

* ``wasmedge --reactor FILE FUNC ARGS...`` -- the reference;
* ``wasmedge-py run FILE FUNC ARGS...`` -- our console script;
* the binding: ``Module.from_file``, ``Instance``, ``instance.function(name)(*args)``, each result
  printed with ``wasmedge_py.cli.format_value``;

and all three must print the same lines. A trapping case must fail in all three with the same
WasmEdge message. Both command lines are run for every case up front, in parallel (they are
separate processes), the first time a test asks for one.

Arguments stay within what the ``wasmedge`` CLI accepts (it aborts on anything else): i32 in
[-2**31, 2**32-1], i64 in [-2**63, 2**63-1], floats finite in range or nan/inf/-inf/-nan, no decimal
subnormals (hex floats such as 0x1p-149 are accepted and reach the subnormals).
"""

from __future__ import annotations

import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.parity import Run, Tool, bytecode_cached_env, cli_command, py_command, run_command

from wasmedge_py import TrapError

pytestmark = pytest.mark.slow  # processes, compiles or long property runs: `make test-fast` skips them

I32_MIN, I32_MAX, U32_MAX = -(2**31), 2**31 - 1, 2**32 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class Case:
    module: str  # stem of a file in tests/wat
    function: str
    args: tuple[str, ...]
    trap: str | None = None  # WasmEdge's message when the call must trap
    expect: tuple[str, ...] | None = None  # the lines the CLI prints, where pinned by hand

    @property
    def id(self) -> str:
        return f"{self.module.removeprefix('parity_')}.{self.function}({','.join(self.args)})"


def cases(module: str, function: str, *arg_lists) -> list[Case]:
    """One case per argument list; a bare value (not a tuple) is a single argument."""
    return [Case(module, function, tuple(map(str, a if isinstance(a, tuple) else (a,)))) for a in arg_lists]


def pinned(module: str, function: str, args, *expect: str) -> Case:
    """A case whose CLI output is also pinned, so a broken reference cannot pass unnoticed."""
    return Case(module, function, tuple(map(str, args if isinstance(args, tuple) else (args,))), expect=expect)


def traps(module: str, function: str, message: str, *arg_lists) -> list[Case]:
    return [Case(c.module, c.function, c.args, trap=message) for c in cases(module, function, *arg_lists)]


INT, CONV, FLT, MEM, TRAP, VAL = (
    "parity_int",
    "parity_convert",
    "parity_float",
    "parity_memory",
    "parity_traps",
    "parity_values",
)

INTEGER_CASES = [
    pinned(INT, "i32_add", (I32_MAX, 1), "2147483648"),
    pinned(INT, "i32_add", (U32_MAX, 1), "0"),
    *cases(INT, "i32_add", (-1, -1), (I32_MIN, -1)),
    pinned(INT, "i32_sub", (0, 1), "4294967295"),
    pinned(INT, "i32_mul", (65536, 65536), "0"),
    *cases(INT, "i32_mul", (123456789, 987654321), (-5, 3)),
    pinned(INT, "i32_div_s", (-7, 2), "4294967293"),
    *cases(INT, "i32_div_s", (I32_MIN, I32_MAX)),
    pinned(INT, "i32_div_u", (-1, 2), "2147483647"),
    pinned(INT, "i32_rem_s", (I32_MIN, -1), "0"),  # the division would overflow; the remainder does not
    *cases(INT, "i32_rem_s", (-7, 2)),
    *cases(INT, "i32_rem_u", (-7, 2)),
    *cases(INT, "i32_xor", (-1, 0x55555555)),
    pinned(INT, "i32_shl", (1, 32), "1"),  # the count is taken modulo 32
    *cases(INT, "i32_shl", (1, 31)),
    pinned(INT, "i32_shr_s", (I32_MIN, 31), "4294967295"),
    pinned(INT, "i32_shr_u", (I32_MIN, 31), "1"),
    pinned(INT, "i32_rotl", (I32_MIN, 1), "1"),
    *cases(INT, "i32_rotl", (0x12345678, 4), (-2, 33)),
    *cases(INT, "i32_rotr", (1, 1)),
    pinned(INT, "i32_clz", 0, "32"),
    *cases(INT, "i32_ctz", I32_MIN),
    *cases(INT, "i32_popcnt", -1, 0xAAAAAAAA),
    *cases(INT, "i32_lt_s", (-1, 0)),
    *cases(INT, "i32_lt_u", (-1, 0)),
    pinned(INT, "i32_extend8_s", 128, "4294967168"),
    pinned(INT, "i32_neg", I32_MIN, "2147483648"),
    pinned(INT, "i64_add", (I64_MAX, 1), "9223372036854775808"),
    *cases(INT, "i64_add", (I64_MIN, I64_MIN)),
    pinned(INT, "i64_sub", (0, 1), "18446744073709551615"),
    pinned(INT, "i64_mul", (2**32, 2**32), "0"),
    *cases(INT, "i64_mul", (-1, I64_MAX), (3037000500, 3037000500)),
    *cases(INT, "i64_div_s", (I64_MIN, 2)),
    pinned(INT, "i64_div_u", (-1, 2), "9223372036854775807"),
    pinned(INT, "i64_rem_s", (I64_MIN, -1), "0"),
    *cases(INT, "i64_shl", (1, 64)),
    *cases(INT, "i64_shr_s", (I64_MIN, 63)),
    *cases(INT, "i64_rotl", (I64_MIN, 1)),
    pinned(INT, "i64_clz", 0, "64"),
    *cases(INT, "i64_popcnt", -1),
    *cases(INT, "i64_lt_u", (-1, 0)),
    pinned(INT, "i64_extend32_s", 2**31, "18446744071562067968"),
]

CONVERSION_CASES = [
    pinned(CONV, "i32_wrap_i64", 2**32, "0"),
    *cases(CONV, "i32_wrap_i64", -1),
    pinned(CONV, "i64_extend_i32_s", -1, "18446744073709551615"),
    pinned(CONV, "i64_extend_i32_u", -1, "4294967295"),
    *cases(CONV, "f32_convert_i32_s", 16777217, I32_MAX),
    pinned(CONV, "f32_convert_i32_u", -1, "4294967300"),  # shortest f32 text of 2**32
    *cases(CONV, "f32_convert_i64_s", I64_MIN),
    *cases(CONV, "f64_convert_i64_s", 2**53 + 1),
    pinned(CONV, "f64_convert_i64_u", -1, "1.8446744073709552e+19"),
    pinned(CONV, "f64_promote_f32", "0.1", "0.10000000149011612"),
    *cases(CONV, "f64_promote_f32", "-nan", "-0", "0x1p-149"),
    *cases(CONV, "f32_demote_f64", "0.1", "1e300", "-1e-300", "-nan", "1e-40"),
    pinned(CONV, "f32_demote_f64", "3.4028235677973366e38", "inf"),  # exactly halfway: ties to even
    pinned(CONV, "f32_demote_f64", "1.0000000596046448", "1"),  # 1 + 2**-24 exactly: ties to even
    *cases(CONV, "f32_demote_f64", "1.000000059604645"),
    pinned(CONV, "i32_trunc_f32_s", "-1.9", "4294967295"),
    *cases(CONV, "i32_trunc_f32_s", "2147483520", "-0"),
    *cases(CONV, "i32_trunc_f32_u", "4294967040"),
    *cases(CONV, "i32_trunc_f64_s", "-2147483648.9"),
    *cases(CONV, "i64_trunc_f32_s", "-9223372036854775808"),
    *cases(CONV, "i64_trunc_f64_u", "1.844674407370955e19"),
    pinned(CONV, "i32_trunc_sat_f32_s", "nan", "0"),
    *cases(CONV, "i32_trunc_sat_f32_s", "-inf"),
    *cases(CONV, "i32_trunc_sat_f32_u", "-1", "5e9"),
    pinned(CONV, "i64_trunc_sat_f64_s", "1e19", "9223372036854775807"),
    *cases(CONV, "i64_trunc_sat_f64_s", "-1e19"),
    *cases(CONV, "i64_trunc_sat_f64_u", "-nan", "1e20"),
    pinned(CONV, "f32_reinterpret_i32", 1, "1e-45"),
    pinned(CONV, "f32_reinterpret_i32", 0x7FC00000, "nan"),
    pinned(CONV, "f32_reinterpret_i32", -(2**22), "-nan"),  # 0xffc00000
    pinned(CONV, "f32_reinterpret_i32", I32_MIN, "-0"),
    *cases(CONV, "f32_reinterpret_i32", 0x00800000, 0x007FFFFF, -(2**23), 0x7F800001, 0x7F7FFFFF),
    # 2**-96, 2**87, 2**90 and -2**-96: the nearest 8-digit decimal does not read back, but the one
    # on the far side of the power of two does (the gap below a power of two is half the gap above).
    pinned(CONV, "f32_reinterpret_i32", 0x0F800000, "1.2621775e-29"),
    *cases(CONV, "f32_reinterpret_i32", 0x6B000000, 0x6C800000, 0x8F800000),
    pinned(CONV, "i32_reinterpret_f32", "-0", "2147483648"),
    *cases(CONV, "i32_reinterpret_f32", "-nan", "0x1p-149"),
    pinned(CONV, "f64_reinterpret_i64", 1, "5e-324"),
    *cases(CONV, "f64_reinterpret_i64", 0x000FFFFFFFFFFFFF, -(2**52), I64_MIN, 0x7FEFFFFFFFFFFFFF, 0x7FF0000000000001),
    pinned(CONV, "i64_reinterpret_f64", "-0", "9223372036854775808"),
    *cases(CONV, "i64_reinterpret_f64", "-nan"),
]

FLOAT_CASES = [
    *cases(
        FLT,
        "f32_id",
        "0.1",
        "1.1",
        "-0",
        "3.4028235e+38",
        "1e-07",
        "123456.789",
        "1e15",
        "1e16",
        "2147483648",
        "0.00001",
        "1.17549435e-38",
        "-nan",
        "-inf",
        "0x1p-149",
        "-0x1.fffffcp-127",
        "+2.5",
    ),
    pinned(FLT, "f32_id", "16777217", "16777216"),  # an exact tie: to even
    pinned(FLT, "f32_id", "1.0", "1"),
    # Decimal text rounds once, straight to f32: via f64 these land exactly on a tie and go the other way.
    pinned(FLT, "f32_id", "16777217.000000001", "16777218"),
    pinned(FLT, "f32_id", "3.4028235677973366e38", "3.4028235e+38"),
    pinned(FLT, "f32_id", "1.2621775e-29", "1.2621775e-29"),
    pinned(FLT, "f32_id", "-0x0p0", "-0"),
    pinned(FLT, "f32_id", "0x1.0000010000000000001p0", "1.0000001"),
    pinned(FLT, "f32_add", ("0.1", "0.2"), "0.3"),
    *cases(
        FLT,
        "f32_add",
        ("16777216", "1"),
        ("3.4028235e38", "3.4028235e38"),
        ("inf", "-inf"),
        ("-0", "-0"),
        ("-0", "0"),
        ("nan", "1"),
    ),
    *cases(FLT, "f32_sub", ("1", "1e-08")),
    *cases(FLT, "f32_mul", ("-0", "5"), ("0x1p-126", "0.5")),
    pinned(FLT, "f32_mul", ("0x1p-48", "0x1p-48"), "1.2621775e-29"),
    pinned(FLT, "f32_div", ("1", "3"), "0.33333334"),
    *cases(FLT, "f32_div", ("-1", "0"), ("0", "0"), ("0x1p-149", "2")),
    *cases(FLT, "f32_sqrt", "2", "-1"),
    pinned(FLT, "f32_min", ("0", "-0"), "-0"),
    *cases(FLT, "f32_min", ("nan", "1"), ("1", "-nan")),
    pinned(FLT, "f32_max", ("-0", "0"), "0"),
    *cases(FLT, "f32_max", ("1", "nan")),
    *cases(FLT, "f32_copysign", ("1", "-0"), ("nan", "-nan")),
    pinned(FLT, "f32_nearest", "2.5", "2"),
    pinned(FLT, "f32_nearest", "-0.5", "-0"),
    *cases(FLT, "f32_nearest", "0.49999997"),
    *cases(FLT, "f32_ceil", "-0.5"),
    *cases(FLT, "f32_floor", "-0.5"),
    *cases(FLT, "f32_abs", "-nan"),
    *cases(FLT, "f32_neg", "0"),
    *cases(FLT, "f32_eq", ("nan", "nan")),
    pinned(FLT, "f64_id", "1e300", "1e+300"),
    pinned(FLT, "f64_id", "0x1p-1074", "5e-324"),
    pinned(FLT, "f64_id", "-0x0p0", "-0"),
    *cases(
        FLT,
        "f64_id",
        "0.1",
        "1e-07",
        "1.7976931348623157e308",
        "2.2250738585072014e-308",
        "0x0.fffffffffffffp-1022",
        "1e16",
        "1e15",
        "123456789012345680",
        "0.0001",
        "0.00001",
        "9007199254740993",
        "-nan",
        "-inf",
        "-0.0",
    ),
    pinned(FLT, "f64_add", ("0.1", "0.2"), "0.30000000000000004"),
    *cases(FLT, "f64_add", ("1e308", "1e308"), ("inf", "-inf"), ("0x1p-1074", "-0x1p-1074")),
    *cases(FLT, "f64_sub", ("-0", "0")),
    *cases(FLT, "f64_mul", ("2.2250738585072014e-308", "0.5")),
    *cases(FLT, "f64_div", ("1", "3"), ("1", "0"), ("0", "0"), ("0x1p-1074", "2")),
    *cases(FLT, "f64_sqrt", "-1", "0x1p-1074"),
    *cases(FLT, "f64_min", ("0", "-0"), ("nan", "-inf")),
    *cases(FLT, "f64_max", ("-0", "0"), ("-nan", "inf")),
    *cases(FLT, "f64_copysign", ("1", "-nan")),
    pinned(FLT, "f64_nearest", "-2.5", "-2"),
    *cases(FLT, "f64_nearest", "0.49999999999999994"),
    pinned(FLT, "f64_ceil", "-0.9", "-0"),
    *cases(FLT, "f64_floor", "-0.1"),
    *cases(FLT, "f64_neg", "-nan"),
    *cases(FLT, "f64_ne", ("nan", "nan")),
]

MEMORY_CASES = [
    *cases(MEM, "rt_i32", (65532, I32_MIN), (1, 0x12345678)),
    *cases(MEM, "rt_i64", (65528, I64_MIN)),
    *cases(MEM, "rt_f32", (100, "-nan"), (100, "0x1p-149")),
    *cases(MEM, "rt_f64", (7, "-inf")),
    pinned(MEM, "rt_bytes", (100, -2023406815), "33", "67", "34661", "4294936421"),
    pinned(MEM, "store8_load", (0, 511), "255"),
    pinned(MEM, "store32_i64", (0, U32_MAX), "18446744073709551615"),
    pinned(MEM, "load_i32", 16, "67305985"),  # from the data segment, little-endian
    *cases(MEM, "load8_s", 24),
    *cases(MEM, "load_f64", 24),
    *cases(MEM, "load_offset", 0),
    pinned(MEM, "size", (), "1"),
    *cases(MEM, "grow", 2),
    pinned(MEM, "grow", 3, "4294967295"),  # beyond the maximum: -1
    pinned(MEM, "grow_size", 2, "1", "3"),
    *cases(MEM, "grow_rt", (131068, -1)),
    pinned(MEM, "fill_sum", (65000, 536), "3752"),  # exactly up to the end of the page
    pinned(MEM, "store_i32", (0, 1)),
]

VALUE_CASES = [
    pinned(VAL, "multi", (-1, -1, "1.5", "-0"), "4294967295", "18446744073709551615", "1.5", "-0"),
    *cases(VAL, "multi", (I32_MIN, I64_MIN, "-nan", "0x1p-1074")),
    *cases(VAL, "multi_rev", (1, 2, "3", "4")),
    pinned(VAL, "consts", (), "4294967295", "9223372036854775808", "-1e-45", "1.7976931348623157e+308"),
    pinned(VAL, "divmod", (17, 5), "3", "2"),
    pinned(VAL, "nothing", ()),
    pinned(VAL, "sink", (1, 2, "3.5", "4.5")),
    pinned(VAL, "answer", (), "42"),
    *cases(VAL, "pi", ()),
]

OOB, DIV0, OVERFLOW = "out of bounds memory access", "integer divide by zero", "integer overflow"
TRAP_CASES = [
    *traps(TRAP, "unreachable", "unreachable", ()),
    *traps(TRAP, "unreachable_i32", "unreachable", 0),
    *traps(TRAP, "div0_i32", DIV0, 5),
    *traps(TRAP, "div0_u64", DIV0, -1),
    *traps(TRAP, "rem0_i32", DIV0, 1),
    *traps(INT, "i64_rem_s", DIV0, (1, 0)),
    *traps(TRAP, "nested", DIV0, 0),
    *traps(TRAP, "overflow_i32", OVERFLOW, ()),
    *traps(TRAP, "overflow_i64", OVERFLOW, ()),
    *traps(INT, "i32_div_s", OVERFLOW, (2**31, U32_MAX)),
    *traps(INT, "i64_div_s", OVERFLOW, (I64_MIN, -1)),
    *traps(TRAP, "call_unary", "indirect call type mismatch", (1, 5)),
    *traps(TRAP, "call_nullary", "indirect call type mismatch", 0),
    *traps(TRAP, "call_unary", "uninitialized element", (2, 5)),
    *traps(TRAP, "call_unary", "undefined element", (4, 5), (-1, 5)),
    *traps(CONV, "i32_trunc_f32_s", "invalid conversion to integer", "nan", "-nan"),
    *traps(CONV, "i32_trunc_f32_s", OVERFLOW, "2147483648", "inf"),
    *traps(CONV, "i32_trunc_f32_u", OVERFLOW, "-1"),
    *traps(CONV, "i32_trunc_f64_s", OVERFLOW, "-2147483649"),
    *traps(CONV, "i64_trunc_f64_u", OVERFLOW, "1.8446744073709552e19"),
    *traps(MEM, "load_i32", OOB, 65533, -1),
    *traps(MEM, "load_offset", OOB, 5),
    *traps(MEM, "store_i32", OOB, (65536, 1)),
    *traps(MEM, "grow_rt", OOB, (131069, 1)),
    *traps(MEM, "fill_sum", OOB, (65000, 537)),
]


def _case(param) -> Case:
    return param.values[0] if hasattr(param, "values") else param


RESULT_PARAMS = [*INTEGER_CASES, *CONVERSION_CASES, *FLOAT_CASES, *MEMORY_CASES, *VALUE_CASES]
ALL_CASES = [_case(p) for p in [*RESULT_PARAMS, *TRAP_CASES]]
assert len(set(ALL_CASES)) == len(ALL_CASES), "duplicate parity case"


class CommandRuns:
    """Both command lines for every case, run on first use with a thread pool (each call is its
    own process, so threads are enough to keep every core busy)."""

    def __init__(self, wasm: Callable[[str], Path], wasmedge: Tool, py_env: dict[str, str]) -> None:
        self.wasm = wasm
        self.wasmedge = wasmedge
        self._py_env = py_env
        self._runs: dict[Case, tuple[Run, Run]] | None = None

    def path(self, case: Case) -> Path:
        return self.wasm(case.module)

    def __getitem__(self, case: Case) -> tuple[Run, Run]:
        if self._runs is None:
            wasmedge = self.wasmedge.path  # fails the test if the CLI is missing
            commands = [
                (cli_command(wasmedge, self.path(c), c.function, c.args), py_command(self.path(c), c.function, c.args))
                for c in ALL_CASES
            ]
            # One worker per core: the py-run processes are CPU-bound (mostly importing cffi).
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
                py = pool.map(lambda command: run_command(command, self._py_env), [pair[1] for pair in commands])
                cli = pool.map(run_command, [pair[0] for pair in commands])
                self._runs = dict(zip(ALL_CASES, zip(cli, py)))
        return self._runs[case]


@pytest.fixture(scope="module")
def runs(wat: Callable[[str], Path], wasmedge_cli: Tool, tmp_path_factory) -> CommandRuns:
    return CommandRuns(wat, wasmedge_cli, bytecode_cached_env(tmp_path_factory.mktemp("pycache")))


def _show(label: str, run: Run) -> str:
    return f"{label}: exit {run.returncode}\n  stdout: {run.stdout!r}\n  stderr: {run.stderr!r}"


@pytest.mark.timeout(300)  # whichever runs first waits for the whole batch of processes
@pytest.mark.parametrize("case", RESULT_PARAMS, ids=lambda c: c.id)
def test_results_agree(case: Case, runs: CommandRuns, binding) -> None:
    cli, py = runs[case]
    assert cli.returncode == 0 and cli.stderr == "", _show("wasmedge", cli)
    if case.expect is not None:
        assert cli.lines == list(case.expect), "the reference itself printed something unexpected"
    assert py.returncode == 0 and py.stderr == "", _show("wasmedge-py run", py)
    from_binding = binding.lines(runs.path(case), case.function, case.args)
    assert {"wasmedge-py run": py.lines, "binding": from_binding} == {
        "wasmedge-py run": cli.lines,
        "binding": cli.lines,
    }, f"wasmedge printed {cli.lines}"


_CLI_TRAP = re.compile(r"execution failed: (.+?), Code: 0x[0-9a-fA-F]+")


@pytest.mark.timeout(300)  # whichever runs first waits for the whole batch of processes
@pytest.mark.parametrize("case", TRAP_CASES, ids=lambda c: c.id)
def test_traps_agree(case: Case, runs: CommandRuns, binding) -> None:
    cli, py = runs[case]
    # wasmedge 0.14.1 writes its error log to stdout (not stderr), and no result lines.
    assert cli.returncode != 0, _show("wasmedge", cli)
    assert all("[error]" in line for line in cli.lines), _show("wasmedge", cli)
    found = _CLI_TRAP.search(cli.stdout + cli.stderr)
    assert found, _show("wasmedge", cli)
    message = found.group(1)
    assert message == case.trap, "the engine reported a different trap than this case expects"

    assert py.returncode != 0 and py.stdout == "", _show("wasmedge-py run", py)
    assert "Traceback" not in py.stderr, _show("wasmedge-py run", py)
    assert len(py.stderr.splitlines()) == 1 and message in py.stderr, _show("wasmedge-py run", py)

    with pytest.raises(TrapError) as raised:
        binding.lines(runs.path(case), case.function, case.args)
    assert message in str(raised.value)


def test_case_count() -> None:
    assert len(ALL_CASES) >= 150


# --- Properties: random inputs, the CLI against the binding ---------------------------------------

PROPERTY = settings(max_examples=50, deadline=None, database=None)


def f64_text(x: float) -> str:
    """Argument text the CLI accepts for ``x``: hex for subnormals (it refuses them in decimal)."""
    if math.isnan(x):
        return "-nan" if math.copysign(1.0, x) < 0 else "nan"
    if x != 0 and abs(x) < 2.0**-1022:
        return x.hex()
    return repr(x)


def f32_text(x: float) -> str:
    if x != 0 and not math.isnan(x) and abs(x) < 2.0**-126:
        return x.hex()
    return f64_text(x)


def _cli_vs_binding(runs: CommandRuns, binding, module: str, function: str, *args: str) -> None:
    path = runs.wasm(module)
    cli = run_command(cli_command(runs.wasmedge.path, path, function, args))
    assert cli.returncode == 0, _show("wasmedge", cli)
    assert binding.lines(path, function, args) == cli.lines, f"{function}{args}"


i32s = st.integers(I32_MIN, U32_MAX)
i64s = st.integers(I64_MIN, I64_MAX)


@PROPERTY
@given(a=i32s, b=i32s)
def test_property_i32_add(runs, binding, a: int, b: int) -> None:
    _cli_vs_binding(runs, binding, INT, "i32_add", str(a), str(b))


@PROPERTY
@given(a=i64s, b=i64s)
def test_property_i64_mul(runs, binding, a: int, b: int) -> None:
    _cli_vs_binding(runs, binding, INT, "i64_mul", str(a), str(b))


@PROPERTY
@given(a=st.floats(), b=st.floats())
def test_property_f64_div(runs, binding, a: float, b: float) -> None:
    _cli_vs_binding(runs, binding, FLT, "f64_div", f64_text(a), f64_text(b))


@PROPERTY
@given(a=st.floats(width=32), b=st.floats(width=32))
def test_property_f32_add(runs, binding, a: float, b: float) -> None:
    _cli_vs_binding(runs, binding, FLT, "f32_add", f32_text(a), f32_text(b))


@PROPERTY
@given(bits=i32s)
def test_property_f32_bits(runs, binding, bits: int) -> None:
    _cli_vs_binding(runs, binding, CONV, "f32_reinterpret_i32", str(bits))


@PROPERTY
@given(bits=i64s)
def test_property_f64_bits(runs, binding, bits: int) -> None:
    _cli_vs_binding(runs, binding, CONV, "f64_reinterpret_i64", str(bits))
