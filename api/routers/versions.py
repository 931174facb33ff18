"""Boundary versions and their audit records."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.deps import ConnectionDep, EngineDep, Id, PageDep, require
from api.schemas import VersionList
from gis.access.auth import Principal
from gis.store import versions

router = APIRouter(prefix="/api/v1/versions", tags=["versions"])


@router.get("", summary="List boundary versions", response_model=VersionList)
def list_versions(conn: ConnectionDep, page: PageDep) -> JSONResponse:
    """Versions newest first: number, who, when, what action, which codes changed."""
    items, total = versions.list_versions(conn, limit=page.limit, offset=page.offset)
    return JSONResponse(
        {
            "current": versions.current_version(conn),
            "numberMatched": total,
            "numberReturned": len(items),
            "versions": items,
        }
    )


@router.post("/{number}/restore", summary="Restore an earlier version", status_code=201)
def restore(
    number: Id, engine: EngineDep, principal: Annotated[Principal, Depends(require("admin"))]
) -> dict[str, Any]:
    """Make version ``number`` current again, recorded as a new version (admin only)."""
    summary = versions.commit_and_publish(  # every worker of this machine sees it at once
        engine, partial(versions.restore_version, target=number, author=principal.name)
    )
    return {
        "version": summary.number,
        "restored_from": number,
        "changes": {
            "added": summary.added,
            "modified": summary.modified,
            "removed": summary.removed,
        },
    }
