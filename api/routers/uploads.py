"""Boundary and address registry uploads: validate (dry run) or commit; the upload history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse

from api.deps import ConnectionDep, EngineDep, Id, KeysetPageDep, SettingsDep, require
from api.errors import invalid_parameters
from api.responses import GeoJSONResponse, checked_write, paged
from api.routers.regions import Level
from api.schemas import InspectAnswer, UploadAnswer
from api.text import Code, LongText, ShortText
from gis.access.auth import Principal
from gis.access.privacy import redact
from gis.errors import InvalidInput
from gis.ingest import history
from gis.ingest.inspect import inspect_upload
from gis.ingest.pipeline import UploadRequest
from gis.ingest.uploads import process_upload
from gis.query import cursor as cursors
from gis.query.cursor import EXACT_COUNT_UP_TO
from gis.store.models import UPLOAD_KINDS
from gis.web.review import review_features

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])

UNREADABLE: dict[int | str, dict[str, Any]] = {
    415: {"description": "A file format gridmap cannot read (unknown_format)."}
}
"""The answer of a route taking a file in a format gridmap cannot read."""

Editor = Annotated[Principal, Depends(require("editor"))]
Viewer = Annotated[Principal, Depends(require("viewer"))]


def _field_mapping(value: str | None) -> dict[str, str]:
    if not value:
        return {}
    try:
        mapping = json.loads(value)
    except json.JSONDecodeError:
        mapping = None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise InvalidInput(
            'fields 应为 JSON 对象，如 {"code": "BM", "name": "MC"} '
            "(fields must be a JSON object of role → field name)",
            code="invalid_field_mapping",
        )
    return mapping


MAX_FILENAME_BYTES = 200
"""UTF-8 bytes of an upload's file name kept (its suffix always): file systems take 255, and
a Chinese character is three."""


def sent_filename(sent: str | None) -> str:
    """The file's own name (no folders), at most :data:`MAX_FILENAME_BYTES` long in UTF-8
    with its suffix kept; 422 ``invalid_text`` for a NUL or another control character."""
    name = Path(sent or "upload").name
    if name in {"", "..", "."}:  # a name with no file in it ("..", "a/..") is no name
        name = "upload"
    if any(ord(ch) < 32 for ch in name):
        raise InvalidInput(
            "文件名含控制字符 (NUL 等) (the file name holds a control character such as NUL)",
            code="invalid_text",
            details={"parameter": "file"},
        )
    suffix = "".join(Path(name).suffixes)[-20:]
    stem = name[: len(name) - len(suffix)]
    while len((stem + suffix).encode("utf-8")) > MAX_FILENAME_BYTES:
        stem = stem[:-1]
    return stem + suffix


@router.post(
    "",
    summary="Upload a boundary or address registry file",
    response_model=UploadAnswer,
    responses={
        201: {"model": UploadAnswer, "description": "Committed."},
        **UNREADABLE,
    },
)
def upload(
    engine: EngineDep,
    settings: SettingsDep,
    principal: Editor,
    file: Annotated[
        UploadFile, File(description="Zipped shapefile, GeoJSON, GPKG, KML/KMZ, FGB or CSV")
    ],
    kind: Annotated[
        Literal[UPLOAD_KINDS],
        Form(
            description="boundaries (of one level), addresses (registry points), centres, "
            "cameras (points) or roads (lines)"
        ),
    ] = "boundaries",
    level: Annotated[Level | None, Form(description="Level of the boundaries")] = None,
    parent: Annotated[Code | None, Form(description="Code of the parent region")] = None,
    crs: Annotated[
        LongText | None,
        Form(description="EPSG:4527, cgcs2000, gcj02, bd09 … (default: the file's)"),
    ] = None,
    encoding: Annotated[ShortText | None, Form(description="Attribute encoding, e.g. GBK")] = None,
    layer: Annotated[ShortText | None, Form(description="Layer of a multi-layer file")] = None,
    fields: Annotated[
        LongText | None, Form(description='Field mapping as JSON, e.g. {"code": "BM"}')
    ] = None,
    dry_run: Annotated[bool, Form(description="Only validate (default)")] = True,
    repair: Annotated[bool, Form(description="make_valid and snap slivers")] = False,
    allow_moves: Annotated[
        bool,
        Form(
            description="Accept stored regions whose new polygon lies elsewhere (region_moved "
            "becomes a warning; the version records the moved codes)"
        ),
    ] = False,
) -> JSONResponse:
    """Validate a file; with ``dry_run=false`` commit it: boundaries (``level`` required) as
    one new version, addresses (``kind=addresses``: points, or a CSV with lon/lat columns)
    inserted or updated by code, centres and cameras (points or lon/lat CSV) inserted or
    updated by name and device ID, roads (lines) replacing the stored ones.

    200 with the report for a dry run; 201 when committed; 422 ``validation_failed`` (with
    the report) when errors block the commit — nothing is changed then.
    """
    if kind == "boundaries" and level is None:
        raise invalid_parameters(
            [{"parameter": "level", "in": "body", "problem": "required"}],
            "边界上传须指定 level (level is required for boundary uploads)",
        )
    result = process_upload(
        engine,
        file.file,
        UploadRequest(
            filename=sent_filename(file.filename),
            level=level,
            author=principal.name,
            kind=kind,
            parent=parent,
            crs=crs,
            encoding=encoding,
            layer=layer,
            fields=_field_mapping(fields),
            dry_run=dry_run,
            repair=repair,
            allow_moves=allow_moves,
            scope=principal.scope,
        ),
        settings,
    )
    body: dict[str, Any] = {
        "id": result.id,
        "status": result.status,
        "version": result.version,
        "report": result.report,
    }
    return checked_write(body)


@router.post(
    "/inspect",
    summary="What a file holds, before validation",
    response_model=InspectAnswer,
    responses=UNREADABLE,
)
def inspect(
    engine: EngineDep,
    settings: SettingsDep,
    _: Viewer,
    file: Annotated[UploadFile, File(description="A file as POST /api/v1/uploads takes it")],
    kind: Annotated[Literal[UPLOAD_KINDS], Form(description="The kind of upload")] = "boundaries",
    level: Annotated[Level | None, Form(description="Level (default: the codes' length)")] = None,
    parent: Annotated[Code | None, Form(description="Code of the parent region")] = None,
    crs: Annotated[LongText | None, Form(description="CRS to read it in")] = None,
    encoding: Annotated[ShortText | None, Form(description="Attribute encoding")] = None,
    layer: Annotated[ShortText | None, Form(description="Layer (default: the first)")] = None,
) -> dict[str, Any]:
    """Detect, without validating: format, layers, encoding (and how sure), CRS (with the CRS
    doctor's suggestion when the coordinates do not fit what is stored), fields with sample
    values, the proposed field mapping, level and parent.  Same limits and errors as an
    upload; nothing is recorded."""
    return inspect_upload(
        engine,
        file.file,
        sent_filename(file.filename),
        settings,
        kind=kind,
        level=level,
        parent=parent,
        layer=layer,
        encoding=encoding,
        crs=crs,
    )


@router.get("", summary="Upload history")
def list_uploads(
    request: Request, _: Viewer, conn: ConnectionDep, page: KeysetPageDep
) -> dict[str, Any]:
    """Uploads newest first: who, when, which file, status, resulting version; keyset pages
    (the ``next`` link's cursor), ``numberMatched`` exact up to 10 000 and estimated above
    (``numberMatchedExact``)."""
    cursors.check_key(request.query_params.get("cursor"), page.after, int)
    items, total = history.list_uploads(
        conn,
        limit=page.limit + 1,  # one more: whether a next page follows
        offset=page.offset,
        after=page.after,
        exact_up_to=EXACT_COUNT_UP_TO,
    )
    items, paging = paged(request, items, total=total, page=page, key=lambda u: u["id"])
    return {**paging, "uploads": items}


@router.get("/{upload_id}", summary="One upload and its report")
def get_upload(upload_id: Id, _: Viewer, conn: ConnectionDep) -> JSONResponse:
    """An upload with its parameters, validation report and resulting version (a JSON
    answer as stored: no walk through FastAPI's encoder for a city-sized report)."""
    return JSONResponse(history.get_upload(conn, upload_id))


@router.get(
    "/{upload_id}/features",
    summary="An upload's regions for review, as GeoJSON",
    response_class=GeoJSONResponse,
)
def upload_features(upload_id: Id, caller: Viewer, conn: ConnectionDep) -> GeoJSONResponse:
    """A boundary upload's regions as they would be stored, ``properties.change`` saying
    what it does to each (added, modified, unchanged; unknown when errors kept that from
    being worked out), the stored regions it removes (``removed``) and those of its level
    around them as they stood before it (``context``): a GeoJSON FeatureCollection, with the
    upload and its report as ``upload`` and the problem kinds' Chinese names."""
    return GeoJSONResponse(redact(review_features(conn, upload_id), caller.role))
