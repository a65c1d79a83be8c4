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
