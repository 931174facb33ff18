"""Every request body bounded before the app reads it (ASGI middleware).

FastAPI parses a body (JSON, or a multipart form spooled to disk) before a route's
dependencies run, so neither a size limit nor the API key can wait for the route: both are
checked here, first.

- **Size by endpoint family** (:func:`family`): a declared ``Content-Length`` over the
  family's limit is answered 413 ``body_too_large`` at once, unread; a chunked or lying body
  is counted as it arrives and refused the moment it passes the limit.
- **Key before body**: where a body needs a role (uploads, layer writes), the key is checked
  (``gis.access.auth.authenticate``) before the first byte is read, so an anonymous or bad-key
  upload is refused 401/403 with nothing parsed or written to disk.
- **Time**: a body that sends nothing for ``body_idle_timeout_s``, or averages less than
  ``body_min_rate`` bytes a second once ``body_grace_s`` has passed, is refused 408
  ``body_timeout``, so slow bodies cannot hold a worker's connections.

A refusal met while the app reads the body replaces whatever the app then answers (FastAPI
would call a broken body a 400), so the client always learns the real reason.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import SESSION_COOKIE, authorize, services, settings_of
from api.errors import DATABASE_DOWN, database_unavailable, error_response
from gis.catalogue import POINT_LAYERS
from gis.errors import GridmapError, TimedOut, TooLarge
from gis.settings import Settings

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Methods whose body a route reads; the key check before the body applies to them."""
FORM_ALLOWANCE = 64_000
"""An upload's form fields and multipart framing, beyond the file's own bytes."""
LAYER_PREFIXES = tuple(f"/api/v1/{name}" for name in POINT_LAYERS)


@dataclass(frozen=True)
class Family:
    """A family of endpoints: its largest body, and the role a key needs to send one."""

    name: str
    max_bytes: int
    role: str | None = None


def family(method: str, path: str, settings: Settings) -> Family:
    """The family of a request: ``upload`` (editor), ``write`` (JSON writes to a layer,
    editor), ``keys`` (keys and users, admin), ``analysis`` (viewer), ``points`` (a batch
    lookup: 10 000 points) and ``stream`` (a streamed lookup, viewer), else ``small``."""
    path = path.rstrip("/") or "/"
    if method in BODY_METHODS:
        if path in ("/api/v1/uploads", "/api/v1/rosters"):  # a roster is an upload's size too
            return Family("upload", settings.max_upload_bytes + FORM_ALLOWANCE, "editor")
        if path == "/api/v1/uploads/inspect":  # the same file, only described
            return Family("upload", settings.max_upload_bytes + FORM_ALLOWANCE, "viewer")
        if path.startswith(LAYER_PREFIXES) or path == "/api/v1/edits":
            return Family("write", settings.max_json_body_bytes, "editor")
        if path.startswith(("/api/v1/keys", "/api/v1/users")):
            return Family("keys", settings.max_small_body_bytes, "admin")
        if path.startswith("/api/v1/analysis/"):
            return Family("analysis", settings.max_points_body_bytes, "viewer")
        if path == "/api/v1/lookup/batch":
            return Family("points", settings.max_points_body_bytes)
        if path == "/api/v1/lookup/stream":
            return Family("stream", settings.max_stream_body_bytes, "viewer")
    return Family("small", settings.max_small_body_bytes)


def too_large(limit: int) -> TooLarge:
    """413 ``body_too_large``, naming the limit."""
    return TooLarge(
        f"请求体超过 {limit} 字节上限 (the request body is larger than the {limit}-byte limit)",
        code="body_too_large",
        details={"max_bytes": limit},
    )


def timed_out(settings: Settings) -> TimedOut:
    """408 ``body_timeout``, naming the bounds."""
    idle, rate, grace = settings.body_idle_timeout_s, settings.body_min_rate, settings.body_grace_s
    return TimedOut(
        f"请求体传输过慢：{idle:g} 秒无数据，或 {grace:g} 秒后平均低于 {rate:g} 字节/秒 "
        f"(the request body stalled for {idle:g} s or arrived slower than {rate:g} bytes/s)",
        code="body_timeout",
        details={"idle_timeout_s": idle, "min_bytes_per_s": rate, "grace_s": grace},
    )


class Refused(Exception):
    """Raised into the app when the body it is reading breaks a bound."""

    def __init__(self, error: GridmapError) -> None:
        super().__init__(error.message)
        self.error = error


class BodyLimits:
    """ASGI middleware bounding each request's body in size and time, and checking the key
    before a body that needs a role is read (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = settings_of(scope["app"])
        kind = family(scope["method"], scope["path"], settings)
        headers = Headers(scope=scope)
        if kind.role is not None:  # first: the size of a body is no business of a stranger
            refusal = await _check_key(scope, headers, kind.role)
            if refusal is not None:
                await _refuse(scope, send, refusal)
                return
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > kind.max_bytes:
            await _refuse(scope, send, too_large(kind.max_bytes))
            return
        await _Bounded(self.app, scope, kind.max_bytes, settings).run(receive, send)


async def _check_key(scope: Scope, headers: Headers, role: str) -> GridmapError | None:
    """Why the caller (``Authorization: Bearer`` or session cookie) may not send this body."""
    engine, session = services(scope["app"]).engine, Request(scope).cookies.get(SESSION_COOKIE)

    def check() -> None:
        authorize(engine, headers.get("authorization"), session, role)

    try:
        await run_in_threadpool(check)
    except GridmapError as error:
        return error
    except DATABASE_DOWN:
        return database_unavailable()
    return None


async def _refuse(scope: Scope, send: Send, error: GridmapError) -> None:
    """Answer ``error`` (the app's usual JSON or page) and close: the body stays unread."""
    response = error_response(Request(scope), error)
    response.headers["Connection"] = "close"
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class _Bounded:
    """One request passed to the app with a receive that counts and times its body."""

    def __init__(self, app: ASGIApp, scope: Scope, limit: int, settings: Settings) -> None:
        self.app, self.scope, self.limit, self.settings = app, scope, limit, settings
        self.received = 0
        self.body_done = False
        self.started: float | None = None
        self.refusal: GridmapError | None = None
        self.response_started = False

    async def run(self, receive: Receive, send: Send) -> None:
        async def bounded_receive() -> Message:
            if self.body_done:  # the body is in; later calls wait for a disconnect
                return await receive()
            return await self._next_chunk(receive)

        async def guarded_send(message: Message) -> None:
            if self.refusal is None:
                self.response_started = True
                await send(message)
            elif not self.response_started:  # the app's answer to a refused body: ours instead
                self.response_started = True
                await _refuse(self.scope, send, self.refusal)

        try:
            await self.app(self.scope, bounded_receive, guarded_send)
        except Exception:
            if self.refusal is None:
                raise
        if self.refusal is not None and not self.response_started:
            await _refuse(self.scope, send, self.refusal)

    async def _next_chunk(self, receive: Receive) -> Message:
        if self.refusal is not None:
            raise Refused(self.refusal)
        settings = self.settings
        if self.started is None:
            self.started = time.monotonic()
        try:
            message = await asyncio.wait_for(receive(), settings.body_idle_timeout_s)
        except TimeoutError:
            self.refusal = timed_out(settings)
            raise Refused(self.refusal) from None
        if message["type"] != "http.request":
            return message
        self.received += len(message.get("body", b""))
        self.body_done = not message.get("more_body", False)
        elapsed = time.monotonic() - self.started
        if self.received > self.limit:
            self.refusal = too_large(self.limit)
        elif (
            not self.body_done
            and elapsed > settings.body_grace_s
            and self.received < settings.body_min_rate * elapsed
        ):
            self.refusal = timed_out(settings)
        if self.refusal is not None:
            raise Refused(self.refusal)
        return message
