"""Point layers — party-service centres, cameras, buildings: validation, reads and writes.

A layer is a table of points with typed attributes (declared in ``gis.catalogue``).
Attributes are checked with stable error codes; features are read as GeoJSON with spatial
filters (within metres of a point, the k nearest, in a bbox, intersecting a polygon, inside
a region) and written — created, replaced, patched, deleted — in the caller's transaction.
Distances are geodesic: PostGIS geography on the WGS84 spheroid.  Points are stored in
EPSG:4326 and may be given in any CRS gridmap accepts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, text

from gis.catalogue.schema import Field, Layer
from gis.errors import Conflict, InvalidInput, NotFound
from gis.geo.crs import to_wgs84_points
from gis.query.cursor import count_matching
from gis.query.regions import BBox, require_region
from gis.settings import Settings
from gis.store.versions import current, current_version


@dataclass(frozen=True)
class SpatialFilter:
    """Which features a query returns; a ``point`` (WGS84) adds ``distance_m`` to each."""

    point: tuple[float, float] | None = None
    within_m: float | None = None
    nearest: int | None = None
    bbox: BBox | None = None
    intersects: Any = None
    region: str | None = None
    equals: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- validation


MAX_TEXT = 500
"""Longest text attribute stored (a name, an address, opening hours): a 100 000-character
name is a mistake or an attack, never a centre's name."""


def _coerce(attribute: Field, value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if attribute.kind is str:
        text = str(value).strip()
        if len(text) > MAX_TEXT:
            raise ValueError(f"{len(text)} characters, at most {MAX_TEXT}")
        if "\x00" in text:
            raise ValueError("a NUL character")
        return attribute.aliases.get(text, text)
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    if attribute.kind is int:
        if number != int(number):
            raise ValueError("not a whole number")
        return int(number)
    return number


def check_attributes(
    spec: Layer, values: Mapping[str, Any], *, partial: bool = False
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Typed values and the problems found (code, attribute, message) — all of them.

    ``partial`` (a patch) checks only the attributes given and requires none.
    """
    clean: dict[str, Any] = {}
    problems: list[dict[str, str]] = []

    def problem(code: str, name: str, message: str) -> None:
        problems.append({"code": code, "attribute": name, "message": message})

    for name in sorted(set(values) - set(spec.columns)):
        problem("unknown_field", name, f"{spec.title}没有属性 {name} (unknown attribute)")
    for attribute in spec.attributes:
        if attribute.name not in values:
            if attribute.default is not None and not partial:
                clean[attribute.name] = attribute.default
            elif attribute.required and not partial:
                problem(
                    "missing_field",
                    attribute.name,
                    f"缺少必填属性 {attribute.name} (required attribute missing)",
                )
            continue
        try:
            value = _coerce(attribute, values[attribute.name])
        except (TypeError, ValueError) as error:
            kind = {str: "text", int: "a whole number", float: "a number"}[attribute.kind]
            given = repr(values[attribute.name])
            given = given if len(given) <= 60 else given[:59] + "…"
            problem(
                "invalid_field",
                attribute.name,
                f"{attribute.name} 应为{'文本' if attribute.kind is str else '数字'}: "
                f"{given} (must be {kind}: {error})",
            )
            continue
        if value is None:
            if attribute.required:
                problem(
                    "missing_field",
                    attribute.name,
                    f"缺少必填属性 {attribute.name} (required attribute missing)",
                )
            clean[attribute.name] = None
            continue
        found = attribute.problem(value)
        if found:
            problem(found[0], attribute.name, found[1])
            continue
        clean[attribute.name] = value
    return clean, problems


def _raise_first(problems: list[dict[str, str]]) -> None:
    if problems:
        first = problems[0]
        raise InvalidInput(first["message"], code=first["code"], details={"problems": problems})


def point_of(geometry: Any, crs: str) -> tuple[float, float]:
    """The WGS84 lon/lat of a GeoJSON Point geometry given in ``crs``."""
    try:
        if geometry["type"] != "Point":
            raise TypeError(geometry["type"])
        x, y = (float(c) for c in geometry["coordinates"][:2])
    except (TypeError, KeyError, ValueError, IndexError) as error:
        raise InvalidInput(
            f"几何应为点 {{'type': 'Point', 'coordinates': [x, y]}} (the geometry must be a "
            f"GeoJSON Point: {error})",
            code="invalid_geometry",
        ) from error
    lon, lat = to_wgs84_points(np.array([x]), np.array([y]), crs)
    return float(lon[0]), float(lat[0])


def resolve_region(conn: Connection, region_code: str | None, lon: float, lat: float) -> str | None:
    """A given region code (it must exist now: ``unknown_region``), else the code of the
    grid covering the point (lowest code on a shared edge; None outside every grid)."""
    if region_code is not None:
        exists = conn.scalar(
            text(f"SELECT 1 FROM regions WHERE code = :c AND {current('')}"), {"c": region_code}
        )
        if not exists:
            raise InvalidInput(
                f"区域编码 {region_code} 不存在 (unknown region code)",
                code="unknown_region",
                details={"region_code": region_code},
            )
        return region_code
    return conn.scalar(
        text(
            f"SELECT min(code) FROM regions WHERE level = 'grid' AND {current('')} "
            "AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
        ),
        {"lon": lon, "lat": lat},
    )


# --------------------------------------------------------------------------- reads


def _not_found(spec: Layer, key: Any) -> NotFound:
    return NotFound(
        f"{spec.title} {key} 不存在 (no such {spec.singular})",
        code=f"{spec.singular}_not_found",
        details={spec.key: key},
    )


def _where(spec: Layer, query: SpatialFilter, params: dict[str, Any]) -> str:
    clauses = [spec.where]
    for i, (name, value) in enumerate(sorted(query.equals.items())):
        clauses.append(f"t.{name} = :eq{i}")
        params[f"eq{i}"] = value
    if query.point is not None:
        params["lon"], params["lat"] = query.point
    if query.within_m is not None:
        clauses.append(
            "ST_DWithin(t.geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, "
            ":within)"
        )
        params["within"] = query.within_m
    if query.bbox is not None:
        b = query.bbox
        clauses.append("ST_Intersects(t.geom, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326))")
        params.update(minx=b.minx, miny=b.miny, maxx=b.maxx, maxy=b.maxy)
    if query.intersects is not None:
        clauses.append("ST_Intersects(t.geom, ST_GeomFromWKB(:shape, 4326))")
        params["shape"] = shapely.to_wkb(query.intersects)
    if query.region is not None:
        clauses.append(
            f"EXISTS (SELECT 1 FROM regions r WHERE r.code = :region AND {current()} "
            "AND ST_Covers(r.geom, t.geom))"
        )
        params["region"] = query.region
    return " AND ".join(clauses)


def _feature(spec: Layer, row: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    properties = {c: row[c] for c in spec.columns}
    if "distance_m" in row:
        properties["distance_m"] = round(row["distance_m"], 2)
    for derived in spec.derived:
        properties[derived.name] = derived.compute(properties, settings)
    return {
        "type": "Feature",
        "id": row[spec.key],
        "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
        "properties": properties,
    }


def _select(spec: Layer, query: SpatialFilter) -> str:
    columns = ", ".join(f"t.{c}" for c in dict.fromkeys([spec.key, *spec.columns]))
    distance = (
        ", ST_Distance(t.geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)"
        " AS distance_m"
        if query.point is not None
        else ""
    )
    return (
        f"SELECT {columns}, ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat{distance} FROM {spec.table} t"
    )


def key_type(spec: Layer) -> type:
    """The Python type of the layer's key (its features' ids and its lists' order):
    ``id`` is a bigint, every other key text."""
    return int if spec.key == "id" else str


def list_features(
    conn: Connection,
    spec: Layer,
    query: SpatialFilter,
    *,
    limit: int,
    offset: int,
    settings: Settings,
    after: Any = None,
    exact_up_to: int | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Features matching ``query`` (nearest first when a point is given, else by key) and
    how many match in all (at most ``nearest``).  ``after``: the features after that key
    (a keyset page; not with a point); ``exact_up_to``: the total is counted exactly up to
    it and estimated beyond (``gis.query.cursor.count_matching``)."""
    if query.region is not None:
        require_region(conn, query.region, current_version(conn))
    params: dict[str, Any] = {}
    where = _where(spec, query, params)
    total = count_matching(conn, f"{spec.table} t WHERE {where}", params, exact_up_to)
    if after is not None and query.point is None:
        where += f" AND t.{spec.key} > :after"
        params["after"] = after
    if query.nearest is not None:
        total = min(total, query.nearest)
        limit = max(0, min(limit, query.nearest - offset))
    order = (
        f"t.geom::geography <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, t.{spec.key}"
        if query.point is not None
        else f"t.{spec.key}"
    )
    rows = conn.execute(
        text(f"{_select(spec, query)} WHERE {where} ORDER BY {order} LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset},
    ).mappings()
    return [_feature(spec, row, settings) for row in rows], total


def extent(conn: Connection, spec: Layer) -> tuple[float, float, float, float] | None:
    """(minlon, minlat, maxlon, maxlat) of the layer's features; None when it is empty."""
    row = conn.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ("
            f"SELECT ST_Extent(t.geom) AS e FROM {spec.table} t WHERE {spec.where}) s"
        )
    ).one()
    return None if row[0] is None else (row[0], row[1], row[2], row[3])


def get_feature(conn: Connection, spec: Layer, key: Any, settings: Settings) -> dict[str, Any]:
    """One feature by its key (``<singular>_not_found`` if absent)."""
    row = (
        conn.execute(
            text(f"{_select(spec, SpatialFilter())} WHERE {spec.where} AND t.{spec.key} = :key"),
            {"key": key},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise _not_found(spec, key)
    return _feature(spec, row, settings)


# --------------------------------------------------------------------------- writes


def _check_unique(conn: Connection, spec: Layer, values: Mapping[str, Any], key: Any) -> None:
    for name in spec.unique:
        if values.get(name) is None:
            continue
        other = conn.scalar(
            text(
                f"SELECT {spec.key} FROM {spec.table} WHERE {name} = :v "
                f"AND {spec.key} IS DISTINCT FROM :key"
            ),
            {"v": values[name], "key": key},
        )
        if other is not None:
            raise Conflict(
                f"{name} {values[name]} 已被 {spec.title} {other} 使用 (already used)",
                code=f"duplicate_{name}",
                details={name: values[name], spec.key: other},
            )


def _writable(spec: Layer) -> None:
    if not spec.writable:
        raise InvalidInput(
            f"{spec.title}只能通过上传修改 (this layer is written through uploads)",
            code="read_only_layer",
        )


def create_feature(
    conn: Connection, spec: Layer, feature: Mapping[str, Any], crs: str, settings: Settings
) -> dict[str, Any]:
    """Insert a GeoJSON Feature (geometry in ``crs``); return it as stored."""
    _writable(spec)
    values, problems = check_attributes(spec, feature.get("properties") or {})
    _raise_first(problems)
    lon, lat = point_of(feature.get("geometry"), crs)
    values["region_code"] = resolve_region(conn, values.get("region_code"), lon, lat)
    _check_unique(conn, spec, values, None)
    names = list(values)
    key = conn.scalar(
        text(
            f"INSERT INTO {spec.table} ({', '.join(names)}, geom) VALUES "
            f"({', '.join(':' + n for n in names)}, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) "
            f"RETURNING {spec.key}"
        ),
        {**values, "lon": lon, "lat": lat},
    )
    return get_feature(conn, spec, key, settings)


def update_feature(
    conn: Connection,
    spec: Layer,
    key: Any,
    feature: Mapping[str, Any],
    crs: str,
    settings: Settings,
    *,
    partial: bool,
) -> dict[str, Any]:
    """Replace (``partial`` False: every required attribute and the geometry) or patch a
    feature; a moved point without a given region code gets the grid now covering it."""
    _writable(spec)
    current = get_feature(conn, spec, key, settings)
    given = feature.get("properties") or {}
    values, problems = check_attributes(spec, given, partial=partial)
    _raise_first(problems)
    geometry = feature.get("geometry")
    if geometry is None and not partial:
        point_of(None, crs)  # raises invalid_geometry
    lon, lat = current["geometry"]["coordinates"] if geometry is None else point_of(geometry, crs)
    if not partial:
        values = {c: values.get(c) for c in spec.columns}
    if "region_code" in values or geometry is not None:
        values["region_code"] = resolve_region(conn, values.get("region_code"), lon, lat)
    _check_unique(conn, spec, values, key)
    assignments = ", ".join(f"{n} = :{n}" for n in values)
    conn.execute(
        text(
            f"UPDATE {spec.table} SET {assignments}{', ' if values else ''}"
            "geom = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), updated_at = now() "
            f"WHERE {spec.key} = :key"
        ),
        {**values, "lon": lon, "lat": lat, "key": key},
    )
    return get_feature(conn, spec, key, settings)


def delete_feature(conn: Connection, spec: Layer, key: Any) -> None:
    """Delete a feature (``<singular>_not_found`` if absent)."""
    _writable(spec)
    deleted = conn.scalar(
        text(f"DELETE FROM {spec.table} WHERE {spec.key} = :key RETURNING {spec.key}"),
        {"key": key},
    )
    if deleted is None:
        raise _not_found(spec, key)
