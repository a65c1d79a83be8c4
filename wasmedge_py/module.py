"""Module: a parsed and validated WebAssembly module (WasmEdge's AST module), ready to instantiate."""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

from ._ffi import ffi, lib
from ._handle import Handle
from .config import Config
from .errors import LoadError, ValidationError, check
from ._binary import MAGIC, memory_minimums
from .stack_guard import INTERNAL_PREFIX, UnsupportedModule, guard_stack, slots_for_bytes
from .types import EXTERNAL_KINDS, ExportType, ImportType, extern_type, string_from_native


class Module(Handle):
    """A validated module. Instances keep it alive; closing it while they run is deferred."""

    _kind = "module"

    def __init__(self, ast_module: Any, config: Config, source: str, stack_slots: int | None = None) -> None:
        super().__init__(ast_module, lib.WasmEdge_ASTModuleDelete)
        self.config = config
        self.source = source
        # Set when the module was rewritten to bound its call stack (see stack_guard).
        self.stack_slots = stack_slots
        # Declared minimum pages of each memory; WasmEdge silently clamps them to the config's cap.
        self.memory_minimums: tuple[int, ...] = ()

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        config: Config | None = None,
        *,
        validate: bool = True,
        max_stack_bytes: int | None = None,
    ) -> "Module":
        """Load (and by default validate) a module file. ``max_stack_bytes`` bounds the memory
        its call stack may use: deeper recursion raises ``StackExhausted``."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise LoadError(f"cannot read {path}: no such file", engine_message="no such file")
        with open(path, "rb") as file:
            is_wasm = file.read(len(MAGIC)) == MAGIC
            if is_wasm:
                file.seek(0)
                data = file.read()
        if is_wasm:
            return cls.from_bytes(data, config, validate=validate, max_stack_bytes=max_stack_bytes, source=path)
        # Not a plain module: let WasmEdge's loader decide (it also reads AOT-compiled files).
        return cls._parse(config, path, lambda loader, out: lib.WasmEdge_LoaderParseFromFile(loader, out, path.encode()), validate)

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        config: Config | None = None,
        *,
        validate: bool = True,
        max_stack_bytes: int | None = None,
        source: str = "<bytes>",
    ) -> "Module":
        data = bytes(data)
        if len(data) >= 2**32:
            raise LoadError("module is larger than 4 GiB")
        slots = None
        if max_stack_bytes is not None:
            # Let the engine reject malformed bytes with its own message before we rewrite them.
            cls._parse(config, source, _buffer_parser(data), validate=False).close()
            slots = slots_for_bytes(max_stack_bytes)
            try:
                data = guard_stack(data, slots)
            except UnsupportedModule as exc:
                raise LoadError(f"cannot bound the call stack of {source}: {exc}", engine_message=str(exc)) from None
        module = cls._parse(config, source, _buffer_parser(data), validate, slots)
        try:
            module.memory_minimums = tuple(memory_minimums(data))
        except UnsupportedModule:
            pass  # the engine accepted it; the check in Instance just has nothing to compare
        return module

    @classmethod
    def _parse(cls, config: Config | None, source: str, parse, validate: bool, stack_slots: int | None = None) -> "Module":
        config = config or Config()
        loader = lib.WasmEdge_LoaderCreate(config._ptr)
        out = ffi.new("WasmEdge_ASTModuleContext **")
        try:
            result = parse(loader, out)
        finally:
            lib.WasmEdge_LoaderDelete(loader)
        check(result, f"cannot load {source}", LoadError)
        module = cls(out[0], config, source, stack_slots)
        if validate:
            try:
                module.validate()
            except BaseException:
                module.close()
                raise
        return module

    def validate(self) -> None:
        """Run WasmEdge's validator; instantiation needs a validated module."""
        validator = lib.WasmEdge_ValidatorCreate(self.config._ptr)
        try:
            check(lib.WasmEdge_ValidatorValidate(validator, self._ptr), f"invalid module {self.source}", ValidationError)
        finally:
            lib.WasmEdge_ValidatorDelete(validator)

    @cached_property
    def exports(self) -> tuple[ExportType, ...]:
        described = (ExportType(*_describe("Export", self._ptr, item)) for item in self._listed("Export"))
        return tuple(e for e in described if not e.name.startswith(INTERNAL_PREFIX))

    @cached_property
    def imports(self) -> tuple[ImportType, ...]:
        return tuple(
            ImportType(string_from_native(lib.WasmEdge_ImportTypeGetModuleName(item)), *_describe("Import", self._ptr, item))
            for item in self._listed("Import")
        )

    def _listed(self, side: str) -> list[Any]:
        """The module's import or export type contexts (``side`` is "Import" or "Export")."""
        ast = self._ptr
        count = getattr(lib, f"WasmEdge_ASTModuleList{side}sLength")(ast)
        items = ffi.new(f"WasmEdge_{side}TypeContext *[]", max(count, 1))
        getattr(lib, f"WasmEdge_ASTModuleList{side}s")(ast, items, count)
        return [items[i] for i in range(count)]

    def __repr__(self) -> str:
        return f"<Module {self.source} {'closed' if self.closed else 'open'}>"


_TYPE_GETTERS = {"function": "Function", "memory": "Memory", "table": "Table", "global": "Global"}


def _describe(side: str, ast: Any, item: Any) -> tuple[str, str, Any]:
    """Name, kind and type of an import or export (``side`` is "Import" or "Export")."""
    kind = EXTERNAL_KINDS.get(getattr(lib, f"WasmEdge_{side}TypeGetExternalType")(item), "unknown")
    name = string_from_native(getattr(lib, f"WasmEdge_{side}TypeGetExternalName")(item))
    getter = _TYPE_GETTERS.get(kind)
    native_type = getattr(lib, f"WasmEdge_{side}TypeGet{getter}Type")(ast, item) if getter else None
    return name, kind, extern_type(kind, native_type)


def _buffer_parser(data: bytes):
    return lambda loader, out: lib.WasmEdge_LoaderParseFromBuffer(loader, out, data, len(data))
