"""Rosters (花名册): a level's regions as an Excel or CSV attribute table, and back."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse, Response

from api.deps import AsOf, CallerDep, ConnectionDep, EngineDep, SettingsDep, by_address, role_of
from api.responses import checked_write
from api.routers.regions import Level
from api.routers.uploads import UNREADABLE, Editor, sent_filename
from api.schemas import RosterAnswer
from api.text import Code, ShortText
from gis.ingest.roster_uploads import RosterRequest, import_roster
from gis.query.roster import read_roster, to_csv, to_xlsx
from gis.store.versions import resolve_version

router = APIRouter(prefix="/api/v1/rosters", tags=["rosters"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "",
    summary="Export a roster (xlsx or CSV)",
    response_class=Response,
    dependencies=[Depends(by_address("export"))],
    responses={200: {"content": {XLSX: {}, "text/csv": {}}}},
)
def export_roster(
    conn: ConnectionDep,
    caller: CallerDep,
    level: Level = "grid",
    region: Annotated[
        Code | None, Query(description="Only regions at or below this code (default: all)")
    ] = None,
    format: Literal["xlsx", "csv"] = "xlsx",
    encoding: Annotated[
        Literal["utf-8", "gb18030"] | None, Query(description="CSV encoding (UTF-8 has a BOM)")
    ] = None,
    as_of: AsOf = None,
) -> Response:
    """The regions of ``level`` at or below ``region`` as a table with Chinese headers, one
    row per region (code as text); xlsx states the version on its 说明 sheet, both in the file
    name.  Personal columns only for roles that see them whole (none for viewers: their
    re-import keeps the stored values).  Text that would be a formula stays text."""
    version = resolve_version(conn, as_of) or 0
    roster = read_roster(conn, level=level, region=region, version=version, role=role_of(caller))
    if format == "xlsx":
        body, media_type = to_xlsx(roster), XLSX
    else:
        body, media_type = to_csv(roster, encoding), f"text/csv; charset={encoding or 'utf-8'}"
    name = f"{roster.filename}.{format}"
    shown = quote(f"花名册_{name}")
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{shown}",
            "X-Gridmap-Version": str(version),
        },
    )


@router.post(
    "",
    summary="Import a roster (attributes only)",
    response_model=RosterAnswer,
    responses={201: {"model": RosterAnswer, "description": "Committed."}, **UNREADABLE},
)
def import_roster_file(
    engine: EngineDep,
    settings: SettingsDep,
    principal: Editor,
    file: Annotated[UploadFile, File(description="An xlsx or CSV roster")],
    level: Annotated[Level | None, Form(description="Level (default: the codes')")] = None,
    encoding: Annotated[ShortText | None, Form(description="CSV encoding, e.g. GB18030")] = None,
    dry_run: Annotated[bool, Form(description="Only check (default)")] = True,
) -> JSONResponse:
    """Check an edited roster and, with ``dry_run=false``, commit its changed cells (name,
    households, population, grid worker, phone, party branch) as one new boundary version;
    geometry, parent and area are never touched.  200 with the report for a dry run, 201
    when committed; 422 ``validation_failed`` (with the report: each problem's row and
    column) when errors block it; 403 for a region outside the caller's scope."""
    result = import_roster(
        engine,
        file.file,
        RosterRequest(
            filename=sent_filename(file.filename),
            author=principal.name,
            level=level,
            encoding=encoding,
            dry_run=dry_run,
        ),
        settings,
        principal.scope,
    )
    body: dict[str, Any] = {
        "status": result.status,
        "version": result.version,
        "report": result.report,
    }
    return checked_write(
        body,
        f"花名册有 {result.report['summary']['errors']} 个错误，未做任何更改 "
        "(the roster has errors; nothing was changed)",
    )
