"""Module: a parsed and validated WebAssembly module (WasmEdge's AST module), ready to instantiate."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from . import _checks, sandbox
from ._binary import UnsupportedModule, constant_i32_exports, memory_minimums
from ._ffi import ffi, lib
from ._handle import Handle
from .config import Config
from .errors import LoadError, ValidationError, check
from .sandbox import INTERNAL_PREFIX, START_EXPORT
from .types import (
    EXTERNAL_KINDS,
    ExportType,
    FuncType,
    ImportType,
    extern_type,
    string_from_native,
)

if TYPE_CHECKING:
    from .compiler import CompileOptions

REACTOR_INITIALIZER = "_initialize"  # a WASI reactor's initializer, run as `wasmedge --reactor` does
_NO_PARAMS_NO_RESULTS = FuncType((), ())


def _check_load_options(
    config: object, validate: object, max_stack_bytes: object, sandbox: object, source: object
) -> None:
    _checks.instance_of(config, Config, "config", optional=True)
    _checks.boolean(validate, "validate")
    _checks.stack_bytes(max_stack_bytes)
    _checks.boolean(sandbox, "sandbox")
    _checks.text(source, "source")


class Module(Handle):
    """A validated module. Instances keep it alive; closing it while they run is deferred."""

    _kind = "module"

    def __init__(self, ast_module: Any, config: Config, source: str, stack_slots: int | None = None) -> None:
        super().__init__(ast_module, lib.WasmEdge_ASTModuleDelete)
        self.config = config
        self.source = source
        # Set when the module was rewritten to bound its call stack (see sandbox).
        self.stack_slots = stack_slots
        # Declared minimum pages of each memory; WasmEdge silently clamps them to the config's cap.
        self.memory_minimums = ()
        # Exported functions whose whole body is one ``i32.const``: their result, known without
        # running them (read from the binary when it is at hand; see constant_i32_exports).
        self.constant_results: dict[str, int] = {}
        # The options natively compiled code was compiled with (see compiler.load_aot); None when
        # the module runs in the interpreter.
        self.compiled_with: CompileOptions | None = None
        # Why this module runs in the interpreter although native code was asked for (else None).
        self.interpreter_fallback_reason: str | None = None
        # Seconds spent compiling it to native code for this load; None when the code came from
        # the AOT cache (or the module runs in the interpreter). See ``origin``.
        self.compile_seconds: float | None = None

    @property
    def memory_minimums(self) -> tuple[int, ...]:
        return self._memory_minimums

    @memory_minimums.setter
    def memory_minimums(self, minimums: Sequence[int]) -> None:
        self._memory_minimums = tuple(minimums)
        # What instantiation needs of Config.max_memory_pages; checked by every Instance.
        self.memory_needed = max(self._memory_minimums, default=0)

    @property
    def engine(self) -> str:
        """``"aot"`` for natively compiled code, else ``"interpreter"``."""
        return "interpreter" if self.compiled_with is None else "aot"

    @property
    def origin(self) -> str:
        """Where the code came from, for logs: ``"aot, from the AOT cache"``, ``"aot, compiled
        in 0.41 s"`` or ``"interpreter"`` (what a deploy-time compile is meant to turn into cache hits)."""
        if self.compiled_with is None:
            return "interpreter"
        if self.compile_seconds is None:
            return "aot, from the AOT cache"
        return f"aot, compiled in {self.compile_seconds:.2f} s"

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        config: Config | None = None,
        *,
        validate: bool = True,
        max_stack_bytes: int | None = None,
        sandbox: bool = True,
    ) -> Module:
        """Load (and by default validate) a WebAssembly file; see ``from_bytes`` for the options.

        Only WebAssembly is accepted: WasmEdge's loader would also ``dlopen`` a native shared
        object given to it, running its constructors in this process. Compiled code comes in
        through ``compiler.load_aot`` only."""
        path = _checks.path(path)
        if not os.path.isfile(path):
            raise LoadError(f"cannot read {path}: no such file", engine_message="no such file")
        with open(path, "rb") as file:
            data = file.read()
        return cls.from_bytes(
            data, config, validate=validate, max_stack_bytes=max_stack_bytes, sandbox=sandbox, source=path
        )

    @classmethod
    def from_compiled(
        cls,
        path: str | os.PathLike[str],
        config: Config | None = None,
        *,
        source: str | None = None,
        stack_slots: int | None = None,
        memory_minimums: Sequence[int] = (),
        compiled_with: CompileOptions | None = None,
        wasm: bytes | None = None,
    ) -> Module:
        """Load an AOT-compiled shared object (from ``compiler``). This ``dlopen``s native code
        into the process: only for files you compiled yourself, never for untrusted input.
        ``compiled_with`` are the options it was compiled with; ``wasm``, the (sandboxed) binary it was compiled from, lets facts the C API cannot give
        be read from it once (``constant_results``)."""
        path = _checks.path(path)
        _checks.instance_of(config, Config, "config", optional=True)
        source = source or path
        module = cls._parse(
            config,
            source,
            lambda loader, out: lib.WasmEdge_LoaderParseFromFile(loader, out, path.encode()),
            True,
            stack_slots,
        )
        module.memory_minimums = memory_minimums
        if compiled_with is None and module._imports_from(sandbox.DEADLINE_MODULE):
            from .compiler import CompileOptions  # compiler imports this module

            compiled_with = CompileOptions()  # only code compiled with deadline checks imports them
        module.compiled_with = compiled_with
        if wasm is not None:
            module.constant_results = constant_i32_exports(wasm)
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
    ) -> Module:
        """Load (and by default validate) a module. ``sandbox`` (the default) rewrites what would
        let a module take the process down — tables are capped, a start function becomes
        cancellable (see ``sandbox``); with ``max_stack_bytes`` (which implies ``sandbox``)
        deeper recursion raises ``StackExhausted``. Pass ``sandbox=False`` only for trusted code."""
        data, slots = _checks.byte_string(data, "data"), None
        _check_load_options(config, validate, max_stack_bytes, sandbox, source)
        if sandbox or max_stack_bytes is not None:
            data, slots = sandboxed(data, config, max_stack_bytes, source)
        module = cls._parse(config, source, _buffer_parser(data), validate, slots)
        try:
            module.memory_minimums = memory_minimums(data)
        except UnsupportedModule:
            pass  # the engine accepted it; the check in Instance just has nothing to compare
        if validate:  # only a validated body is known to be what it looks like
            module.constant_results = constant_i32_exports(data)
        return module

    @classmethod
    def _parse(
        cls, config: Config | None, source: str, parse, validate: bool, stack_slots: int | None = None
    ) -> Module:
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
            check(
                lib.WasmEdge_ValidatorValidate(validator, self._ptr), f"invalid module {self.source}", ValidationError
            )
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
        return {e.name: e.type for e in self._all_exports if isinstance(e.type, FuncType)}

    def has_internal_export(self, name: str) -> bool:
        return any(e.name == name for e in self._all_exports)

    @cached_property
    def initializers(self) -> tuple[str, ...]:
        """What an instance runs right after instantiation, in order: the start function the
        sandbox made cancellable, then a WASI reactor's ``_initialize () -> ()``."""
        names: tuple[str, ...] = (START_EXPORT,) if self.has_internal_export(START_EXPORT) else ()
        if any(e.name == REACTOR_INITIALIZER and e.type == _NO_PARAMS_NO_RESULTS for e in self.exports):
            names += (REACTOR_INITIALIZER,)
        return names

    @cached_property
    def native_function_names(self) -> dict[str, Any]:
        """A ``WasmEdge_String`` for the name of every exported function, built once, so a lookup
        in an instance converts nothing. Their buffers live as long as the module."""
        keep: list[Any] = []
        self._native_name_buffers = keep
        names = {}
        for name in self.function_types:
            encoded = name.encode()
            buffer = ffi.new("char[]", encoded)
            string = ffi.new("WasmEdge_String *", {"Length": len(encoded), "Buf": buffer})
            keep += (buffer, string)
            names[name] = string[0]
        return names

    @cached_property
    def imports(self) -> tuple[ImportType, ...]:
        """The module's own imports (the deadline check that compiled code imports is hidden: every
        instance links it itself)."""
        hidden = (
            sandbox.DEADLINE_MODULE if self.compiled_with is not None and self.compiled_with.deadline_checks else None
        )
        imports = (
            ImportType(
                string_from_native(lib.WasmEdge_ImportTypeGetModuleName(item)), *_describe("Import", self._ptr, item)
            )
            for item in self._listed("Import")
        )
        return tuple(item for item in imports if item.module != hidden)

    def _imports_from(self, module_name: str) -> bool:
        return any(
            string_from_native(lib.WasmEdge_ImportTypeGetModuleName(item)) == module_name
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
    """``sandbox.rewrite`` of ``data``, the original checked first by the engine set up by ``config``."""

    def validate_original(original: bytes) -> None:
        Module._parse(config, source, _buffer_parser(original), validate=True).close()

    return sandbox.rewrite(data, max_stack_bytes, source, validate_original)
