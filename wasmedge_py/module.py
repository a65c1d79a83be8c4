"""Module: a parsed and validated WebAssembly module (WasmEdge's AST module), ready to instantiate."""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

from ._ffi import ffi, lib
from ._handle import Handle
from .config import Config
from .errors import LoadError, ValidationError, check
from .types import EXTERNAL_KINDS, ExportType, ImportType, extern_type, string_from_native


class Module(Handle):
    """A validated module. Instances keep it alive; closing it while they run is deferred."""

    _kind = "module"

    def __init__(self, ast_module: Any, config: Config, source: str) -> None:
        super().__init__(ast_module, lib.WasmEdge_ASTModuleDelete)
        self.config = config
        self.source = source

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], config: Config | None = None, *, validate: bool = True) -> "Module":
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise LoadError(f"cannot read {path}: no such file", engine_message="no such file")
        return cls._parse(config, path, lambda loader, out: lib.WasmEdge_LoaderParseFromFile(loader, out, path.encode()), validate)

    @classmethod
    def from_bytes(cls, data: bytes, config: Config | None = None, *, validate: bool = True) -> "Module":
        data = bytes(data)
        if len(data) >= 2**32:
            raise LoadError("module is larger than 4 GiB")
        return cls._parse(config, "<bytes>", lambda loader, out: lib.WasmEdge_LoaderParseFromBuffer(loader, out, data, len(data)), validate)

    @classmethod
    def _parse(cls, config: Config | None, source: str, parse, validate: bool) -> "Module":
        config = config or Config()
        loader = lib.WasmEdge_LoaderCreate(config._ptr)
        out = ffi.new("WasmEdge_ASTModuleContext **")
        try:
            result = parse(loader, out)
        finally:
            lib.WasmEdge_LoaderDelete(loader)
        check(result, f"cannot load {source}", LoadError)
        module = cls(out[0], config, source)
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
        return tuple(ExportType(*_describe("Export", self._ptr, item)) for item in self._listed("Export"))

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
