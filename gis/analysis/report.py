"""Planners' analyses of a region from the stored layers: coverage, grid standards, siting.

The region is any current region (county, street, community or grid); its grids are the
current grids below it (or itself).  Demand points are the address registry's buildings with
households inside those grids; facilities are the centres (or cameras) that can reach them.
The computations are ``gis.analysis.coverage`` (with ``reach``) and ``gis.analysis.siting``;
this module reads their inputs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import shapely
from sqlalchemy import Connection, text

from gis.analysis import paging
from gis.analysis.coverage import DemandPoint, Facility, Grid, coverage_report
from gis.analysis.facilities import grids_reached
from gis.analysis.reach import circle_pairs, sector_pairs
from gis.analysis.siting import maximal_covering
from gis.catalogue.schema import largest_default_radius_m, service_radius_m
from gis.errors import InvalidInput, TooLarge
from gis.geo.crs import to_wgs84_points
from gis.query.regions import require_region
from gis.settings import Settings
from gis.store.versions import current, current_version

Layer = Literal["centres", "cameras"]

_GRIDS = f"""
WITH RECURSIVE below AS (
    SELECT code FROM regions WHERE code = :region AND {current("")}
    UNION
    SELECT r.code FROM regions r JOIN below b ON r.parent_code = b.code
    WHERE {current()}
)
SELECT g.code, g.name, g.households, g.population, g.grid_worker, g.party_branch,
       g.area_m2, c.code AS community_code, c.name AS community_name,
       ST_AsBinary(g.geom) AS wkb
FROM regions g JOIN below USING (code)
LEFT JOIN regions c ON c.code = g.parent_code AND {current("c")}
WHERE g.level = 'grid' AND {current("g")}
ORDER BY g.code COLLATE "C"
"""


_COUNT_GRIDS = f"""
WITH RECURSIVE below AS (
    SELECT code, level FROM regions WHERE code = :region AND {current("")}
    UNION ALL
    SELECT r.code, r.level FROM regions r JOIN below b ON r.parent_code = b.code
    WHERE {current()}
)
SELECT count(*) FROM (SELECT 1 FROM below WHERE level = 'grid' LIMIT :cap) AS capped
"""
"""The grids below a region, counted up to ``:cap`` (the walk stops there: a province is
refused as fast as a city is counted)."""


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


def region_data(conn: Connection, region: str, settings: Settings) -> RegionData:
    """The grids below ``region`` and the buildings with households inside them
    (``region_not_found`` for an unknown code; 413 ``analysis_too_large`` beyond
    ``analysis_max_grids`` grids or ``analysis_max_buildings`` buildings — counted before
    the buildings are read)."""
    require_region(conn, region, current_version(conn))
    cap = {"region": region, "cap": settings.analysis_max_grids + 1}
    if (found := conn.scalar(text(_COUNT_GRIDS), cap)) > settings.analysis_max_grids:
        limit = settings.analysis_max_grids
        raise _too_large("网格", "grids", found, limit, "analysis_max_grids", counted=False)
    rows = [dict(r) for r in conn.execute(text(_GRIDS), {"region": region}).mappings().all()]
    polygons = shapely.from_wkb([bytes(r.pop("wkb")) for r in rows])  # not kept twice
    grids = [
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


def _facilities(
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


def coverage(
    conn: Connection,
    region: str,
    layer: Layer,
    settings: Settings,
    page: paging.GridPage | None = None,
) -> dict[str, Any]:
    """How the centres (or cameras) cover the region's buildings, households and grids; with
    ``page``, the per-grid lists of that page of grids only (``paging``), totals of all."""
    data = region_data(conn, region, settings)
    codes = [g.code for g in data.grids]
    shown = paging.rows(codes, page) if page is not None else None
    report = coverage_report(
        data.grids,
        data.demand,
        _facilities(conn, layer, data.grids, settings),
        layer,
        default_radius_m=settings.centre_radius_m,
        roads=_roads(conn, data.grids) if layer == "cameras" else (),
        rows=shown,
    )
    if page is not None and shown is not None:
        report["page"] = paging.about(codes, shown, page)
    return {"region": region, **report}


def grid_standards(
    conn: Connection, region: str, settings: Settings, page: paging.GridPage | None = None
) -> dict[str, Any]:
    """Grids that miss the standards: households outside the band, no grid worker or party
    branch, no centre in reach, no camera seeing any of it — each grid (of ``page``) and
    counts per community (of all)."""
    data = region_data(conn, region, settings)
    unreached = {}
    for layer in ("centres", "cameras"):
        reached = grids_reached(
            data.grids,
            _facilities(conn, layer, data.grids, settings),
            layer,
            default_radius_m=settings.centre_radius_m,
        )
        unreached[layer] = {g.code for g, ok in zip(data.grids, reached, strict=True) if not ok}
    low, high = settings.grid_households_min, settings.grid_households_max
    grids, per_community = [], defaultdict(lambda: defaultdict(int))
    for row in data.rows:
        households = row["households"]
        problems = [
            name
            for name, failed in (
                ("households_unknown", households is None),
                ("households_below_band", households is not None and households < low),
                ("households_above_band", households is not None and households > high),
                ("no_grid_worker", not row["grid_worker"]),
                ("no_party_branch", not row["party_branch"]),
                ("no_centre_in_reach", row["code"] in unreached["centres"]),
                ("no_camera", row["code"] in unreached["cameras"]),
            )
            if failed
        ]
        counts = per_community[row["community_code"]]
        counts["grids"] += 1
        counts["grids_with_problems"] += bool(problems)
        for problem in problems:
            counts[problem] += 1
        grids.append(
            {
                "code": row["code"],
                "name": row["name"],
                "community_code": row["community_code"],
                "community_name": row["community_name"],
                "households": households,
                "grid_worker": row["grid_worker"],
                "party_branch": row["party_branch"],
                "problems": problems,
            }
        )
    names = {r["community_code"]: r["community_name"] for r in data.rows}
    codes = [g["code"] for g in grids]
    shown = paging.rows(codes, page) if page is not None else slice(None)
    listed = {"page": paging.about(codes, shown, page)} if page is not None else {}
    return {
        "region": region,
        "household_band": [low, high],
        "grids": grids[shown],
        **listed,
        "communities": [
            {"code": code, "name": names[code], **dict(counts)}
            for code, counts in sorted(per_community.items(), key=lambda kv: str(kv[0]))
        ],
        "totals": {
            "grids": len(grids),
            "grids_with_problems": sum(bool(g["problems"]) for g in grids),
        },
    }


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
    existing = _facilities(conn, layer, data.grids, settings)
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
