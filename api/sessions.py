"""Keys never stay in page URLs, nor in logs.

- **``?key=`` on a page** (any GET outside ``/api/``): the key is checked, a browser session
  is started (``gis.access.auth.start_session``) and the answer is a 303 to the same URL without
  the key, setting the session cookie (HttpOnly, so no script reads it; SameSite=Strict, so
  no other site sends it; Secure when the request came over https; for the session's
  lifetime).  A link with a key thus works once and leaves nothing to copy from the address
  bar, the history or a Referer.  A bad key is answered 401 with no cookie.
- **Access log**: uvicorn's access lines have ``key=`` (and ``token=``) values of their
  query strings replaced by ``***`` (:class:`RedactKeys`); uvicorn never logs headers, so
  an ``Authorization`` header never reaches a log.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import SESSION_COOKIE, services
from api.errors import DATABASE_DOWN, database_unavailable, error_response
from gis.access.auth import SESSION_TTL, authenticate, start_session
from gis.errors import GridmapError

SECRET_PARAMETER = re.compile(r"([?&](?:key|api_key|token|access_token)=)[^&#\s\"]*", re.I)
"""A secret's value in a query string, as access logs write it."""
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "gunicorn.access", "gunicorn.error")


class KeySessions:
    """ASGI middleware: a page's ``?key=`` becomes a session cookie and a clean URL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or scope["path"].startswith("/api/")
            or b"key=" not in scope["query_string"]
        ):
            await self.app(scope, receive, send)
            return
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        keys = [value for name, value in pairs if name == "key"]
        if not keys:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            token = await run_in_threadpool(_session, scope, keys[-1])
        except GridmapError as error:
            response = error_response(request, error)
        except DATABASE_DOWN:
            response = error_response(request, database_unavailable())
        else:
            rest = urlencode([(name, value) for name, value in pairs if name != "key"])
            clean = scope.get("root_path", "") + scope["path"] + (f"?{rest}" if rest else "")
            response = RedirectResponse(clean, status_code=303)
            set_session_cookie(response, token, scope)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        await response(scope, receive, send)


def set_session_cookie(response: Response, token: str, scope: Scope) -> None:
    """Give the browser the session cookie of ``token`` (also ``/login``'s, api/routers/
    account.py): HttpOnly, SameSite=Strict, Secure over https, for the session's lifetime."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=scope.get("scheme") == "https",
    )


def _session(scope: Scope, key: str) -> str:
    """A new session for ``key`` (401 when it is bad)."""
    with services(scope["app"]).engine.begin() as conn:
        return start_session(conn, authenticate(conn, key))


class RedactKeys(logging.Filter):
    """Replaces secrets in query strings of log records (uvicorn's access line carries the
    path in its arguments) with ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                SECRET_PARAMETER.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = SECRET_PARAMETER.sub(r"\1***", record.msg)
        return True


def redact_logs() -> None:
    """Install :class:`RedactKeys` on the servers' loggers (once a process)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactKeys) for f in logger.filters):
            logger.addFilter(RedactKeys())
