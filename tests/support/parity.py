"""Helpers for the parity tests (tests/parity/test_parity.py): tool lookup, running the two
command lines, and calling the binding with the CLI's argument text."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pytest

from wasmedge_py import Instance, Module, ValType, textvalues
from wasmedge_py.textvalues import format_value

SUBPROCESS_TIMEOUT = 60


class Tool:
    """A command looked up on PATH once. ``path`` fails the calling test when it is missing."""

    def __init__(self, command: str, label: str) -> None:
        self.command = command
        self.label = label
        self._path = shutil.which(command)

    @property
    def path(self) -> str:
        if self._path is None:
            pytest.fail(f"{self.label} not found: run `make setup`", pytrace=False)
        return self._path


def wasmedge_py_command() -> list[str]:
    """The installed console script next to this interpreter, else the module itself."""
    script = Path(sys.executable).with_name("wasmedge-py")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "wasmedge_py.cli"]


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


def run_command(command: Sequence[str], env: Mapping[str, str] | None = None) -> Run:
    done = subprocess.run(list(command), capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, env=env)
    return Run(done.returncode, done.stdout, done.stderr)


def bytecode_cached_env(cache_dir: Path) -> dict[str, str]:
    """The environment for the ``wasmedge-py`` processes, with Python's bytecode cache kept in
    ``cache_dir`` even where PYTHONDONTWRITEBYTECODE is set: hundreds of short-lived interpreters
    would otherwise each compile the package from source (about a fifth of their start-up)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache_dir)
    return env


def cli_command(wasmedge: str, path: Path, function: str, args: Sequence[str]) -> list[str]:
    return [wasmedge, "--reactor", str(path), function, *args]


def py_command(path: Path, function: str, args: Sequence[str]) -> list[str]:
    return [*wasmedge_py_command(), "run", str(path), function, *args]


def parse_argument(text: str, valtype: ValType) -> int | float:
    """Argument text -> Python value, as the CLI reads it (one rounding for f32, hex included);
    the product's own parser, checked here against the real CLI on every case."""
    return textvalues.parse_argument(text, valtype, 0)


class Binding:
    """Calls through the Python API: one validated Module per file for the session, a fresh
    Instance per call (the CLI instantiates afresh every time too)."""

    def __init__(self) -> None:
        self._modules: dict[Path, Module] = {}

    def lines(self, path: Path, function_name: str, args: Sequence[str]) -> list[str]:
        """The printed results; WebAssembly traps propagate as ``wasmedge_py.TrapError``."""
        module = self._modules.get(path)
        if module is None:
            module = self._modules[path] = Module.from_file(path)
        with Instance(module) as instance:
            function = instance.function(function_name)
            params, results = function.signature.params, function.signature.results
            assert len(args) == len(params), f"{function_name}{function.signature} called with {args}"
            result = function(*(parse_argument(text, valtype) for text, valtype in zip(args, params)))
        values = [] if not results else [result] if len(results) == 1 else list(result)
        assert len(values) == len(results)
        return [format_value(value, valtype) for value, valtype in zip(values, results)]

    def close(self) -> None:
        for module in self._modules.values():
            module.close()
        self._modules.clear()
