"""WASI: off unless asked for, and then with nothing from the host unless configured."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import _checks
from ._ffi import ffi, lib
from .errors import ArgumentError, InstantiationError, ValueRangeError

WASI_MODULE = "wasi_snapshot_preview1"


@dataclass(frozen=True)
class Wasi:
    """What a module may see through WASI. The defaults give it nothing: no arguments, no
    environment, no directories. ``preopens`` entries are ``"guest_path:host_path"``."""

    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    preopens: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _checks.sequence(self.args, "args", "str")
        if not isinstance(self.env, dict):
            raise ArgumentError(f"env must be a dict of str to str, not {type(self.env).__name__}")
        _checks.sequence(self.preopens, "preopens", "'guest:host' str")
        for arg in self.args:
            _checks.text(arg, "args item")
        for key, value in self.env.items():
            if "=" in _checks.text(key, "env name"):
                raise ValueRangeError(f"env name must not contain '=', got {key!r}")
            _checks.text(value, "env value")
        for preopen in self.preopens:
            if ":" not in _checks.text(preopen, "preopens item"):
                raise ValueRangeError(f"preopens item must be 'guest_path:host_path', got {preopen!r}")

    def create(self) -> Any:
        """A new native WASI module instance; the caller owns (and must delete) it."""
        keep = []  # the C strings must outlive the call

        def c_array(items: list[str]) -> Any:
            strings = [ffi.new("char[]", item.encode()) for item in items]
            keep.extend(strings)
            return ffi.new("char *[]", strings or [ffi.NULL]), len(strings)

        args, n_args = c_array(list(self.args))
        envs, n_envs = c_array([f"{k}={v}" for k, v in self.env.items()])
        dirs, n_dirs = c_array(list(self.preopens))
        native = lib.WasmEdge_ModuleInstanceCreateWASI(args, n_args, envs, n_envs, dirs, n_dirs)
        if native == ffi.NULL:
            raise InstantiationError("WasmEdge could not create the WASI module")
        return native
