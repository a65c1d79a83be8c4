"""Property-based fuzzer of the binding's public API: however carelessly a program drives it, a
sequence of calls ends without a crash, a hang, an exception that is not a ``WasmEdgeError``, or a
native object left allocated.

    .venv/bin/python tests/fuzz/api_fuzz.py [--seconds 120] [--examples N] [--steps 30] [--seed 1]
    .venv/bin/python build/api-fuzz-crashes/crash-XXXXXXXX.py   # a saved reproducer, run as is

A hypothesis ``RuleBasedStateMachine`` (``ApiMachine``) generates each sequence (an *example*)
step by step. A step is one line of Python, e.g. ``i3 = w.Instance(m1, fuel=-1)``, executed by a
fresh child process per example (tests/fuzz/api_fuzz_child.py, started ahead of time); so a crash
(segfault, abort) or a hang only costs that child, and the lines run so far are the reproducer.

What the steps do: ``Config``; ``Module.from_bytes``/``from_file`` of small fixtures (one imports
a host function, one has a memory, one loops for ever) with the sandbox, stack guard and wrong
data; ``Instance`` with fuel, WASI, host modules and an init timeout; ``Function`` calls with and
without timeouts (``None``, ``0``, ``-1``, ``nan``, ``inf``, ``1e10``, ``"x"``, ...) and wrong
arguments; ``Memory`` and a host function's ``Caller`` (also kept past its call), in and out of
range and of the wrong type; host functions whose scripted actions call back into their own
instance, close it (or its module, config or plugin) from inside, close it from another thread,
sleep or raise; ``PluginLimits`` and ``plugin.toml``, ``load_module``/``load_plugin`` and the
plugin lifecycle; calls and closes on background threads; ``close()`` of anything at any point,
and dropping the last reference. A call that could run for ever (the loop) is only made with a
short timeout or on an instance with a small fuel budget.

A *finding* is: the child dying (crash) or not answering within ``STEP_SECONDS`` (hang); an
exception that is not a ``WasmEdgeError`` from a step, a host function's action or a background
thread (the README: "every exception derives from WasmEdgeError"; ``ArgumentError`` is the
``TypeError`` and ``ValueRangeError`` the ``ValueError``); a ``Caller`` that still reads or writes
after its call instead of raising ``ClosedError``; and at the end of the example, after
joining its threads: a short timeout that no longer stops an infinite loop (the watchdog died),
or, once everything is closed and collected, a ``Handle`` whose native object was never freed or
a WasmEdge store or executor never deleted (counted by instrumenting ``_handle._Owned`` and the
``lib`` of the instance and executor modules; see api_fuzz_child.py).

The machine records findings instead of failing the example (threads make outcomes vary from run
to run, which hypothesis's replaying and shrinking do not tolerate); after the run each kind of
finding (its signature: crash and signal, exception type and function, leaked kinds) is
minimised by removing steps while a fresh child still reproduces it (delta debugging), and
reported as a runnable script. ``make fuzz`` runs this for a few minutes and saves the scripts
to ``--crash-dir``; tests/test_api_fuzz.py runs a short version in ``make test``. Exit status 1
if there was any finding.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import hypothesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

REPO = Path(__file__).resolve().parents[2]
_CHILD_SCRIPT = Path(__file__).resolve().parent / "api_fuzz_child.py"


def _load_child_runtime():
    """tests/fuzz/api_fuzz_child.py, named as its fuzz_module() would name it."""
    spec = importlib.util.spec_from_file_location("wasmedge_py_fuzz_api_fuzz_child", _CHILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


runtime = sys.modules.get("wasmedge_py_fuzz_api_fuzz_child") or _load_child_runtime()
FIXTURES = runtime.FIXTURES
SPINNING = {("spin", "process"), ("host", "spin_host")}  # (fixture, export) that never return
STEP_SECONDS = 10.0  # a step taking longer is a hang


# -- child processes ---------------------------------------------------------------------------


class ChildFailed(Exception):
    def __init__(self, kind: str, detail: str, stderr: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail, self.stderr = kind, detail, stderr


class Child:
    """One child process running the steps of one example."""

    def __init__(self, fixtures: Path, env: dict[str, str]) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by kill()
        self.proc = subprocess.Popen(
            [sys.executable, str(_CHILD_SCRIPT), str(fixtures)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=REPO,
            env=env,
        )
        self._buffer = b""
        self.ready = False

    def _line(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            wait = deadline - time.monotonic()
            if wait <= 0:
                self.proc.send_signal(signal.SIGABRT)  # faulthandler prints where every thread is
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                raise ChildFailed("hang", f"no answer within {timeout:g} s", self.stderr_tail())
            ready, _, _ = select.select([self.proc.stdout], [], [], wait)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    code = self.proc.wait()
                    detail = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
                    raise ChildFailed("crash", detail, self.stderr_tail())
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def wait_ready(self) -> None:
        """Raises RuntimeError if the child cannot start (a broken checkout, not a finding)."""
        if not self.ready:
            try:
                line = self._line(60.0)
            except ChildFailed as exc:
                raise RuntimeError(f"api_fuzz: the child process did not start: {exc}\n{exc.stderr}") from None
            if line != b"READY":
                raise RuntimeError(f"api_fuzz: unexpected first line from the child: {line[:200]!r}")
            self.ready = True

    def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The child's reply; raises ChildFailed on a crash or a hang."""
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # it died: the read below says how
        return json.loads(self._line(timeout))

    def stderr_tail(self, limit: int = 6000) -> str:
        self._stderr.seek(0)
        text = self._stderr.read()[-limit:].decode("utf-8", "replace")
        return re.sub(r"[^\n\t\x20-\U0010ffff]", "?", text)  # no NUL in a reproducer script

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._stderr.close()


def last_line(stderr: str) -> str:
    """The line of a child's stderr that says what killed it (tests/fuzz/fuzz.py's choice)."""
    return runtime.fuzz_module("fuzz")._last_line(stderr)


def _shape(src: str) -> str:
    """A step without its numbers (names, values), for signatures."""
    return re.sub(r"\d+", "N", src)[:100]


def _site(stderr: str) -> str | None:
    """Where in wasmedge_py the thread that crashed (or the main thread of a hung child) was, from
    faulthandler's dump: the innermost ``file.py:function`` of the package."""
    _, marker, block = stderr.rpartition("Current thread")
    found = re.search(r'File "[^"]*[/\\]wasmedge_py[/\\]([\w.]+)", line \d+ in (\S+)', block) if marker else None
    return f"{found[1]}:{found[2]}" if found else None


@dataclass
class Finding:
    kind: str  # crash, hang, undocumented, leak, canary, harness (an exception from the fuzzer's own code)
    signature: str  # what makes two findings the same bug
    detail: str
    steps: list[str] = field(default_factory=list)  # what the child ran, up to the finding
    notes: list[str] = field(default_factory=list)  # each step's outcome
    stderr: str = ""

    def script(self) -> str:
        """A runnable reproducer (run from the repo root)."""
        lines = "".join(f"step({src!r})  # {note}\n" for src, note in zip(self.steps, self.notes))
        return (
            f"# api_fuzz finding: {self.signature}\nimport sys; sys.path.insert(0, 'tests/fuzz')\n"
            f"from api_fuzz_child import *\nsetup()\n{lines}finish()\n"
        )

    def report(self) -> str:
        text = f"{self.signature}\n{self.detail}\n\nreproducer ({len(self.steps)} steps; run it from the repo root):\n{self.script()}"
        if self.stderr:
            text += f"\nchild stderr (tail):\n{self.stderr}"
        return text


class Session:
    """One fresh child running steps, and what they found."""

    def __init__(self, context: Context) -> None:
        self.step_seconds = context.step_seconds
        self.child: Child | None = context.child()
        self.steps: list[str] = []
        self.notes: list[str] = []
        self.findings: list[Finding] = []

    @property
    def alive(self) -> bool:
        return self.child is not None

    def run(self, src: str) -> None:
        """Run a step (nothing once the child is gone)."""
        if self.child is None:
            return
        self.steps.append(src)
        try:
            reply = self.child.request({"src": src}, timeout=self.step_seconds)
        except ChildFailed as failure:
            self.notes.append(f"{failure.kind}: {failure.detail}")
            self._lost(failure, f"in: {_shape(src)}")
            return
        self.notes.append(
            "ok"
            if reply["ok"]
            else reply["exc"].splitlines()[0][:120] + ("" if reply["documented"] else "  <-- NOT A WasmEdgeError")
        )
        self._check(reply, src)

    def finish(self) -> list[Finding]:
        """End the example (finish() in the child: the canary, closing, leaks); its findings."""
        if self.child is not None:
            try:
                reply = self.child.request(
                    {"finish": True}, timeout=self.step_seconds + runtime.JOIN_SECONDS + runtime.CANARY_SECONDS
                )
            except ChildFailed as failure:
                self._lost(failure, "in finish()")
            else:
                self._check(reply, None)
                if reply["leaks"]:
                    self._add(
                        "leak",
                        "leak: " + ", ".join(sorted(reply["leaks"])),
                        f"after closing everything and gc.collect(), still allocated: {reply['leaks']}",
                    )
            self.close()
        return self.findings

    def close(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child = None

    def _lost(self, failure: ChildFailed, where: str) -> None:
        self.child = None
        site = _site(failure.stderr)
        self._add(
            failure.kind,
            f"{failure.kind} ({failure.detail}) {f'in {site}' if site else where}",
            f"the child process {'died' if failure.kind == 'crash' else 'stopped answering'}: {failure.detail}; "
            f"{last_line(failure.stderr)}",
            failure.stderr,
        )

    def _check(self, reply: dict[str, Any], src: str | None) -> None:
        problems = list(reply.get("violations", ()))
        if src is not None and not reply["ok"] and not reply["documented"]:
            problems.insert(0, {**reply, "src": src})
        for problem in problems:
            kind = problem.get("kind", "undocumented")
            if kind == "undocumented":
                kind = "undocumented" if problem["where"] else "harness"  # not raised in wasmedge_py: the fuzzer's bug
                signature = f"{kind}: {problem['type']} from {problem['where'] or _shape(problem['src'])}"
            elif kind == "accepted":
                signature = f"accepted: a refused {problem['what']}"
            else:
                signature = f"{kind}: {problem['exc']}"
            self._add(
                kind,
                signature,
                f"in {problem.get('src') or 'finish()'}:\n{problem['exc']}\n{problem.get('traceback', '')}",
            )

    def _add(self, kind: str, signature: str, detail: str, stderr: str = "") -> None:
        self.findings.append(
            Finding(kind, re.sub(r"\d+", "N", signature)[:240], detail, list(self.steps), list(self.notes), stderr)
        )


class Context:
    """What all examples share: the fixtures, their exports, a child started ahead of time,
    counters, and the findings (for each signature, its smallest example)."""

    def __init__(self, workdir: Path, *, aot: bool = False, step_seconds: float = STEP_SECONDS) -> None:
        import wasmedge_py as w

        self.fixtures = workdir / "fixtures"
        self.aot = aot
        self.step_seconds = step_seconds
        self.env = {**os.environ, "WASMEDGE_PY_CACHE_DIR": str(workdir / "aot")}
        self.exports: dict[str, dict[str, list[str]]] = {}
        for name, path in runtime.build_fixtures(self.fixtures).items():
            with w.Module.from_file(path) as module:
                self.exports[name] = {
                    e.name: [str(p) for p in e.type.params] for e in module.exports if e.kind == "function"
                }
        self.examples = 0
        self.steps = 0
        self.replays = 0  # runs of recorded steps, to minimise findings
        self.occurrences: Counter = Counter()  # signature -> examples it happened in
        self.found: dict[str, Finding] = {}
        self._spare: Child | None = None

    def child(self) -> Child:
        """A ready child. One that cannot start (the package being edited or reinstalled under
        us) is retried a few times, as tests/fuzz/fuzz.py does, then RuntimeError: not a finding."""
        failures = 0
        while True:
            child = self._spare or Child(self.fixtures, self.env)
            self._spare = Child(self.fixtures, self.env)  # starts while this example runs
            try:
                child.wait_ready()
            except RuntimeError:
                child.kill()
                failures += 1
                if failures > 3:
                    raise
                time.sleep(2)
            else:
                return child

    def record(self, findings: list[Finding]) -> None:
        for finding in {f.signature: f for f in findings}.values():
            self.occurrences[finding.signature] += 1
            known = self.found.get(finding.signature)
            if known is None or len(finding.steps) < len(known.steps):
                self.found[finding.signature] = finding

    def close(self) -> None:
        if self._spare is not None:
            self._spare.kill()
            self._spare = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- the state machine -------------------------------------------------------------------------
#
# Values are Python source. Pools list ordinary values first; odd ones are drawn a quarter of the
# time, so that most objects get made and used, not only refused.

I32 = ["0", "1", "7", "-1", "65532", "2**31 - 1", "-(2**31)", "2**32 - 1"]
I64 = ["0", "-1", "2**63 - 1", "-(2**63)", "2**64 - 1"]
FLOATS = ["0.0", "1.5", "-0.0", "2", "nan", "inf", "-inf", "3.4e38", "5e-324"]
WRONG = ["None", "'1'", "1.5", "True", "2**64", "-(2**64)", "10**400", "nan", "b'1'", "[1]", "1j"]
VALUES = {"i32": I32, "i64": I64, "f32": FLOATS, "f64": FLOATS}
FINITE_TIMEOUTS = ["0.05", "0.001", "0.01", "0.1"]
ODD_TIMEOUTS = [
    "None",
    "0",
    "-1",
    "nan",
    "inf",
    "1e10",
    "'x'",
    "-0.0",
    "-inf",
    "1e300",
    "2**64",
    "10**400",
    "True",
    "b'1'",
    "[0.1]",
    "1j",
]
BOUNDED_FUEL = ["1000", "1", "10**5"]  # a call on an instance with one of these cannot run for ever
ODD_FUEL = ["0", "-1", "2**64", "2**63", "2**64 - 1", "1.5", "'x'", "nan", "True", "[1]"]
# What README's "What 0, None, inf and nan mean" says is refused (ArgumentError / ValueRangeError).
REFUSED_TIMEOUTS = set(ODD_TIMEOUTS) - {"None"}
REFUSED_FUEL = set(ODD_FUEL) - {"2**63"}
OFFSETS = ["0", "65532", "65535", "65536", "-1", "2**32 - 1", "2**32", "2**64", "'0'", "None", "1.0", "True"]
LENGTHS = ["4", "0", "16", "65536", "-1", "2**31", "2**32", "10**12", "None", "4.0", "True"]
DATA = [
    "b'abcd'",
    "b''",
    "bytes(70000)",
    "bytearray(b'xy')",
    "memoryview(b'xy')",
    "'text'",
    "None",
    "7",
    "2**40",
    "[1, 2]",
    "-1",
]
NAMES = [
    "'nope'",
    "None",
    "1",
    "''",
    "'memory'",
    "b'process'",
    "'\\x00'",
    "'\\udcff'",
    "'__wasmedge_py_start'",
    "'__wasmedge_py_stack_reset'",
]
TRUTHS = ["True", "False", "None", "1", "'yes'", "2**64"]
CONFIG_ARGS = {
    "max_memory_pages": ["16", "1", "2", "65536", "None", "0", "-1", "65537", "2**64", "'x'", "1.5", "True"],
    "cost_measuring": TRUTHS,
    "instruction_counting": TRUTHS,
    "force_interpreter": TRUTHS,
    "time_measuring": TRUTHS,
}
STACK_BYTES = ["None", "1 << 20", "16", "0", "-1", "2**64", "'x'", "1.5", "nan"]
BAD_MODULE_DATA = [
    "None",
    "b''",
    "b'\\0asm'",
    "'x'",
    "123",
    "bytearray(WASM['pure'])",
    "memoryview(WASM['pure'])",
    "WASM['pure'][:40]",
    "[0]",
    "WASM['pure'] + b'\\0'",
]
BAD_PATHS = [
    "'/nonexistent.wasm'",
    "None",
    "123",
    "'/'",
    "FILES['pure'].encode()",
    "'\\x00'",
    "FILES['pure'] + '\\x00'",
]
WASI = [
    "None",
    "w.Wasi()",
    "w.Wasi(preopens=('nocolon',))",
    "w.Wasi(preopens=('/:/nonexistent/dir',))",
    "w.Wasi(args=(1,))",
    "w.Wasi(env={'A': None})",
    "'x'",
]
PLUGIN_VALUES = ["21", "0", "-1", "2**31", "2**64", "'x'", "None", "1.5"]
PLUGIN_BYTES = [
    "b'hello'",
    "b''",
    "b'x' * 70000",
    "'text'",
    "None",
    "5",
    "bytearray(b'ab')",
    "memoryview(b'ab')",
    "2**40",
]
PLUGIN_JSON = [
    "{'values': [1, 2.5]}",
    "[]",
    "'s'",
    "nan",
    "{'x': nan}",
    "object()",
    "None",
    "2**70",
    "{1: 2}",
    "{'values': [1e308, 1e308]}",
]
LIMIT_ARGS = {
    "timeout_ms": [
        "50",
        "200",
        "None",
        "0",
        "-1",
        "1e10",
        "10000000000000",
        "2**64",
        "nan",
        "inf",
        "'x'",
        "1.5",
        "True",
    ],
    "fuel": ["None", "1000", "10**5", "0", "-1", "2**64", "'x'", "1.5"],
    "max_memory_pages": ["16", "1", "256", "0", "-1", "65537", "'x'"],
    "max_stack_bytes": ["None", "1 << 16", "0", "-1", "2**64", "'x'"],
    "max_output_bytes": ["1 << 20", "4", "0", "-1", "'x'"],
    "wasi": ["None", "w.Wasi()", "'x'"],
}
MANIFEST_VALUES = {
    "timeout_ms": ["100", "0", "-1", "1000", "10000000000000", "1e10", "inf", "nan", '"x"', "true"],
    "fuel": ["1000", "0", "-1", "9223372036854775807", "1.5"],
    "max_memory_pages": ["16", "0", "70000"],
    "max_stack_bytes": ["65536", "0", "-1"],
    "max_output_bytes": ["1024", "0"],
}
REFUSED_LIMITS = {"timeout_ms": set(LIMIT_ARGS["timeout_ms"][2:]) - {"None"}, "fuel": set(LIMIT_ARGS["fuel"][3:])}
REFUSED_MANIFEST = {
    "timeout_ms": set(MANIFEST_VALUES["timeout_ms"]) - {"100", "0", "1000"},
    "fuel": set(MANIFEST_VALUES["fuel"]) - {"1000", "0", "9223372036854775807"},
}
BOUNDED_TIMEOUT_MS = {"50", "100", "200"}  # the loop is called under these only (the default 1000 ms is slow)
PRELOAD = ["host", "pure", "spin", "reactor", "plugin:host", "plugin:abi", "plugin:upper", "plugin:json"]
FAST_LIMITS = "w.PluginLimits(timeout_ms=100, aot=False)"
HOST_RESULTS = ["None", "'x'", "2**40", "-(2**31)", "1.5", "(1, 2)", "nan", "2**32 - 1"]


def _kwargs(items: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in items.items())


def _refused(what: str, call: str) -> str:
    """``call`` (an expression) checked to refuse its arguments (see the child's ``refused``)."""
    return f"refused({what!r}, lambda: {call})"


class ApiMachine(RuleBasedStateMachine):
    """One example: steps run by one Session (see the module docstring)."""

    context: Context  # set by fuzz() before hypothesis makes machines

    def __init__(self) -> None:
        super().__init__()
        self.ctx = ApiMachine.context
        self.ctx.examples += 1
        self.session = Session(self.ctx)
        self.count = 0
        # name -> what the parent knows about the object
        self.configs: dict[str, dict] = {}
        self.modules: dict[str, dict] = {}
        self.instances: dict[str, dict] = {}
        self.functions: dict[str, dict] = {}
        self.memories: dict[str, dict] = {}
        self.limits: dict[str, dict] = {}
        self.plugins: dict[str, dict] = {}
        self.threads: list[str] = []
        self.mentioned: set[str] = set()  # names a thread or host function may still look up
        self.kept = False

    def _name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def _exec(self, src: str) -> None:
        """Run a step in the child (nothing once it has died). What is drawn next never depends on
        how a step ended (hypothesis requires draws to be a function of earlier draws): an object
        is recorded even if making it failed, and a step naming it is then skipped by the child."""
        self.ctx.steps += self.session.alive
        self.session.run(src)

    def teardown(self) -> None:
        self.ctx.record(self.session.finish())

    # -- drawing ----------------------------------------------------------------------------

    @staticmethod
    def _pick(data: st.DataObject, good: list[str], bad: list[str] = (), label: str = "") -> str:
        odd = bool(bad) and data.draw(st.integers(0, 3), label=f"odd {label}") == 3
        return data.draw(st.sampled_from(bad if odd else good), label=label)

    def _objects(self) -> list[str]:
        return sorted([*self.configs, *self.modules, *self.instances, *self.plugins])

    def _args(self, data: st.DataObject, params: list[str]) -> list[str]:
        args = [
            self._pick(data, VALUES.get(p, ["0"]), WRONG if data.draw(st.integers(0, 4), label="wrong") == 0 else [])
            for p in params
        ]
        if data.draw(st.integers(0, 9), label="arity") == 0:
            args = args[:-1] if args else ["0"]
        return args

    def _timeout(self, data: st.DataObject, finite: bool) -> list[str]:
        """A timeout argument (``timeout=...``, or none); ``finite`` for a call that could run for ever."""
        if finite:
            return [f"timeout={self._pick(data, FINITE_TIMEOUTS, label='timeout')}"]
        value = self._pick(data, ["None", *FINITE_TIMEOUTS], ODD_TIMEOUTS, label="timeout")
        return [] if value == "None" and data.draw(st.booleans(), label="omit") else [f"timeout={value}"]

    def _call(self, data: st.DataObject, function: str, params: list[str], spins: bool) -> str:
        timeout = self._timeout(data, spins)
        call = f"{function}({', '.join(self._args(data, params) + timeout)})"
        return (
            _refused("timeout", call) if timeout and timeout[0].removeprefix("timeout=") in REFUSED_TIMEOUTS else call
        )

    def _spins(self, fixture: str, export: str, bounded: bool) -> bool:
        return (fixture, export) in SPINNING and not bounded

    def _host_actions(self, data: st.DataObject, owner: str, related: list[str], plugin: bool) -> str:
        """What the host function does on its next call (see hostfn), as a list literal."""
        others = self._objects()
        related = [name for name in related if name in others]
        pool = [
            "kept.append(caller)",
            f"caller.read({self._pick(data, OFFSETS[:4], OFFSETS[4:])}, {self._pick(data, LENGTHS[:4], LENGTHS[4:])})",
            f"caller.write({self._pick(data, OFFSETS[:4], OFFSETS[4:])}, {self._pick(data, DATA[:3], DATA[3:])})",
            "time.sleep(0.01)",
            f"result = {data.draw(st.sampled_from(HOST_RESULTS))}",
            "raise RuntimeError('raised by the host function')",
            *[f"{name}.close()" for name in [owner, *related]],
            *[f"bg(lambda: {name}.close()); time.sleep(0.01)" for name in others],
        ]
        if plugin:
            pool += [f"{owner}.execute(1)", f"{owner}.call_count", f"{owner}.init()"]
        else:
            pool += [
                f"{owner}.function('process')(x)",
                f"{owner}.function('add')(1, 2)",
                f"{owner}.memory().read(0, 4)",
                f"{owner}.memory().write(0, b'hi')",
                f"{owner}.function('spin_host')(0, timeout=0.01)",
                f"{owner}.function({data.draw(st.sampled_from(NAMES))})",
            ]
        self.mentioned.update(others)
        actions = data.draw(st.lists(st.sampled_from(pool), max_size=4), label="host actions")
        self.kept = self.kept or "kept.append(caller)" in actions
        return "[" + ", ".join(repr(a) for a in actions) + "]"

    # -- rules: the binding objects ---------------------------------------------------------

    @initialize(data=st.data())
    def preload(self, data: st.DataObject) -> None:
        """Start from a few valid objects: sequences would otherwise spend most steps making them."""
        for item in data.draw(st.lists(st.sampled_from(PRELOAD), max_size=3, unique=True), label="preload"):
            fixture = item.removeprefix("plugin:")
            if item != fixture:
                name = self._name("p")
                hosts = f", host_functions=[hostfn({name!r})]" if fixture == "host" else ""
                self._exec(f"{name} = w.load_plugin(FILES[{fixture!r}], {FAST_LIMITS}{hosts})")
                self.plugins[name] = {"fixture": fixture, "bounded": True, "related": []}
                continue
            config, module, name = self._name("c"), self._name("m"), self._name("i")
            fuel = data.draw(st.sampled_from(["None", *BOUNDED_FUEL]), label="fuel")
            self._exec(f"{config} = w.Config(cost_measuring=True)")
            self._exec(f"{module} = w.Module.from_bytes(WASM[{fixture!r}], {config})")
            self._exec(f"{name} = w.Instance({module}, fuel={fuel}, host_modules=[env({name!r})])")
            self.configs[config] = {}
            self.modules[module] = {"fixture": fixture, "config": config}
            self.instances[name] = {"fixture": fixture, "bounded": fuel != "None", "related": [module, config]}

    @rule(data=st.data())
    def new_config(self, data: st.DataObject) -> None:
        kwargs = {
            key: self._pick(data, pool[:2], pool[2:], label=key)
            for key, pool in CONFIG_ARGS.items()
            if data.draw(st.booleans(), label=f"pass {key}")
        }
        name = self._name("c")
        self._exec(f"{name} = w.Config({_kwargs(kwargs)})")
        self.configs[name] = {}

    @rule(data=st.data())
    def new_module(self, data: st.DataObject) -> None:
        fixture = data.draw(st.sampled_from(list(FIXTURES)), label="fixture")
        how = data.draw(st.sampled_from(["from_bytes", "from_file", "bad data", "bad path"]), label="how")
        source = {
            "from_bytes": f"w.Module.from_bytes(WASM[{fixture!r}]",
            "from_file": f"w.Module.from_file(FILES[{fixture!r}]",
            "bad data": f"w.Module.from_bytes({data.draw(st.sampled_from(BAD_MODULE_DATA))}",
            "bad path": f"w.Module.from_file({data.draw(st.sampled_from(BAD_PATHS))}",
        }[how]
        config = self._pick(data, ["None", *sorted(self.configs)], ["'x'", "1", *sorted(self.modules)], label="config")
        options = {}
        if data.draw(st.booleans(), label="options"):
            options["sandbox"] = self._pick(data, ["True", "False"], ["None", "'x'"])
            options["max_stack_bytes"] = self._pick(data, STACK_BYTES[:2], STACK_BYTES[2:])
            options["validate"] = self._pick(data, ["True", "False"])
        name = self._name("m")
        self._exec(f"{name} = {source}, {config}{', ' if options else ''}{_kwargs(options)})")
        if how in ("from_bytes", "from_file"):
            self.modules[name] = {"fixture": fixture, "config": config if config in self.configs else None}

    @precondition(lambda self: self.modules)
    @rule(data=st.data())
    def new_instance(self, data: st.DataObject) -> None:
        module = self._pick(
            data, sorted(self.modules), ["None", "'x'", *sorted(self.configs), *sorted(self.instances)], label="module"
        )
        name = self._name("i")
        kwargs = {}
        config = self._pick(data, ["None", *sorted(self.configs)], ["'x'"], label="config")
        if config != "None":
            kwargs["config"] = config
        fuel = self._pick(data, ["None", *BOUNDED_FUEL], ODD_FUEL, label="fuel")
        if fuel != "None":
            kwargs["fuel"] = fuel
        hosts = self._pick(
            data,
            [f"[env({name!r})]"],
            [
                "()",
                "None",
                "'x'",
                "[None]",
                f"[env({name!r}), env({name!r})]",
                "[w.HostModule('env', [])]",
                f"[env({name!r}).functions[0]]",
            ],
        )
        kwargs["host_modules"] = hosts
        if data.draw(st.booleans(), label="more"):
            kwargs["wasi"] = self._pick(data, WASI[:2], WASI[2:])
            kwargs["run_initializer"] = self._pick(data, ["True", "False"], ["None", "'x'"])
            kwargs["init_timeout"] = self._pick(data, ["None", *FINITE_TIMEOUTS], ODD_TIMEOUTS)
        call = f"w.Instance({module}, {_kwargs(kwargs)})"
        if fuel in REFUSED_FUEL or kwargs.get("init_timeout") in REFUSED_TIMEOUTS:
            call = _refused("fuel or init_timeout", call)
        self._exec(f"{name} = {call}")
        if module in self.modules:
            meta = self.modules[module]
            self.instances[name] = {
                "fixture": meta["fixture"],
                "bounded": fuel in BOUNDED_FUEL,
                "related": [module] + [c for c in (config, meta["config"]) if c in self.configs],
            }

    @precondition(lambda self: self.instances)
    @rule(data=st.data())
    def get_function(self, data: st.DataObject) -> None:
        instance = data.draw(st.sampled_from(sorted(self.instances)), label="instance")
        meta = self.instances[instance]
        exports = sorted(self.ctx.exports[meta["fixture"]])
        export = self._pick(data, [repr(e) for e in exports] or ["'nope'"], NAMES, label="export")
        name = self._name("f")
        self._exec(f"{name} = {instance}.function({export})")
        if export.strip("'") in exports:
            self.functions[name] = {"instance": instance, "export": export.strip("'")}

    @precondition(lambda self: self.functions)
    @rule(data=st.data())
    def call_function(self, data: st.DataObject) -> None:
        function = data.draw(st.sampled_from(sorted(self.functions)), label="function")
        meta = self.functions[function]
        instance = self.instances.get(meta["instance"])
        if instance is None:  # dropped (the function keeps it alive)
            return
        params = self.ctx.exports[instance["fixture"]][meta["export"]]
        spins = self._spins(instance["fixture"], meta["export"], instance["bounded"])
        self._exec(self._call(data, function, params, spins))

    @precondition(lambda self: self.instances)
    @rule(data=st.data())
    def use_instance(self, data: st.DataObject) -> None:
        instance = data.draw(st.sampled_from(sorted(self.instances)), label="instance")
        meta = self.instances[instance]
        exports = self.ctx.exports[meta["fixture"]]
        callable_ = sorted(e for e in exports if not self._spins(meta["fixture"], e, meta["bounded"]))
        options = [
            f"{instance}.instruction_count",
            f"{instance}.total_cost",
            f"{instance}.exports",
            f"repr({instance})",
            f"{instance}.closed",
            f"{instance}.module.exports",
            f"{instance}.module.imports",
            f"{instance}.module.validate()",
            f"{instance}.call({data.draw(st.sampled_from(NAMES))})",
        ]
        if callable_:
            export = data.draw(st.sampled_from(callable_), label="export")
            options.append(f"{instance}.call({', '.join([repr(export), *self._args(data, exports[export])])})")
        self._exec(data.draw(st.sampled_from(options), label="use"))

    @precondition(lambda self: self.instances)
    @rule(data=st.data())
    def get_memory(self, data: st.DataObject) -> None:
        instance = data.draw(st.sampled_from(sorted(self.instances)), label="instance")
        memory_name = self._pick(data, [""], NAMES, label="name")
        name = self._name("mem")
        self._exec(f"{name} = {instance}.memory({memory_name})")
        if not memory_name:
            self.memories[name] = {"instance": instance}

    @precondition(lambda self: self.memories)
    @rule(data=st.data())
    def use_memory(self, data: st.DataObject) -> None:
        memory = data.draw(st.sampled_from(sorted(self.memories)), label="memory")
        offset = self._pick(data, OFFSETS[:4], OFFSETS[4:], label="offset")
        self._exec(
            data.draw(
                st.sampled_from(
                    [
                        f"{memory}.read({offset}, {self._pick(data, LENGTHS[:4], LENGTHS[4:], label='length')})",
                        f"{memory}.write({offset}, {self._pick(data, DATA[:3], DATA[3:], label='data')})",
                        f"{memory}.pages",
                        f"{memory}.size",
                    ]
                ),
                label="use",
            )
        )

    # -- rules: host functions and callers --------------------------------------------------

    def _host_owners(self) -> list[str]:
        return sorted(
            [n for n, m in self.instances.items() if m["fixture"] == "host"]
            + [n for n, m in self.plugins.items() if m["fixture"] == "host"]
        )

    @precondition(lambda self: self._host_owners())
    @rule(data=st.data())
    def call_host(self, data: st.DataObject) -> None:
        """A call that reaches the host function, with a script for it; on this thread or another."""
        owner = data.draw(st.sampled_from(self._host_owners()), label="owner")
        plugin = owner in self.plugins
        meta = (self.plugins if plugin else self.instances)[owner]
        actions = self._host_actions(data, owner, meta["related"], plugin)
        if plugin:
            call = f"{owner}.execute({self._pick(data, PLUGIN_VALUES[:2], PLUGIN_VALUES[2:], label='x')})"
        else:
            export = data.draw(st.sampled_from(["process", "spin_host"]), label="export")
            call = self._call(
                data, f"{owner}.function({export!r})", ["i32"], self._spins("host", export, meta["bounded"])
            )
        if data.draw(st.booleans(), label="in a thread"):
            thread = self._name("t")
            self._exec(f"host_script[{owner!r}] = {actions}; {thread} = bg(lambda: {call})")
            self.threads.append(thread)
        else:
            self._exec(f"host_script[{owner!r}] = {actions}; {call}")

    @precondition(lambda self: self.kept)
    @rule(data=st.data())
    def use_kept_caller(self, data: st.DataObject) -> None:
        """A Caller used after the call it was made for."""
        offset = self._pick(data, OFFSETS[:4], OFFSETS[4:], label="offset")
        use = data.draw(
            st.sampled_from(
                [
                    f"'read', {offset}, {self._pick(data, LENGTHS[:4], LENGTHS[4:], label='length')}",
                    f"'write', {offset}, {self._pick(data, DATA[:3], DATA[3:], label='data')}",
                ]
            )
        )
        self._exec(f"late_caller({use})")

    # -- rules: closing, dropping, threads --------------------------------------------------

    @precondition(lambda self: self._objects())
    @rule(data=st.data())
    def close_object(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(self._objects()), label="object")
        if data.draw(st.booleans(), label="in a thread"):
            thread = self._name("t")
            self.mentioned.add(target)
            self._exec(f"{thread} = bg(lambda: {target}.close())")
            self.threads.append(thread)
        else:
            self._exec(f"{target}.close()")

    @precondition(lambda self: set(self._objects()) - self.mentioned)
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        """The last reference goes (finalizers, and retained modules, then do the freeing)."""
        target = data.draw(st.sampled_from(sorted(set(self._objects()) - self.mentioned)), label="object")
        for table in (self.configs, self.modules, self.instances, self.plugins):
            table.pop(target, None)
        self._exec(f"del {target}; gc.collect()")

    @precondition(lambda self: self.functions or self.plugins)
    @rule(data=st.data())
    def call_in_thread(self, data: st.DataObject) -> None:
        """A call running on another thread while later steps go on (close it, call it, ...)."""
        target = data.draw(st.sampled_from(sorted([*self.functions, *self.plugins])), label="callee")
        if target in self.plugins:
            meta = self.plugins[target]
            if not meta["bounded"] and meta["fixture"] == "spin":
                return
            call = f"{target}.execute({self._pick(data, PLUGIN_VALUES[:2], PLUGIN_VALUES[2:])})"
        else:
            meta = self.functions[target]
            instance = self.instances.get(meta["instance"])
            if instance is None:
                return
            params = self.ctx.exports[instance["fixture"]][meta["export"]]
            spins = self._spins(instance["fixture"], meta["export"], instance["bounded"])
            call = self._call(data, target, params, spins)
        thread = self._name("t")
        self.mentioned.add(target)
        self._exec(f"{thread} = bg(lambda: {call})")
        self.threads.append(thread)

    @precondition(lambda self: self.threads)
    @rule(data=st.data())
    def join_thread(self, data: st.DataObject) -> None:
        thread = data.draw(st.sampled_from(self.threads), label="thread")
        self.threads.remove(thread)
        self._exec(f"join({thread})")

    # -- rules: the plugin runtime ----------------------------------------------------------

    @rule(data=st.data())
    def new_limits(self, data: st.DataObject) -> None:
        name = self._name("l")
        aot = "" if self.ctx.aot and data.draw(st.booleans(), label="aot") else "aot=False"
        if data.draw(st.booleans(), label="manifest"):
            values = {
                key: self._pick(data, pool[:1], pool[1:], label=key)
                for key, pool in MANIFEST_VALUES.items()
                if data.draw(st.booleans(), label=f"set {key}")
            }
            src = f"w.PluginLimits({aot}).with_manifest(toml({_kwargs({k: repr(v) for k, v in values.items()})}))"
            refuse = any(values.get(key) in refused for key, refused in REFUSED_MANIFEST.items())
            bounded = values.get("timeout_ms") in BOUNDED_TIMEOUT_MS or values.get("fuel") == "1000"
        else:
            values = {
                key: self._pick(data, pool[:2], pool[2:], label=key)
                for key, pool in LIMIT_ARGS.items()
                if data.draw(st.booleans(), label=f"pass {key}")
            }
            src = f"w.PluginLimits({', '.join(filter(None, [_kwargs(values), aot]))})"
            refuse = any(values.get(key) in refused for key, refused in REFUSED_LIMITS.items())
            bounded = values.get("timeout_ms") in BOUNDED_TIMEOUT_MS or values.get("fuel") in BOUNDED_FUEL
        self._exec(f"{name} = {_refused('timeout_ms or fuel', src) if refuse else src}")
        self.limits[name] = {"bounded": bounded}

    @rule(data=st.data())
    def new_plugin(self, data: st.DataObject) -> None:
        fixture = data.draw(st.sampled_from(list(FIXTURES)), label="fixture")
        limits = self._pick(
            data, sorted(self.limits) or [FAST_LIMITS], [FAST_LIMITS, "'x'", "1", *sorted(self.configs)], label="limits"
        )
        path = self._pick(data, [f"FILES[{fixture!r}]"], BAD_PATHS, label="path")
        if data.draw(st.booleans(), label="load_module"):
            name = self._name("m")
            self._exec(f"{name} = w.load_module({path}, {limits})")
            if path.startswith("FILES"):
                self.modules[name] = {"fixture": fixture, "config": None}
            return
        name = self._name("p")
        kwargs = {}
        if fixture == "host" or data.draw(st.integers(0, 4), label="host functions") == 0:
            kwargs["host_functions"] = self._pick(
                data,
                [f"[hostfn({name!r})]"],
                ["()", "None", "['x']", "[None]", f"[hostfn({name!r}), hostfn({name!r})]"],
            )
        if self.modules and data.draw(st.integers(0, 3), label="module=") == 0:
            kwargs["module"] = data.draw(st.sampled_from(sorted(self.modules)))
        bounded = self.limits.get(limits, {"bounded": limits == FAST_LIMITS})["bounded"]
        self._exec(f"{name} = w.load_plugin({path}, {', '.join(filter(None, [limits, _kwargs(kwargs)]))})")
        if path.startswith("FILES"):
            related = [m for m in (kwargs.get("module"),) if m]
            self.plugins[name] = {
                "fixture": self.modules[related[0]]["fixture"] if related else fixture,
                "bounded": bounded,
                "related": related,
            }

    @precondition(lambda self: self.plugins)
    @rule(data=st.data())
    def use_plugin(self, data: st.DataObject) -> None:
        plugin = data.draw(st.sampled_from(sorted(self.plugins)), label="plugin")
        meta = self.plugins[plugin]
        ops = [
            f"{plugin}.init()",
            f"{plugin}.cleanup()",
            f"{plugin}.call_count",
            f"{plugin}.is_initialized",
            f"{plugin}.abi_version",
            f"{plugin}.exports",
            f"repr({plugin})",
            f"{plugin}.call_bytes({self._pick(data, PLUGIN_BYTES[:2], PLUGIN_BYTES[2:], label='bytes')})",
            f"{plugin}.call_json({self._pick(data, PLUGIN_JSON[:3], PLUGIN_JSON[3:], label='json')})",
        ]
        if meta["bounded"] or meta["fixture"] != "spin":
            ops.append(f"{plugin}.execute({self._pick(data, PLUGIN_VALUES[:2], PLUGIN_VALUES[2:], label='x')})")


# -- running -----------------------------------------------------------------------------------


def reproduce(context: Context, steps: list[str]) -> list[Finding]:
    """Run ``steps`` in a fresh child (up to a crash) and finish; what was found."""
    session = Session(context)
    for src in steps:
        if not session.alive:
            break
        session.run(src)
    context.replays += 1
    return session.finish()


def minimize(context: Context, finding: Finding, seconds: float) -> Finding:
    """Drop steps (halves, then quarters, ..., then single steps) while a fresh child still finds
    the same signature; the smallest reproduction within ``seconds``. A finding that a second run
    of its own steps does not reproduce is returned as is, marked as timing-dependent."""
    deadline = time.monotonic() + seconds

    def same(steps: list[str]) -> Finding | None:
        return next((f for f in reproduce(context, steps) if f.signature == finding.signature), None)

    best = next(filter(None, (same(finding.steps) for _ in range(3))), None)  # a race may need a few tries
    if best is None:
        finding.detail += "\n(a second run of these steps did not reproduce it: timing-dependent)"
        return finding
    chunks = 2
    while len(best.steps) > 1 and time.monotonic() < deadline:
        steps = best.steps
        size = max(1, len(steps) // chunks)
        for start in range(0, len(steps), size):
            if time.monotonic() >= deadline:
                return best
            smaller = same(steps[:start] + steps[start + size :])
            if smaller is not None:
                best = smaller
                chunks = max(chunks - 1, 2)
                break
        else:
            if size == 1:
                break
            chunks = min(len(steps), chunks * 2)
    return best


def fuzz(
    context: Context, *, examples: int, steps: int, seed: int | None = None, minimize_seconds: float = 60.0
) -> list[Finding]:
    """Run ``examples`` examples of up to ``steps`` steps; returns the findings whose signature
    was not found before, minimised."""
    ApiMachine.context = context
    before = set(context.found)

    def machine() -> ApiMachine:
        return ApiMachine()

    if seed is not None:
        machine = hypothesis.seed(seed)(machine)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        ),
    )
    new = [signature for signature in context.found if signature not in before]
    for signature in new:
        context.found[signature] = minimize(context, context.found[signature], minimize_seconds)
    return [context.found[signature] for signature in new]


def _save(finding: Finding, crash_dir: Path) -> Path:
    crash_dir.mkdir(parents=True, exist_ok=True)
    path = crash_dir / f"{finding.kind}-{hashlib.sha1(finding.signature.encode()).hexdigest()[:8]}.py"
    text = finding.script() + "\n# " + finding.report().replace("\n", "\n# ") + "\n"
    path.write_text(text, encoding="utf-8", errors="backslashreplace")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=120.0, help="start no new batch of examples after this long")
    parser.add_argument("--examples", type=int, default=1_000_000, help="stop after this many examples")
    parser.add_argument("--steps", type=int, default=30, help="steps per example (at most)")
    parser.add_argument("--batch", type=int, default=50, help="examples per hypothesis run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minimize-seconds", type=float, default=60.0, help="time to minimise each new finding")
    parser.add_argument("--aot", action="store_true", help="also load plugins AOT-compiled (slow the first time)")
    parser.add_argument("--crash-dir", default="build/api-fuzz-crashes")
    parser.add_argument("--json", help="also write the results to this file as JSON")
    args = parser.parse_args(argv)
    crash_dir = Path(args.crash_dir) if Path(args.crash_dir).is_absolute() else REPO / args.crash_dir
    started = time.monotonic()
    rng = random.Random(args.seed)
    print(
        f"api_fuzz: {args.seconds:g} s (at most {args.examples} examples) of up to {args.steps} steps each, "
        f"seed {args.seed}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="api-fuzz-") as tmp, Context(Path(tmp), aot=args.aot) as ctx:
        while ctx.examples < args.examples and time.monotonic() - started < args.seconds:
            for finding in fuzz(
                ctx,
                examples=min(args.batch, args.examples - ctx.examples),
                steps=args.steps,
                seed=rng.getrandbits(32),
                minimize_seconds=args.minimize_seconds,
            ):
                path = _save(finding, crash_dir)
                print(
                    f"api_fuzz: FOUND {finding.signature} ({len(finding.steps)} steps)\n    reproducer: "
                    f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}",
                    flush=True,
                )
            print(
                f"api_fuzz: {ctx.examples} examples ({ctx.steps} steps), {time.monotonic() - started:.0f} s, "
                f"{len(ctx.found)} kinds of finding",
                flush=True,
            )
        elapsed = time.monotonic() - started
        crashes = sum(n for s, n in ctx.occurrences.items() if ctx.found[s].kind == "crash")
        print(
            f"\napi_fuzz summary: {ctx.examples} sequences ({ctx.steps} steps) in {elapsed:.0f} s, seed {args.seed}, "
            f"+{ctx.replays} replays to minimise; crashes: {crashes}; kinds of finding: {len(ctx.found)}"
        )
        for signature, count in sorted(ctx.occurrences.items(), key=lambda kv: -kv[1]):
            print(f"  {count:>5} x {signature}")
        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {
                        "examples": ctx.examples,
                        "steps": ctx.steps,
                        "replays": ctx.replays,
                        "seconds": round(elapsed, 1),
                        "seed": args.seed,
                        "crashes": crashes,
                        "findings": [
                            {"signature": s, "kind": f.kind, "examples": ctx.occurrences[s], "reproducer": f.script()}
                            for s, f in ctx.found.items()
                        ],
                    },
                    indent=1,
                )
            )
        return 1 if ctx.found else 0


if __name__ == "__main__":
    sys.exit(main())
