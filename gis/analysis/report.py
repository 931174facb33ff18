"""Planners' analyses of a region from the stored layers: coverage, grid standards, siting.

The region is any current region (county, street, community or grid); its grids are the
current grids below it (or itself).  Demand points are the address registry's buildings with
households inside those grids; facilities are the centres (or cameras) that can reach them.
The computations are ``gis.analysis.coverage`` (with ``reach``) and ``gis.analysis.siting``;
this module reads their inputs (``gis.analysis.inputs``: grids as columns, exact only where
tested; the demand stored per boundary version and address stamp), and keeps a coverage
computed once per data state (``gis.analysis.stored``); the grid standards are
``gis.analysis.standards``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import shapely
from sqlalchemy import Connection, text

from gis.analysis import paging, stored
from gis.analysis.coverage import (
    Computed,
    Facility,
    Grids,
    compute_coverage,
    coverage_page,
    facilities_of,
)
from gis.analysis.facilities import changed_facilities, near_grids, parameters
from gis.analysis.inputs import page_grids, read_exact, region_inputs
from gis.analysis.reach import circle_pairs, sector_pairs
from gis.analysis.siting import maximal_covering
from gis.catalogue.schema import largest_default_radius_m, service_radius_m
from gis.errors import InvalidInput, TooLarge
from gis.geo.crs import to_wgs84_points
from gis.network.reach import walking_pairs
from gis.network.walk import require_network, snap, within_service
from gis.query.regions import require_region
from gis.settings import Settings
from gis.store.versions import current_version

Layer = Literal["centres", "cameras"]


def region_facilities(
    conn: Connection, layer: Layer, grids: Grids, settings: Settings
) -> list[Facility]:
    """The centres (or cameras) that can reach the grids (their boxes): within their
    largest radius."""
    if not len(grids.code):
        return []
    if layer == "centres":
        reach = largest_default_radius_m(settings)
        reach = max(reach, conn.scalar(text("SELECT max(radius_m) FROM centres")) or 0.0)
        columns = "id, name, level, radius_m"
    else:
        reach = conn.scalar(text("SELECT max(range_m) FROM cameras")) or 0.0
        columns = "id, name, azimuth_deg, fov_deg, range_m, status"
    envelope = shapely.box(*shapely.total_bounds(grids.polygons))
    rows = conn.execute(
        text(
            f"SELECT {columns}, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM {layer} "
            "WHERE ST_DWithin(geom::geography, ST_GeomFromWKB(:box, 4326)::geography, :reach) "
            "ORDER BY id"
        ),
        {"box": shapely.to_wkb(envelope), "reach": reach},
    ).mappings()
    return [Facility(**row) for row in rows]


def _roads(conn: Connection, grids: Grids) -> list[Any]:
    """The stored roads (not the rivers and railways kept beside them) clipped to the grids
    (no union of the grids without a road near; with one, every grid's exact polygon is read
    into ``grids``)."""
    if not len(grids.code):
        return []
    box = shapely.to_wkb(shapely.box(*shapely.total_bounds(grids.polygons)))
    near = (
        "SELECT EXISTS (SELECT 1 FROM roads "
        "WHERE kind = 'road' AND geom && ST_GeomFromWKB(:box, 4326))"
    )
    if not conn.scalar(text(near), {"box": box}):
        return []
    read_exact(conn, grids, np.arange(len(grids.code)))
    union = shapely.union_all(grids.polygons)
    wkb = conn.scalars(
        text(
            "SELECT ST_AsBinary(ST_Intersection(geom, ST_GeomFromWKB(:area, 4326))) FROM roads "
            "WHERE kind = 'road' AND ST_Intersects(geom, ST_GeomFromWKB(:area, 4326)) "
            "ORDER BY id"
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


def data_state(
    conn: Connection, region: str, tables: tuple[str, ...]
) -> tuple[int | None, dict[str, int]]:
    """The boundary version and the data stamps of ``tables`` now (``region_not_found`` for
    an unknown code), read before any data (:mod:`gis.analysis.stored`)."""
    version = current_version(conn)
    require_region(conn, region, version)
    return version, stored.stamps(conn, tables)


def stored_key(
    analysis: str, region: str, version: int | None, stamps: dict[str, int], settings: Settings
) -> str:
    """The key of ``analysis`` of ``region`` in the data state (``version``, ``stamps``)."""
    return stored.key(analysis, region, version, stamps=stamps, settings=_settings_key(settings))


def _before(
    conn: Connection,
    analysis: str,
    region: str,
    lineage: str,
    grids: Grids,
    facilities: list[Facility],
    radius: dict[str, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The per-grid figures of the region's last stored coverage when it differs only in
    its facilities (the same ``lineage``: version, stamps of the other tables, settings),
    and the grids the changed facilities meet — all that must be measured again
    (``grid_reach``); None otherwise."""
    found = stored.latest(conn, analysis, region)
    if found is None or "lineage" not in found[1] or str(found[1]["lineage"]) != lineage:
        return None
    summary, arrays = found
    if not np.array_equal(arrays["grid_code"], grids.code):
        return None
    changed = changed_facilities(facilities_of(summary), facilities, summary["kind"], radius)
    redo = near_grids(grids.polygons, changed, summary["kind"], radius)
    return arrays["blind_m2"], arrays["in_reach"], redo


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
    then reads the stored result and its own grids.  Computing it reads the exact polygons
    of only the grids a facility's envelope meets (``near_grids``), once the demand is
    stored; the inputs and the result are stored beside the computation and the page."""
    tables = (layer, "addresses") + (("roads",) if layer == "cameras" else ())
    version, stamps = data_state(conn, region, tables)
    analysis = f"coverage-{layer}"
    name = stored_key(analysis, region, version, stamps, settings)
    with stored.beside() as save:
        found = stored.load(conn, name)
        if found is not None:
            computed = Computed(*found)
        else:
            others = {table: stamp for table, stamp in stamps.items() if table != layer}
            lineage = stored_key(analysis, region, version, others, settings)
            addresses = stamps["addresses"]
            grids, demand = region_inputs(conn, region, version, addresses, settings, save)
            facilities = region_facilities(conn, layer, grids, settings)
            roads = _roads(conn, grids) if layer == "cameras" else ()
            radius = settings.centre_radius_m
            near = near_grids(grids.polygons, facilities, layer, radius)
            read_exact(conn, grids, np.union1d(near, np.flatnonzero(np.isnan(grids.area_m2))))
            computed = compute_coverage(
                grids,
                demand,
                facilities,
                layer,
                default_radius_m=radius,
                roads=roads,
                before=_before(conn, analysis, region, lineage, grids, facilities, radius),
            )
            computed.arrays["lineage"] = np.array(lineage)
            save(conn, name, analysis, region, computed.summary, computed.arrays)
        codes = computed.arrays["grid_code"].tolist()
        shown = paging.rows(codes, page) if page is not None else slice(0, len(codes))
        grids_shown = page_grids(conn, codes[shown], version)[0]
        report = coverage_page(computed, grids_shown, shown.start)
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
    walking: bool = False,
    settings: Settings,
) -> dict[str, Any]:
    """``k`` new centres (or cameras, as 360° domes of ``radius_m``) that cover the most
    households of the region that existing ones leave out.

    Candidate sites are ``candidates`` (lon/lat in ``crs``) or, by default, the region's
    buildings.  A new centre serves ``radius_m`` or its ``level``'s default radius: in a
    straight line, or with ``walking`` along the roads (centres only; existing centres then
    cover by walking too, ``gis.network``).
    """
    if walking and layer != "centres":
        raise InvalidInput(
            "只有服务中心可按步行距离选址，摄像机按可视距离 (siting by walking is for centres; "
            "cameras see in straight lines)",
            code="invalid_parameter",
            details={"layer": layer, "distance": "walking"},
        )
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
    version, stamps = data_state(conn, region, ("addresses",))
    grids, demand = region_inputs(conn, region, version, stamps["addresses"], settings)
    plon, plat, weights = demand.lon, demand.lat, demand.households
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
    existing = region_facilities(conn, layer, grids, settings)
    if walking:
        sites = (clon, clat) if candidates else None
        covered, pairs = _walking_reach(conn, demand, existing, sites, radius, settings)
    else:
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
            radii = [
                service_radius_m(f.radius_m, f.level, settings.centre_radius_m) for f in existing
            ]
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
        "distance": "walking" if walking else "radius",
        "level": level if layer == "centres" else None,
        "candidates": len(clon),
        "sites": [
            {
                "candidate": j,
                "code": None if candidates else str(demand.code[j]),
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


def _walking_reach(
    conn: Connection,
    demand: Any,
    existing: list[Any],
    sites: tuple[np.ndarray, np.ndarray] | None,
    radius: float,
    settings: Settings,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Siting by walking: the demand the existing centres reach on foot (each its own
    service distance) and the (demand, candidate) pairs within ``radius`` on foot; the
    candidates are ``sites`` (lon/lat), else the demand itself."""
    require_network(conn)
    if not len(demand):
        return np.zeros(0, dtype=bool), (np.empty(0, np.int64), np.empty(0, np.int64))
    doors = snap(conn, demand.lon, demand.lat)
    covered = np.zeros(len(demand), dtype=bool)
    if existing:
        service = parameters(existing, "centres", settings.centre_radius_m)[:, 0]
        flon, flat = np.array([f.lon for f in existing]), np.array([f.lat for f in existing])
        covered = within_service(conn, doors, snap(conn, flon, flat), service)
    candidates = doors if sites is None else snap(conn, *sites)
    return covered, walking_pairs(conn, doors, candidates, float(radius))
