"""The example hosts print exactly what the original's examples print."""

from __future__ import annotations

import subprocess
import sys

import pytest

EXPECTED = {
    "simple.py": ["Result: 43"],
    "abi.py": [
        "Plugin ABI version: v1.0.0",
        "Plugin initialized successfully",
        "Result: 43",
        "Total process() calls: 1",
        "Plugin cleaned up successfully",
    ],
    "request.py": [
        "hello(21) = 43",
        "hello(1099511627776): refused before instantiating: input out of range: "
        "must be a 32-bit signed integer (-2147483648..2147483647)",
        "hello(-5): execute failed: process() returned error code -9: ABI_ERROR_UNKNOWN",
        "upper('wasm') = WASM",
    ],
    "runtime.py": [
        "Loaded plugin: plugin_abi.wasm",
        "Plugin initialized successfully",
        "Result: process(21) = 43",
        "Result: process(50) = 101",
        "Plugin cleaned up successfully",
    ],
}


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_output(built_plugins, script):
    done = subprocess.run(
        [sys.executable, str(built_plugins / "examples" / script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == EXPECTED[script]
    assert done.stderr == ""
