"""Coverage of demand by party-service centres (circles) and cameras (sectors), for planners.

Who reaches whom is :mod:`gis.analysis.reach` (the rules, exact on the WGS84 ellipsoid);
road coverage and blind spots are :mod:`gis.analysis.overlay`, on the shapes as polygons
(vertices exactly on the arc, :data:`SHAPE_STEP_DEG` apart).  ``coverage_report`` puts it
all together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import shapely
from shapely.geometry import mapping

from gis.analysis.overlay import blind_spots, road_coverage
from gis.analysis.reach import (
    Pairs,
    circle_pairs,
    distances_to_grid,
    finite_floats,
    local_frame,
    lowest_covering,
    sector_pairs,
)
from gis.catalogue.schema import service_radius_m
from gis.errors import InvalidInput
from gis.geo.geodesy import (
    circle_polygons,
    geodesic_area_m2,
    sector_polygons,
)

SHAPE_STEP_DEG = 2.0
"""Arc vertices of the shapes used for roads and blind spots: 0.15 m inside at r = 1 000 m."""
OFFLINE = frozenset({"offline", "离线"})
"""Camera statuses excluded from coverage."""


@dataclass(frozen=True, slots=True)
class Grid:
    """A grid (网格): its codes and names, registered households and population, and its
    polygon or multipolygon in EPSG:4326 lon/lat."""

    code: str
    name: str
    community_code: str | None
    community_name: str | None
    households: int
    population: int
    polygon: Any


@dataclass(frozen=True, slots=True)
class DemandPoint:
    """A building (a registry address with households) at lon/lat, and the index in the
    report's ``grids`` of the grid it lies in (-1: none)."""

    code: str
    lon: float
    lat: float
    households: int
    grid: int = -1


@dataclass(frozen=True, slots=True)
class Facility:
    """A centre (``radius_m``; None takes its ``level``'s default) or a camera
    (``azimuth_deg`` clockwise from north, ``fov_deg`` in (0, 360], ``range_m``) at lon/lat.
    Cameras whose ``status`` is offline are left out of the coverage."""

    id: str | int
    name: str | None
    lon: float
    lat: float
    radius_m: float | None = None
    azimuth_deg: float | None = None
    fov_deg: float | None = None
    range_m: float | None = None
    level: str | None = None
    status: str | None = None


Kind = Literal["centres", "cameras"]


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * float(part) / float(whole), 2) if whole > 0 else None


def _geojson(geometry: Any) -> dict[str, Any]:
    return mapping(shapely.set_precision(geometry, 1e-7, mode="pointwise"))


def _status(f: Facility) -> str:
    return (f.status or "").strip().lower()


def _given(f: Facility, name: str) -> float:
    value = getattr(f, name)
    if value is None:
        raise InvalidInput(
            f"摄像机 {f.id} 缺少 {name} (camera {f.id} has no {name})",
            code="invalid_facility",
            details={"id": f.id, "field": name},
        )
    return float(value)


def _parameters(
    facilities: list[Facility], kind: Kind, default_radius_m: Mapping[str, float] | None
) -> np.ndarray:
    """Per facility its radius (centres) or azimuth, fov and range (cameras), checked."""
    if kind == "cameras":
        names = ("azimuth_deg", "fov_deg", "range_m")
        params = np.array([[_given(f, n) for n in names] for f in facilities]).reshape(-1, 3)
        bad = ~np.isfinite(params).all(axis=1) | (params[:, 1] <= 0) | (params[:, 1] > 360)
        bad |= params[:, 2] < 0
        rule = "finite azimuth_deg, 0 < fov_deg ≤ 360, range_m ≥ 0"
    else:
        radius = []
        for f in facilities:
            r = service_radius_m(f.radius_m, f.level, default_radius_m)
            if r is None:
                raise InvalidInput(
                    f"中心 {f.id} 没有服务半径，其级别 {f.level!r} 也没有默认半径 "
                    f"(centre {f.id} has no radius and level {f.level!r} has no default)",
                    code="invalid_facility",
                    details={"id": f.id, "level": f.level},
                )
            radius.append(float(r))
        params = np.array(radius, float).reshape(-1, 1)
        bad = ~np.isfinite(params[:, 0]) | (params[:, 0] < 0)
        rule = "radius_m ≥ 0"
    if bad.any():
        f = facilities[int(np.flatnonzero(bad)[0])]
        raise InvalidInput(
            f"设施 {f.id} 的参数不符合 {rule} (facility {f.id} breaks {rule})",
            code="invalid_facility",
            details={"id": f.id, "rule": rule},
        )
    return params


def _shared(pairs: Pairs, households: np.ndarray, n: int) -> dict[int, list[tuple[int, float]]]:
    """Per facility, the other facilities covering some of its points, with the households
    of those shared points (most first)."""
    point, fac = pairs
    starts = np.flatnonzero(np.r_[True, point[1:] != point[:-1]]) if len(point) else point
    size = np.diff(np.r_[starts, len(point)])
    many = size > 1
    starts, size = starts[many], size[many]
    # every ordered pair (a, b), a ≠ b, of the pairs on one point
    width = np.repeat(size, size)
    a = np.repeat(np.repeat(starts, size) + _offsets(size), width)
    b = np.repeat(np.repeat(starts, size), width) + _offsets(width)
    a, b = a[a != b], b[a != b]
    key, where = np.unique(fac[a] * n + fac[b], return_inverse=True)
    weight = np.bincount(where, households[point[a]], minlength=len(key))
    out: dict[int, list[tuple[int, float]]] = {}
    for k, w in sorted(zip(key.tolist(), weight.tolist(), strict=True), key=lambda kw: -kw[1]):
        out.setdefault(k // n, []).append((k % n, w))
    return out


def _offsets(size: np.ndarray) -> np.ndarray:
    """0…size-1 for each size, concatenated."""
    return np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)


def coverage_report(
    grids: Sequence[Grid],
    demand: Sequence[DemandPoint],
    facilities: Sequence[Facility],
    kind: Kind,
    *,
    default_radius_m: Mapping[str, float] | None = None,
    redundant_share: float = 0.8,
    min_blind_m2: float = 1.0,
    roads: Sequence[Any] = (),
) -> dict[str, Any]:
    """A JSON-ready report of how ``facilities`` (centres or cameras) cover ``demand``.

    * ``totals`` — buildings (demand points), households and population covered, with %.
      Population is estimated per grid: covered households × grid population / grid
      (registered) households; points outside every grid add no population.
    * ``grids`` — per grid: buildings and their households, covered and %, the estimated
      covered population, geodesic area and blind area, facilities in reach (a centre whose
      geodesic distance to the grid is within its radius; a camera whose sector polygon
      meets the grid) and in the grid (located inside it; on a shared edge, the first grid);
      for cameras also cameras per km² and per 1 000 registered households.
    * ``uncovered`` — demand points no facility covers.
    * ``blind_spots`` — per grid, its parts outside every shape (``SHAPE_STEP_DEG`` polygons),
      pieces under ``min_blind_m2`` dropped, as GeoJSON with ``area_m2``.
    * ``grids_without_facility`` — grids no facility reaches, with the nearest facility and
      its geodesic distance to the grid's outline (for centres also how far beyond its radius).
    * ``facilities`` — per facility the buildings and households it covers;
      ``idle_facilities`` those covering no building.
    * ``roads`` (when ``roads`` are given: lon/lat lines) — their geodesic length and the
      length inside the shapes, with %.
    * ``redundant_centres`` (centres) — centres of which at least ``redundant_share`` of the
      covered households are also covered by other centres, with the overlap per centre.

    Cameras whose status is offline are left out and counted in ``facilities_excluded``;
    centres without ``radius_m`` take ``default_radius_m[level]``.
    """
    if kind not in ("centres", "cameras"):
        raise InvalidInput(
            f"kind 应为 centres 或 cameras: {kind!r} (kind must be centres or cameras)",
            code="invalid_parameter",
            details={"kind": kind},
        )
    cameras = kind == "cameras"
    used = [f for f in facilities if not (cameras and _status(f) in OFFLINE)]
    excluded = [f for f in facilities if cameras and _status(f) in OFFLINE]
    params = _parameters(used, kind, default_radius_m)

    n_grids = len(grids)
    polygons = np.empty(n_grids, dtype=object)
    polygons[:] = [g.polygon for g in grids]
    g_households = np.array([g.households or 0 for g in grids], float)
    g_population = np.array([g.population or 0 for g in grids], float)
    plon, plat = finite_floats("demand point", [d.lon for d in demand], [d.lat for d in demand])
    households = np.array([d.households or 0 for d in demand], float)
    pgrid = np.array([d.grid for d in demand], np.int64)
    if len(pgrid) and ((pgrid < -1) | (pgrid >= n_grids)).any():
        bad = int(np.flatnonzero((pgrid < -1) | (pgrid >= n_grids))[0])
        raise InvalidInput(
            f"需求点 {demand[bad].code} 的网格序号 {pgrid[bad]} 无效 (bad grid index)",
            code="invalid_parameter",
            details={"code": demand[bad].code, "grid": int(pgrid[bad])},
        )
    flon, flat = finite_floats("facility", [f.lon for f in used], [f.lat for f in used])

    if cameras:
        pairs = sector_pairs(plon, plat, flon, flat, *params.T)
        shapes = sector_polygons(flon, flat, *params.T, step_deg=SHAPE_STEP_DEG)
    else:
        pairs = circle_pairs(plon, plat, flon, flat, params[:, 0])
        vertices = round(360 / SHAPE_STEP_DEG)
        shapes = circle_polygons(flon, flat, params[:, 0], vertices=vertices)
    point, fac = pairs
    times = np.bincount(point, minlength=len(plon))
    covered = times > 0

    # per grid
    inside = pgrid >= 0
    hit = inside & covered

    def per_grid(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        w = None if weights is None else weights[mask]
        return np.bincount(pgrid[mask], w, minlength=n_grids).astype(float)

    buildings, covered_buildings = per_grid(inside), per_grid(hit)
    demand_households, covered_households = per_grid(inside, households), per_grid(hit, households)
    per_household = np.divide(
        g_population, g_households, out=np.zeros(n_grids), where=g_households > 0
    )
    covered_population = covered_households * per_household
    area = geodesic_area_m2(polygons) if n_grids else np.zeros(0)
    blind, blind_m2 = blind_spots(polygons, shapes, min_blind_m2)

    fgrid = lowest_covering(polygons, flon, flat) if n_grids else np.full(len(used), -1)
    in_grid = np.bincount(fgrid[fgrid >= 0], minlength=n_grids)
    corners = shapely.get_coordinates(shapely.envelope(polygons)) if n_grids else np.zeros((0, 2))
    frame = local_frame(np.r_[flon, corners[:, 0]], np.r_[flat, corners[:, 1]])
    projected = frame.geometries(polygons)
    outlines = shapely.boundary(projected)
    if cameras:
        reach_fac, reach_grid = shapely.STRtree(polygons).query(shapes, predicate="intersects")
    else:
        reach_fac, reach_grid = shapely.STRtree(projected).query(
            frame.points(flon, flat), predicate="dwithin", distance=frame.widen(params[:, 0])
        )
        metres = distances_to_grid(
            frame, polygons, outlines, reach_grid, flon[reach_fac], flat[reach_fac]
        )
        ok = metres <= params[reach_fac, 0]
        reach_fac, reach_grid = reach_fac[ok], reach_grid[ok]
    in_reach = np.bincount(reach_grid, minlength=n_grids)

    def fac_ref(i: int) -> dict[str, Any]:
        return {"id": used[i].id, "name": used[i].name}

    # grids no facility reaches: the nearest facility by geodesic distance to the outline
    unreached = np.flatnonzero(in_reach == 0)
    nearest: dict[int, tuple[int, float]] = {}
    if len(unreached) and len(used):
        tree = shapely.STRtree(frame.points(flon, flat))
        (which, _), metres = tree.query_nearest(
            projected[unreached], return_distance=True, all_matches=False
        )
        first = np.zeros(len(unreached))
        first[which] = metres
        grid_i, cand = tree.query(
            projected[unreached], predicate="dwithin", distance=first * frame.spread + 1e-3
        )
        grid_i = unreached[grid_i]
        d = distances_to_grid(frame, polygons, outlines, grid_i, flon[cand], flat[cand])
        order = np.lexsort((cand, d, grid_i))
        grid_i, cand, d = grid_i[order], cand[order], d[order]
        firsts = np.r_[True, grid_i[1:] != grid_i[:-1]]
        nearest = {
            g: (c, m)
            for g, c, m in zip(
                grid_i[firsts].tolist(), cand[firsts].tolist(), d[firsts].tolist(), strict=True
            )
        }
    without = []
    for g in unreached.tolist():
        row: dict[str, Any] = {"code": grids[g].code, "name": grids[g].name, "nearest": None}
        if g in nearest:
            c, m = nearest[g]
            row["nearest"] = {**fac_ref(c), "distance_m": round(m, 2)}
            if not cameras:
                radius = float(params[c, 0])
                row["nearest"] |= {"radius_m": radius, "beyond_radius_m": round(m - radius, 2)}
        without.append(row)

    # per facility
    fac_buildings = np.bincount(fac, minlength=len(used))
    fac_households = np.bincount(fac, households[point], minlength=len(used))
    shared_households = np.bincount(
        fac, households[point] * (times[point] > 1), minlength=len(used)
    )

    def grid_code(g: int) -> str | None:
        return grids[g].code if g >= 0 else None

    facility_rows = []
    for i, f in enumerate(used):
        row = {
            **fac_ref(i),
            "lon": float(flon[i]),
            "lat": float(flat[i]),
            "grid_code": grid_code(int(fgrid[i])),
        }
        if cameras:
            row |= dict(zip(("azimuth_deg", "fov_deg", "range_m"), params[i].tolist(), strict=True))
            row["status"] = f.status
        else:
            row |= {"level": f.level, "radius_m": float(params[i, 0])}
        row |= {
            "buildings": int(fac_buildings[i]),
            "households": int(fac_households[i]),
            "shared_households": int(shared_households[i]),
        }
        facility_rows.append(row)

    grid_rows = []
    for g, grid in enumerate(grids):
        km2 = float(area[g]) / 1e6
        placed = int(in_grid[g])
        row = {
            "code": grid.code,
            "name": grid.name,
            "community_code": grid.community_code,
            "community_name": grid.community_name,
            "households": grid.households,
            "population": grid.population,
            "buildings": int(buildings[g]),
            "covered_buildings": int(covered_buildings[g]),
            "covered_buildings_pct": _pct(covered_buildings[g], buildings[g]),
            "building_households": int(demand_households[g]),
            "covered_households": int(covered_households[g]),
            "covered_households_pct": _pct(covered_households[g], demand_households[g]),
            "covered_population_estimated": round(float(covered_population[g]), 1),
            "area_km2": round(km2, 4),
            "blind_area_m2": round(float(blind_m2[g]), 2),
            "blind_area_pct": _pct(blind_m2[g], area[g]),
            "facilities_in_reach": int(in_reach[g]),
            "facilities_in_grid": placed,
        }
        if cameras:
            row["cameras_per_km2"] = round(placed / km2, 2) if km2 > 0 else None
            row["cameras_per_1000_households"] = (
                round(1000 * placed / grid.households, 2) if grid.households else None
            )
        grid_rows.append(row)

    total_hh = float(households.sum())
    total_population = float(g_population.sum())
    total_area = float(area.sum())
    totals: dict[str, Any] = {
        "buildings": len(demand),
        "covered_buildings": int(covered.sum()),
        "covered_buildings_pct": _pct(float(covered.sum()), len(demand)),
        "households": int(total_hh),
        "covered_households": int(households[covered].sum()),
        "covered_households_pct": _pct(float(households[covered].sum()), total_hh),
        "population": int(total_population),
        "covered_population_estimated": round(float(covered_population.sum()), 1),
        "covered_population_pct": _pct(float(covered_population.sum()), total_population),
        "area_km2": round(total_area / 1e6, 4),
        "blind_area_m2": round(float(blind_m2.sum()), 2),
        "blind_area_pct": _pct(float(blind_m2.sum()), total_area),
    }
    if cameras:
        placed = int(in_grid.sum())
        registered = float(g_households.sum())
        totals["cameras_in_grids"] = placed
        totals["cameras_per_km2"] = round(placed / (total_area / 1e6), 2) if total_area else None
        totals["cameras_per_1000_households"] = (
            round(1000 * placed / registered, 2) if registered else None
        )

    report: dict[str, Any] = {
        "kind": kind,
        "crs": "EPSG:4326",
        "facilities_given": len(facilities),
        "facilities_used": len(used),
        "facilities_excluded": [{"id": f.id, "name": f.name, "status": f.status} for f in excluded],
        "totals": totals,
        "grids": grid_rows,
        "uncovered": [
            {
                "code": demand[i].code,
                "lon": float(plon[i]),
                "lat": float(plat[i]),
                "households": int(households[i]),
                "grid_code": grid_code(int(pgrid[i])),
            }
            for i in np.flatnonzero(~covered).tolist()
        ],
        "blind_spots": [
            {
                "grid_code": grids[g].code,
                "area_m2": round(float(blind_m2[g]), 2),
                "geometry": _geojson(blind[g]),
            }
            for g in np.flatnonzero(blind_m2 > 0).tolist()
        ],
        "grids_without_facility": without,
        "facilities": facility_rows,
        "idle_facilities": [fac_ref(i) for i in np.flatnonzero(fac_buildings == 0).tolist()],
        "notes": [
            "距离与面积均按 WGS84 椭球测地线计算 (distances and areas are geodesic, WGS84)",
            "覆盖人口按网格估算：覆盖户数 × 网格人口 / 网格户数 (covered population is "
            "estimated per grid: covered households × grid population / grid households)",
        ],
    }
    if len(roads):
        lines = np.empty(len(roads), dtype=object)
        lines[:] = list(roads)
        on_roads = road_coverage(lines, shapes)
        report["roads"] = {
            "lines": len(lines),
            "length_m": round(on_roads.total_m, 2),
            "covered_m": round(on_roads.covered_total_m, 2),
            "covered_pct": round(on_roads.percent, 2),
        }
    if not cameras:
        others = _shared(pairs, households, len(used))
        redundant = []
        for i in range(len(used)):
            mine = fac_households[i]
            if mine <= 0 or shared_households[i] < redundant_share * mine:
                continue
            redundant.append(
                {
                    **fac_ref(i),
                    "level": used[i].level,
                    "covered_households": int(mine),
                    "shared_households": int(shared_households[i]),
                    "overlap_share": round(float(shared_households[i] / mine), 4),
                    "overlapping": [
                        {
                            **fac_ref(j),
                            "shared_households": int(w),
                            "share": round(w / float(mine), 4),
                        }
                        for j, w in others.get(i, [])
                    ],
                }
            )
        report["redundant_centres"] = redundant
        report["redundant_share"] = redundant_share
    return report
