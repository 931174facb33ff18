"""Boundary versions and their audit records."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ConnectionDep, PageDep
from gis import versions

router = APIRouter(prefix="/api/v1/versions", tags=["versions"])


@router.get("", summary="List boundary versions")
def list_versions(conn: ConnectionDep, page: PageDep) -> dict[str, Any]:
    """Versions newest first: number, who, when, what action, which codes changed."""
    items, total = versions.list_versions(conn, limit=page.limit, offset=page.offset)
    return {
        "current": versions.current_version(conn),
        "numberMatched": total,
        "numberReturned": len(items),
        "versions": items,
    }
