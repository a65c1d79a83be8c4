"""For ``make bench``'s http rows: the service with the plugin's own work taken out, to split the
gap between /run and a bare aiohttp handler into "the service around a run" (middleware, metrics,
registry lookup, the hop to a worker thread and back) and "the run" (instantiate, init, process,
cleanup, free). Every request still looks the plugin up and crosses to a worker thread, then
answers 43 without touching WebAssembly.

    python bench/http_no_plugin.py --port PORT --plugins plugins
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from server.__main__ import main
from server.executor import PluginRunner


def _no_run(self: PluginRunner, start_clock: Callable[[], None], name: str, x: Any, progress: Any) -> Any:
    with self.registry.lease(name):
        start_clock()
        return 43


if __name__ == "__main__":
    PluginRunner._lifecycle = _no_run
    sys.exit(main(sys.argv[1:]))
