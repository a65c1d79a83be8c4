"""Function: value conversion (ranges, signedness, floats bit-exact) and argument checking."""

from __future__ import annotations

import math
import struct
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wasmedge_py as w
from wasmedge_py import FuncType, ValType


@pytest.fixture(scope="module")
def instance(tmp_path_factory, wat):
    with w.Module.from_file(wat("unit_pure")) as module, w.Instance(module) as instance:
        yield instance


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def test_signature_is_exposed(instance):
    assert instance.function("swap").signature == FuncType((ValType.I32, ValType.F64), (ValType.F64, ValType.I32))
    assert str(instance.function("swap").signature) == "(i32, f64) -> (f64, i32)"


def test_results_none_single_and_multi(instance):
    assert instance.call("nothing") is None
    assert instance.call("add_i32", 2, 3) == 5
    assert instance.call("swap", 7, 2.5) == (2.5, 7)


@pytest.mark.parametrize(
    "a, b, expected",
    [(2**31 - 1, 1, -(2**31)), (-1, -1, -2), (0xFFFFFFFF, 0, -1), (-(2**31), -1, 2**31 - 1)],
)
def test_i32_wraps_and_comes_back_signed(instance, a, b, expected):
    assert instance.call("add_i32", a, b) == expected


def test_i64_extremes(instance):
    assert instance.call("neg_i64", 2**63 - 1) == -(2**63) + 1
    assert instance.call("neg_i64", -(2**63)) == -(2**63)  # wraps, like the hardware
    assert instance.call("neg_i64", 2**64 - 1) == 1  # unsigned input = bit pattern of -1


@pytest.mark.parametrize("value", [2**32, -(2**31) - 1, 10**20])
def test_i32_out_of_range_raises_value_error(instance, value):
    with pytest.raises(w.ValueRangeError, match="out of range for i32"):
        instance.call("add_i32", value, 0)
    with pytest.raises(ValueError):
        instance.call("add_i32", 0, value)


def test_i64_out_of_range(instance):
    with pytest.raises(w.ValueRangeError):
        instance.call("neg_i64", 2**64)


@pytest.mark.parametrize("bad", ["1", 1.5, None, True, b"\x01"])
def test_wrong_type_is_a_type_error(instance, bad):
    with pytest.raises(w.ArgumentError):
        instance.call("add_i32", bad, 1)
    with pytest.raises(TypeError):
        instance.call("add_i32", 1, bad)


def test_wrong_count_is_caught_before_the_call(instance):
    with pytest.raises(w.ArgumentError, match="takes 2 argument"):
        instance.call("add_i32", 1)
    with pytest.raises(w.ArgumentError):
        instance.call("nothing", 1)


@pytest.mark.parametrize("value", [math.inf, -math.inf, 0.0, -0.0, 5e-324, 1.7976931348623157e308])
def test_f64_round_trips_exactly(instance, value):
    result = instance.call("id_f64", value)
    assert struct.pack("<d", result) == struct.pack("<d", value)


def test_nan_survives_with_its_sign(instance):
    for name in ("id_f32", "id_f64"):
        assert math.isnan(instance.call(name, math.nan))
        negative = instance.call(name, -math.nan)
        assert math.isnan(negative) and math.copysign(1.0, negative) == -1.0


def test_f32_is_rounded_to_nearest_like_the_engine(instance):
    assert instance.call("id_f32", 0.1) == f32(0.1) != 0.1
    assert instance.call("id_f32", 1e39) == math.inf  # beyond f32: rounds to infinity
    assert instance.call("id_f32", 1e-50) == 0.0
    assert instance.call("half_f32", 3.0) == 1.5


@given(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**31), 2**31 - 1))
def test_i32_add_matches_python(instance, a, b):
    expected = (a + b + 2**31) % 2**32 - 2**31
    assert instance.call("add_i32", a, b) == expected


@given(st.floats(allow_nan=False))
def test_f64_half_matches_python(instance, x):
    assert instance.call("half_f64", x) == x * 0.5


@given(st.floats(width=32, allow_nan=False))
def test_f32_half_matches_f32_arithmetic(instance, x):
    assert instance.call("half_f32", x) == f32(x * 0.5)


class _Int(int):
    pass


@pytest.mark.parametrize(
    "name, args",
    [
        ("add_i32", (2**31 - 1, 1)),
        ("add_i32", (0xFFFFFFFF, _Int(2))),  # int subclasses take the encoder's path
        ("add_i32", (2**32, 0)),
        ("add_i32", (1, True)),
        ("add_i32", (1,)),
        ("neg_i64", (2**64 - 1,)),
        ("neg_i64", (-(2**63) - 1,)),
        ("half_f32", (3,)),
        ("id_f64", (-0.0,)),
        ("id_f64", ("1",)),
        ("swap", (7, 2.5)),
        ("nothing", ()),
        ("div", (7, 0)),
        ("boom", ()),
    ],
)
def test_the_specialised_call_behaves_like_the_general_path(instance, name, args):
    """Function.__call__ without a timeout runs code written for the signature (from its second
    call on; the first takes the general loop, as every call with a timeout does). Same results,
    same exceptions with the same messages. The specialised code must really have run: its frames
    are compiled under the file name ``<wasmedge_py call ...>`` (function.py)."""
    function = instance.function(name)
    entered: list[str] = []

    def outcome(**kwargs):
        try:
            result = function(*args, **kwargs)
        except w.WasmEdgeError as exc:
            return type(exc), str(exc)
        return "ok", struct.pack("<d", result).hex() if isinstance(result, float) else result

    def watch(frame, event, _arg):
        if event == "call":
            entered.append(frame.f_code.co_filename)

    general = outcome(timeout=10)
    outcome()  # a first call without a timeout, if this function has not had one yet
    sys.setprofile(watch)
    try:
        specialised = outcome()
    finally:
        sys.setprofile(None)
    assert any(file.startswith("<wasmedge_py call") for file in entered), entered
    assert specialised == general
