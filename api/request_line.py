"""The request line checked before any route sees it (ASGI middleware).

- **Length**: a path and query over :data:`MAX_URL_BYTES` is answered 414 ``uri_too_long``
  (JSON like every error): no parameter of gridmap needs that much, and every route would
  otherwise parse, log and match it.
- **NUL**: a NUL character (``%00``) in the path or a query parameter is answered 422
  ``invalid_text`` naming the parameter: PostgreSQL cannot store it in text, GDAL and the
  file system cut strings at it, so no route can use it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response, nul_text
from gis.errors import GridmapError, UriTooLong

MAX_URL_BYTES = 8192
"""Longest path plus query string served (the common limit of proxies and browsers)."""


def refusal(scope: Scope) -> GridmapError | None:
    """Why the request line of ``scope`` is refused, or None."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    if len(raw_path) + len(query) > MAX_URL_BYTES:
        return UriTooLong(
            f"URL 过长：{len(raw_path) + len(query)} 字节，最多 {MAX_URL_BYTES} "
            f"(the URL has {len(raw_path) + len(query)} bytes, at most {MAX_URL_BYTES})",
            details={"limit": MAX_URL_BYTES},
        )
    if "\x00" in scope["path"]:
        return nul_text("path", "path")
    if b"\x00" in query or b"%00" in query:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        bad = next((name for name, value in pairs if "\x00" in name + value), "query")
        return nul_text(bad.replace("\x00", "\\0"), "query")
    return None


class RequestLine:
    """ASGI middleware: refuse over-long URLs (414) and NUL characters in them (422)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = refusal(scope) if scope["type"] == "http" else None
        if error is None:
            await self.app(scope, receive, send)
            return
        response = error_response(Request(scope), error)
        await response(scope, receive, send)
