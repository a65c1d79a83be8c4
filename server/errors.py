"""What the service answers when something fails: each service exception carries its HTTP status
(and headers), so turning an exception into a response is a lookup, made in ``error_response``."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """An error with a known HTTP answer: ``status``, ``headers()`` and ``{"error": str(self), **extra()}``."""

    status = 500

    def headers(self) -> dict[str, str]:
        return {}

    def extra(self) -> dict[str, Any]:
        return {}


class RequestError(ServiceError, ValueError):
    """The request itself is malformed (400)."""

    status = 400


class BodyTooLarge(ServiceError):
    """The body is over ``--max-body`` (413); the connection is closed after the answer."""

    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body too large: the limit is {limit} bytes")


class RetryLater(ServiceError):
    """Refused for now (503): ``Retry-After`` says when to try again."""

    status = 503
    retry_after = 1  # seconds

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def error_response(exc: BaseException) -> web.Response:
    """``{"error": "..."}`` with the status (and headers) that ``exc`` stands for."""
    if isinstance(exc, ServiceError):
        status, message, headers, extra = exc.status, str(exc), exc.headers(), exc.extra()
    elif isinstance(exc, web.HTTPMethodNotAllowed):
        status, message, headers, extra = 405, "method not allowed", {"Allow": exc.headers.get("Allow", "")}, {}
    elif isinstance(exc, web.HTTPException):  # the router's 404 for unknown paths, and the like
        status, message, headers, extra = exc.status, exc.reason.lower(), {}, {}
    else:
        log.error("unhandled error", exc_info=exc)
        status, message, headers, extra = 500, "internal server error", {}, {}
    response = web.json_response({"error": message, **extra}, status=status, headers=headers)
    if status == 413:
        response.force_close()  # the unread rest of the body makes the connection useless
    return response
