"""Module: a parsed and validated WebAssembly module (WasmEdge's AST module), ready to instantiate."""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any, Sequence

from ._ffi import ffi, lib
from ._handle import Handle
from .config import Config
from .errors import LoadError, ValidationError, check
from ._binary import memory_minimums
from .stack_guard import (
    INTERNAL_PREFIX,
    TableTooLarge,
    UnsupportedModule,
    guard_stack,
    needs_sandboxing,
    slots_for_bytes,
)
from .types import EXTERNAL_KINDS, ExportType, FuncType, ImportType, extern_type, string_from_native


class Module(Handle):
    """A validated module. Instances keep it alive; closing it while they run is deferred."""

    _kind = "module"

    def __init__(
        self, ast_module: Any, config: Config, source: str, stack_slots: int | None = None, aot: Any = None
    ) -> None:
        super().__init__(ast_module, lib.WasmEdge_ASTModuleDelete)
        self.config = config
        self.source = source
        # Set when the module was rewritten to bound its call stack (see stack_guard).
        self.stack_slots = stack_slots
        # Declared minimum pages of each memory; WasmEdge silently clamps them to the config's cap.
        self.memory_minimums: tuple[int, ...] = ()
        # The CompileOptions of natively compiled code (see compiler.load_aot); None when interpreted.
        self.aot = aot
        # Why this module runs in the interpreter although native code was asked for (else None).
        self.engine_note: str | None = None

    @property
    def engine(self) -> str:
        """``"aot"`` for natively compiled code, else ``"interpreter"``."""
        return "interpreter" if self.aot is None else "aot"

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        config: Config | None = None,
        *,
        validate: bool = True,
        max_stack_bytes: int | None = None,
        sandbox: bool = True,
    ) -> "Module":
        """Load (and by default validate) a WebAssembly file; see ``from_bytes`` for the options.

        Only WebAssembly is accepted: WasmEdge's loader would also ``dlopen`` a native shared
        object given to it, running its constructors in this process. Compiled code comes in
        through ``compiler.load_aot`` only."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise LoadError(f"cannot read {path}: no such file", engine_message="no such file")
        with open(path, "rb") as file:
            data = file.read()
        return cls.from_bytes(data, config, validate=validate, max_stack_bytes=max_stack_bytes, sandbox=sandbox, source=path)

    @classmethod
    def from_compiled(
        cls,
        path: str | os.PathLike[str],
        config: Config | None = None,
        *,
        source: str | None = None,
        stack_slots: int | None = None,
        memory_minimums: Sequence[int] = (),
        aot: Any = None,
    ) -> "Module":
        """Load an AOT-compiled shared object (from ``compiler``). This ``dlopen``s native code
        into the process: only for files you compiled yourself, never for untrusted input."""
        path = os.fspath(path)
        source = source or path
        module = cls._parse(config, source, lambda loader, out: lib.WasmEdge_LoaderParseFromFile(loader, out, path.encode()), True, stack_slots)
        module.memory_minimums = tuple(memory_minimums)
        module.aot = aot
        return module

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        config: Config | None = None,
        *,
        validate: bool = True,
        max_stack_bytes: int | None = None,
        sandbox: bool = True,
        source: str = "<bytes>",
    ) -> "Module":
        """Load (and by default validate) a module. ``sandbox`` (the default) rewrites what would
        let a module take the process down — tables are capped, a start function becomes
        cancellable (see ``stack_guard``); with ``max_stack_bytes`` (which implies ``sandbox``)
        deeper recursion raises ``StackExhausted``. Pass ``sandbox=False`` only for trusted code."""
        data, slots = bytes(data), None
        if sandbox or max_stack_bytes is not None:
            data, slots = sandboxed(data, config, max_stack_bytes, source)
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
    def _all_exports(self) -> tuple[ExportType, ...]:
        return tuple(ExportType(*_describe("Export", self._ptr, item)) for item in self._listed("Export"))

    @cached_property
    def exports(self) -> tuple[ExportType, ...]:
        """The module's own exports (those the sandbox added are hidden)."""
        return tuple(e for e in self._all_exports if not e.name.startswith(INTERNAL_PREFIX))

    @cached_property
    def function_types(self) -> dict[str, FuncType]:
        """Signature of every exported function (internal ones included), read once per module."""
        return {e.name: e.type for e in self._all_exports if e.kind == "function"}

    def has_internal_export(self, name: str) -> bool:
        return any(e.name == name for e in self._all_exports)

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


def sandboxed(data: bytes, config: Config | None, max_stack_bytes: int | None, source: str) -> tuple[bytes, int | None]:
    """``data`` rewritten by the stack guard, and its stack limit in slots (None: calls unguarded).

    The original is loaded and validated first, so the engine reports malformed or invalid input
    with its own message, and a rewrite can never make an invalid module valid."""
    if len(data) >= 2**32:
        raise LoadError(f"{source} is larger than 4 GiB")
    if max_stack_bytes is None and not needs_sandboxing(data):
        return data, None
    Module._parse(config, source, _buffer_parser(data), validate=True).close()
    slots = slots_for_bytes(max_stack_bytes) if max_stack_bytes is not None else None
    try:
        return guard_stack(data, slots), slots
    except TableTooLarge as exc:
        raise LoadError(f"cannot load {source}: {exc}", engine_message=str(exc)) from None
    except UnsupportedModule as exc:
        raise LoadError(f"cannot sandbox {source}: {exc}", engine_message=str(exc)) from None
