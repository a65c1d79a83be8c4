"""The operator's console: one static page at ``GET /`` (with its script and style sheet) that
reads the service's own JSON and Prometheus endpoints from the browser.

The files ship in ``server/static`` and are read once when the app is built and served from
memory by exact path, so nothing under the directory can be reached by a crafted URL. Every
answer carries a Content-Security-Policy that allows our own script and style only: plugin names,
exports and errors are hostile input, and the page writes them with ``textContent``, but if that
ever slipped, injected markup still could not run script or reach another origin.
"""

from __future__ import annotations

from importlib import resources
from typing import Awaitable, Callable

from aiohttp import web

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)

# URL path -> (file in server/static, content type)
CONSOLE_FILES = {
    "/": ("index.html", "text/html"),
    "/console/console.js": ("console.js", "text/javascript"),
    "/console/console.css": ("console.css", "text/css"),
}

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # a new version of the service serves its new page at once
}


def _static_handler(body: bytes, content_type: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type, charset="utf-8", headers=HEADERS)

    return handler


def add_console(app: web.Application) -> None:
    """Register ``GET /`` and the console's assets (HEAD too) on ``app``."""
    static = resources.files(__package__) / "static"
    for path, (name, content_type) in CONSOLE_FILES.items():
        app.router.add_get(path, _static_handler(static.joinpath(name).read_bytes(), content_type))
