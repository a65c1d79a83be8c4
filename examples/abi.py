"""The full ABI driven by hand through the binding objects: version check, init, process, cleanup."""

import sys
from pathlib import Path

from wasmedge_py import Instance, Module
from wasmedge_py.plugin import format_abi_version

ABI_MAJOR = 1  # this host drives the v1 contract: process(i32) -> i32
DEFAULT = Path(__file__).resolve().parent.parent / "cpp" / "plugin_abi.wasm"


def main(path: str) -> int:
    with Module.from_file(path) as module, Instance(module) as instance:
        version = instance.call("get_abi_version")
        print(f"Plugin ABI version: {format_abi_version(version)}")
        if version // 10000 != ABI_MAJOR:
            print(f"Unsupported ABI major version (this host speaks v{ABI_MAJOR})", file=sys.stderr)
            return 1
        if instance.call("init") != 0:
            print("init() failed", file=sys.stderr)
            return 1
        print("Plugin initialized successfully")
        result = instance.call("process", 21)
        if result < 0:
            print(f"process() returned error code {result}", file=sys.stderr)
            return 1
        print(f"Result: {result}")
        print(f"Total process() calls: {instance.call('get_call_count')}")
        if instance.call("cleanup") != 0:
            print("cleanup() failed", file=sys.stderr)
            return 1
        print("Plugin cleaned up successfully")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT)))
