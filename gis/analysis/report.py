"""Planners' analyses of a region from the stored layers: coverage, grid standards, siting.

The region is any current region (county, street, community or grid); its grids are the
current grids below it (or itself).  Demand points are the address registry's buildings with
households inside those grids; facilities are the centres (or cameras) that can reach them.
The computations are ``gis.analysis.coverage`` (with ``reach``) and ``gis.analysis.siting``;
this module reads their inputs, and keeps a coverage computed once per data state
(``gis.analysis.stored``); the grid standards are ``gis.analysis.standards``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import shapely
from sqlalchemy import Connection, text

from gis.analysis import paging, stored
from gis.analysis.coverage import (
    Computed,
    DemandPoint,
    Facility,
    Grid,
    compute_coverage,
    coverage_page,
)
from gis.analysis.reach import circle_pairs, sector_pairs
from gis.analysis.siting import maximal_covering
from gis.catalogue.schema import largest_default_radius_m, service_radius_m
from gis.errors import InvalidInput, TooLarge
from gis.geo.crs import to_wgs84_points
from gis.query.regions import count_below, require_region
from gis.settings import Settings
from gis.store.versions import current, current_version, valid_at

Layer = Literal["centres", "cameras"]

_GRID_COLUMNS = """g.code, g.name, g.households, g.population, g.grid_worker, g.party_branch,
       g.area_m2, c.code AS community_code, c.name AS community_name,
       ST_AsBinary(g.geom) AS wkb"""

_GRIDS = f"""
WITH RECURSIVE below AS (
    SELECT code FROM regions WHERE code = :region AND {current("")}
    UNION
    SELECT r.code FROM regions r JOIN below b ON r.parent_code = b.code
    WHERE {current()}
)
SELECT {_GRID_COLUMNS}
FROM regions g JOIN below USING (code)
LEFT JOIN regions c ON c.code = g.parent_code AND {current("c")}
WHERE g.level = 'grid' AND {current("g")}
"""
"""The current grids below a region (unsorted: sorting 160 MB of WKB in PostgreSQL spilled
to disk; Python sorts the codes, code-point order being ``COLLATE "C"``'s byte order)."""

_PAGE_GRIDS = f"""
SELECT {_GRID_COLUMNS}
FROM regions g LEFT JOIN regions c ON c.code = g.parent_code AND {valid_at("c")}
WHERE g.level = 'grid' AND g.code = ANY(:codes) AND {valid_at("g")}
"""
"""Grids by code at version ``:v``: a page of a stored result."""


@dataclass(frozen=True)
class RegionData:
    """A region's grids (with their attribute rows) and the demand points inside them."""

    grids: list[Grid]
    rows: list[dict[str, Any]]
    demand: list[DemandPoint]


def _too_large(
    what_zh: str, what_en: str, found: int, limit: int, setting: str, counted: bool = True
) -> TooLarge:
    """413 ``analysis_too_large``; ``counted`` False: ``found`` is where counting stopped."""
    zh, en = (str(found), str(found)) if counted else (f"超过 {limit}", f"more than {limit}")
    return TooLarge(
        f"分析范围过大：{zh} 个{what_zh}，上限 {limit}；请选择更小的区域 "
        f"(too large to analyse: {en} {what_en}, at most {limit}; choose a smaller region)",
        code="analysis_too_large",
        details={what_en: found, "limit": limit, "setting": setting},
    )


def _grids(rows: list[dict[str, Any]]) -> list[Grid]:
    """Grids of attribute rows holding ``wkb`` (taken out of the rows: not kept twice)."""
    polygons = shapely.from_wkb([bytes(r.pop("wkb")) for r in rows])
    return [
        Grid(
            code=r["code"],
            name=r["name"],
            community_code=r["community_code"],
            community_name=r["community_name"],
            households=r["households"] or 0,
            population=r["population"] or 0,
            polygon=polygon,
            area_m2=r["area_m2"],
        )
        for r, polygon in zip(rows, polygons, strict=True)
    ]


def _rows(conn: Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Grid rows in code order."""
    result = conn.execute(text(sql), params)
    names = list(result.keys())
    rows = [dict(zip(names, row, strict=True)) for row in result]
    rows.sort(key=lambda r: r["code"])
    return rows


def region_grids(
    conn: Connection, region: str, settings: Settings
) -> tuple[list[Grid], list[dict[str, Any]]]:
    """The current grids below ``region`` in code order and their attribute rows (413
    ``analysis_too_large`` beyond ``analysis_max_grids``, counted before they are read)."""
    limit = settings.analysis_max_grids
    if (found := count_below(conn, [region], limit + 1, "grid")) > limit:
        raise _too_large("网格", "grids", found, limit, "analysis_max_grids", counted=False)
    rows = _rows(conn, _GRIDS, {"region": region})
    return _grids(rows), rows


def page_grids(
    conn: Connection, codes: list[str], version: int | None
) -> tuple[list[Grid], list[dict[str, Any]]]:
    """The grids ``codes`` (sorted) at ``version`` and their attribute rows."""
    rows = _rows(conn, _PAGE_GRIDS, {"codes": codes, "v": version})
    if [r["code"] for r in rows] != codes:
        raise RuntimeError(f"stored grids missing at version {version}")
    return _grids(rows), rows


def region_data(conn: Connection, region: str, settings: Settings) -> RegionData:
    """The grids below ``region`` and the buildings with households inside them
    (``region_not_found`` for an unknown code; 413 ``analysis_too_large`` beyond
    ``analysis_max_grids`` grids or ``analysis_max_buildings`` buildings — counted before
    the buildings are read)."""
    require_region(conn, region, current_version(conn))
    grids, rows = region_grids(conn, region, settings)
    polygons = [g.polygon for g in grids]
    demand: list[DemandPoint] = []
    if rows:
        box = dict(
            zip(("x0", "y0", "x1", "y1"), shapely.total_bounds(polygons).tolist(), strict=True)
        )
        inside = (
            "FROM addresses WHERE households IS NOT NULL "
            "AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"
        )
        buildings = conn.scalar(text(f"SELECT count(*) {inside}"), box) or 0
        if buildings > settings.analysis_max_buildings:
            raise _too_large(
                "建筑",
                "buildings",
                buildings,
                settings.analysis_max_buildings,
                "analysis_max_buildings",
            )
        points = conn.execute(
            text(
                f"SELECT code, ST_X(geom) AS lon, ST_Y(geom) AS lat, households {inside} "
                "ORDER BY code"
            ),
            box,
        ).all()
        if points:
            codes, lon, lat, households = (list(c) for c in zip(*points, strict=True))
            tree = shapely.STRtree(polygons)
            point, grid = tree.query(shapely.points(lon, lat), predicate="covered_by")
            # a point on a shared edge goes to the grid first in code order
            order = np.lexsort((grid, point))
            point, grid = point[order], grid[order]
            first = np.r_[True, point[1:] != point[:-1]] if len(point) else point
            lowest = np.full(len(points), -1)
            lowest[point[first]] = grid[first]
            demand = [
                DemandPoint(codes[i], lon[i], lat[i], households[i], g)
                for i, g in enumerate(lowest.tolist())
                if g >= 0
            ]
    return RegionData(grids, rows, demand)


def region_facilities(
    conn: Connection, layer: Layer, grids: list[Grid], settings: Settings
) -> list[Facility]:
    """The centres (or cameras) that can reach the grids: within their largest radius."""
    if not grids:
        return []
    if layer == "centres":
        reach = largest_default_radius_m(settings)
        reach = max(reach, conn.scalar(text("SELECT max(radius_m) FROM centres")) or 0.0)
        columns = "id, name, level, radius_m"
    else:
        reach = conn.scalar(text("SELECT max(range_m) FROM cameras")) or 0.0
        columns = "id, name, azimuth_deg, fov_deg, range_m, status"
    envelope = shapely.box(*shapely.total_bounds([g.polygon for g in grids]))
    rows = conn.execute(
        text(
            f"SELECT {columns}, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM {layer} "
            "WHERE ST_DWithin(geom::geography, ST_GeomFromWKB(:box, 4326)::geography, :reach) "
            "ORDER BY id"
        ),
        {"box": shapely.to_wkb(envelope), "reach": reach},
    ).mappings()
    return [Facility(**row) for row in rows]


def _roads(conn: Connection, grids: list[Grid]) -> list[Any]:
    """The stored roads clipped to the grids (no union of the grids without a road near)."""
    if not grids:
        return []
    box = shapely.to_wkb(shapely.box(*shapely.total_bounds([g.polygon for g in grids])))
    near = "SELECT EXISTS (SELECT 1 FROM roads WHERE geom && ST_GeomFromWKB(:box, 4326))"
    if not conn.scalar(text(near), {"box": box}):
        return []
    union = shapely.union_all([g.polygon for g in grids])
    wkb = conn.scalars(
        text(
            "SELECT ST_AsBinary(ST_Intersection(geom, ST_GeomFromWKB(:area, 4326))) FROM roads "
            "WHERE ST_Intersects(geom, ST_GeomFromWKB(:area, 4326)) ORDER BY id"
        ),
        {"area": shapely.to_wkb(union)},
    ).all()
    lines = shapely.from_wkb([bytes(w) for w in wkb])
    return [line for line in lines if not line.is_empty and line.length > 0]


def _settings_key(settings: Settings) -> dict[str, Any]:
    """The settings a stored result depends on: radii, band and limits."""
    return {
        "centre_radius_m": dict(settings.centre_radius_m),
        "households": [settings.grid_households_min, settings.grid_households_max],
        "max_grids": settings.analysis_max_grids,
        "max_buildings": settings.analysis_max_buildings,
    }


def stored_key(
    conn: Connection, analysis: str, region: str, tables: tuple[str, ...], settings: Settings
) -> tuple[str, int | None]:
    """(key, version) of ``analysis`` of ``region`` now (``region_not_found`` for an unknown
    code); the stamps are read before any data (:mod:`gis.analysis.stored`)."""
    version = current_version(conn)
    require_region(conn, region, version)
    stamps = stored.stamps(conn, tables)
    return stored.key(
        analysis, region, version, stamps=stamps, settings=_settings_key(settings)
    ), version


def coverage(
    conn: Connection,
    region: str,
    layer: Layer,
    settings: Settings,
    page: paging.GridPage | None = None,
) -> dict[str, Any]:
    """How the centres (or cameras) cover the region's buildings, households and grids; with
    ``page``, the per-grid lists of that page of grids only (``paging``), totals of all.

    The whole region is computed once per data state (:mod:`gis.analysis.stored`); a page
    then reads the stored result and its own grids."""
    tables = (layer, "addresses") + (("roads",) if layer == "cameras" else ())
    name, version = stored_key(conn, f"coverage-{layer}", region, tables, settings)
    found = stored.load(conn, name)
    if found is not None:
        computed = Computed(*found)
        codes = computed.arrays["grid_code"].tolist()
        shown = paging.rows(codes, page) if page is not None else slice(0, len(codes))
        grids = page_grids(conn, codes[shown], version)[0]
    else:
        data = region_data(conn, region, settings)
        computed = compute_coverage(
            data.grids,
            data.demand,
            region_facilities(conn, layer, data.grids, settings),
            layer,
            default_radius_m=settings.centre_radius_m,
            roads=_roads(conn, data.grids) if layer == "cameras" else (),
        )
        stored.save(conn, name, f"coverage-{layer}", region, computed.summary, computed.arrays)
        codes = [g.code for g in data.grids]
        shown = paging.rows(codes, page) if page is not None else slice(0, len(codes))
        grids = data.grids[shown]
    report = coverage_page(computed, grids, shown.start)
    if page is not None:
        report["page"] = paging.about(codes, shown, page)
    return {"region": region, **report}


def siting(
    conn: Connection,
    region: str,
    *,
    k: int,
    layer: Layer = "centres",
    level: str = "station",
    radius_m: float | None = None,
    candidates: list[tuple[float, float]] | None = None,
    crs: str = "wgs84",
    settings: Settings,
) -> dict[str, Any]:
    """``k`` new centres (or cameras, as 360° domes of ``radius_m``) that cover the most
    households of the region that existing ones leave out.

    Candidate sites are ``candidates`` (lon/lat in ``crs``) or, by default, the region's
    buildings.  A new centre serves ``radius_m`` or its ``level``'s default radius.
    """
    if layer == "centres":
        radius = service_radius_m(radius_m, level, settings.centre_radius_m)
    else:
        radius = radius_m
    if radius is None or not radius > 0:
        raise InvalidInput(
            "需要正的服务半径 radius_m（摄像机为可视距离） (a positive radius_m is needed)",
            code="invalid_radius",
            details={"radius_m": radius_m, "level": level},
        )
    data = region_data(conn, region, settings)
    demand = data.demand
    plon = np.array([d.lon for d in demand], float)
    plat = np.array([d.lat for d in demand], float)
    weights = np.array([d.households for d in demand], float)
    if candidates:
        clon, clat = to_wgs84_points(
            np.array([c[0] for c in candidates]), np.array([c[1] for c in candidates]), crs
        )
    else:
        clon, clat = plon, plat
    if len(clon) * len(plon) > settings.siting_max_pairs:
        raise TooLarge(
            f"选址问题过大: {len(plon)} 个需求点 × {len(clon)} 个候选点，上限 "
            f"{settings.siting_max_pairs} (too large: fewer candidates or a smaller region)",
            code="siting_too_large",
            details={
                "demand": len(plon),
                "candidates": len(clon),
                "max_pairs": settings.siting_max_pairs,
            },
        )
    existing = region_facilities(conn, layer, data.grids, settings)
    if layer == "cameras":
        existing = [f for f in existing if f.status != "offline"]
        seen = sector_pairs(
            plon,
            plat,
            [f.lon for f in existing],
            [f.lat for f in existing],
            [f.azimuth_deg for f in existing],
            [f.fov_deg for f in existing],
            [f.range_m for f in existing],
        )[0]
    else:
        radii = [service_radius_m(f.radius_m, f.level, settings.centre_radius_m) for f in existing]
        seen = circle_pairs(
            plon, plat, [f.lon for f in existing], [f.lat for f in existing], radii
        )[0]
    covered = np.zeros(len(demand), dtype=bool)
    covered[seen] = True
    pairs = circle_pairs(plon, plat, clon, clat, np.full(len(clon), float(radius)))
    result = maximal_covering(
        weights,
        covered,
        pairs,
        len(clon),
        k,
        time_limit_s=settings.siting_time_limit_s,
        max_pairs=settings.siting_max_pairs,
    )
    total = float(weights.sum())
    after = result.covered_before + result.gained
    return {
        "region": region,
        "layer": layer,
        "k": k,
        "radius_m": float(radius),
        "level": level if layer == "centres" else None,
        "candidates": len(clon),
        "sites": [
            {
                "candidate": j,
                "code": None if candidates else demand[j].code,
                "lon": float(clon[j]),
                "lat": float(clat[j]),
            }
            for j in result.sites
        ],
        "households": int(total),
        "households_covered_before": int(result.covered_before),
        "households_gained": int(result.gained),
        "households_covered_after": int(after),
        "covered_pct_before": round(100 * result.covered_before / total, 2) if total else None,
        "covered_pct_after": round(100 * after / total, 2) if total else None,
        "optimal": result.optimal,
        "runtime_s": round(result.runtime_s, 3),
        "crs": "EPSG:4326",
    }
