"""POST /api/v1/lookup/stream: millions of points placed in one request, answered as they
arrive (``gis.query.lookup_stream`` in a thread, ``api.duplex`` between it and the wire)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.deps import AsOf, Crs, LookupDep, ThrottleDep, require
from api.duplex import DuplexResponse, Inbox, Outbox, run_duplex
from api.text import ShortText
from gis.access.auth import Principal
from gis.errors import Unsupported
from gis.geo.crs import parse_crs
from gis.ingest.csvfiles import csv_encoding
from gis.query.lookup_columns import CODES, FIELDS, parse_fields
from gis.query.lookup_stream import answer_stream, output_schema, read_points
from gis.query.lookup_writers import MEDIA_TYPES, writer_for

router = APIRouter(prefix="/api/v1/lookup", tags=["lookup"])
log = logging.getLogger("gridmap.lookup")

KINDS = {media: kind for kind, media in MEDIA_TYPES.items()}
Format = Literal["csv", "ndjson", "arrow", "parquet"]
VERSION_HEADER = "X-Gridmap-Version"


def _input_kind(request: Request) -> str:
    media = request.headers.get("content-type", "text/csv").split(";")[0].strip().lower()
    if media not in KINDS:
        raise Unsupported(
            f"不支持的请求类型 {media}（可用 {', '.join(KINDS)}） (send one of {', '.join(KINDS)})",
            code="unsupported_media_type",
            details={"content_type": media, "supported": list(KINDS)},
        )
    return KINDS[media]


@router.post(
    "/stream",
    summary="Look up millions of points in one streamed request",
    response_class=Response,
    responses={
        200: {"content": {media: {} for media in KINDS}},
        415: {"description": "A body that is not CSV, NDJSON, Arrow IPC or Parquet."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {media: {"schema": {"type": "string"}} for media in KINDS},
        }
    },
)
async def lookup_stream(
    request: Request,
    service: LookupDep,
    throttle: ThrottleDep,
    caller: Annotated[Principal, Depends(require("viewer"))],
    crs: Crs = "wgs84",
    as_of: AsOf = None,
    fields: Annotated[
        str | None,
        Query(
            max_length=400,
            description=f"Comma-separated, from {', '.join(FIELDS)}; default {','.join(CODES)}",
        ),
    ] = None,
    format: Annotated[
        Format | None, Query(description="The answer's format (default: the body's)")
    ] = None,
    encoding: Annotated[
        str, Query(description="A CSV answer's encoding: utf-8 (with BOM) or gb18030")
    ] = "utf-8",
    input_encoding: Annotated[
        str | None,
        Query(description="A CSV body's encoding (default: detected, UTF-8 or GB18030)"),
    ] = None,
    lon: Annotated[ShortText | None, Query(description="The longitude column's name")] = None,
    lat: Annotated[ShortText | None, Query(description="The latitude column's name")] = None,
) -> Response:
    """Every row of the body (CSV with a header — UTF-8 or GB18030 —, NDJSON, an Arrow IPC
    stream or Parquet, by Content-Type) answered in order as it arrives, in the body's format
    or ``format``: the row's own columns, the chosen ``fields`` (default the codes of grid,
    community, street and county), ``version`` and ``error``.  One boundary version answers
    every row (the current one when the request began, or ``as_of``), named in the
    ``X-Gridmap-Version`` header and in each row (in Arrow and Parquet also in the schema's
    metadata); coordinates in ``crs``, answers' distances in metres (EPSG:4326).

    A row whose coordinates are not finite numbers in range gets ``error``
    (``invalid_coordinates``, with its row number) and no fields; a row the format cannot
    parse ends the answer with one last row whose ``error`` names its row.  A start that
    cannot be used (no lon/lat column, an empty body, an unknown encoding) is refused before
    any answer: 422.  Neither the body nor the answer is held whole: a few MB per request
    whatever its size.  A viewer key at least; as many streams at once per key as analyses.
    """
    kind = _input_kind(request)
    output = format or kind
    fields_chosen = parse_fields(fields)
    out_encoding = csv_encoding(encoding)
    await asyncio.to_thread(parse_crs, crs)  # a bad CRS refused before the body is read
    slot = throttle.streams.hold(f"key:{caller.name}")
    next(slot)
    try:
        index = await service.grid_index(as_of)
        loop = asyncio.get_running_loop()
        inbox, outbox = Inbox(request.stream(), loop), Outbox(loop)
        answered = {"rows": 0}

        def work(ready: Any) -> None:
            try:
                points = read_points(inbox, kind, encoding=input_encoding, lon=lon, lat=lat)
                output_schema(points, fields_chosen)  # a clash refused before the answer
                ready()
                make = writer_for(output, outbox, index.version, out_encoding)
                rows = answer_stream(index, points, make, crs=crs, fields=fields_chosen)
                answered["rows"] = rows
            finally:  # the answer ends whatever happened (an error: raised to the sender)
                outbox.finish()

        _, thread = await run_duplex(work)
    except BaseException:
        slot.close()
        raise

    def closed() -> None:
        outbox.gone = True  # the thread stops at its next write, if it still runs
        slot.close()
        log.info(
            "lookup stream: %d rows, %d body bytes, version %s",
            answered["rows"],
            inbox.received,
            index.version,
        )

    media = MEDIA_TYPES[output]
    if output == "csv":
        media += f"; charset={out_encoding.charset}"
    return DuplexResponse(
        outbox.chunks(thread),
        closed=closed,
        media_type=media,
        headers={VERSION_HEADER: str(index.version), "X-Gridmap-CRS": "EPSG:4326"},
    )
