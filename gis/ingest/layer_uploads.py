"""Bulk uploads of centres, cameras and roads: read, check every feature, write all or nothing.

Centres and cameras come as point layers or CSV files with lon/lat columns (any CRS gridmap
accepts, GBK or UTF-8), with Chinese or English field names; every feature is checked like a
single write (``gis.query.layers``), and one bad feature refuses the file.  A commit updates the
centres whose names, and the cameras whose device IDs, are already stored and adds the rest;
roads (lines, e.g. an OpenStreetMap extract's ``lines`` layer) replace the stored roads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, text

from gis.errors import GridmapError
from gis.ingest.address_uploads import process_address_upload
from gis.ingest.fields import LAYER_SYNONYMS, map_fields, require_roles
from gis.ingest.uploads import (
    Progress,
    UploadRequest,
    UploadResult,
    file_points,
    file_report,
    json_safe,
    process_upload,
    read_layer,
    reproject,
    write_all_or_nothing,
)
from gis.query.facilities import CAMERAS, CENTRES, ROADS
from gis.query.layers import LayerSpec, check_attributes, resolve_region
from gis.settings import Settings

SPECS = {spec.name: spec for spec in (CENTRES, CAMERAS, ROADS)}
NATURAL_KEYS = {"centres": "name", "cameras": "device_id"}
"""The attribute by which an uploaded centre or camera updates a stored one."""


def _problem(feature: int, code: str, message: str, attribute: str | None = None) -> dict:
    return {
        "kind": code,
        "severity": "error",
        "feature": feature,
        "attribute": attribute,
        "message": message,
    }


def _lines(geometries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single lines of each feature (multi-lines split), and the feature of each line."""
    present = ~shapely.is_missing(geometries)
    parts, owner = shapely.get_parts(geometries[present], return_index=True)
    keep = shapely.get_type_id(parts) == shapely.GeometryType.LINESTRING
    return parts[keep], np.flatnonzero(present)[owner[keep]]


def process_layer_upload(
    engine: Engine,
    path: Path,
    request: UploadRequest,
    settings: Settings,
    progress: Progress | None = None,
) -> UploadResult:
    """Validate a centres, cameras or roads file and, unless a dry run, write it whole."""
    step = progress or (lambda _: None)
    spec = SPECS[request.kind]
    synonyms = LAYER_SYNONYMS[spec.name]
    step("reading")
    lines = spec is ROADS
    layer = read_layer(path, request, settings, geometry="lines" if lines else "points")
    mapping = map_fields(layer.fields, request.fields, synonyms)
    has_geometry = not shapely.is_missing(layer.geometries).all()
    required = [a.name for a in spec.attributes if a.required and a.default is None]
    require_roles(
        mapping,
        required + ([] if has_geometry or lines else ["lon", "lat"]),
        layer.fields,
        synonyms,
    )
    step("reprojecting")
    if not lines:
        layer = replace(layer, geometries=file_points(layer, mapping))
    geometries, crs = reproject(layer, request)
    roles = {r: f for r, f in mapping.roles.items() if r not in ("lon", "lat")}
    highway = mapping.roles.get("highway")

    problems: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for i in range(len(layer)):
        values = {r: json_safe(layer.columns[f][i]) for r, f in roles.items()}
        if lines and highway and values.get("highway") is None:
            continue  # an OSM extract's waterways, railways …: not roads
        clean, found = check_attributes(spec, values)
        problems += [_problem(i + 1, p["code"], p["message"], p["attribute"]) for p in found]
        if not lines and geometries[i] is None:
            problems.append(
                _problem(i + 1, "invalid_coordinates", "坐标缺失或无效 (missing coordinates)")
            )
        if not found:
            rows.append({**clean, "feature": i + 1, "geometry": geometries[i]})
    key = NATURAL_KEYS.get(spec.name)
    if key:
        counts = Counter(r[key] for r in rows)
        problems += [
            _problem(
                r["feature"],
                f"duplicate_{key}",
                f"{key} {r[key]} 在文件中出现 {counts[r[key]]} 次 (used more than once)",
                key,
            )
            for r in rows
            if counts[r[key]] > 1
        ]

    def check(conn: Connection) -> list[dict[str, Any]]:
        found = []
        for row in rows:
            if spec.regional and row["geometry"] is not None:
                try:
                    row["region_code"] = resolve_region(
                        conn, row.get("region_code"), row["geometry"].x, row["geometry"].y
                    )
                except GridmapError as error:
                    found.append(_problem(row["feature"], error.code, error.message))
        return found

    if lines and not rows:
        problems.append(_problem(0, "empty_layer", "文件中没有道路 (no roads in the file)"))

    def write(conn: Connection) -> dict[str, Any]:
        return _write_roads(conn, rows) if lines else _upsert(conn, spec, key, rows)

    report = {"features": len(layer), **file_report(layer, crs, mapping)}
    return write_all_or_nothing(engine, request, report, problems, check, write, step)


def _upsert(
    conn: Connection, spec: LayerSpec, key: str, rows: list[dict[str, Any]]
) -> dict[str, list[Any]]:
    stored = dict(
        conn.execute(
            text(f"SELECT {key}, id FROM {spec.table} WHERE {key} = ANY(:keys)"),
            {"keys": [r[key] for r in rows]},
        ).all()
    )
    columns = spec.columns
    params = [
        {**{c: r.get(c) for c in columns}, "lon": r["geometry"].x, "lat": r["geometry"].y}
        for r in rows
    ]
    new = [p for p in params if p[key] not in stored]
    old = [{**p, "id": stored[p[key]]} for p in params if p[key] in stored]
    point = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
    if new:
        conn.execute(
            text(
                f"INSERT INTO {spec.table} ({', '.join(columns)}, geom) "
                f"VALUES ({', '.join(':' + c for c in columns)}, {point})"
            ),
            new,
        )
    if old:
        conn.execute(
            text(
                f"UPDATE {spec.table} SET {', '.join(f'{c} = :{c}' for c in columns)}, "
                f"geom = {point}, updated_at = now() WHERE id = :id"
            ),
            old,
        )
    return {"added": [p[key] for p in new], "modified": [p[key] for p in old]}


def _write_roads(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    removed = conn.execute(text("DELETE FROM roads")).rowcount
    lines, owner = _lines(np.array([r["geometry"] for r in rows], dtype=object))
    params = [
        {
            **{c: rows[i].get(c) for c in ROADS.columns},
            "wkb": shapely.to_wkb(line),
        }
        for line, i in zip(lines, owner.tolist(), strict=True)
    ]
    if params:
        conn.execute(
            text(
                f"INSERT INTO roads ({', '.join(ROADS.columns)}, geom) VALUES "
                f"({', '.join(':' + c for c in ROADS.columns)}, ST_GeomFromWKB(:wkb, 4326))"
            ),
            params,
        )
    return {"added": len(params), "removed": removed}


PROCESSORS = {
    "boundaries": process_upload,
    "addresses": process_address_upload,
    **dict.fromkeys(SPECS, process_layer_upload),
}
"""The function that processes each kind of upload."""
