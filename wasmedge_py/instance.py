"""Instance: one isolated instantiation of a Module (its own store and module instance, and an
executor from its config's pool for as long as it lives)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import _checks, deadline, executor
from ._calls import CallContext, CallErrors
from ._ffi import ffi, lib
from ._handle import Handle
from .config import Config
from .errors import (
    ExportNotFoundError,
    InstantiationError,
    ValueRangeError,
    check,
)
from .function import Function
from .host import HostCallState, HostModule, create_native
from .memory import Memory
from .module import REACTOR_INITIALIZER, Module
from .types import ExportType, FuncType
from .wasi import WASI_MODULE, Wasi

_INSTANCE_OUT = ffi.typeof("WasmEdge_ModuleInstanceContext **")


def _check_imports_resolve(module: Module, wasi: bool, host_modules: Sequence[HostModule]) -> None:
    """Name the first import nothing provides (the engine only says "unknown import"). A module
    without imports (its import list is read once per module) has nothing to check."""
    if not module.imports:
        return
    provided = {(host.name, f.name) for host in host_modules for f in host.functions}
    for item in module.imports:
        if item.module == WASI_MODULE:
            if not wasi:
                detail = f"it imports WASI ({WASI_MODULE}.{item.name}) but WASI is disabled"
                raise InstantiationError(f"cannot instantiate {module.source}: {detail}", engine_message=detail)
        elif (item.module, item.name) not in provided:
            detail = f"unknown import {item.module}.{item.name} ({item.type})"
            raise InstantiationError(f"cannot instantiate {module.source}: {detail}", engine_message=detail)


def _checked_arguments(
    module: object,
    config: object,
    fuel: object,
    wasi: object,
    host_modules: object,
    run_initializer: object,
    init_timeout: object,
) -> tuple[Config, int | None, tuple[HostModule, ...], float | None]:
    """Every argument checked, and whether the module can be instantiated with them at all, before
    anything is retained or allocated: a refusal leaves nothing behind. Everything about the
    module itself (imports, memory minimums) was read once per Module."""
    _checks.instance_of(module, Module, "module")
    assert isinstance(module, Module)
    config = _checks.instance_of(config, Config, "config", optional=True) or module.config
    fuel = _checks.fuel(fuel)
    _checks.instance_of(wasi, Wasi, "wasi", optional=True)
    host_modules = _checks.sequence_of(host_modules, HostModule, "host_modules")
    _checks.boolean(run_initializer, "run_initializer")
    init_timeout = _checks.timeout_seconds(init_timeout, "init_timeout")
    if fuel is not None and not config.cost_measuring:
        raise ValueRangeError("fuel needs a Config with cost_measuring=True")
    _check_imports_resolve(module, wasi is not None, host_modules)
    if module.memory_needed > config.max_memory_pages:
        raise InstantiationError(
            f"cannot instantiate {module.source}: it declares {module.memory_needed} pages of memory "
            f"but the limit is {config.max_memory_pages}",
            engine_message="memory limit exceeded",
        )
    return config, fuel, host_modules, init_timeout


class _NativeParts:
    """What an instance holds natively, made step by step; ``free`` lets go of whatever was made so
    far, in dependency order, so a failure at any step (or the instance's close) frees everything."""

    __slots__ = ("executor", "natives", "pool", "releases", "store")

    def __init__(self) -> None:
        self.releases: list[Callable[[], None]] = []  # of the retained module and config
        self.natives: list[Any] = []  # module instances to delete, most dependent first
        self.store: Any = None
        self.executor: executor.Executor | None = None
        self.pool: executor.ExecutorPool | None = None

    def retain(self, module: Module, config: Config) -> None:
        """The module and config stay alive (closing them is deferred) while the instance lives."""
        self.releases.append(module._retain())
        self.releases.append(config._retain())

    def host_call_state(self) -> tuple[HostCallState, list[Any]]:
        """What the host functions record their failures in, and the handles they hold as data."""
        return HostCallState(), []

    def create_store_and_executor(self, config: Config, with_statistics: bool) -> executor.Executor:
        self.store = lib.WasmEdge_StoreCreate()
        if self.store == ffi.NULL:
            self.store = None
            raise MemoryError("WasmEdge could not create a store")
        # A pooled executor (see executor.py): made once, with its stop handle, reused afterwards.
        self.pool = executor.pool_for(config._ptr, with_statistics)
        self.executor = self.pool.take()
        return self.executor

    def link_imports(
        self, wasi: Wasi | None, host_modules: tuple[HostModule, ...], host_state, keep_alive, deadline_checks: bool
    ) -> None:
        """``deadline_checks``: also link the process-wide deadline check (see deadline.py), which
        is never freed, so it is not one of ``natives``."""
        assert self.executor is not None
        if wasi is not None:
            self.natives.append(wasi.create())
        for host in host_modules:
            self.natives.append(create_native(host, host_state, keep_alive))
        for native in self.natives + ([deadline.module_instance()] if deadline_checks else []):
            check(
                lib.WasmEdge_ExecutorRegisterImport(self.executor.executor, self.store, native),
                "cannot link imports",
                InstantiationError,
            )

    def instantiate(self, module: Module) -> Any:
        assert self.executor is not None
        out = ffi.new(_INSTANCE_OUT)
        result = lib.WasmEdge_ExecutorInstantiate(self.executor.executor, out, self.store, module._ptr)
        if result.Code:
            check(result, f"cannot instantiate {module.source}", InstantiationError)
        self.natives.insert(0, out[0])
        return out[0]

    def free(self, _ptr: Any = None) -> None:
        # Order matters: module instances refer to the store and executor that made them.
        for native in self.natives:
            lib.WasmEdge_ModuleInstanceDelete(native)
        if self.executor is not None:
            self.pool.give(self.executor)  # type: ignore[union-attr]  # set together
        if self.store is not None:
            lib.WasmEdge_StoreDelete(self.store)
        for release in reversed(self.releases):
            release()


class Instance(Handle):
    """An instantiated module. Nothing is shared with any other instance: memory, globals and
    tables are its own. Calls on one instance are serialised; use one instance per thread for
    parallelism (instances are cheap to create from a validated ``Module``)."""

    _kind = "instance"

    def __init__(
        self,
        module: Module,
        config: Config | None = None,
        *,
        fuel: int | None = None,
        wasi: Wasi | None = None,
        host_modules: Sequence[HostModule] = (),
        run_initializer: bool = True,
        init_timeout: float | None = None,
    ) -> None:
        """``fuel`` is an instruction budget for each call (needs ``Config(cost_measuring=True)``);
        ``wasi`` links a WASI module (off by default: a module importing WASI then fails here);
        ``host_modules`` links Python host functions the module may import. Code that runs as
        part of instantiation (a sandboxed module's start function, then ``_initialize``) is
        stopped after ``init_timeout`` seconds."""
        config, fuel, host_modules, init_timeout = _checked_arguments(
            module, config, fuel, wasi, host_modules, run_initializer, init_timeout
        )
        # Code compiled with cost measuring traps without a statistics context to count into.
        compiled = module.compiled_with
        compiled_counting = compiled is not None and (compiled.cost_measuring or compiled.instruction_counting)
        # Native code with our deadline checks (compiler.CompileOptions.deadline_checks) is stopped by
        # them: it imports the check, and its timed calls set a deadline instead of arming a watchdog.
        deadline_checks = compiled is not None and compiled.deadline_checks
        parts = self._new_parts()
        # Host functions record what they raised here; only instances that link some need one.
        host_state, keep_alive = parts.host_call_state() if host_modules else (None, None)
        try:
            parts.retain(module, config)
            pooled = parts.create_store_and_executor(config, bool(config.wants_statistics or fuel or compiled_counting))
            parts.link_imports(wasi, host_modules, host_state, keep_alive, deadline_checks)
            native = parts.instantiate(module)
        except BaseException:
            parts.free()
            raise
        if fuel is not None:
            # Instantiation itself is not charged to the budget (it counts constant expressions).
            lib.WasmEdge_StatisticsSetCostLimit(pooled.statistics, fuel)
        self.fuel = fuel
        # Native code compiled without interruption checks ignores cancellation: no timeouts then.
        self.interruptible = compiled is None or compiled.interruptible
        self._keep_alive = keep_alive  # handles the engine holds as host-function data
        super().__init__(native, parts.free)
        self.module = module
        self._errors = CallErrors(host_state, module.stack_slots, self._owned, pooled, fuel is not None)
        self._calls = CallContext(self._owned, pooled, fuel is not None, self.interruptible, self._errors)
        if deadline_checks:
            self._calls.invoke_timed = deadline.invoke_timed
        self.lock = self._calls.lock
        self._statistics = pooled.statistics
        self._functions: dict[str, Function] = {}
        self._run_initializers(run_initializer, init_timeout)

    def _new_parts(self) -> _NativeParts:
        """What makes and frees this instance's native objects (_lifecycle.py's adopted instance
        takes over those the native lifecycle made)."""
        return _NativeParts()

    def _run_initializers(self, run_initializer: bool, init_timeout: float | None) -> None:
        """Run what runs right after instantiation; if it fails, the instance is closed (freed)."""
        initializers = self._initializers(run_initializer)
        if initializers:
            try:
                for name in initializers:
                    self.function(name)(timeout=init_timeout)
            except BaseException:
                self.close()
                raise

    def _initializers(self, run_initializer: bool) -> tuple[str, ...]:
        """What runs right after instantiation: the start function the sandbox made cancellable,
        then the WASI reactor initializer (as `wasmedge --reactor` does); see Module.initializers."""
        names = self.module.initializers
        if not run_initializer and names and names[-1] == REACTOR_INITIALIZER:
            return names[:-1]
        return names

    @property
    def exports(self) -> tuple[ExportType, ...]:
        return self.module.exports

    def function(self, name: str) -> Function:
        """The exported function ``name``; raises ``ExportNotFoundError`` if there is none."""
        function = self._functions.get(name) if type(name) is str else None
        if function is None:
            _checks.text(name, "name")
            module = self.module
            native_name = module.native_function_names.get(name)
            if native_name is None:  # not an exported function of the module: let the engine say
                encoded = name.encode()
                native_name = lib.WasmEdge_StringWrap(encoded, len(encoded))
            native = lib.WasmEdge_ModuleInstanceFindFunction(self._ptr, native_name)
            if native == ffi.NULL:
                raise ExportNotFoundError(f"{module.source} does not export a function named {name!r}")
            functype = module.function_types.get(name) or FuncType.from_native(
                lib.WasmEdge_FunctionInstanceGetFunctionType(native)
            )
            function = self._functions[name] = Function(self, name, native, functype, self._calls)
        return function

    def memory(self, name: str = "memory") -> Memory:
        encoded = _checks.text(name, "name").encode()
        native = lib.WasmEdge_ModuleInstanceFindMemory(self._ptr, lib.WasmEdge_StringWrap(encoded, len(encoded)))
        if native == ffi.NULL:
            raise ExportNotFoundError(f"{self.module.source} does not export a memory named {name!r}")
        return Memory(self, name, native)

    def call(self, name: str, *args: float) -> Any:
        return self.function(name)(*args)

    @property
    def instruction_count(self) -> int:
        """Instructions executed so far (needs ``Config(instruction_counting=True)``)."""
        return lib.WasmEdge_StatisticsGetInstrCount(self._statistics) if self._statistics != ffi.NULL else 0

    @property
    def total_cost(self) -> int:
        return lib.WasmEdge_StatisticsGetTotalCost(self._statistics) if self._statistics != ffi.NULL else 0

    def close(self) -> None:
        """Free the instance. Safe to call twice, and never frees memory under a live call:

        - from another thread while a call runs, it waits for the call (bounded by its timeout);
        - from inside one of this instance's own host functions, the instance is closed at once
          for every new use, the running call is stopped with ``ClosedError`` as soon as the
          host function returns, and the native objects are freed once the call has unwound."""
        with self.lock:  # held by a running call: another thread waits here
            if not self._owned.closed:
                self._errors.defer_free(self._retain)
            super().close()
        self._functions.clear()

    def __repr__(self) -> str:
        return f"<Instance of {self.module.source} {'closed' if self.closed else 'open'}>"
