"""Per-plugin configuration: the ``[config]`` table of a ``plugin.toml``, read by the plugin through
the host function ``env.config_get`` (ABI.md, "Configuration")::

    [config]
    greeting = "hi"
    endpoint = "https://example.com"

Keys and values are strings, within the limits below, so a plugin.toml cannot make the host hold
or copy much for it. A plugin that does not import ``env.config_get`` is never offered it.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from .errors import ValueRangeError
from .host import Caller, HostFunction
from .types import FuncType, ValType

MAX_CONFIG_KEYS = 64
MAX_CONFIG_KEY_BYTES = 128
MAX_CONFIG_VALUE_BYTES = 4096

# config_get's answer for a key the configuration does not have (a value's length is >= 0).
CONFIG_NOT_FOUND = -1

CONFIG_GET_NAME = "config_get"
_I32 = ValType.I32
CONFIG_GET_TYPE = FuncType((_I32, _I32, _I32, _I32), (_I32,))

EMPTY_CONFIG: Mapping[str, str] = MappingProxyType({})


def check_config(value: Any, name: str = "config") -> Mapping[str, str]:
    """``value`` as a read-only table of string keys and values, if it is one within the limits;
    ``ValueRangeError`` (a ``ValueError``, naming ``name``) otherwise."""
    if not isinstance(value, Mapping):
        raise ValueRangeError(f"{name} must be a table of strings")
    if len(value) > MAX_CONFIG_KEYS:
        raise ValueRangeError(f"{name} has {len(value)} keys, over the limit of {MAX_CONFIG_KEYS}")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ValueRangeError(f"{name} keys must be non-empty strings, got {key!r}")
        if not isinstance(item, str):
            raise ValueRangeError(f"{name}.{key} must be a string, got {type(item).__name__}")
        if len(key.encode("utf-8", "surrogatepass")) > MAX_CONFIG_KEY_BYTES:
            raise ValueRangeError(f"{name} key {key[:32]!r}... is over the limit of {MAX_CONFIG_KEY_BYTES} bytes")
        if len(item.encode("utf-8", "surrogatepass")) > MAX_CONFIG_VALUE_BYTES:
            raise ValueRangeError(f"{name}.{key} is over the limit of {MAX_CONFIG_VALUE_BYTES} bytes")
    return MappingProxyType(dict(value))


def config_host_function(config: Mapping[str, str]) -> HostFunction:
    """``env.config_get(key_ptr, key_len, buf_ptr, buf_cap) -> i32`` over ``config``: the value's
    length in bytes, its first ``min(length, buf_cap)`` bytes copied to ``buf_ptr`` (no NUL), or
    ``CONFIG_NOT_FOUND``. A key or buffer outside the plugin's memory traps the call."""
    encoded = {key.encode(): value.encode() for key, value in config.items()}

    def config_get(caller: Caller, key_ptr: int, key_len: int, buf_ptr: int, buf_cap: int) -> int:
        if key_len < 0 or key_len > MAX_CONFIG_KEY_BYTES:  # no key is longer: it cannot be found
            return CONFIG_NOT_FOUND
        value = encoded.get(caller.read(key_ptr, key_len))
        if value is None:
            return CONFIG_NOT_FOUND
        if buf_cap > 0 and value:
            caller.write(buf_ptr, value[:buf_cap])
        return len(value)

    return HostFunction(CONFIG_GET_NAME, CONFIG_GET_TYPE, config_get)
