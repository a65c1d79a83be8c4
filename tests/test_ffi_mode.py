"""API mode (the compiled extension) by default, ABI mode (ffi.dlopen) with WASMEDGE_LIB or when
the extension is missing or stale; both run the same calls with the same results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wasmedge_py import _ffi

REPO = Path(__file__).resolve().parent.parent
SYSTEM_LIBRARY = Path("/usr/lib/x86_64-linux-gnu/libwasmedge.so.0")

# Real calls in a fresh interpreter: the mode, process(21) of the example plugin through the plugin
# runtime, and the same export called directly on an Instance.
PROBE = """
import json, wasmedge_py as w
from wasmedge_py import _ffi
with w.load_plugin({plugin!r}) as plugin:
    plugin.init()
    result = plugin.execute(21)
with w.Module.from_file({plugin!r}) as module, w.Instance(module) as instance:
    instance.call("init")
    direct = instance.function("process")(21)
print(json.dumps({{"mode": _ffi.MODE, "why": _ffi.MODE_REASON, "result": result, "direct": direct}}))
"""


def _probe(built_plugins: Path, **env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k != "WASMEDGE_LIB"} | env
    code = PROBE.format(plugin=str(built_plugins / "cpp" / "plugin_abi.wasm"))
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif("WASMEDGE_LIB" in os.environ, reason="WASMEDGE_LIB selects ABI mode for this run")
def test_the_installed_package_uses_the_compiled_extension():
    assert _ffi.MODE == "api", _ffi.MODE_REASON
    assert type(_ffi.lib).__name__ == "Lib"  # cffi's compiled-module lib, not a dlopen'd library
    assert _ffi.lib.WPY_FINGERPRINT == _ffi.source_fingerprint()


@pytest.mark.slow
def test_wasmedge_lib_selects_abi_mode_with_the_same_results(built_plugins):
    assert SYSTEM_LIBRARY.exists(), "libwasmedge0 is not installed where Debian puts it"
    default = _probe(built_plugins)
    explicit = _probe(built_plugins, WASMEDGE_LIB=str(SYSTEM_LIBRARY))
    assert default["mode"] == "api"
    assert explicit["mode"] == "abi" and explicit["why"] == "WASMEDGE_LIB is set"
    assert default["result"] == explicit["result"] == 43
    assert default["direct"] == explicit["direct"] == 43


def test_a_bad_wasmedge_lib_names_itself(tmp_path):
    environment = dict(os.environ, WASMEDGE_LIB=str(tmp_path / "missing.so"))
    done = subprocess.run([sys.executable, "-c", "import wasmedge_py"], env=environment, capture_output=True, text=True)
    assert done.returncode != 0
    assert "cannot load the WasmEdge library from WASMEDGE_LIB=" in done.stderr
    assert "missing.so" in done.stderr


def test_a_stale_extension_falls_back_to_abi_mode_with_a_warning(monkeypatch):
    monkeypatch.setattr(_ffi, "source_fingerprint", lambda: -1)
    with pytest.warns(RuntimeWarning, match="built from other declarations"):
        compiled, why = _ffi._compiled()
    assert compiled is None and "reinstall" in why


@pytest.mark.slow
def test_both_modes_agree_on_every_value_type(wat, tmp_path):
    """The unit module's functions through the other mode give bit-identical results."""
    script = tmp_path / "values.py"
    script.write_text(
        "import json, math, struct, sys, wasmedge_py as w\n"
        "from wasmedge_py import _ffi\n"
        "out = {'mode': _ffi.MODE}\n"
        "with w.Module.from_file(sys.argv[1]) as m, w.Instance(m) as i:\n"
        "    out['add'] = [i.call('add_i32', a, b) for a, b in [(2, 3), (2**31 - 1, 1), (0xFFFFFFFF, 0)]]\n"
        "    out['neg'] = [i.call('neg_i64', x) for x in (2**63 - 1, -(2**63), 2**64 - 1)]\n"
        "    out['f32'] = struct.pack('<f', i.call('id_f32', -math.nan)).hex()\n"
        "    out['f64'] = [struct.pack('<d', i.call('half_f64', x)).hex() for x in (1.0, -0.0, math.inf)]\n"
        "    out['swap'] = list(i.call('swap', 7, 2.5))\n"
        "    out['nothing'] = i.call('nothing')\n"
        "print(json.dumps(out))\n"
    )
    module = str(wat("unit_pure"))
    runs = {}
    for name, extra in {"api": {}, "abi": {"WASMEDGE_LIB": str(SYSTEM_LIBRARY)}}.items():
        environment = {k: v for k, v in os.environ.items() if k != "WASMEDGE_LIB"} | extra
        done = subprocess.run([sys.executable, str(script), module], env=environment, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        runs[name] = json.loads(done.stdout)
    assert runs["api"].pop("mode") == "api" and runs["abi"].pop("mode") == "abi"
    assert runs["api"] == runs["abi"]
    assert runs["api"]["add"] == [5, -(2**31), -1]


def test_version_line_shows_the_mode():
    done = subprocess.run([sys.executable, "-m", "wasmedge_py.cli", "--version"], capture_output=True, text=True)
    assert done.returncode == 0
    assert f"{_ffi.MODE} mode" in done.stdout, done.stdout


# A Config only a collection can free (a reference cycle), collected while the thread holds the
# lock ABI-mode cffi takes to parse a type string (as when the collector interrupts ffi.new):
# its deleter casts to a type not parsed yet in this fresh interpreter, which takes that lock.
COLLECTED_DURING_A_PARSE = """
import gc, time, wasmedge_py as w
from wasmedge_py import _ffi
cycle = [w.Config()]
cycle.append(cycle)
owned = cycle[0]._owned
del cycle
with _ffi.ffi._lock:
    gc.collect()
deadline = time.monotonic() + 10
while owned.ptr is not None and time.monotonic() < deadline:
    time.sleep(0.01)
print(_ffi.MODE, owned.ptr is None)
"""


def test_a_collection_inside_an_abi_mode_type_parse_does_not_deadlock():
    """The fuzzer's ABI-mode hangs: a finalizer freeing on the collecting thread re-entered
    cffi's non-reentrant parser lock. Finalizers hand the freeing to the reaper thread."""
    environment = dict(os.environ, WASMEDGE_LIB=str(SYSTEM_LIBRARY))
    command = [sys.executable, "-c", COLLECTED_DURING_A_PARSE]
    try:
        done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the collection deadlocked in the Config's finalizer")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["abi", "True"]
