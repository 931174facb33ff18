"""Every HTTP write lands in the audit log (``gis.access.audit``), as ASGI middleware.

A write is a POST, PUT, PATCH or DELETE under ``/api/`` that is not a read sent as a POST
(batch lookups, analyses): upload dry runs and commits, restores, layer creates, updates and
deletes, key changes.  Once such a request has been answered with success, one entry is
appended: the caller's key name and id (``api.deps.get_caller`` leaves them on the
request), the client address, ``METHOD /route/{template}``, the concrete path, the HTTP
status and what changed, picked from the JSON answer (:func:`summarise`: ids, version,
counts — never a secret such as a new key).  Refusals change nothing and are not entries.

The entry follows the write's own transaction: a database that fails in between loses the
entry, never the write (logged as an error).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import services
from gis.access import audit

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_POSTS = ("/api/v1/lookup", "/api/v1/analysis")
"""POSTs that only read."""
DETAIL_KEYS = ("id", "number", "status", "version", "restored_from", "changes", "name", "role")
"""Members of a JSON answer kept as what changed (a new key's secret is never among them)."""
MAX_ANSWER = 4_000_000
"""Answers longer than this are not read for details (an upload's report can be long)."""
log = logging.getLogger("gridmap.audit")


def is_write(method: str, path: str) -> bool:
    """Whether a request changes something (and so is audited when it succeeds)."""
    return method in WRITE_METHODS and path.startswith("/api/") and not path.startswith(READ_POSTS)


def summarise(answer: bytes) -> dict[str, Any]:
    """What changed, from a JSON answer: :data:`DETAIL_KEYS` and an upload's counts."""
    try:
        body = json.loads(answer) if answer else None
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    found = {k: body[k] for k in DETAIL_KEYS if k in body}
    report = body.get("report")
    counts = report.get("summary") if isinstance(report, dict) else None
    if isinstance(counts, dict):
        found["counts"] = counts
    return found


class AuditWrites:
    """ASGI middleware: one audit entry per successful write (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_write(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})  # shared with the route, which names the caller
        answer: dict[str, Any] = {"status": 500, "body": bytearray()}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                body = answer["body"]
                if len(body) <= MAX_ANSWER:
                    body += message.get("body", b"")
            await send(message)

        await self.app(scope, receive, sending)
        if answer["status"] < 400:
            await run_in_threadpool(_record, scope, answer["status"], bytes(answer["body"]))


def _record(scope: Scope, status: int, body: bytes) -> None:
    principal = scope["state"].get("principal")
    route = scope.get("route")
    template = getattr(route, "path", scope["path"])
    client = scope.get("client")
    try:
        with services(scope["app"]).engine.begin() as conn:
            audit.record(
                conn,
                actor=principal.name if principal else "anonymous",
                key_id=principal.key_id if principal else None,
                address=client[0] if client else None,
                action=f"{scope['method']} {template}",
                target=scope["path"],
                status=status,
                details=summarise(body) if len(body) <= MAX_ANSWER else {},
            )
    except Exception:  # the write stands; its entry is lost — say so loudly
        log.exception("audit entry lost: %s %s", scope["method"], scope["path"])
