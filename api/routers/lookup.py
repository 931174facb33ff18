"""Which grid is this point in — single and batch lookups."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.routers.regions import AsOf
from gis.errors import TooLarge

router = APIRouter(prefix="/api/v1/lookup", tags=["lookup"])

MAX_BATCH = 10_000
"""The most points one batch request may carry."""

Crs = Annotated[
    str,
    Query(description="wgs84, cgcs2000, gcj02 (AMap, Tencent), bd09 (Baidu) or an EPSG code"),
]


@router.get("", summary="Which grid is this point in")
def lookup(
    request: Request,
    lon: Annotated[float, Query(description="Longitude (or easting) in `crs`")],
    lat: Annotated[float, Query(description="Latitude (or northing) in `crs`")],
    crs: Crs = "wgs84",
    as_of: AsOf = None,
) -> dict[str, Any]:
    """The grid covering the point, with its grid worker, party branch, community, street and
    county.  A point on a shared edge or vertex gets the covering grid with the lowest code.
    Outside every grid: ``covered: false`` with the nearest grid and its distance in metres.
    """
    (answer,) = request.app.state.lookup.lookup(lon, lat, crs=crs, as_of=as_of)
    return answer


class BatchPoint(BaseModel):
    """One point of a batch."""

    lon: float
    lat: float
    id: str | int | None = None


class Batch(BaseModel):
    """Points to look up, all in one CRS."""

    crs: str = "wgs84"
    as_of: int | None = Field(default=None, ge=1)
    points: list[BatchPoint]


@router.post("/batch", summary="Look up many points")
def lookup_batch(request: Request, batch: Batch) -> dict[str, Any]:
    """Answers in input order, each shaped like a single lookup (with the point's ``id``).

    At most 10 000 points per request (413 ``batch_too_large`` beyond).
    """
    if len(batch.points) > MAX_BATCH:
        raise TooLarge(
            f"一次最多查询 {MAX_BATCH} 个点，本次 {len(batch.points)} 个 "
            f"(at most {MAX_BATCH} points per batch)",
            code="batch_too_large",
            details={"max_points": MAX_BATCH, "points": len(batch.points)},
        )
    answers = request.app.state.lookup.lookup(
        [p.lon for p in batch.points],
        [p.lat for p in batch.points],
        crs=batch.crs,
        as_of=batch.as_of,
    )
    for point, answer in zip(batch.points, answers, strict=True):
        answer["id"] = point.id
    return {"results": answers, "crs": "EPSG:4326"}
