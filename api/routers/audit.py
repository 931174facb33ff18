"""The audit log over HTTP, for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import ConnectionDep, PageDep, require
from gis.access import audit

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], dependencies=[Depends(require("admin"))])


@router.get("", summary="The audit log (admin)")
def list_audit(
    conn: ConnectionDep,
    page: PageDep,
    actor: Annotated[str | None, Query(max_length=200, description="Only this key name")] = None,
    since: Annotated[datetime | None, Query(description="Only entries since (ISO 8601)")] = None,
) -> dict[str, Any]:
    """Writes newest first: when (``at``), who (``actor``: the key's name, ``key_id``), from
    where (``address``), what (``action``: method and route, ``target``: the path, HTTP
    ``status``) and what changed (``details``: ids, version, counts)."""
    entries, total = audit.list_entries(
        conn, limit=page.limit, offset=page.offset, actor=actor, since=since
    )
    return {"numberMatched": total, "numberReturned": len(entries), "entries": entries}
