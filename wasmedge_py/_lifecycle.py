"""The one-call lifecycle: ``run_plugin``'s isolated request in one call into the extension.

``wpy_lifecycle_run`` (wasmedge_py/_native/lifecycle.c) instantiates the cached module, runs its
initializers, ``init``, ``process`` (v1) or the v2 exchange (alloc, copy in, ``process_bytes``,
dealloc, bounds-checked copy out, dealloc), ``cleanup``, and frees the instance, with the GIL
released once, instead of about fifteen Python-to-C calls and the Python objects around them.

It runs only the happy path. At the first turn it does not take itself (a trap, a timeout, an
error code, a buffer out of bounds, ...) it stops with the instance alive, and Python runs the
ordinary Python path (runtime._run) on that instance: the calls already made are *replayed* from
the C's journal (each replayed call's function is checked against the one the Python path makes),
the rest are made live. So every error, log line and callback comes from the one Python
implementation, and API mode and ABI mode (which always takes the Python path) behave alike.

The request is split into more calls only where Python must act between stages: ``on_step``
(before initialize, execute and cleanup), ``on_answer`` (before a ``cleanup`` export) and a
JSON answer's parsing (before cleanup: output that is not JSON fails the request without it).

Imports are made per request, as an Instance makes them: the WASI module when the limits link
WASI (its state -- file descriptors, preopens -- is the instance's own, so it is never reused) and
the ``env`` module (``host_log``, ``config_get``, the caller's host functions) when the module
imports env. The C deletes them with the instance, or hands them over with it. Python host
functions are cffi callbacks that take the GIL for their call. ``host_log``'s budget is per call
into the plugin: the C counts the calls it begins (``Calls``) and the log ends a call's budget
when a message comes from a later call, and after each run (``_CallLog``), so its lines and
"dropped" warnings come out as on the Python path.

Not taken (the Python path runs instead): ABI mode; a module importing from modules other than
``env`` and WASI, or WASI without the limits linking it; an ABI version only an instance can
tell; a fuel budget below a constant call's cost; a timeout on code that cannot be interrupted; a
module needing more memory than the limit (see ``plan_for``).
"""

from __future__ import annotations

import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from . import deadline, executor, strict_json
from ._calls import CallContext
from ._ffi import MODE, ffi, lib
from .host import HostCallState, HostFunction, HostModule, create_native
from .instance import Instance, _NativeParts
from .limits import PluginLimits
from .module import Module
from .plugin import (
    _CONSTANT_CALL_COST,
    Plugin,
    _identity,
    _module_facts,
    _PluginLog,
    env_modules,
    known_abi_major,
)
from .wasi import WASI_MODULE

NATIVE = MODE == "api" and hasattr(lib, "wpy_lifecycle_run")
if NATIVE:
    LOAD, INITIALIZE, EXECUTE, CLEANUP = lib.WPY_LC_LOAD, lib.WPY_LC_INITIALIZE, lib.WPY_LC_EXECUTE, lib.WPY_LC_CLEANUP
    OK, STOPPED = lib.WPY_LC_OK, lib.WPY_LC_STOPPED
_UNTIMED = -1.0


@dataclass(frozen=True)
class ModulePlan:
    """What the native lifecycle needs of one module, worked out once per Module."""

    major: int
    flags: int  # WPY_LC_* flags the module alone decides
    with_statistics: bool  # beside a fuel budget (Instance's rule)
    interruptible: bool
    initializers: Any  # WasmEdge_String[] of Module.initializers
    initializer_count: int
    imports: Any  # WasmEdge_ModuleInstanceContext *[]: the deadline check, if the code has them
    import_count: int
    buffers: tuple  # the initializers' names, pointed to by ``initializers``
    imports_env: bool  # the request links an env module (host_log, ...)
    imports_wasi: bool  # the module needs the limits to link WASI


_PLANS: weakref.WeakKeyDictionary[Module, ModulePlan | None] = weakref.WeakKeyDictionary()


def plan_for(module: Module) -> ModulePlan | None:
    """The module's plan, or None when its requests take the Python path whatever the limits."""
    try:
        return _PLANS[module]
    except KeyError:
        plan = _PLANS[module] = _make_plan(module)
        return plan


def _make_plan(module: Module) -> ModulePlan | None:
    major = known_abi_major(module)
    if major is None or module.memory_needed > module.config.max_memory_pages:
        return None
    if any(item.module not in ("env", WASI_MODULE) for item in module.imports):
        return None  # the Python path names the import nothing provides
    exports = _module_facts(module).exports
    if major == 1 and "process" not in exports:
        return None  # the Python path raises PluginABIError
    compiled = module.compiled_with
    flags = (lib.WPY_LC_V2 if major == 2 else 0) | (lib.WPY_LC_GUARDED if module.stack_slots else 0)
    flags |= (lib.WPY_LC_HAS_INIT if "init" in exports else 0) | (lib.WPY_LC_HAS_CLEANUP if "cleanup" in exports else 0)
    deadline_checks = compiled is not None and compiled.deadline_checks
    flags |= lib.WPY_LC_DEADLINE if deadline_checks else 0
    buffers = tuple(ffi.new("char[]", name.encode()) for name in module.initializers)
    initializers = ffi.new("WasmEdge_String[]", max(len(buffers), 1))
    for slot, buffer in zip(initializers, buffers):
        slot.Buf, slot.Length = buffer, len(buffer) - 1  # without the terminating NUL
    imports = ffi.new("WasmEdge_ModuleInstanceContext *[]", [deadline.module_instance()] if deadline_checks else 1)
    counting = compiled is not None and (compiled.cost_measuring or compiled.instruction_counting)
    return ModulePlan(
        major=major,
        flags=flags,
        with_statistics=bool(module.config.wants_statistics or counting),
        interruptible=compiled is None or compiled.interruptible,
        initializers=initializers,
        initializer_count=len(module.initializers),
        imports=imports,
        import_count=1 if deadline_checks else 0,
        buffers=buffers,
        imports_env=_module_facts(module).imports_env,
        imports_wasi=any(item.module == WASI_MODULE for item in module.imports),
    )


def takes(module: Module, limits: PluginLimits) -> ModulePlan | None:
    """The module's plan when a request under ``limits`` can run natively, else None."""
    plan = None if module.closed else plan_for(module)
    if plan is None or (plan.imports_wasi and limits.wasi is None):
        return None
    fuel = limits.fuel
    if fuel is not None and (fuel < _CONSTANT_CALL_COST or not module.config.cost_measuring):
        return None
    if limits.timeout is not None and not plan.interruptible:
        return None
    return plan


# ``python_path(open_plugin, on_step, on_answer)``: runtime._run with these, ``open_plugin`` None
# for a fresh instance (load_plugin) or the maker of the instance the native lifecycle handed over.
PythonPath = Callable[[Callable[[], Plugin] | None, Callable[[str], None], Any], Any]


class NativeRun:
    """One request's native lifecycle: the struct the C works on, the executor from the pool and
    the module and config retained (as an Instance retains them) until the end or a hand-over."""

    def __init__(
        self, path: str, module: Module, limits: PluginLimits, plan: ModulePlan, host_functions: Sequence[HostFunction]
    ) -> None:
        config = module.config
        fuel = limits.fuel
        self.plan = plan
        self.state = state = ffi.new("wpy_lifecycle *")
        self.releases = [module._retain()]
        self.executor: executor.Executor | None = None
        self.log: _CallLog | None = None
        self.host_state: HostCallState | None = None
        self.keep_alive: list[Any] = []  # the env functions' handles
        try:
            self.releases.append(config._retain())
            self.pool = executor.pool_for(config._ptr, plan.with_statistics or fuel is not None)
            self.executor = self.pool.take()
        except BaseException:
            self.close()
            raise
        self.fuel_used = 0
        state.Executor = self.executor.executor
        state.Statistics = self.executor.statistics
        state.Stop = self.executor.stop_handle
        self.data: Any = None  # a v2 input's buffer, while the C may read it
        state.Module = module._ptr
        if limits.wasi is not None or plan.imports_env:
            try:
                self._make_imports(path, module, limits, plan, host_functions)
            except BaseException:
                self.close()
                raise
        else:
            state.Imports, state.ImportLen = plan.imports, plan.import_count
        state.Initializers, state.InitializerLen = plan.initializers, plan.initializer_count
        timeout = limits.timeout
        state.Timeout = state.InitTimeout = _UNTIMED if timeout is None else timeout
        state.Flags = plan.flags | (lib.WPY_LC_FUEL if fuel is not None else 0)
        state.Fuel = fuel or 0
        state.MaxOutput = limits.max_output_bytes

    def _make_imports(
        self, path: str, module: Module, limits: PluginLimits, plan: ModulePlan, host_functions: Sequence[HostFunction]
    ) -> None:
        """The request's WASI and env modules, in the order Instance links them, then the deadline
        check; each is the C's to delete (``OwnedImportLen``) as soon as it is made."""
        state = self.state
        state.Imports = self.imports = ffi.new("WasmEdge_ModuleInstanceContext *[]", 3)
        if limits.wasi is not None:
            self._own(limits.wasi.create())
        if plan.imports_env:
            self.log = _CallLog(path, state)
            self.host_state = HostCallState()
            (env,) = env_modules(self.log, _module_facts(module), limits, host_functions)
            self._own(create_native(env, self.host_state, self.keep_alive))
        if plan.flags & lib.WPY_LC_DEADLINE:
            self.imports[state.ImportLen] = deadline.module_instance()
            state.ImportLen += 1

    def _own(self, native: Any) -> None:
        state = self.state
        self.imports[state.ImportLen] = native
        state.ImportLen = state.OwnedImportLen = state.ImportLen + 1

    def run(self, until: int) -> bool:
        """Run the stages through ``until``; False if the C stopped (the instance is alive)."""
        status = lib.wpy_lifecycle_run(self.state, until)
        if self.log is not None:  # the calls made are over: their budgets too
            self.log.end_call()
        if status == OK:
            return True
        if status == STOPPED:
            return False
        raise _NotInstantiated

    def output(self) -> bytes:
        """The v2 output the C copied out of the instance."""
        state = self.state
        return ffi.unpack(ffi.cast("char *", state.Output), state.OutputLen) if state.OutputLen else b""

    def hand_over(self) -> _AdoptedParts:
        """The instance, its store, the executor and the retained module and config, for an
        Instance to own from now on (the replay); this run then frees nothing of them."""
        state = self.state
        parts = _AdoptedParts(state.Store, state.Instance, self.pool, self.executor, self.releases, _journal(state))
        owned = [state.Imports[i] for i in range(state.OwnedImportLen)]
        parts.imports = (owned, self.host_state, self.keep_alive)
        self.fuel_used = state.FuelUsed
        state.Store = state.Instance = ffi.NULL
        state.OwnedImportLen = 0
        self.executor = None
        self.releases = []
        return parts

    def close(self) -> None:
        """Free what the run still holds (after success, a failure or a hand-over)."""
        lib.wpy_lifecycle_discard(self.state)
        lib.wpy_lifecycle_free_output(self.state)
        if self.executor is not None:
            self.pool.give(self.executor)
            self.executor = None
        for release in reversed(self.releases):
            release()
        self.releases = []


class _CallLog(_PluginLog):
    """The run's ``host_log``: the C makes several calls in one go, so a message from a later call
    than the last one's (the C's count of calls it began) first ends that call's budget."""

    __slots__ = ("state", "call")

    def __init__(self, path: str, state: Any) -> None:
        super().__init__(*_identity(path))
        self.state = state
        self.call = 0  # instantiation and the initializers: the budget Plugin ends after them

    def write(self, caller: Any, level: int, ptr: int, length: int) -> None:
        call = self.state.Calls
        if call != self.call:
            self.end_call()
            self.call = call
        super().write(caller, level, ptr, length)


class _NotInstantiated(Exception):
    """The C could not make the store, link the imports or instantiate: nothing ran."""


def _journal(state: Any) -> list[tuple[int, int, int, int]]:
    """The calls the C made: (function address, result code, return value's two words)."""
    entries = []
    for i in range(state.JournalLen):
        entry = state.Journal[i]
        words = entry.Return.Value.Words
        entries.append((int(ffi.cast("uintptr_t", entry.Function)), entry.Code, words[0], words[1]))
    return entries


class _Replay:
    """Stands in for an instance's invokes (CallContext.invoke_untimed / invoke_timed) until the
    calls the C made have been replayed: each returns the recorded result instead of calling again."""

    def __init__(self, journal: list[tuple[int, int, int, int]], calls: CallContext) -> None:
        self.entries = deque(journal)
        self.calls = calls
        self.untimed, self.timed = calls.invoke_untimed, calls.invoke_timed
        calls.invoke_untimed, calls.invoke_timed = self.replay_untimed, self.replay_timed

    def replay_untimed(self, context: Any) -> int:
        return self._next(context) if self.entries else self.untimed(context)

    def replay_timed(self, context: Any, timeout: float) -> int:
        return self._next(context) if self.entries else self.timed(context, timeout)

    def _next(self, context: Any) -> int:
        function, code, low, high = self.entries.popleft()
        if not self.entries:  # later calls (and Functions bound from now on) go straight to the engine
            self.calls.invoke_untimed, self.calls.invoke_timed = self.untimed, self.timed
        if function != int(ffi.cast("uintptr_t", context.Function)):
            raise RuntimeError(
                "wasmedge_py internal error: the native lifecycle's replay diverged from the Python path"
            )
        if context.ReturnLen:
            words = context.Returns[0].Value.Words
            words[0], words[1] = low, high
        return code


class _AdoptedParts(_NativeParts):
    """An instance's native objects made by the C lifecycle: taken over instead of made."""

    def __init__(self, store: Any, native: Any, pool: Any, pooled: Any, releases: list, journal: list) -> None:
        super().__init__()
        self.adopted = (store, native, pool, pooled, releases)
        self.journal = journal
        self.imports: tuple[list, HostCallState | None, list] = ([], None, [])  # NativeRun's owned, host state, handles

    def retain(self, module: Module, config: Any) -> None:
        self.releases.extend(self.adopted[4])  # retained by NativeRun already

    def create_store_and_executor(self, config: Any, with_statistics: bool) -> executor.Executor:
        self.store, _, self.pool, self.executor, _ = self.adopted
        return self.executor  # type: ignore[return-value]  # always set

    def host_call_state(self) -> tuple[HostCallState, list[Any]]:
        _, state, keep_alive = self.imports
        assert state is not None  # an instance links host functions only if the run made them
        return state, keep_alive

    def link_imports(self, *args: Any) -> None:
        self.natives.extend(self.imports[0])  # registered by the C (the deadline check is never freed)

    def instantiate(self, module: Module) -> Any:
        native = self.adopted[1]
        self.natives.insert(0, native)
        return native


class _AdoptedInstance(Instance):
    """An Instance over the native objects the C lifecycle made, replaying the calls it made."""

    def __init__(self, parts: _AdoptedParts, module: Module, **options: Any) -> None:
        self._adopted_parts = parts
        super().__init__(module, **options)

    def _new_parts(self) -> _NativeParts:
        return self._adopted_parts

    def _run_initializers(self, run_initializer: bool, init_timeout: float | None) -> None:
        _Replay(self._adopted_parts.journal, self._calls)
        super()._run_initializers(run_initializer, init_timeout)


class _AdoptedPlugin(Plugin):
    """A Plugin over the instance the C lifecycle handed over (see the module's doc)."""

    def __init__(
        self, run: NativeRun, path: str, module: Module, limits: PluginLimits, host_functions: Sequence[HostFunction]
    ) -> None:
        self._native_run = run
        self._parts = run.hand_over()
        super().__init__(path, module, limits, host_functions=host_functions)
        if self._fuel_used is not None:  # what the replayed calls used (the replay adds nothing)
            self._fuel_used += run.fuel_used

    def _new_log(self) -> _PluginLog:
        assert self._native_run.log is not None  # a Plugin makes a log only for a module importing env
        return self._native_run.log

    def _new_instance(self, module: Module, limits: PluginLimits, host_modules: list[HostModule]) -> Instance:
        return _AdoptedInstance(
            self._parts,
            module,
            fuel=limits.fuel,
            wasi=limits.wasi,
            host_modules=host_modules,
            init_timeout=limits.timeout,
        )


class _Reported:
    """The callbacks of a replayed run: those the native run has made already are not made again."""

    def __init__(self, on_step: Callable[[str], None], on_answer: Any) -> None:
        self.on_step, self.on_answer = on_step, on_answer
        self.steps = 0
        self.answered = False

    def step(self, name: str) -> None:
        self.steps += 1
        self.on_step(name)

    def answer(self, output: Any, error: BaseException | None) -> None:
        self.answered = True
        self.on_answer(output, error)

    def replayed(self) -> tuple[Callable[[str], None], Any]:
        skip = self.steps

        def step(name: str) -> None:
            nonlocal skip
            if skip:
                skip -= 1
            else:
                self.on_step(name)

        return step, None if self.answered else self.on_answer


def run(
    path: str,
    module: Module,
    limits: PluginLimits,
    plan: ModulePlan,
    kind: str,
    payload: Any,
    on_step: Callable[[str], None] | None,
    on_answer: Any,
    usage: Any,
    python_path: PythonPath,
    host_functions: Sequence[HostFunction] = (),
) -> Any:
    """The request's answer. ``kind`` and ``payload`` are runtime.checked_input's; ``usage`` (a
    RunUsage or None) gets the fuel used when the run ends here (the Python path fills it else)."""
    try:
        native = NativeRun(path, module, limits, plan, host_functions)
    except Exception:  # e.g. a module closed meanwhile: the Python path raises what it raises
        return python_path(None, on_step or _ignore, on_answer)
    state = native.state
    if kind == "process":
        state.Input = payload
    else:
        native.data = payload if kind == "bytes" else payload[1]
        state.Data, state.DataLen = ffi.from_buffer(native.data), len(native.data)
    reported = _Reported(on_step or _ignore, on_answer)
    try:
        try:
            output = _stages(native, kind, on_step, on_answer, bool(plan.flags & lib.WPY_LC_HAS_CLEANUP), reported)
        except _NotInstantiated:  # nothing ran: the Python path from the start says why
            native.close()
            return python_path(None, on_step or _ignore, on_answer)
        if output is _STOPPED:
            step, answer = reported.replayed()
            return python_path(lambda: _AdoptedPlugin(native, path, module, limits, host_functions), step, answer)
        if usage is not None:
            usage.fuel_used = None if limits.fuel is None else state.FuelUsed
        return output
    finally:
        native.close()


_STOPPED = object()


def _stages(
    native: NativeRun,
    kind: str,
    on_step: Callable[[str], None] | None,
    on_answer: Any,
    has_cleanup: bool,
    reported: _Reported,
) -> Any:
    """Run the stages, in as few calls as the callbacks allow; the answer, or _STOPPED."""
    if on_step is not None:
        for stage, name in ((LOAD, "initialize"), (INITIALIZE, "execute")):
            if not native.run(stage):
                return _STOPPED
            reported.step(name)
    pause = on_step is not None or kind == "json" or (on_answer is not None and has_cleanup)
    if not native.run(EXECUTE if pause else CLEANUP):
        return _STOPPED
    output = native.state.Result if kind == "process" else native.output()
    if kind == "json":
        try:
            output = strict_json.loads(output)
        except Exception:  # not JSON: the Python path raises it, without a cleanup
            return _STOPPED
    if pause:
        if on_answer is not None and has_cleanup:
            reported.answer(output, None)
        if on_step is not None:
            reported.step("cleanup")
        if not native.run(CLEANUP):
            return _STOPPED
    return output


def _ignore(step: str) -> None:
    pass
