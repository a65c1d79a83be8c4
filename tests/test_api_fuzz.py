"""The API fuzzer (tests/fuzz/api_fuzz.py): random sequences of the public API, each run by a child
process, end without a crash, a hang, an exception that is not a WasmEdgeError, or a native object
left allocated. `make fuzz` runs it for minutes; here a short run, and checks that the harness
itself sees each kind of finding, minimises it, and writes a reproducer that runs on its own."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # processes, compiles or long property runs: `make test-fast` skips them

REPO = Path(__file__).resolve().parent.parent


def _load_api_fuzz():
    spec = importlib.util.spec_from_file_location("wasmedge_py_fuzz_api_fuzz", REPO / "tests" / "fuzz" / "api_fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


api_fuzz = _load_api_fuzz()


@pytest.fixture(scope="module")
def context(built_plugins, tmp_path_factory):
    with api_fuzz.Context(tmp_path_factory.mktemp("api-fuzz")) as ctx:
        yield ctx


@pytest.fixture(scope="module")
def quick(built_plugins, tmp_path_factory):
    """For the harness checks: a step taking 2 s is a hang."""
    with api_fuzz.Context(tmp_path_factory.mktemp("api-fuzz-harness"), step_seconds=2) as ctx:
        yield ctx


def test_random_api_sequences_find_nothing(context):
    findings = api_fuzz.fuzz(context, examples=40, steps=20, minimize_seconds=60)
    assert not findings, "\n\n".join(f.report() for f in findings)
    assert context.examples >= 40 and context.steps >= 40 * 5, (context.examples, context.steps)


# -- the harness sees what it is there to see --------------------------------------------------

HOST_INSTANCE = [
    "c1 = w.Config()",
    "m2 = w.Module.from_bytes(WASM['host'], c1)",
    "i3 = w.Instance(m2, host_modules=[env('i3')])",
]
RAISES_INSIDE = "exec(compile('1 / 0', '/wasmedge_py/boom.py', 'exec'))"  # as if the package raised ZeroDivisionError


@pytest.mark.parametrize(
    "steps, kind, signature",
    [
        (["import ctypes", "ctypes.string_at(0)"], "crash", "SIGSEGV"),
        (["time.sleep(10)"], "hang", "no answer"),
        ([RAISES_INSIDE], "undocumented", "ZeroDivisionError from boom.py"),
        ([f"t1 = bg(lambda: {RAISES_INSIDE})", "join(t1)"], "undocumented", "ZeroDivisionError from boom.py"),
        (
            [*HOST_INSTANCE, f"host_script['i3'] = [{RAISES_INSIDE!r}]; i3.function('process')(1)"],
            "undocumented",
            "ZeroDivisionError from boom.py",
        ),
        (["import builtins; builtins.hidden = w.Config()"], "leak", "handle Config"),
        (["undefined_helper()"], "harness", "NameError"),
        (
            [
                "kept.append(type('Forever', (), {'read': lambda self, offset, length: b''})())",
                "late_caller('read', 0, 4)",
            ],
            "stale caller",
            "Caller.read after its call succeeded",
        ),
        (
            [
                "import sys; sys.modules['__main__'].CANARY_SECONDS = 1",  # the watchdog can no longer stop anything
                # timed calls on new instances run untimed: no watchdog (C or Python) ever sees them
                "from wasmedge_py import _calls; _calls.invoke_timed = lambda context, seconds: _calls.invoke(context)",
            ],
            "hang",
            "watchdog dead",
        ),
    ],
    ids=[
        "crash",
        "hang",
        "exception",
        "exception-in-thread",
        "exception-in-host-function",
        "leak",
        "harness-bug",
        "stale-caller",
        "watchdog",
    ],
)
def test_harness_finds(quick, steps, kind, signature):
    findings = api_fuzz.reproduce(quick, steps)
    assert [f.kind for f in findings] == [kind], "\n\n".join(f.report() for f in findings)
    assert signature in findings[0].signature


def test_harness_finds_nothing_in_documented_errors_and_skips_objects_never_made(quick):
    steps = [
        *HOST_INSTANCE,
        "host_script['i3'] = ['kept.append(caller)']; i3.function('process')(1)",
        "late_caller('write', 0, b'x')",
        "i3.close()",
        "i3.function('process')(1)",
        "m7.close()",
    ]
    assert api_fuzz.reproduce(quick, steps) == []


def test_a_finding_is_minimised_to_a_script_that_reproduces_it(quick):
    noise = [
        "c1 = w.Config()",
        "m2 = w.Module.from_bytes(WASM['pure'], c1)",
        "i3 = w.Instance(m2)",
        "i3.function('add_i32')(1, 2)",
    ]
    [finding] = api_fuzz.reproduce(quick, [*noise, "import ctypes", "i3.close()", "ctypes.string_at(0)", "c1.close()"])
    smallest = api_fuzz.minimize(quick, finding, seconds=60)
    assert smallest.steps == ["import ctypes", "ctypes.string_at(0)"]
    done = subprocess.run(
        [sys.executable, "-c", smallest.script()], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode < 0, done.stdout + done.stderr  # killed by the signal, as in the child
