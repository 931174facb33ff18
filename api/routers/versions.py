"""Boundary versions and their audit records."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.deps import CallerDep, ConnectionDep, EngineDep, Id, KeysetPageDep, require, role_of
from api.responses import GeoJSONResponse, paged
from api.schemas import VersionDiff, VersionList
from gis.access.auth import Principal
from gis.access.scope import require_unscoped
from gis.query import cursor as cursors
from gis.query.cursor import EXACT_COUNT_UP_TO
from gis.query.regions import CRS_NAME, GEOJSON_CRS
from gis.store import diff, versions
from gis.store.models import LEVELS

router = APIRouter(prefix="/api/v1/versions", tags=["versions"])


@router.get("", summary="List boundary versions", response_model=VersionList)
def list_versions(request: Request, conn: ConnectionDep, page: KeysetPageDep) -> JSONResponse:
    """Versions newest first: number, who, when, what action, which codes changed and how
    many (``summary``), and the uploaded file it came from (``file``); keyset pages (the
    ``next`` link's cursor), ``numberMatched`` exact up to 10 000 and estimated above."""
    cursors.check_key(request.query_params.get("cursor"), page.after, int)
    items, total = versions.list_versions(
        conn,
        limit=page.limit + 1,  # one more: whether a next page follows
        offset=page.offset,
        after=page.after,
        exact_up_to=EXACT_COUNT_UP_TO,
    )
    items, paging = paged(request, items, total=total, page=page, key=lambda v: v["number"])
    return JSONResponse({"current": versions.current_version(conn), **paging, "versions": items})


@router.get(
    "/{a}/diff/{b}",
    summary="Compare two versions",
    response_class=GeoJSONResponse,
    response_model=VersionDiff,
)
def version_diff(
    a: Id,
    b: Id,
    conn: ConnectionDep,
    caller: CallerDep,
    level: Literal[LEVELS] | None = None,
    limit: Annotated[
        int, Query(ge=1, le=diff.MAX_LIMIT, description="At most this many regions.")
    ] = diff.DEFAULT_LIMIT,
) -> GeoJSONResponse:
    """The regions that differ between versions ``a`` and ``b`` (either order; a = b: none) as
    a GeoJSON FeatureCollection (EPSG:4326) ordered by code: each with ``change`` (added,
    changed, removed), its geodesic area at a and at b and the difference (m²), the
    attributes that changed with their values before and after (personal ones by role).
    The geometry is the outline at b (at a for a removed region); a changed region whose
    outline moved carries the outline at a in the property ``geometry_before``.
    ``summary`` counts each kind of change over the whole diff, ``numberMatched`` all."""
    found = diff.version_diff(conn, a, b, role=role_of(caller), level=level, limit=limit)
    return GeoJSONResponse(
        {
            "type": "FeatureCollection",
            "crs": GEOJSON_CRS,
            "crs_name": CRS_NAME,
            "a": a,
            "b": b,
            "summary": found["summary"],
            "numberMatched": found["numberMatched"],
            "numberReturned": len(found["features"]),
            "features": found["features"],
        }
    )


@router.post("/{number}/restore", summary="Restore an earlier version", status_code=201)
def restore(
    number: Id, engine: EngineDep, principal: Annotated[Principal, Depends(require("admin"))]
) -> dict[str, Any]:
    """Make version ``number`` current again, recorded as a new version (an unscoped admin
    only: a restore changes every region; 403 ``out_of_scope`` for a scoped one)."""
    require_unscoped(principal.scope, f"version {number}", f"恢复版本 {number}")
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
