"""The audit log over HTTP, for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api.deps import ConnectionDep, KeysetPageDep, require
from api.responses import paged
from gis.access import audit
from gis.query.cursor import EXACT_COUNT_UP_TO

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], dependencies=[Depends(require("admin"))])


@router.get("", summary="The audit log (admin)")
def list_audit(
    request: Request,
    conn: ConnectionDep,
    page: KeysetPageDep,
    actor: Annotated[str | None, Query(max_length=200, description="Only this key name")] = None,
    since: Annotated[datetime | None, Query(description="Only entries since (ISO 8601)")] = None,
) -> dict[str, Any]:
    """Writes newest first: when (``at``), who (``actor``: the key's name, ``key_id``), from
    where (``address``), what (``action``: method and route, ``target``: the path, HTTP
    ``status``) and what changed (``details``: ids, version, counts).  Keyset pages (the
    ``next`` link's cursor: the log only grows), ``numberMatched`` exact up to 10 000 and
    estimated above (``numberMatchedExact``)."""
    entries, total = audit.list_entries(
        conn,
        limit=page.limit + 1,  # one more: whether a next page follows
        offset=page.offset,
        after=audit.cursor_key(request.query_params.get("cursor"), page.after),
        actor=actor,
        since=since,
        exact_up_to=EXACT_COUNT_UP_TO,
    )
    entries, paging = paged(request, entries, total=total, page=page, key=audit.entry_key)
    return {**paging, "entries": entries}
