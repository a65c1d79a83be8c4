"""The cffi declarations must match the real header byte for byte, or every value silently corrupts.

Checked for both modes: the loaded ``ffi`` (in API mode its layouts come from the compiler, which
saw the header with ``_ffi.UINT128`` standing in for ``unsigned __int128``) and ABI mode's, which
cffi computes from ``_ffi.CDEF`` alone and which ``WASMEDGE_LIB`` or a missing build falls back to."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from wasmedge_py import _ffi
from wasmedge_py._ffi import abi_ffi, ffi

PROBE = r"""
#include <stddef.h>
#include <stdio.h>
#include <wasmedge/wasmedge.h>
#define SHOW(T) printf(#T " size %zu align %zu\n", sizeof(T), _Alignof(T))
#define FIELD(T, F) printf(#T "." #F " offset %zu\n", offsetof(T, F))
int main(void) {
    SHOW(WasmEdge_Value); FIELD(WasmEdge_Value, Value); FIELD(WasmEdge_Value, Type);
    SHOW(WasmEdge_ValType);
    SHOW(WasmEdge_String); FIELD(WasmEdge_String, Length); FIELD(WasmEdge_String, Buf);
    SHOW(WasmEdge_Bytes); FIELD(WasmEdge_Bytes, Length); FIELD(WasmEdge_Bytes, Buf);
    SHOW(WasmEdge_Result);
    SHOW(WasmEdge_Limit); FIELD(WasmEdge_Limit, HasMax); FIELD(WasmEdge_Limit, Shared);
    FIELD(WasmEdge_Limit, Min); FIELD(WasmEdge_Limit, Max);
    return 0;
}
"""


@pytest.fixture(scope="module")
def header_layout(tmp_path_factory) -> dict[str, int]:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler to check the layout against the header", pytrace=False)
    work = tmp_path_factory.mktemp("layout")
    (work / "probe.c").write_text(PROBE)
    subprocess.run([cc, "-std=c11", "-o", str(work / "probe"), str(work / "probe.c")], check=True)
    layout = {}
    for line in subprocess.run([str(work / "probe")], check=True, capture_output=True, text=True).stdout.splitlines():
        name, *pairs = line.split()
        for key, value in zip(pairs[::2], pairs[1::2]):
            layout[f"{name} {key}"] = int(value)
    return layout


def _cffi_layout(ffi) -> dict[str, int]:
    layout = {}
    for struct, fields in {
        "WasmEdge_Value": ("Value", "Type"),
        "WasmEdge_ValType": (),
        "WasmEdge_String": ("Length", "Buf"),
        "WasmEdge_Bytes": ("Length", "Buf"),
        "WasmEdge_Result": (),
        "WasmEdge_Limit": ("HasMax", "Shared", "Min", "Max"),
    }.items():
        layout[f"{struct} size"] = ffi.sizeof(struct)
        layout[f"{struct} align"] = ffi.alignof(struct)
        for field in fields:
            layout[f"{struct}.{field} offset"] = ffi.offsetof(struct, field)
    return layout


@pytest.mark.parametrize("mode", ["loaded", "abi"])
def test_cffi_layout_matches_the_c_header(header_layout, mode):
    assert _cffi_layout(ffi if mode == "loaded" else abi_ffi()) == header_layout


def test_value_union_members_overlay_the_low_word():
    """Python reads .Words/.I32/.I64/.F32/.F64 of the same 16 bytes in either mode."""
    for each in (ffi, abi_ffi()):
        value = each.new("WasmEdge_Value *")
        assert each.sizeof(value.Value) == 16
        value.Value.Words[0] = 0xFFFFFFFF_FFFFFFFE
        assert (value.Value.I32, value.Value.I64) == (-2, -2)
        value.Value.Words[0] = 0x3FF00000_00000000
        assert value.Value.F64 == 1.0


def test_api_mode_source_states_the_layout_it_relies_on():
    # The compiled extension replaces int128.h's uint128_t; the compiler itself must prove it equal.
    assert "_Static_assert(sizeof(uint128_t) == sizeof(unsigned __int128)" in _ffi.API_SOURCE
    assert "_Static_assert(_Alignof(uint128_t) == _Alignof(unsigned __int128)" in _ffi.API_SOURCE


def test_value_is_16_bytes_wide_and_aligned(header_layout):
    assert header_layout["WasmEdge_Value size"] == 32
    assert header_layout["WasmEdge_Value align"] == 16


def test_value_arrays_are_allocated_16_byte_aligned():
    for count in (1, 2, 3, 7):
        for _ in range(20):
            array = ffi.new("WasmEdge_Value[]", count)
            assert int(ffi.cast("uintptr_t", array)) % 16 == 0
