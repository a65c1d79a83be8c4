"""One isolated request, as the HTTP service runs it: input checked against the plugin's ABI,
init -> process -> cleanup in a fresh instance, the failing step named in the error."""

import sys
from pathlib import Path

from wasmedge_py import PluginInputError, PluginStepError, load_module, run_plugin

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


def main() -> None:
    hello = PLUGINS / "hello" / "hello.wasm"
    with load_module(hello) as module:  # loaded once, as the service caches it
        for x in (21, 2**40, -5):
            try:
                print(f"hello({x}) = {run_plugin(hello, x, module=module)}")
            except PluginInputError as exc:
                print(f"hello({x}): refused before instantiating: {exc}")
            except PluginStepError as exc:
                print(f"hello({x}): {exc.step} failed: {exc.cause}")
    print(f"upper('wasm') = {run_plugin(PLUGINS / 'upper' / 'upper.wasm', 'wasm')}")


if __name__ == "__main__":
    sys.exit(main())
