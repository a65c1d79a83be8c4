"""Module: loading from file and bytes, validation, and the full export/import signatures."""

from __future__ import annotations

import pytest

import wasmedge_py as w
from wasmedge_py import FuncType, Limits, MemoryType, ValType

I32, I64, F32, F64 = ValType.I32, ValType.I64, ValType.F32, ValType.F64


def test_version_is_the_loaded_library():
    assert w.version().startswith("0.1")  # 0.13+ API
    assert w.version().count(".") == 2


def test_exports_carry_full_signatures(wat):
    with w.Module.from_file(wat("unit_basics")) as module:
        exports = {e.name: e for e in module.exports}
    assert exports["swap"].kind == "function"
    assert exports["swap"].type == FuncType((I32, F64), (F64, I32))
    assert exports["store"].type == FuncType((I32, I32), ())
    assert exports["memory"].type == MemoryType(Limits(1, 4))
    assert exports["table"].kind == "table" and exports["table"].type.limits == Limits(2, 1 << 20)  # sandbox cap
    assert exports["answer"].kind == "global" and exports["answer"].type.content is I64
    assert not exports["answer"].type.mutable


def test_unsandboxed_module_keeps_its_table_unbounded(wat):
    with w.Module.from_file(wat("unit_basics"), sandbox=False) as module:
        assert {e.name: e for e in module.exports}["table"].type.limits == Limits(2, None)


def test_imports_carry_module_name_and_type(wat):
    with w.Module.from_file(wat("unit_basics")) as module:
        imports = {(i.module, i.name): i for i in module.imports}
    assert imports[("env", "host_add")].type == FuncType((I32, I32), (I32,))
    assert imports[("env", "limit")].kind == "global"


def test_from_bytes_equals_from_file(wat):
    path = wat("unit_pure")
    with w.Module.from_file(path) as a, w.Module.from_bytes(path.read_bytes()) as b:
        assert a.exports == b.exports


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "unexpected end"),
        (b"\0asm", "unexpected end"),
        (b"not wasm at all", "magic header not detected"),
        (b"\0asm\x02\0\0\0", "unknown binary version"),
    ],
)
def test_malformed_bytes_raise_load_error_with_engine_message(data, message):
    with pytest.raises(w.LoadError, match=message) as info:
        w.Module.from_bytes(data)
    assert info.value.engine_message == message


def test_truncated_module_is_a_load_error(wat):
    data = wat("unit_pure").read_bytes()
    for cut in (9, len(data) // 2, len(data) - 1):
        with pytest.raises(w.LoadError):
            w.Module.from_bytes(data[:cut])


def test_missing_file_is_a_load_error(tmp_path):
    with pytest.raises(w.LoadError, match="no such file"):
        w.Module.from_file(tmp_path / "absent.wasm")


def test_invalid_module_raises_validation_error(wat):
    # Well-formed binary, but the body returns an i64 where an i32 is declared.
    path = wat(source='(module (func (export "f") (result i32) i64.const 1))', check=False)
    with pytest.raises(w.ValidationError, match="type mismatch"):
        w.Module.from_file(path)
    with w.Module.from_file(path, validate=False) as unvalidated:  # loads, but cannot pass validation
        with pytest.raises(w.ValidationError):
            unvalidated.validate()


def test_close_is_idempotent_and_use_after_close_is_clear(wat):
    module = w.Module.from_file(wat("unit_pure"))
    module.close()
    module.close()
    assert module.closed
    with pytest.raises(w.ClosedError, match="module is closed"):
        module.validate()
    with pytest.raises(w.ClosedError):
        w.Instance(module)
