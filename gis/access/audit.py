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

from gis.query.cursor import count_matching, invalid, is_key

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
    after: tuple[datetime, int] | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    exact_up_to: int | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Entries newest first — by time, then id — (of ``actor``, at or after ``since``) and how
    many match.

    ``after``: the entries older than that ``(at, id)`` (a keyset page: the indexes of
    migration 0014 — by time, by actor and time — find its start and its end at ``since``,
    however long the log grows).  ``exact_up_to``: the total is counted exactly up to it and
    estimated beyond (``gis.query.cursor.count_matching``)."""
    where, params = ["true"], {"limit": limit, "offset": offset}
    if actor is not None:
        where.append("actor = :actor")
        params["actor"] = actor
    if since is not None:
        where.append("at >= :since")
        params["since"] = since
    condition = " AND ".join(where)
    total = count_matching(conn, f"audit_log WHERE {condition}", params, exact_up_to)
    if after is not None:
        condition += " AND (at, id) < (:after_at, :after_id)"
        params.update(after_at=after[0], after_id=after[1])
    rows = conn.execute(
        text(
            "SELECT id, at, actor, key_id, address, action, target, status, details "
            f"FROM audit_log WHERE {condition} ORDER BY at DESC, id DESC "
            "LIMIT :limit OFFSET :offset"
        ),
        params,
    ).mappings()
    return [{**row, "at": row["at"].isoformat()} for row in rows], total


def entry_key(entry: dict[str, Any]) -> list[Any]:
    """What a cursor after ``entry`` (as :func:`list_entries` gives it) carries: its time
    (ISO 8601) and id."""
    return [entry["at"], entry["id"]]


def cursor_key(cursor: str | None, key: Any) -> tuple[datetime, int] | None:
    """The ``(at, id)`` of a cursor's key (:func:`entry_key`), None for none; 422
    ``invalid_cursor`` for anything no page wrote (an id out of range, a time without its
    zone or none at all) before it reaches SQL."""
    if key is None:
        return None
    if isinstance(key, list) and len(key) == 2 and is_key(key[1], int) and is_key(key[0], str):
        try:
            at = datetime.fromisoformat(key[0])
        except ValueError:
            at = None
        if at is not None and at.tzinfo is not None:
            return at, key[1]
    raise invalid(cursor or "")
