"""The floor for ``make bench``'s http rows: a bare aiohttp app that answers ``POST /run`` the way
the service does for ``{"plugin": "hello", "input": 21}`` (parse the JSON body, answer
``{"output": 43}``), with no plugin, pool, middleware or metrics behind it.

    python bench/http_bare.py PORT
"""

from __future__ import annotations

import sys

from aiohttp import web


async def run(request: web.Request) -> web.Response:
    await request.json()
    return web.json_response({"output": 43})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/run", run)
    app.router.add_get("/healthz", healthz)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
