"""Which grid is this point or address in — single and batch lookups."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from api.routers.regions import AsOf
from gis.encoding import detect_text_encoding
from gis.errors import InvalidInput, TooLarge, Unsupported

router = APIRouter(prefix="/api/v1/lookup", tags=["lookup"])

MAX_BATCH = 10_000
"""The most points one batch request may carry."""

Crs = Annotated[
    str,
    Query(description="wgs84, cgcs2000, gcj02 (AMap, Tencent), bd09 (Baidu) or an EPSG code"),
]


@router.get("", summary="Which grid is this point or address in", response_class=JSONResponse)
async def lookup(
    request: Request,
    lon: Annotated[float | None, Query(description="Longitude (or easting) in `crs`")] = None,
    lat: Annotated[float | None, Query(description="Latitude (or northing) in `crs`")] = None,
    address: Annotated[
        str | None, Query(description="Free address text instead of lon/lat, e.g. 阳光小区5-2-301")
    ] = None,
    crs: Crs = "wgs84",
    as_of: AsOf = None,
) -> JSONResponse:
    """The grid covering the point, with its grid worker, party branch, community, street and
    county.  A point on a shared edge or vertex gets the covering grid with the lowest code.
    Outside every grid: ``covered: false`` with the nearest grid and its distance in metres.

    With ``address`` instead of a point: the address registry's entry for the text (``match``:
    the entry, its ``level`` room / building / compound / road, a ``confidence``, and up to 5
    ``candidates`` with their grids when ambiguous) and the grid of its point.  No match:
    404 ``address_not_found`` with the closest suggestions.
    """
    service = request.app.state.lookup
    if address is not None and lon is None and lat is None:
        return JSONResponse(await service.lookup_address(address, as_of=as_of))
    if address is not None or lon is None or lat is None:
        raise InvalidInput(
            "请给出 lon 和 lat，或只给 address (give lon and lat, or address alone)",
            code="invalid_parameter",
            details={
                "problems": [
                    {"parameter": name, "in": "query", "problem": "give lon and lat, or address"}
                    for name in ("lon", "lat", "address")
                ]
            },
        )
    (answer,) = await service.lookup(lon, lat, crs=crs, as_of=as_of)
    return JSONResponse(answer)


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


def _from_geojson(body: bytes) -> list[BatchPoint]:
    points = []
    try:
        for feature in json.loads(body)["features"]:
            geometry = feature["geometry"]
            if geometry["type"] != "Point":
                raise TypeError(f"feature {feature.get('id')!r} is a {geometry['type']}")
            x, y = geometry["coordinates"][:2]
            fid = feature.get("id", (feature.get("properties") or {}).get("id"))
            points.append(BatchPoint(lon=x, lat=y, id=fid))
    except (ValueError, KeyError, TypeError, IndexError, ValidationError) as error:
        raise InvalidInput(
            "GeoJSON 应为点要素的 FeatureCollection (expected a FeatureCollection of Points)",
            code="invalid_geojson",
            details={"error": str(error)},
        ) from error
    return points


def _from_csv(body: bytes) -> list[BatchPoint]:
    text = body.decode(detect_text_encoding(body).encoding)
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower(): c for c in reader.fieldnames or []}
    lon, lat = columns.get("lon"), columns.get("lat")
    if lon is None or lat is None:
        raise InvalidInput(
            f"CSV 需要 lon、lat 列 (the CSV needs lon and lat columns; has {reader.fieldnames})",
            code="invalid_csv",
            details={"columns": reader.fieldnames},
        )
    points = []
    for line, row in enumerate(reader, start=2):
        try:
            points.append(BatchPoint(lon=row[lon], lat=row[lat], id=row.get(columns.get("id", ""))))
        except ValidationError as error:
            raise InvalidInput(
                f"第 {line} 行的坐标不是数字 (line {line}: coordinates are not numbers)",
                code="invalid_csv",
                details={"line": line},
            ) from error
    return points


@router.post(
    "/batch",
    summary="Look up many points",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": Batch.model_json_schema()},
                "application/geo+json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def lookup_batch(request: Request, crs: Crs = "wgs84", as_of: AsOf = None) -> dict[str, Any]:
    """Answers in input order, each shaped like a single lookup (with the point's ``id``).

    The body is JSON (``{"crs", "points": [{"lon", "lat", "id"}]}``), GeoJSON (a
    FeatureCollection of Points; ``id`` from the feature) or CSV (columns ``lon``, ``lat`` and
    optionally ``id``; UTF-8 or GB18030); for GeoJSON and CSV the CRS is the ``crs`` query
    parameter.  At most 10 000 points per request (413 ``batch_too_large`` beyond).
    """
    body = await request.body()
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if media == "application/json":
        try:
            batch = Batch.model_validate_json(body)
        except ValidationError as error:
            raise InvalidInput(
                '请求体应为 {"points": [{"lon", "lat", "id"}]} '
                "(the body must be a JSON batch of points)",
                code="invalid_parameter",
                details={"problems": json.loads(error.json(include_url=False))},
            ) from error
        points, crs, as_of = batch.points, batch.crs, batch.as_of or as_of
    elif media == "application/geo+json":
        points = _from_geojson(body)
    elif media == "text/csv":
        points = _from_csv(body)
    else:
        raise Unsupported(
            f"不支持的请求类型 {media} (send application/json, application/geo+json or text/csv)",
            code="unsupported_media_type",
            details={"content_type": media},
        )
    if len(points) > MAX_BATCH:
        raise TooLarge(
            f"一次最多查询 {MAX_BATCH} 个点，本次 {len(points)} 个 "
            f"(at most {MAX_BATCH} points per batch)",
            code="batch_too_large",
            details={"max_points": MAX_BATCH, "points": len(points)},
        )
    answers = await request.app.state.lookup.lookup(
        [p.lon for p in points],
        [p.lat for p in points],
        crs=crs,
        as_of=as_of,
    )
    for point, answer in zip(points, answers, strict=True):
        answer["id"] = point.id
    return {"results": answers, "crs": "EPSG:4326"}
