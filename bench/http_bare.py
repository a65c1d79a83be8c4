"""The floor for ``make bench``'s http rows: a bare aiohttp app that answers ``POST /run`` the way
the service does -- ``{"output": 43}`` for ``{"plugin": "hello", "input": 21}``, 400 for a body
that is not JSON, 404 for any other plugin name -- with no plugin, pool, middleware or metrics
behind it.

    python bench/http_bare.py PORT [--uvloop]
"""

from __future__ import annotations

import json
import sys

from aiohttp import web


async def run(request: web.Request) -> web.Response:
    try:
        data = json.loads(await request.read())
    except ValueError:
        return web.json_response({"error": "invalid JSON"}, status=400)
    if data.get("plugin") != "hello":
        return web.json_response({"error": "plugin not found"}, status=404)
    return web.json_response({"output": 43})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/run", run)
    app.router.add_get("/healthz", healthz)
    return app


if __name__ == "__main__":
    loop = None
    if "--uvloop" in sys.argv:
        import uvloop

        loop = uvloop.new_event_loop()
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, loop=loop)
