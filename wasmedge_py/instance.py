"""Instance: one isolated instantiation of a Module (its own store and module instance, and an
executor from its config's pool for as long as it lives)."""

from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

from ._ffi import ffi, lib
from ._handle import Handle
from .config import Config
from . import _checks
from .errors import (
    ArgumentError,
    ClosedError,
    ExportNotFoundError,
    InstantiationError,
    Interrupted,
    StackExhausted,
    ValueRangeError,
    check,
    engine_error,
)
from .stack_guard import RESET_EXPORT, SLOT_BYTES
from .function import Function
from .memory import Memory
from .module import REACTOR_INITIALIZER, Module
from .types import ExportType, FuncType
from .host import HostCallState, HostFunctionError, HostModule, create_native
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


def _host_module_list(host_modules: object) -> tuple[HostModule, ...]:
    if isinstance(host_modules, (str, bytes)) or not isinstance(host_modules, (list, tuple)):
        raise ArgumentError(f"host_modules must be a list or tuple of HostModule, not {type(host_modules).__name__}")
    for host in host_modules:
        _checks.instance_of(host, HostModule, "host_modules item")
    return tuple(host_modules)


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
        # Everything about the module itself (its imports, memory minimums, initializers, export
        # signatures and names) is read once per Module; only per-instance work is done here.
        # Every argument is checked before anything is retained or allocated: a refusal leaves
        # nothing behind.
        _checks.instance_of(module, Module, "module")
        config = _checks.instance_of(config, Config, "config", optional=True) or module.config
        fuel = _checks.fuel(fuel)
        _checks.instance_of(wasi, Wasi, "wasi", optional=True)
        host_modules = _host_module_list(host_modules)
        _checks.boolean(run_initializer, "run_initializer")
        init_timeout = _checks.timeout_seconds(init_timeout, "init_timeout")
        if fuel is not None and not config.cost_measuring:
            raise ValueRangeError("fuel needs a Config with cost_measuring=True")
        _check_imports_resolve(module, wasi is not None, host_modules)
        needed = module.memory_needed
        if needed > config.max_memory_pages:
            raise InstantiationError(
                f"cannot instantiate {module.source}: it declares {needed} pages of memory "
                f"but the limit is {config.max_memory_pages}",
                engine_message="memory limit exceeded",
            )
        # Code compiled with cost measuring traps without a statistics context to count into.
        aot = module.aot
        compiled_counting = aot is not None and (aot.cost_measuring or aot.instruction_counting)
        # The module and config stay alive (closing them is deferred) while this instance lives.
        release_module = module._retain()
        try:
            release_config = config._retain()
        except BaseException:
            release_module()
            raise
        natives: list[Any] = []  # module instances to delete, most dependent first
        store = runner = pool = None

        def delete(_ptr: Any) -> None:
            # Order matters: module instances refer to the store and executor that made them.
            for native in natives:
                lib.WasmEdge_ModuleInstanceDelete(native)
            if runner is not None:
                pool.give(runner)
            if store is not None:
                lib.WasmEdge_StoreDelete(store)
            release_config()
            release_module()

        # Host functions record what they raised here; only instances that link some need one.
        host_state, keep_alive = (HostCallState(), []) if host_modules else (None, None)
        try:
            store = lib.WasmEdge_StoreCreate()
            if store == ffi.NULL:
                store = None
                raise MemoryError("WasmEdge could not create a store")
            # A pooled executor (see executor.py): made once, with its stop handle, reused afterwards.
            pool = config.executor_pool(bool(config.wants_statistics or fuel or compiled_counting))
            runner = pool.take()
            executor, statistics = runner.executor, runner.statistics
            if wasi is not None:
                natives.append(wasi.create())
            for host in host_modules:
                natives.append(create_native(host, host_state, keep_alive))
            for native in natives:
                check(lib.WasmEdge_ExecutorRegisterImport(executor, store, native), "cannot link imports", InstantiationError)
            out = ffi.new(_INSTANCE_OUT)
            result = lib.WasmEdge_ExecutorInstantiate(executor, out, store, module._ptr)
            if result.Code:
                check(result, f"cannot instantiate {module.source}", InstantiationError)
            natives.insert(0, out[0])
        except BaseException:
            delete(None)
            raise
        if fuel is not None:
            # Instantiation itself is not charged to the budget (it counts constant expressions).
            lib.WasmEdge_StatisticsSetCostLimit(statistics, fuel)
        self.fuel = fuel
        # Native code compiled without interruption checks ignores cancellation: no timeouts then.
        self.interruptible = aot is None or aot.interruptible
        self._host_state = host_state
        self._keep_alive = keep_alive  # handles the engine holds as host-function data
        super().__init__(natives[0], delete)
        self.module = module
        self.lock = threading.RLock()
        self._runner = runner
        self._executor = executor
        self._statistics = statistics
        self._functions: dict[str, Function] = {}
        self._deferred_free: Callable[[], None] | None = None  # see close()
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
            native_name = module._native_names.get(name)
            if native_name is None:  # not an exported function of the module: let the engine say
                encoded = name.encode()
                native_name = lib.WasmEdge_StringWrap(encoded, len(encoded))
            native = lib.WasmEdge_ModuleInstanceFindFunction(self._ptr, native_name)
            if native == ffi.NULL:
                raise ExportNotFoundError(f"{module.source} does not export a function named {name!r}")
            functype = module.function_types.get(name) or FuncType.from_native(
                lib.WasmEdge_FunctionInstanceGetFunctionType(native)
            )
            function = self._functions[name] = Function(self, name, native, functype)
        return function

    def _raise_call_error(self, result: Any, name: str, timeout: float | None = None) -> None:
        """Turn a failed call's result into the right exception (called with the lock held).

        Only the outermost call (no host function of this instance below it on the stack) may
        reset the stack guard or free an instance closed during the call: a nested call's
        failure unwinds into a host function, and the outer call is still running."""
        state = self._host_state
        raised = state.take() if state is not None else None
        outermost = state is None or state.depth == 0
        if self._deferred_free is not None:  # closed from one of its own host functions
            if outermost:
                release, self._deferred_free = self._deferred_free, None
                state.close_requested = False
                release()  # the call has unwound: nothing native of this instance is in use now
            raise ClosedError(f"instance was closed while {name}() ran; the call was stopped") from None
        if raised is not None:
            exc, function = raised
            error: Exception = HostFunctionError(
                f"{name}() failed: host function {function} raised {type(exc).__name__}: {exc}",
                code=lib.WasmEdge_ResultGetCode(result),
                engine_message=str(exc),
            )
            error.__cause__ = exc
        else:
            error = engine_error(result, f"{name}() failed")
            if isinstance(error, Interrupted) and timeout is not None:
                error = Interrupted(
                    f"{name}() timed out after {round(timeout * 1000)} ms: {error.engine_message}",
                    code=error.code,
                    engine_message=error.engine_message,
                )
        # A trap leaves the stack guard's counter raised: reset it (looked up only here, on a
        # failed call), and tell an exhausted stack from other traps.
        if outermost and self.module.stack_slots:
            reset = self.function(RESET_EXPORT)
            if reset._invoke().Code == 0:  # also re-arms the guard
                used = reset._results[0].Value.I32
                if used > self.module.stack_slots and raised is None:
                    limit = self.module.stack_slots * SLOT_BYTES
                    raise StackExhausted(
                        f"{name}() failed: call stack exhausted (limit {limit} bytes)",
                        code=error.code,
                        engine_message="call stack exhausted",
                    ) from None
        raise error

    def memory(self, name: str = "memory") -> Memory:
        encoded = _checks.text(name, "name").encode()
        native = lib.WasmEdge_ModuleInstanceFindMemory(self._ptr, lib.WasmEdge_StringWrap(encoded, len(encoded)))
        if native == ffi.NULL:
            raise ExportNotFoundError(f"{self.module.source} does not export a memory named {name!r}")
        return Memory(self, name, native)

    def call(self, name: str, *args: int | float) -> Any:
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
            state = self._host_state
            if state is not None and state.depth and not self._owned.closed:
                self._deferred_free = self._retain()
                state.close_requested = True
            super().close()
        self._functions.clear()

    def __repr__(self) -> str:
        return f"<Instance of {self.module.source} {'closed' if self.closed else 'open'}>"
