"""The recommended way: the plugin runtime hides WasmEdge and raises typed errors."""

import sys
from pathlib import Path

from wasmedge_py import load_plugin

DEFAULT = Path(__file__).resolve().parent.parent / "cpp" / "plugin_abi.wasm"


def main(path: str) -> None:
    with load_plugin(path) as plugin:
        print(f"Loaded plugin: {Path(plugin.path).name}")
        plugin.init()
        print("Plugin initialized successfully")
        for x in (21, 50):
            print(f"Result: process({x}) = {plugin.execute(x)}")
        plugin.cleanup()
        print("Plugin cleaned up successfully")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT))
