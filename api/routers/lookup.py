"""Which grid is this point or address in — single and batch lookups."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
import pyarrow as pa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from api.deps import MAX_INT, AsOf, CallerDep, Crs, LookupDep, by_address, role_of
from api.errors import invalid_parameters, invalid_request
from api.schemas import BatchAnswer, CompactBatchAnswer, LookupAnswer
from api.text import MAX_LONG, MAX_SHORT, LongText, ShortText
from gis.access.privacy import PERSONAL_FIELDS, redact, shown
from gis.errors import InvalidInput, TooLarge, Unsupported
from gis.ingest.csvfiles import csv_encoding
from gis.ingest.encoding import detect_text_encoding
from gis.ingest.fields import coordinates, point_columns
from gis.query.addresses import MAX_ADDRESS_CHARS
from gis.query.lookup import DISTANCE_UNIT, OUTPUT_COLUMNS
from gis.query.lookup_columns import FIELDS, names, parse_fields
from gis.query.lookup_writers import writer_for

router = APIRouter(prefix="/api/v1/lookup", tags=["lookup"])

MAX_BATCH = 10_000
"""The most points one batch request may carry."""


@router.get(
    "",
    summary="Which grid is this point or address in",
    response_class=JSONResponse,
    response_model=LookupAnswer,
)
async def lookup(
    service: LookupDep,
    caller: CallerDep,
    lon: Annotated[float | None, Query(description="Longitude (or easting) in `crs`")] = None,
    lat: Annotated[float | None, Query(description="Latitude (or northing) in `crs`")] = None,
    address: Annotated[
        str | None,
        Query(
            max_length=MAX_ADDRESS_CHARS,
            description="Free address text instead of lon/lat, e.g. 阳光小区5-2-301",
        ),
    ] = None,
    crs: Crs = "wgs84",
    as_of: AsOf = None,
) -> JSONResponse:
    """Where the point is, at every level: the grid covering it (with its grid worker and
    party branch: none for anonymous callers, masked for viewers — ``gis.access.privacy``),
    community, street and county.  A point in a town without grids gets its street and
    county (and community if any); outside everything, nulls.  On a shared edge
    or vertex the covering region with the lowest code wins.  A point outside every grid
    (``covered: false``) also gets ``nearest``: the nearest grid, its chain and
    ``distance_m``, in metres on the WGS 84 ellipsoid (``distance_unit``: ``m``); the point
    is answered in ``crs`` EPSG:4326.

    With ``address`` instead of a point: the address registry's entry for the text (``match``:
    the entry; its ``level``, what the entry is: building / compound / road; the query's
    ``unit`` and ``room`` as text and the ``rest`` beyond the entry — "5-2-301" matches
    building 5 with unit "2", room "301", rest "2单元301室"; a ``confidence``; and up to 5
    ``candidates`` with their grids when ambiguous) and the grid of its point.  No match:
    404 ``address_not_found`` with the closest suggestions.
    """
    role = role_of(caller)
    if address is not None and lon is None and lat is None:
        return JSONResponse(redact(await service.lookup_address(address, as_of=as_of), role))
    if address is not None or lon is None or lat is None:
        raise invalid_parameters(
            [
                {"parameter": name, "in": "query", "problem": "give lon and lat, or address"}
                for name in ("lon", "lat", "address")
            ],
            "请给出 lon 和 lat，或只给 address (give lon and lat, or address alone)",
        )
    (answer,) = await service.lookup(lon, lat, crs=crs, as_of=as_of)
    return JSONResponse(redact(answer, role))


class BatchPoint(BaseModel):
    """One point of a batch."""

    lon: float
    lat: float
    id: ShortText | int | None = None


class Batch(BaseModel):
    """Points to look up, all in one CRS."""

    crs: LongText = "wgs84"
    as_of: int | None = Field(default=None, ge=1, le=MAX_INT)
    points: list[BatchPoint]


_NO_NUL = msgspec.Meta(pattern="^[^\\x00]*$")


class _FastPoint(msgspec.Struct):
    lon: float
    lat: float
    id: Annotated[str, msgspec.Meta(max_length=MAX_SHORT), _NO_NUL] | int | None = None


class _FastBatch(msgspec.Struct):
    points: list[_FastPoint]
    crs: Annotated[str, msgspec.Meta(max_length=MAX_LONG), _NO_NUL] = "wgs84"
    as_of: Annotated[int, msgspec.Meta(ge=1, le=MAX_INT)] | None = None


_DECODE_BATCH = msgspec.json.Decoder(_FastBatch)


def _fast_batch(body: bytes) -> _FastBatch | None:
    """A JSON batch decoded by msgspec (~5× pydantic's time on 10 000 points), with the
    rules of :class:`Batch`; None for anything it does not take — then :class:`Batch` reads
    the body and says what is wrong in the API's usual words."""
    try:
        return _DECODE_BATCH.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _at_most(count: int) -> None:
    """413 ``batch_too_large`` beyond ``MAX_BATCH`` points: counted before any is built (a
    5 MB body of tiny points would otherwise become ~300 000 objects)."""
    if count > MAX_BATCH:
        raise TooLarge(
            f"一次最多查询 {MAX_BATCH} 个点，本次 {count} 个 "
            f"(at most {MAX_BATCH} points per batch)",
            code="batch_too_large",
            details={"max_points": MAX_BATCH, "points": count},
        )


_GEOJSON_ERRORS = (ValueError, KeyError, TypeError, IndexError, AttributeError, ValidationError)


def _invalid_geojson(error: Exception, number: int | None = None) -> InvalidInput:
    where_zh = f"第 {number} 个要素：" if number else ""
    where_en = f"; feature {number}" if number else ""
    return InvalidInput(
        f"{where_zh}GeoJSON 应为点要素的 FeatureCollection "
        f"(expected a FeatureCollection of Points{where_en})",
        code="invalid_geojson",
        details={"feature": number, "error": str(error)},
    )


def _feature_point(feature: Any) -> BatchPoint:
    """A Point feature's point; its properties must be an object (or null)."""
    geometry = feature["geometry"]
    if geometry["type"] != "Point":
        raise TypeError(f"a {geometry['type']}, not a Point")
    properties = feature.get("properties")
    if not isinstance(properties, dict | None):
        raise TypeError(f"properties is a {type(properties).__name__}, not an object")
    x, y = geometry["coordinates"][:2]
    return BatchPoint(lon=x, lat=y, id=feature.get("id", (properties or {}).get("id")))


def _from_geojson(body: bytes) -> list[BatchPoint]:
    """The points of a FeatureCollection; 422 ``invalid_geojson`` naming the first feature
    (1-based) that is no Point feature."""
    try:
        features = json.loads(body)["features"]
        if not isinstance(features, list):
            raise TypeError("features is not a list")
    except _GEOJSON_ERRORS as error:
        raise _invalid_geojson(error) from error
    _at_most(len(features))
    points = []
    for number, feature in enumerate(features, start=1):
        try:
            points.append(_feature_point(feature))
        except _GEOJSON_ERRORS as error:
            raise _invalid_geojson(error, number) from error
    return points


@dataclass
class Table:
    """A CSV body: its columns, its rows, and the points in them."""

    fields: list[str]
    rows: list[dict[str, Any]]
    points: list[BatchPoint]


def _from_csv(body: bytes) -> Table:
    text = body.decode(detect_text_encoding(body).encoding)
    reader = csv.DictReader(io.StringIO(text))
    fields = list(reader.fieldnames or [])
    lon, lat = point_columns(fields)
    rows = list(itertools.islice(reader, MAX_BATCH))
    _at_most(len(rows) + sum(1 for _ in reader))  # the rest counted, not kept
    xs, ys = coordinates(rows, lon, lat, first_line=2)
    id_column = next((f for f in fields if f.strip().lower() == "id"), None)
    ids = [row[id_column] if id_column else None for row in rows]
    points = [
        BatchPoint(lon=x, lat=y, id=i)
        for x, y, i in zip(xs.tolist(), ys.tolist(), ids, strict=True)
    ]
    return Table(fields, rows, points)


def _wants_csv(request: Request, format: str | None) -> bool:
    if format is not None:
        return format == "csv"
    first = request.headers.get("accept", "").split(",")[0]
    return first.split(";")[0].strip() == "text/csv"


@router.post(
    "/batch",
    summary="Look up many points",
    response_model=BatchAnswer | CompactBatchAnswer,
    dependencies=[Depends(by_address("batch"))],
    responses={415: {"description": "A body neither JSON, GeoJSON nor CSV."}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": Batch.model_json_schema()},
                "application/geo+json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        "responses": {"200": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    },
)
async def lookup_batch(
    request: Request,
    service: LookupDep,
    caller: CallerDep,
    crs: Crs = "wgs84",
    as_of: AsOf = None,
    format: Annotated[
        Literal["json", "csv"] | None,
        Query(description="Answer as JSON or CSV (default: CSV if Accept is text/csv)"),
    ] = None,
    encoding: Annotated[
        str, Query(description="Encoding of a CSV answer: utf-8 (with BOM) or gb18030")
    ] = "utf-8",
    fields: Annotated[
        str | None,
        Query(
            max_length=400,
            description=f"Only these, comma-separated, from {', '.join(FIELDS)}: a compact "
            "answer (names once, in `regions`)",
        ),
    ] = None,
) -> Response:
    """Answers in input order, each shaped like a single lookup (with the point's ``id``).

    The body is JSON (``{"crs", "points": [{"lon", "lat", "id"}]}``), GeoJSON (a
    FeatureCollection of Points; ``id`` from the feature) or CSV (UTF-8 or GB18030; the
    longitude and latitude columns by their usual names — ``lon``/``lat``, ``lng``,
    ``经度``/``纬度``, ``东经``/``北纬``, ``x``/``y``, full-width too — and optionally ``id``);
    for GeoJSON and CSV the CRS is the ``crs`` query parameter.  At most 10 000 points per
    request (413 ``batch_too_large`` beyond).

    With ``format=csv`` (or ``Accept: text/csv``) the answer is a CSV for Excel: the input's
    columns (a CSV body's own, else ``id``, ``lon``, ``lat``) and the lookup's — grid, its
    worker and party branch, community, street, county, and outside every grid the nearest
    grid with ``distance_m`` (metres on the WGS 84 ellipsoid).  UTF-8 with a BOM, or GB18030
    with ``encoding=gb18030`` (named in Content-Type's charset).
    """
    output = csv_encoding(encoding) if _wants_csv(request, format) else None
    table: Table | None = None
    body = await request.body()
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    fast = _fast_batch(body) if media == "application/json" else None
    if fast is not None:
        _at_most(len(fast.points))
        points, crs, as_of = fast.points, fast.crs, fast.as_of or as_of
    elif media == "application/json":
        try:
            listed = json.loads(body).get("points")
        except (ValueError, AttributeError, RecursionError):
            listed = None  # malformed: pydantic says how, below
        if isinstance(listed, list):
            _at_most(len(listed))
        del listed  # freed before pydantic parses the body
        try:
            batch = Batch.model_validate_json(body)
        except ValidationError as error:
            raise invalid_request(
                error.errors(),
                "body",
                '请求体应为 {"points": [{"lon", "lat", "id"}]} '
                "(the body must be a JSON batch of points)",
            ) from error
        points, crs, as_of = batch.points, batch.crs, batch.as_of or as_of
    elif media == "application/geo+json":
        points = _from_geojson(body)
    elif media == "text/csv":
        table = _from_csv(body)
        points = table.points
    else:
        raise Unsupported(
            f"不支持的请求类型 {media} (send application/json, application/geo+json or text/csv)",
            code="unsupported_media_type",
            details={"content_type": media},
        )
    lon, lat = [p.lon for p in points], [p.lat for p in points]
    if fields is not None and fields.strip():
        chosen = parse_fields(fields, FIELDS)
        wanted = chosen if output is not None else (*chosen, *map(_code_of, chosen))
        version, placed = await service.columns(lon, lat, wanted, crs=crs, as_of=as_of)
        if output is not None:
            if table is None:
                ids = [None if p.id is None else str(p.id) for p in points]
                table = Table(["id", "lon", "lat"], [], [])
                inputs = {"id": pa.array(ids, pa.string()), "lon": lon, "lat": lat}
            else:
                inputs = {
                    f: pa.array([r[f] for r in table.rows], pa.string()) for f in table.fields
                }
            placed["version"] = pa.repeat(pa.scalar(version, pa.int64()), len(points))
            return _csv_answer(pa.table({**inputs, **placed}), version, output)
        answer = msgspec.json.encode(compact_answer(points, chosen, placed, version))
        return Response(answer, media_type="application/json")
    if output is not None:
        if table is None:
            table = Table(
                ["id", "lon", "lat"], [{"id": p.id, "lon": p.lon, "lat": p.lat} for p in points], []
            )
        found = await service.rows(lon, lat, crs=crs, as_of=as_of)
        for column, name in enumerate(OUTPUT_COLUMNS):
            if name in PERSONAL_FIELDS:
                for row in found:
                    row[column] = shown(row[column], PERSONAL_FIELDS[name], role_of(caller))
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([*table.fields, *OUTPUT_COLUMNS])
        for row, columns in zip(table.rows, found, strict=True):
            writer.writerow([*(row[f] for f in table.fields), *columns])
        return Response(
            out.getvalue().encode(output.codec),
            media_type=f"text/csv; charset={output.charset}",
            headers={"Content-Disposition": 'attachment; filename="lookup.csv"'},
        )
    answers = redact(await service.lookup(lon, lat, crs=crs, as_of=as_of), role_of(caller))
    for point, answer in zip(points, answers, strict=True):
        answer["id"] = point.id
    return JSONResponse({"results": answers, "crs": "EPSG:4326"})


def _code_of(field: str) -> str:
    """The field a compact answer gives for ``field``: a level's code for its name."""
    return f"{field.removesuffix('.name')}.code" if field.endswith(".name") else field


def compact_answer(
    points: Sequence[BatchPoint | _FastPoint],
    fields: tuple[str, ...],
    placed: dict[str, pa.Array],
    version: Any,
) -> dict[str, Any]:
    """A batch's chosen fields per point (``id`` first; a level's name as its code, the
    name given once in ``regions``)."""
    shown = list(dict.fromkeys(_code_of(f) for f in fields))
    columns = [placed[f].to_pylist() for f in shown]
    results = (
        [
            {"id": p.id, **dict(zip(shown, values, strict=True))}
            for p, values in zip(points, zip(*columns, strict=True), strict=True)
        ]
        if columns
        else [{"id": p.id} for p in points]
    )
    answer: dict[str, Any] = {"version": version, "crs": "EPSG:4326", "fields": list(fields)}
    if "distance_m" in fields:
        answer["distance_unit"] = DISTANCE_UNIT
    answer["results"] = results
    if any(f.endswith(".name") for f in fields):
        answer["regions"] = names(placed)
    return answer


def _csv_answer(table: pa.Table, version: Any, output: Any) -> Response:
    """A CSV of the input's columns and the chosen fields (``api.routers.lookup_stream``'s
    writer: BOM or GB18030, no formulas)."""
    sink = io.BytesIO()
    writer = writer_for("csv", sink, version, output)(table.schema)
    for batch in table.to_batches():
        writer.write_batch(batch)
    writer.close()
    return Response(
        sink.getvalue(),
        media_type=f"text/csv; charset={output.charset}",
        headers={
            "Content-Disposition": 'attachment; filename="lookup.csv"',
            "X-Gridmap-Version": str(version),
        },
    )
