"""The audit log: one row per write — who (key name and id), when, from where (client
address), what (action, target, status) and what changed (version, counts, ids).

Rows are only ever appended: a trigger (migration 0007) refuses UPDATE, DELETE and TRUNCATE
on ``audit_log`` to the app's database role.  HTTP writes are recorded by ``api/audit.py``,
the CLI's key changes by the CLI.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

MAX_DETAILS = 20
"""The most members of a details object kept (an answer's counts, never its whole body)."""


def record(
    conn: Connection,
    *,
    actor: str,
    key_id: int | None,
    address: str | None,
    action: str,
    target: str | None = None,
    status: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry."""
    conn.execute(
        text(
            "INSERT INTO audit_log (actor, key_id, address, action, target, status, details) "
            "VALUES (:actor, :key_id, :address, :action, :target, :status, CAST(:details AS jsonb))"
        ),
        {
            "actor": actor,
            "key_id": key_id,
            "address": address,
            "action": action,
            "target": target,
            "status": status,
            "details": json.dumps(dict(list((details or {}).items())[:MAX_DETAILS])),
        },
    )


def list_entries(
    conn: Connection,
    *,
    limit: int,
    offset: int = 0,
    actor: str | None = None,
    since: datetime | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Entries newest first (of ``actor``, at or after ``since``) and how many match."""
    where, params = ["true"], {"limit": limit, "offset": offset}
    if actor is not None:
        where.append("actor = :actor")
        params["actor"] = actor
    if since is not None:
        where.append("at >= :since")
        params["since"] = since
    condition = " AND ".join(where)
    total = conn.scalar(text(f"SELECT count(*) FROM audit_log WHERE {condition}"), params) or 0
    rows = conn.execute(
        text(
            "SELECT id, at, actor, key_id, address, action, target, status, details "
            f"FROM audit_log WHERE {condition} ORDER BY id DESC LIMIT :limit OFFSET :offset"
        ),
        params,
    ).mappings()
    return [{**row, "at": row["at"].isoformat()} for row in rows], total
