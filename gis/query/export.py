"""Exporting regions to files desktop GIS opens: GeoJSON, GeoPackage, zipped Shapefile."""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyogrio.raw import write as write_raw
from sqlalchemy import Connection, text

from gis.access.privacy import attribute_kind, redact, view
from gis.catalogue import REGION_LAYERS
from gis.errors import InvalidInput
from gis.ingest.encoding import normalise_encoding_name
from gis.store.versions import valid_at


@dataclass(frozen=True)
class ExportFormat:
    """A file format regions can be exported to."""

    driver: str
    suffix: str
    media_type: str


FORMATS = {
    "geojson": ExportFormat("GeoJSON", ".geojson", "application/geo+json"),
    "gpkg": ExportFormat("GPKG", ".gpkg", "application/geopackage+sqlite3"),
    "shp": ExportFormat("ESRI Shapefile", ".zip", "application/zip"),
}

SHAPEFILE_NAMES = {
    "parent_code": "parent",
    "grid_worker": "worker",
    "grid_worker_phone": "phone",
    "party_branch": "branch",
}
"""DBF field names are at most 10 bytes: the short names (the importer knows them)."""


def export_regions(
    conn: Connection,
    dest_dir: Path,
    *,
    version: int,
    level: str,
    fmt: str,
    parent: str | None = None,
    encoding: str | None = None,
    role: str | None,
) -> Path:
    """Write the regions of ``level`` (under ``parent``) at ``version`` into ``dest_dir``.

    Geometry is EPSG:4326; the file is named after the level's layer in ``gis.catalogue``
    (``counties.gpkg``, ``grids_130227001001.geojson``) and carries its fields.  Shapefiles
    come zipped (their parts are written in a temporary directory, so ``dest_dir`` receives
    the archive only) with a ``.cpg`` naming their encoding (UTF-8 by default, or GBK for
    older desktop GIS); they carry the layer's fields only.  ``level`` and ``area_m2`` are
    helper columns for the desk: a re-import ignores them
    (``gis.store.versions.DERIVED_COLUMNS``).  Personal fields (``gis.access.privacy``) are
    written only for a ``role`` that sees them whole: for anyone else the file has no such
    columns at all — neither empty nor masked ones, which an editor re-importing the file
    would write over the stored values.
    """
    if fmt not in FORMATS:
        raise InvalidInput(
            f"不支持的导出格式 {fmt} (unknown export format; use {sorted(FORMATS)})",
            code="invalid_format",
            details={"format": fmt},
        )
    if level not in REGION_LAYERS:
        raise InvalidInput(
            f"未知层级 {level} (unknown level; expected one of {list(REGION_LAYERS)})",
            code="invalid_level",
            details={"level": level},
        )
    spec, layer = FORMATS[fmt], REGION_LAYERS[level]
    if encoding is not None and fmt != "shp":
        raise InvalidInput(
            "只有 Shapefile 可以指定编码 (only shapefiles take an encoding; others are UTF-8)",
            code="invalid_encoding_option",
        )
    where = f"level = :level AND {valid_at('')}"
    params: dict[str, Any] = {"level": level, "v": version}
    if parent:
        where += " AND parent_code = :parent"
        params["parent"] = parent
    rows = (
        conn.execute(
            text(
                f"SELECT {', '.join(layer.columns)}, attributes, ST_AsBinary(geom) AS wkb "
                f"FROM {layer.table} WHERE {where} ORDER BY code"
            ),
            params,
        )
        .mappings()
        .all()
    )
    rows = redact([dict(row) for row in rows], role)
    if not rows:
        raise InvalidInput(
            "没有可导出的区域 (no regions match the export)",
            code="nothing_to_export",
            details={"level": level, "parent": parent, "version": version},
        )
    # a file travels and comes back: personal fields the caller may not see whole are left
    # out, not written empty or masked — re-imported, the stored values are kept
    whole = view(role) == "whole"
    core = [f.name for f in layer.attributes if whole or not f.personal]
    columns: dict[str, list[Any]] = {c: [r[c] for r in rows] for c in core}
    if fmt == "shp":
        columns = {SHAPEFILE_NAMES.get(c, c): v for c, v in columns.items()}
    else:
        found = {k for r in rows for k in r["attributes"] if whole or attribute_kind(k) is None}
        extra = sorted(found - set(columns))
        for key in extra:
            columns[key] = [
                v if v is None or isinstance(v, str | int | float) else json.dumps(v)
                for v in (r["attributes"].get(key) for r in rows)
            ]
    name = layer.name if parent is None else f"{layer.name}_{parent}"
    if fmt != "shp":
        target = dest_dir / f"{name}{spec.suffix}"
        _write(target, name, spec, rows, columns, None)
        return target
    archive = dest_dir / f"{name}.zip"
    with tempfile.TemporaryDirectory(prefix="gridmap-shp-") as parts_dir:
        parts = Path(parts_dir)
        _write(parts / f"{name}.shp", name, spec, rows, columns, encoding or "UTF-8")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for part in sorted(parts.iterdir()):
                z.write(part, part.name)
    return archive


def _write(
    target: Path,
    name: str,
    spec: ExportFormat,
    rows: list[Any],
    columns: dict[str, list[Any]],
    encoding: str | None,
) -> None:
    """Write the rows' geometries with ``columns`` as one layer ``name`` at ``target``."""
    arrays = [_array(v) for v in columns.values()]
    write_raw(
        target,
        geometry=np.array([bytes(r["wkb"]) for r in rows], dtype=object),
        field_data=[values for values, _ in arrays],
        field_mask=[mask for _, mask in arrays],
        fields=list(columns),
        layer=name,
        driver=spec.driver,
        geometry_type="MultiPolygon",
        crs="EPSG:4326",
        encoding=normalise_encoding_name(encoding) if encoding else None,
    )


def _array(values: list[Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """A column for pyogrio and its null mask: booleans as bool, integers as int64, other
    numbers as float64, text as objects — so that the importer reads the same values back
    (a column of true/false with a null must not come back as 1.0/0.0)."""
    present = [v for v in values if v is not None]
    mask = np.array([v is None for v in values]) if len(present) < len(values) else None
    for kind, dtype in ((bool, np.bool_), (int, np.int64), (int | float, np.float64)):
        if present and all(isinstance(v, kind) for v in present):
            fill = dtype(0)
            return np.array([fill if v is None else v for v in values], dtype=dtype), mask
    return np.array(values, dtype=object), None
