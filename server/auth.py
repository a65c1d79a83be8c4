"""The service's bearer token: what the publish API (and with ``--require-token run``, ``/run``)
asks of a client. One shared secret, read at start-up from ``$WASMEDGE_PY_TOKEN`` or a secret
file, compared in constant time."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Mapping

from aiohttp import web

from .errors import ServiceError

TOKEN_ENV = "WASMEDGE_PY_TOKEN"
MIN_TOKEN_LENGTH = 16  # a guessable token protects nothing
MAX_TOKEN_FILE_BYTES = 4096


class TokenError(ValueError):
    """No usable token although a feature needs one (a start-up error)."""


class Unauthorized(ServiceError):
    """No bearer token was sent (401)."""

    status = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="wasmedge-py"'}


class Forbidden(ServiceError):
    """A bearer token was sent, and it is not the service's (403)."""

    status = 403


def read_token(token_file: Path | None, environ: Mapping[str, str]) -> str | None:
    """The token from ``token_file`` (surrounding whitespace removed: a trailing newline is not
    part of it) or else ``$WASMEDGE_PY_TOKEN``; None when neither is set. ``TokenError`` for an
    unreadable file or a token shorter than ``MIN_TOKEN_LENGTH``."""
    if token_file is not None:
        try:
            with open(token_file, "rb") as file:
                raw = file.read(MAX_TOKEN_FILE_BYTES + 1)
        except OSError as exc:
            raise TokenError(f"cannot read the token file {token_file}: {exc.strerror or exc}") from None
        if len(raw) > MAX_TOKEN_FILE_BYTES:
            raise TokenError(f"the token file {token_file} is over {MAX_TOKEN_FILE_BYTES} bytes")
        try:
            token: str | None = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise TokenError(f"the token file {token_file} is not UTF-8 text") from None
    else:
        token = environ.get(TOKEN_ENV, "").strip() or None
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise TokenError(f"the token must be at least {MIN_TOKEN_LENGTH} characters")
    return token


def require_token(request: web.Request, token: str) -> None:
    """Let the request through only with ``Authorization: Bearer <token>``: ``Unauthorized``
    without one, ``Forbidden`` with another. The comparison takes the same time wherever the
    sent token first differs (``hmac.compare_digest``)."""
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not sent.strip():
        raise Unauthorized("this endpoint needs a bearer token (Authorization: Bearer <token>)")
    if not hmac.compare_digest(sent.strip().encode(), token.encode()):
        raise Forbidden("the bearer token is not valid")
