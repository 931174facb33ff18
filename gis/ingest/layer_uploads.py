"""Centres, cameras and roads, kinds of the upload pipeline: every feature checked, all or nothing.

Centres and cameras come as point layers or CSV files with lon/lat columns (any CRS gridmap
accepts, GBK or UTF-8), with Chinese or English field names; every feature is checked like a
single write (``gis.query.layers``), and one bad feature refuses the file.  A commit updates the
centres whose names, and the cameras whose device IDs, are already stored and adds the rest;
roads (lines, e.g. an OpenStreetMap extract's ``lines`` layer) replace the stored roads.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, text

from gis.access.scope import check_points, check_stored_points
from gis.catalogue import CAMERAS, CENTRES, ROADS
from gis.catalogue.schema import Layer
from gis.errors import GridmapError
from gis.ingest.fields import LAYER_SYNONYMS
from gis.ingest.pipeline import (
    Batch,
    Progress,
    Reprojected,
    Staged,
    UploadKind,
    UploadRequest,
    json_safe,
)
from gis.ingest.problems import Problem
from gis.network.build import build_network
from gis.query.layers import check_attributes, resolve_region
from gis.settings import Settings

NATURAL_KEYS = {"centres": "name", "cameras": "device_id"}
"""The attribute by which an uploaded centre or camera updates a stored one."""


def _problem(feature: int, kind: str, message: str, attribute: str | None = None) -> Problem:
    """A row's error: names the attribute at fault (or none)."""
    return Problem(kind, "error", message, feature=feature, attribute=attribute, row=True)


def _lines(geometries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single lines of each feature (multi-lines split), and the feature of each line."""
    present = ~shapely.is_missing(geometries)
    parts, owner = shapely.get_parts(geometries[present], return_index=True)
    keep = shapely.get_type_id(parts) == shapely.GeometryType.LINESTRING
    return parts[keep], np.flatnonzero(present)[owner[keep]]


def _ewkb(geometry: shapely.Geometry) -> str:
    """A geometry as hex EWKB in EPSG:4326 (PostGIS reads it as a geometry value, exactly)."""
    return shapely.to_wkb(shapely.set_srid(geometry, 4326), hex=True, include_srid=True)


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, allow_nan=False)


def _records(table: str) -> str:
    """The rows of parameter ``:rows`` (a JSON array of objects named as ``table``'s
    columns) typed as ``table``'s rows.  An upload writes with one statement per kind of
    change, not one per row: each statement fires the layer's stamp trigger
    (``layer_stamps``) once, where row-by-row writes stacked one version of the stamp's row
    per feature in the transaction — quadratic, 25 minutes and more for 500 000 cameras."""
    return f"jsonb_populate_recordset(NULL::{table}, CAST(:rows AS jsonb))"


def _upsert(
    conn: Connection, spec: Layer, key: str, rows: list[dict[str, Any]]
) -> dict[str, list[Any]]:
    stored = dict(
        conn.execute(
            text(f"SELECT {key}, id FROM {spec.table} WHERE {key} = ANY(:keys)"),
            {"keys": [r[key] for r in rows]},
        ).all()
    )
    columns = spec.columns
    params = [{**{c: r.get(c) for c in columns}, "geom": _ewkb(r["geometry"])} for r in rows]
    new = [p for p in params if p[key] not in stored]
    old = [{**p, "id": stored[p[key]]} for p in params if p[key] in stored]
    listed = ", ".join(columns)
    if new:
        conn.execute(
            text(
                f"INSERT INTO {spec.table} ({listed}, geom) SELECT {listed}, geom "
                f"FROM {_records(spec.table)}"
            ),
            {"rows": _json(new)},
        )
    if old:
        conn.execute(
            text(
                f"UPDATE {spec.table} AS t SET {', '.join(f'{c} = r.{c}' for c in columns)}, "
                f"geom = r.geom, updated_at = now() FROM {_records(spec.table)} AS r "
                "WHERE t.id = r.id"
            ),
            {"rows": _json(old)},
        )
    return {"added": [p[key] for p in new], "modified": [p[key] for p in old]}


BARRIERS = {"waterway": ("river", "canal"), "railway": ("rail", "light_rail", "narrow_gauge")}
"""OpenStreetMap's values of the lines kept as barriers without a ``highway``: rivers and
canals, railway lines (not streams or drains, which a path steps over, nor trams, subways,
platforms or abandoned tracks)."""


def barrier_columns(columns: dict[str, Any]) -> dict[str, Any]:
    """The file's ``waterway`` and ``railway`` columns (an OSM extract's), by kind."""
    by_name = {str(name).lower(): values for name, values in columns.items()}
    return {kind: by_name[kind] for kind in BARRIERS if kind in by_name}


def line_kind(values: dict[str, Any], barriers: dict[str, Any], i: int) -> str | None:
    """What line ``i`` of a roads file is: a road (it has a ``highway``), a river or railway
    kept as a barrier, or None (skipped)."""
    if values.get("highway") is not None:
        return "road"
    for kind, column in barriers.items():
        value = column[i]
        if isinstance(value, str) and value.strip().lower() in BARRIERS[kind]:
            return kind
    return None


def _write_roads(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    removed = conn.execute(text("DELETE FROM roads")).rowcount
    lines, owner = _lines(np.array([r["geometry"] for r in rows], dtype=object))
    params = [
        {
            **{c: rows[i].get(c) for c in ROADS.columns},
            "kind": rows[i]["kind"],
            "geom": _ewkb(line),
        }
        for line, i in zip(lines, owner.tolist(), strict=True)
    ]
    if params:
        listed = ", ".join((*ROADS.columns, "kind"))
        conn.execute(
            text(
                f"INSERT INTO roads ({listed}, geom) SELECT {listed}, geom FROM {_records('roads')}"
            ),
            {"rows": _json(params)},
        )
    build_network(conn)
    return {"added": len(params), "removed": removed}


class LayerBatch(Batch):
    """A centres, cameras or roads file's rows that passed their checks, and the problems."""

    def __init__(self, spec: Layer, read: Reprojected) -> None:
        self.spec, self.key, self.layer_name = spec, NATURAL_KEYS.get(spec.name), spec.name
        self.table = spec.table
        self.lines = spec is ROADS
        layer, mapping, geometries = read.layer, read.mapping, read.geometries
        roles = {r: f for r, f in mapping.roles.items() if r not in ("lon", "lat")}
        highway = mapping.roles.get("highway")
        barriers = barrier_columns(layer.columns) if self.lines else {}
        self.problems: list[Problem] = []
        self.rows: list[dict[str, Any]] = []
        for i in range(len(layer)):
            values = {r: json_safe(layer.columns[f][i]) for r, f in roles.items()}
            kind = (line_kind(values, barriers, i) if highway else "road") if self.lines else None
            if self.lines and kind is None:
                continue  # an OSM extract's streams, platforms, power lines …
            clean, found = check_attributes(spec, values)
            self.problems += [
                _problem(i + 1, p["code"], p["message"], p["attribute"]) for p in found
            ]
            if not self.lines and geometries[i] is None:
                self.problems.append(
                    _problem(i + 1, "invalid_coordinates", "坐标缺失或无效 (missing coordinates)")
                )
            if not found:
                line = {"kind": kind} if self.lines else {}
                self.rows.append({**clean, **line, "feature": i + 1, "geometry": geometries[i]})
        if self.key:
            key, counts = self.key, Counter(r[self.key] for r in self.rows)
            self.problems += [
                _problem(
                    r["feature"],
                    f"duplicate_{key}",
                    f"{key} {r[key]} 在文件中出现 {counts[r[key]]} 次 (used more than once)",
                    key,
                )
                for r in self.rows
                if counts[r[key]] > 1
            ]
        if self.lines and not self.rows:
            self.problems.append(
                _problem(0, "empty_layer", "文件中没有道路 (no roads in the file)")
            )

    def check(self, conn: Connection, step: Progress) -> list[Problem]:
        """Each point's region: the one named, else the grid it lies in."""
        found = []
        for row in self.rows:
            if self.spec.regional and row["geometry"] is not None:
                try:
                    row["region_code"] = resolve_region(
                        conn, row.get("region_code"), row["geometry"].x, row["geometry"].y
                    )
                except GridmapError as error:
                    found.append(_problem(row["feature"], error.code, error.message))
        return found

    def authorize(self, conn: Connection, scope: str | None) -> None:
        """Points inside ``scope``, and the stored centres or cameras they update too; the
        roads replace everything, so a scoped uploader is refused them."""
        if self.lines or scope is None:
            super().authorize(conn, scope)
            return
        key = self.key or ""
        check_points(conn, scope, [r["geometry"] for r in self.rows])
        check_stored_points(conn, scope, self.spec.table, key, [r[key] for r in self.rows])

    def stage(self, conn: Connection) -> Staged:
        """Upsert centres or cameras by their key; replace the roads."""
        if self.lines:
            return Staged(_write_roads(conn, self.rows))
        assert self.key is not None
        return Staged(_upsert(conn, self.spec, self.key, self.rows))


class PointLayer(UploadKind):
    """The kind of one point layer (centres, cameras) or of the roads (lines)."""

    def __init__(self, spec: Layer) -> None:
        self.spec = spec
        self.geometry = "lines" if spec is ROADS else "points"
        self.synonyms = LAYER_SYNONYMS[spec.name]

    def required(self, request: UploadRequest) -> list[str]:
        """The layer's required attributes that have no default."""
        return [a.name for a in self.spec.attributes if a.required and a.default is None]

    def batch(self, read: Reprojected, request: UploadRequest, settings: Settings) -> Batch:
        """The file's rows."""
        return LayerBatch(self.spec, read)


CENTRE_UPLOADS, CAMERA_UPLOADS, ROAD_UPLOADS = (PointLayer(s) for s in (CENTRES, CAMERAS, ROADS))
