"""For ``make bench``'s http rows: the service with the plugin's own work taken out, to split the
gap between /run and a bare aiohttp handler into "the service around a run" (middleware, metrics,
registry lookup, the hop to a worker thread and back) and "the run" (instantiate, init, process,
cleanup, free). Every request still looks the plugin up and crosses to a worker thread, then
answers 43 without touching WebAssembly: the native path (wasmedge_py/native_workers.py) is
switched off, so this row is what a Python thread hop per request costs by itself.

    python bench/http_no_plugin.py --port PORT --plugins plugins
"""

from __future__ import annotations

import sys
from typing import Any

import server.runner
from server.__main__ import main


def _no_run(*args: Any, **kwargs: Any) -> Any:
    """In place of ``wasmedge_py.run_plugin``: the module is leased, no instance is made."""
    return 43


if __name__ == "__main__":
    server.runner.run_plugin = _no_run
    server.runner.native_workers.native_request = lambda *args, **kwargs: None
    sys.exit(main(sys.argv[1:]))
