"""Read API of the boundary hierarchy."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from api.deps import AsOf, CallerDep, ConnectionDep, KeysetPageDep, role_of
from api.responses import GeoJSONResponse, feature, feature_collection
from api.schemas import RegionCollection, RegionDetail
from api.text import Code
from gis.access.privacy import redact
from gis.query import cursor as cursors
from gis.query import regions
from gis.query.cursor import EXACT_COUNT_UP_TO
from gis.store.models import LEVELS
from gis.store.versions import resolve_version

router = APIRouter(prefix="/api/v1/regions", tags=["regions"])

MAX_SIMPLIFY_M = 10_000

Level = Literal[LEVELS]
Simplify = Annotated[
    float | None,
    Query(
        gt=0,
        le=MAX_SIMPLIFY_M,
        description=f"Simplification tolerance in metres (0 < t ≤ {MAX_SIMPLIFY_M}).",
    ),
]


@router.get(
    "", response_class=GeoJSONResponse, response_model=RegionCollection, summary="List regions"
)
def list_regions(
    request: Request,
    conn: ConnectionDep,
    page: KeysetPageDep,
    caller: CallerDep,
    level: Level | None = None,
    parent: Annotated[Code | None, Query(description="Code of the parent region.")] = None,
    bbox: Annotated[
        str | None, Query(description="minlon,minlat,maxlon,maxlat in EPSG:4326.")
    ] = None,
    simplify: Simplify = None,
    as_of: AsOf = None,
) -> GeoJSONResponse:
    """Regions as a GeoJSON FeatureCollection (EPSG:4326), ordered by code, paged; personal
    fields as the caller's role may see them (``gis.access.privacy``)."""
    box = regions.BBox.parse(bbox) if bbox is not None else None
    cursors.check_key(request.query_params.get("cursor"), page.after, str)
    version = resolve_version(conn, as_of)
    features, total = regions.list_regions(
        conn,
        version=version,
        level=level,
        parent=parent,
        bbox=box,
        limit=page.limit + 1,  # one more: whether a next page follows
        offset=page.offset,
        after=page.after,
        exact_up_to=EXACT_COUNT_UP_TO,
        simplify_m=simplify,
    )
    features = redact(features, role_of(caller))
    return feature_collection(request, features, total=total, page=page, version=version)


@router.get(
    "/{code}", response_class=GeoJSONResponse, response_model=RegionDetail, summary="One region"
)
def get_region(
    code: Code,
    conn: ConnectionDep,
    caller: CallerDep,
    simplify: Simplify = None,
    as_of: AsOf = None,
) -> GeoJSONResponse:
    """A region as a GeoJSON Feature with its parent chain and a children summary."""
    version = resolve_version(conn, as_of)
    found = regions.get_region(conn, code, version=version, simplify_m=simplify)
    return feature(redact(found, role_of(caller)), version)


@router.get(
    "/{code}/children",
    response_class=GeoJSONResponse,
    response_model=RegionCollection,
    summary="Children of a region",
)
def list_children(
    code: Code,
    request: Request,
    conn: ConnectionDep,
    page: KeysetPageDep,
    caller: CallerDep,
    simplify: Simplify = None,
    as_of: AsOf = None,
) -> GeoJSONResponse:
    """The direct children of a region as a FeatureCollection (EPSG:4326)."""
    cursors.check_key(request.query_params.get("cursor"), page.after, str)
    version = resolve_version(conn, as_of)
    regions.require_region(conn, code, version)
    features, total = regions.list_regions(
        conn,
        version=version,
        parent=code,
        limit=page.limit + 1,  # one more: whether a next page follows
        offset=page.offset,
        after=page.after,
        exact_up_to=EXACT_COUNT_UP_TO,
        simplify_m=simplify,
    )
    features = redact(features, role_of(caller))
    return feature_collection(request, features, total=total, page=page, version=version)
