"""Reading regions as GeoJSON features, at the current or an earlier boundary version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from gis.errors import InvalidInput, NotFound
from gis.query.cursor import count_matching
from gis.store.versions import ATTRIBUTE_COLUMNS, current, valid_at

GEOJSON_CRS = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
"""The CRS member of every FeatureCollection: WGS84 lon/lat, i.e. EPSG:4326 in x/y order."""

CRS_NAME = "EPSG:4326"

_VALID_AT = valid_at()

# Simplification in true metres: in the UTM zone of the geometry's centroid.
_UTM_SRID = (
    "(CASE WHEN ST_Y(ST_Centroid(r.geom)) >= 0 THEN 32600 ELSE 32700 END "
    "+ LEAST(60, GREATEST(1, floor((ST_X(ST_Centroid(r.geom)) + 180) / 6)::int + 1)))"
)
_SIMPLIFIED = (
    f"ST_Multi(ST_Transform(ST_SimplifyPreserveTopology("
    f"ST_Transform(r.geom, {_UTM_SRID}), :tol), 4326))"
)


@dataclass(frozen=True)
class BBox:
    """A lon/lat bounding box in EPSG:4326."""

    minx: float
    miny: float
    maxx: float
    maxy: float

    @classmethod
    def parse(cls, value: str) -> BBox:
        """Parse ``minlon,minlat,maxlon,maxlat``; raise ``invalid_bbox`` when malformed."""
        parts = value.split(",")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = []
        bad = (
            len(numbers) != 4
            or any(n != n for n in numbers)  # NaN
            or not (-180 <= numbers[0] <= numbers[2] <= 180)
            or not (-90 <= numbers[1] <= numbers[3] <= 90)
        )
        if bad:
            raise InvalidInput(
                "bbox 应为 最小经度,最小纬度,最大经度,最大纬度 (EPSG:4326), "
                f"got {value!r} (expected minlon,minlat,maxlon,maxlat in degrees)",
                code="invalid_bbox",
                details={"bbox": value},
            )
        return cls(*numbers)


def _region_not_found(code: str, version: int | None) -> NotFound:
    return NotFound(
        f"未找到编码为 {code} 的区域 (no region with code {code} in version {version})",
        code="region_not_found",
        details={"code": code, "version": version},
    )


def _geometry_sql(simplify_m: float | None) -> str:
    return _SIMPLIFIED if simplify_m else "r.geom"


_PROPERTIES = ("code", "name", "level", "parent_code", "area_m2", *ATTRIBUTE_COLUMNS)
FILTERABLE = ("code", "name", "level", "parent_code", *ATTRIBUTE_COLUMNS)
"""Properties ``list_regions`` can filter on by equality."""


def _select(simplify_m: float | None) -> str:
    return (
        f"SELECT {', '.join('r.' + c for c in _PROPERTIES)}, r.attributes, r.valid_from, "
        f"ST_AsGeoJSON({_geometry_sql(simplify_m)}, 7)::json AS geometry FROM regions r"
    )


def _feature(row: Any) -> dict[str, Any]:
    properties = {c: row[c] for c in _PROPERTIES}
    properties["area_m2"] = round(row["area_m2"], 2)
    properties["attributes"] = row["attributes"]
    properties["valid_from_version"] = row["valid_from"]
    return {
        "type": "Feature",
        "id": row["code"],
        "geometry": row["geometry"],
        "properties": properties,
    }


def list_regions(
    conn: Connection,
    *,
    version: int | None,
    level: str | None = None,
    parent: str | None = None,
    bbox: BBox | None = None,
    limit: int,
    offset: int = 0,
    after: str | None = None,
    exact_up_to: int | None = None,
    simplify_m: float | None = None,
    equals: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Regions valid at ``version`` matching the filters, ordered by code; and the total.

    ``equals`` maps property names (``code``, ``name``, ``households`` …) to the values they
    must equal.  ``after``: the regions after that code (a keyset page: the code index finds
    its start, no rows are skipped one by one).  ``exact_up_to``: the total is counted
    exactly up to it and estimated beyond (``gis.query.cursor.count_matching``)."""
    if version is None:
        return [], 0
    where = [_VALID_AT]
    params: dict[str, Any] = {"v": version, "limit": limit, "offset": offset, "tol": simplify_m}
    for i, (name, value) in enumerate(sorted((equals or {}).items())):
        if name not in FILTERABLE:
            raise ValueError(f"regions cannot be filtered on {name!r}")
        where.append(f"r.{name} = :eq{i}")
        params[f"eq{i}"] = value
    if level:
        where.append("r.level = :level")
        params["level"] = level
    if parent:
        where.append("r.parent_code = :parent")
        params["parent"] = parent
    if bbox:
        where.append("ST_Intersects(r.geom, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326))")
        params.update(minx=bbox.minx, miny=bbox.miny, maxx=bbox.maxx, maxy=bbox.maxy)
    condition = " AND ".join(where)
    total = count_matching(conn, f"regions r WHERE {condition}", params, exact_up_to)
    if after is not None:
        condition += " AND r.code > :after"
        params["after"] = after
    rows = conn.execute(
        text(
            f"{_select(simplify_m)} WHERE {condition} ORDER BY r.code LIMIT :limit OFFSET :offset"
        ),
        params,
    ).mappings()
    return [_feature(row) for row in rows], total


def extent(
    conn: Connection, *, version: int | None, level: str | None = None
) -> tuple[float, float, float, float] | None:
    """(minlon, minlat, maxlon, maxlat) of the regions (of ``level``) valid at ``version``;
    None when there are none."""
    if version is None:
        return None
    of_level = " AND r.level = :level" if level else ""
    row = conn.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ("
            f"SELECT ST_Extent(r.geom) AS e FROM regions r WHERE {_VALID_AT}{of_level}) s"
        ),
        {"v": version, "level": level},
    ).one()
    return None if row[0] is None else (row[0], row[1], row[2], row[3])


def get_region(
    conn: Connection, code: str, *, version: int | None, simplify_m: float | None = None
) -> dict[str, Any]:
    """One region as a feature, with its parent chain and a summary of its children."""
    row = None
    if version is not None:
        row = (
            conn.execute(
                text(f"{_select(simplify_m)} WHERE r.code = :code AND {_VALID_AT}"),
                {"code": code, "v": version, "tol": simplify_m},
            )
            .mappings()
            .first()
        )
    if row is None:
        raise _region_not_found(code, version)
    feature = _feature(row)
    feature["parents"] = _parent_chain(conn, row["parent_code"], version)
    feature["children"] = _children_summary(conn, code, version)
    return feature


def _parent_chain(conn: Connection, parent_code: str | None, version: int) -> list[dict[str, Any]]:
    """Ancestors from the top (county) down to the direct parent."""
    rows = conn.execute(
        text(
            f"""
            WITH RECURSIVE chain AS (
                SELECT r.code, r.name, r.level, r.parent_code, 1 AS depth
                FROM regions r WHERE r.code = :code AND {_VALID_AT}
                UNION ALL
                SELECT r.code, r.name, r.level, r.parent_code, chain.depth + 1
                FROM regions r JOIN chain ON r.code = chain.parent_code
                WHERE {_VALID_AT} AND chain.depth < 10
            )
            SELECT code, name, level FROM chain ORDER BY depth DESC
            """
        ),
        {"code": parent_code, "v": version},
    ).mappings()
    return [dict(r) for r in rows]


def _children_summary(conn: Connection, code: str, version: int) -> dict[str, Any]:
    row = (
        conn.execute(
            text(
                "SELECT count(*) AS count, array_agg(DISTINCT r.level) AS levels, "
                "sum(r.households) AS households, sum(r.population) AS population, "
                "sum(r.area_m2) AS area_m2 "
                f"FROM regions r WHERE r.parent_code = :code AND {_VALID_AT}"
            ),
            {"code": code, "v": version},
        )
        .mappings()
        .one()
    )
    return {
        "count": row["count"],
        "levels": sorted(row["levels"] or []),
        "households": row["households"],
        "population": row["population"],
        "area_m2": round(row["area_m2"], 2) if row["area_m2"] is not None else None,
    }


def require_region(conn: Connection, code: str, version: int | None) -> None:
    """Raise ``region_not_found`` unless ``code`` exists at ``version``."""
    exists = version is not None and conn.scalar(
        text(f"SELECT 1 FROM regions r WHERE r.code = :code AND {_VALID_AT}"),
        {"code": code, "v": version},
    )
    if not exists:
        raise _region_not_found(code, version)


def count_below(conn: Connection, roots: list[str], cap: int, level: str | None = None) -> int:
    """Current regions at and below ``roots`` (only those of ``level`` if given), counted up
    to ``cap``: the walk down the hierarchy stops there, so a province costs what a city does
    (the map pages' inline threshold, the analyses' grid limit)."""
    return conn.scalar(
        text(
            f"""
            WITH RECURSIVE below AS (
                SELECT code, level FROM regions WHERE code = ANY(:roots) AND {current("")}
                UNION ALL
                SELECT r.code, r.level FROM regions r JOIN below b ON r.parent_code = b.code
                WHERE {current()}
            )
            SELECT count(*) FROM (SELECT 1 FROM below
                                  WHERE CAST(:level AS text) IS NULL OR level = :level
                                  LIMIT :cap) AS capped
            """
        ),
        {"roots": roots, "cap": cap, "level": level},
    )


def subtree(
    conn: Connection, roots: list[str], *, simplify_m: dict[str, float], descend: bool = True
) -> list[dict[str, Any]]:
    """Current regions at and below ``roots`` (only ``roots`` unless ``descend``) as GeoJSON
    features, geometry simplified per level by ``simplify_m[level]`` metres (6 decimals),
    ordered by code."""
    tolerances = ", ".join(f"('{level}', {float(tol)!r})" for level, tol in simplify_m.items())
    rows = conn.execute(
        text(
            f"""
            WITH RECURSIVE below AS (
                SELECT code FROM regions WHERE code = ANY(:roots) AND {current("")}
                UNION
                SELECT r.code FROM regions r JOIN below b ON r.parent_code = b.code
                WHERE {current()} AND :descend
            )
            SELECT {", ".join("r." + c for c in _PROPERTIES)}, r.attributes, r.valid_from,
                   ST_AsGeoJSON(ST_Multi(ST_Transform(ST_SimplifyPreserveTopology(
                       ST_Transform(r.geom, {_UTM_SRID}), t.tol), 4326)), 6)::json AS geometry
            FROM regions r JOIN below USING (code)
            JOIN (VALUES {tolerances}) AS t(level, tol) ON t.level = r.level
            WHERE {current()} ORDER BY r.code
            """
        ),
        {"roots": roots, "descend": descend},
    ).mappings()
    return [_feature(row) for row in rows]
