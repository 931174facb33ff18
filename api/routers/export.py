"""Exporting regions as files for desktop GIS."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from api.deps import AsOf, CallerDep, ConnectionDep, by_address, role_of
from api.responses import CRS_HEADER
from api.routers.regions import Level
from api.text import Code
from gis.query.export import FORMATS, export_regions
from gis.store.versions import resolve_version

router = APIRouter(
    prefix="/api/v1/export", tags=["export"], dependencies=[Depends(by_address("export"))]
)


@router.get("", summary="Export regions to a file", response_class=FileResponse)
def export(
    conn: ConnectionDep,
    caller: CallerDep,
    level: Level,
    format: Literal["geojson", "gpkg", "shp"] = "geojson",
    encoding: Annotated[
        Literal["utf-8", "gbk"] | None, Query(description="Shapefile attribute encoding")
    ] = None,
    parent: Annotated[Code | None, Query(description="Only the children of this code")] = None,
    as_of: AsOf = None,
) -> FileResponse:
    """GeoJSON, GeoPackage or a zipped Shapefile (with .cpg) of one level, in EPSG:4326;
    personal fields as the caller's role may see them (none for anonymous callers)."""
    version = resolve_version(conn, as_of)
    tmp = tempfile.mkdtemp(prefix="gridmap-export-")
    try:
        path = export_regions(
            conn,
            Path(tmp),
            version=version or 0,
            level=level,
            fmt=format,
            parent=parent,
            encoding=encoding,
            role=role_of(caller),
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type=FORMATS[format].media_type,
        filename=path.name,
        headers=CRS_HEADER,
        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True),
    )
