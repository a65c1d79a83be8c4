"""The child side of tests/fuzz/api_fuzz.py: executes an example's steps, one line of Python each, and
checks what they leave behind. Also what a saved reproducer imports::

    import sys; sys.path.insert(0, 'tests/fuzz')
    from api_fuzz_child import *
    setup()
    step('c1 = w.Config()')
    ...
    finish()

Steps run in NS, which holds the objects they create and these helpers: ``w`` (wasmedge_py),
``WASM``/``FILES`` (fixture bytes and paths), ``env(owner)``/``hostfn(owner)`` (the host module /
function ``host`` for the instance or plugin named ``owner``), ``host_script`` (owner -> the
actions its host function runs on its next call), ``kept`` (Callers kept past their call),
``late_caller(method, *args)`` (use ``kept[-1]`` after its call), ``refused(what, fn)`` (``fn()``
must refuse its arguments), ``bg(fn)``/``join(t)`` (background threads), ``toml(**values)`` (a
plugin.toml), ``nan``, ``inf``.
It does not import hypothesis: a child starts in about 0.2 s.
"""

from __future__ import annotations

import faulthandler
import gc
import importlib.util
import itertools
import json
import math
import os
import re
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# Fixture name -> file in the repo (WAT is compiled by tests/fuzz/fuzz.py's seed loader).
FIXTURES = {
    "pure": "tests/wat/unit_pure.wat",  # memory, every value type, a trap
    "spin": "tests/wat/hostile/runaway_loop.wat",  # process(i32) never returns
    "host": "tests/wat/api_fuzz_host.wat",  # imports env.host; spin_host calls it for ever
    "reactor": "tests/wat/fuzz/reactor.wat",  # start function and _initialize
    "abi": "cpp/plugin_abi.wasm",  # ABI v1 plugin with a lifecycle
    "upper": "plugins/upper/upper.wasm",  # ABI v2 plugin (C)
    "json": "plugins/json_stats/json_stats.wasm",  # ABI v2 plugin (C++), imports env.host_log
}

JOIN_SECONDS = 5.0  # a background call still running this long after it was joined: a hang
CANARY_TIMEOUT = 0.05  # finish(): a call with this timeout must stop an infinite loop ...
CANARY_SECONDS = 5.0  # ... within this long


def fuzz_module(stem: str):
    """tests/fuzz/STEM.py as module ``wasmedge_py_fuzz_STEM`` (the name tests/test_fuzz.py gives fuzz.py)."""
    name = f"wasmedge_py_fuzz_{stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / f"{stem}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


def build_fixtures(directory: Path) -> dict[str, Path]:
    """Write every fixture as ``directory/NAME.wasm``; raises SystemExit when plugins are unbuilt."""
    wat = [(rel, 1) for rel in FIXTURES.values() if rel.endswith(".wat")]
    seeds = {s.name: s.data for s in fuzz_module("fuzz").load_seeds(wat_seeds=wat, warn=False)}
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, rel in FIXTURES.items():
        if rel not in seeds:
            raise SystemExit(f"api_fuzz: fixture {rel} is missing")
        paths[name] = directory / f"{name}.wasm"
        paths[name].write_bytes(seeds[rel])
    return paths


NS: dict[str, Any] = {}
VIOLATIONS: list[dict[str, Any]] = []  # found by host functions, threads and finish(); sent with the next reply
THREADS: list[threading.Thread] = []
HOST_SCRIPT: dict[str, list[str]] = {}
KEPT: list[Any] = []
LIVE_CALLERS: set[int] = set()  # ids of the Callers whose host function is running
LIVE_HANDLES: dict[int, str] = {}  # token -> kind of each Handle's native object not yet freed
NATIVES: Counter = Counter()  # stores and executors created minus deleted
# Names of the objects steps make (the parent records an object even when making it failed; a
# step that names one that does not exist is skipped, not a finding).
OBJECT_NAME = re.compile(r"(c|m|i|f|mem|l|p|t)\d+")
_TRACE = {"on": True}  # a reproducer prints every step; the child answers its parent instead


def _outcome(exc: BaseException) -> dict[str, Any]:
    """What a step (or host action, or thread) raised, and whether the package documents it."""
    import wasmedge_py as w

    text = f"{type(exc).__name__}: {exc}"[:400]
    if isinstance(exc, w.WasmEdgeError):
        return {"ok": False, "exc": text, "documented": True}
    if isinstance(exc, NameError) and OBJECT_NAME.fullmatch(exc.name or ""):
        return {"ok": False, "exc": f"skipped: {exc.name} was not made", "documented": True}
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if f"{os.sep}wasmedge_py{os.sep}" in f.filename]
    where = f"{Path(inside[-1].filename).name}:{inside[-1].name}" if inside else ""
    return {
        "ok": False,
        "exc": text,
        "documented": False,
        "type": type(exc).__name__,
        "where": where,
        "traceback": "".join(traceback.format_exception(exc)[-6:])[-2000:],
    }


def _violation(src: str, outcome: dict[str, Any]) -> None:
    if not outcome.get("documented", True):
        VIOLATIONS.append({**outcome, "src": src})


def drain() -> list[dict[str, Any]]:
    found, VIOLATIONS[:] = VIOLATIONS[:], []
    return found


def _print_violations() -> None:
    for violation in drain():
        print(f"    !! {violation.get('src', 'finish')}: {violation['exc']}", flush=True)


def step(src: str) -> dict[str, Any]:
    """Execute one step in NS; returns ``{"ok": True}`` or what it raised (see _outcome)."""
    try:
        exec(compile(src, "<step>", "exec"), NS)  # noqa: S102 - the steps are the fuzzer's own
        outcome: dict[str, Any] = {"ok": True}
    except BaseException as exc:  # noqa: BLE001 - classified here
        outcome = _outcome(exc)
    if _TRACE["on"]:
        flag = "" if outcome.get("documented", True) else "   <-- NOT A WasmEdgeError"
        print(f"{src}\n    -> {'ok' if outcome['ok'] else outcome['exc']}{flag}", flush=True)
        _print_violations()
    return outcome


def hostfn(owner: str):
    """The host function ``host(i32) -> i32`` for ``owner``: runs the actions of
    ``host_script.pop(owner)`` (an action's exception is checked and swallowed, except that of
    ``raise ...``, which makes the call fail) and returns ``result`` (``x`` unless an action sets it)."""
    import wasmedge_py as w

    @w.host_function(["i32"], ["i32"], name="host")
    def host(caller, x):
        scope = {"caller": caller, "x": x, "result": x}
        LIVE_CALLERS.add(id(caller))
        try:
            for src in HOST_SCRIPT.pop(owner, ()):
                try:
                    exec(src, NS, scope)  # noqa: S102
                except BaseException as exc:
                    if src.startswith("raise "):
                        raise
                    _violation(f"in the host function of {owner}: {src}", _outcome(exc))
        finally:
            LIVE_CALLERS.discard(id(caller))
        return scope["result"]

    return host


def late_caller(method: str, *args: Any) -> None:
    """Use the last Caller kept past its call (``kept[-1]``, if any): it must raise ClosedError
    (or refuse its arguments); one that still reads or writes memory is a finding. Not judged while
    its host function still runs on another thread; asked twice, in case its call just ended."""
    import wasmedge_py as w

    if not KEPT:
        return
    caller = KEPT[-1]
    for _ in range(2):
        if id(caller) in LIVE_CALLERS:
            return
        try:
            getattr(caller, method)(*args)
        except (w.ClosedError, w.ArgumentError, w.ValueRangeError):
            return
        except w.WasmEdgeError as exc:
            outcome = f"raised {type(exc).__name__} ({exc})"
        else:
            outcome = "succeeded"
        time.sleep(0.05)
    VIOLATIONS.append(
        {"kind": "stale caller", "exc": f"Caller.{method} after its call {outcome} instead of raising ClosedError"}
    )


def refused(what: str, fn: Callable[[], Any]) -> Any:
    """``fn()`` passes a value the README says is refused (a timeout or fuel out of range, say): it
    must raise ArgumentError, ValueRangeError or ManifestError (or ClosedError: a closed object
    is refused first). Anything else, or nothing, is a finding. Returns what ``fn`` returns."""
    import wasmedge_py as w

    try:
        value = fn()
    except (w.ArgumentError, w.ValueRangeError, w.ManifestError, w.ClosedError):
        raise
    except w.WasmEdgeError as exc:
        VIOLATIONS.append({"kind": "accepted", "what": what, "exc": f"a refused {what} got past the checks: {exc!r}"})
        raise
    VIOLATIONS.append({"kind": "accepted", "what": what, "exc": f"a refused {what} was accepted"})
    return value


def env(owner: str):
    """The host module ``env`` holding ``hostfn(owner)``."""
    import wasmedge_py as w

    return w.HostModule("env", [hostfn(owner)])


def bg(fn: Callable[[], Any]) -> threading.Thread:
    """Run ``fn`` on a new thread; what it raises is checked like a step's."""

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001
            _violation(f"in background thread {thread.name}", _outcome(exc))

    thread = threading.Thread(target=run, daemon=True, name=f"bg{len(THREADS)}")
    THREADS.append(thread)
    thread.start()
    return thread


def join(thread: threading.Thread) -> None:
    thread.join(JOIN_SECONDS)
    if thread.is_alive():
        VIOLATIONS.append({"kind": "hang", "exc": f"a background call still runs {JOIN_SECONDS:g} s after join()"})


def toml(**values: str) -> str:
    """A plugin.toml holding ``key = value`` (values are raw TOML); returns its path."""
    fd, path = tempfile.mkstemp(prefix="api-fuzz-", suffix=".toml")
    with os.fdopen(fd, "w") as file:
        file.write("".join(f"{key} = {value}\n" for key, value in values.items()))
    return path


# The native calls _CountingLib counts: name -> (kind, +1 made or -1 deleted).
_COUNTED = {
    "WasmEdge_StoreCreate": ("stores", 1),
    "WasmEdge_StoreDelete": ("stores", -1),
    "WasmEdge_ExecutorCreate": ("executors", 1),
    "WasmEdge_ExecutorDelete": ("executors", -1),
}


class _CountingLib:
    """``lib`` for the modules that make stores and executors, counting those not yet deleted."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._lib, name)
        if name in _COUNTED:
            kind, delta = _COUNTED[name]
            native = value

            def value(*args: Any) -> Any:
                result = native(*args)
                NATIVES[kind] += delta
                return result

        setattr(self, name, value)  # looked up once
        return value


def _instrument() -> None:
    """Count native objects: each ``_Owned`` (the one ownership base, _handle.py) wraps its
    deleter, and the instance and executor modules call a ``lib`` that counts stores and
    executors. Test-only; ``setup`` checks that it sees an instance come and go."""
    from wasmedge_py import _ffi, _handle, executor, instance

    owned = _handle._Owned
    if getattr(owned, "_api_fuzz_counted", False):
        return
    original, tokens = owned.__init__, itertools.count()

    def init(self: Any, ptr: Any, delete: Callable[[Any], None]) -> None:
        token = next(tokens)
        LIVE_HANDLES[token] = getattr(delete, "__qualname__", None) or getattr(delete, "__name__", repr(delete))

        def counted(p: Any) -> None:
            delete(p)
            LIVE_HANDLES.pop(token, None)

        original(self, ptr, counted)

    owned.__init__ = init
    owned._api_fuzz_counted = True
    instance.lib = executor.lib = _CountingLib(_ffi.lib)


def setup(fixtures: str | os.PathLike[str] | None = None) -> None:
    """Prepare NS (building the fixtures when no directory is given) and the instrumentation."""
    import wasmedge_py as w

    if fixtures is None:
        files = build_fixtures(Path(tempfile.mkdtemp(prefix="api-fuzz-fixtures-")))
    else:
        files = {name: Path(fixtures) / f"{name}.wasm" for name in FIXTURES}
    _instrument()
    NS.clear()
    NS.update(
        w=w,
        gc=gc,
        time=time,
        nan=math.nan,
        inf=math.inf,
        bg=bg,
        join=join,
        env=env,
        hostfn=hostfn,
        toml=toml,
        late_caller=late_caller,
        refused=refused,
        host_script=HOST_SCRIPT,
        kept=KEPT,
        WASM={n: p.read_bytes() for n, p in files.items()},
        FILES={n: str(p) for n, p in files.items()},
    )
    with w.Config() as config, w.Module.from_bytes(NS["WASM"]["pure"], config) as module, w.Instance(module):
        seen = (len(LIVE_HANDLES), NATIVES["stores"])
    if seen != (3, 1) or LIVE_HANDLES or NATIVES["stores"]:
        raise RuntimeError(
            f"api_fuzz: the leak instrumentation does not work with this wasmedge_py (saw {seen} "
            f"handles/stores for one instance, {dict(NATIVES)} and {LIVE_HANDLES} left after it)"
        )
    NATIVES.clear()


def _canary() -> bool:
    """A fresh instance of the infinite loop, called with a short timeout, must stop: the watchdog
    survived whatever deadlines the steps gave it. False if it did not (the instance is then left)."""
    import wasmedge_py as w

    config = w.Config()
    module = w.Module.from_bytes(NS["WASM"]["spin"], config)
    instance = w.Instance(module)
    outcome: list[Any] = []

    def call() -> None:
        try:
            outcome.append(instance.function("process")(0, timeout=CANARY_TIMEOUT))
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(CANARY_SECONDS)
    if thread.is_alive():
        VIOLATIONS.append(
            {
                "kind": "hang",
                "exc": f"watchdog dead: a {CANARY_TIMEOUT * 1000:g} ms timeout did not stop "
                f"an infinite loop within {CANARY_SECONDS:g} s",
            }
        )
        return False
    if not isinstance(outcome[0], w.Interrupted):
        VIOLATIONS.append(
            {"kind": "canary", "exc": f"a timed-out infinite loop ended with {outcome[0]!r}, not Interrupted"}
        )
    for handle in (instance, module, config):
        handle.close()
    return True


def _close_all() -> None:
    """Close every object the steps made, then forget them (a function: no local outlives it)."""
    import wasmedge_py as w

    for name, value in list(NS.items()):
        if isinstance(value, (w.Plugin, w.Instance, w.Module, w.Config)):
            try:
                value.close()
            except BaseException as exc:  # noqa: BLE001
                _violation(f"finish: {name}.close()", _outcome(exc))
    NS.clear()


def finish() -> dict[str, Any]:
    """The end of an example: join the threads, the canary, close everything, collect, and return
    what is still allocated (``{"leaks": {kind: count}}``)."""
    from wasmedge_py._handle import free_collected

    deadline = time.monotonic() + JOIN_SECONDS
    for thread in THREADS:
        thread.join(max(0.0, deadline - time.monotonic()))
    running = [t.name for t in THREADS if t.is_alive()]
    leaks: dict[str, int] = {}
    if running:  # closing would wait for them
        VIOLATIONS.append({"kind": "hang", "exc": f"{len(running)} background call(s) still run at the end"})
    elif _canary():
        _close_all()
        KEPT.clear()
        HOST_SCRIPT.clear()
        THREADS.clear()
        for _ in range(3):  # a freed handle may release others: collect until it settles
            free_collected()
        leaks = {f"handle {kind}": n for kind, n in Counter(LIVE_HANDLES.values()).items()}
        leaks.update({kind: n for kind, n in NATIVES.items() if n})
    if _TRACE["on"]:
        print(f"finish: {'still allocated: ' + str(leaks) if leaks else 'nothing leaked'}", flush=True)
        _print_violations()
    return {"ok": True, "leaks": leaks}


def child_main(fixtures: str) -> int:
    """Answer the parent: one JSON request per line on stdin (``{"src": ...}`` or
    ``{"finish": true}``), one JSON reply per line on the original stdout."""
    import resource

    limit = fuzz_module("fuzz").CHILD_DATA_LIMIT_MB << 20  # a runaway allocation fails instead of eating the machine
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    faulthandler.enable(all_threads=True)
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything printed (or WasmEdge's own log) goes to stderr
    _TRACE["on"] = False
    setup(fixtures)
    replies.write("READY\n")
    replies.flush()
    for line in sys.stdin:
        request = json.loads(line)
        reply = finish() if request.get("finish") else step(request["src"])
        reply["violations"] = drain()
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1]))
