"""The simple plugin through the binding objects alone: load, instantiate, call ``process(21)``."""

import sys
from pathlib import Path

from wasmedge_py import Instance, Module

DEFAULT = Path(__file__).resolve().parent.parent / "cpp" / "plugin.wasm"


def main(path: str) -> None:
    with Module.from_file(path) as module, Instance(module) as instance:
        result = instance.function("process")(21)
    print(f"Result: {result}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT))
