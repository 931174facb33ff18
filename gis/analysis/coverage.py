"""Coverage of demand by party-service centres (circles) and cameras (sectors), for planners.

Who reaches whom is :mod:`gis.analysis.reach` (the rules, exact on the WGS84 ellipsoid), the
inputs and each facility's shape :mod:`gis.analysis.facilities`; road coverage and blind spots
are :mod:`gis.analysis.overlay`, on the shapes as polygons (vertices exactly on the arc,
:data:`SHAPE_STEP_DEG` apart).  ``coverage_report`` puts it all together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping

from gis.analysis.facilities import (
    SHAPE_STEP_DEG,
    Demand,
    DemandPoint,
    Facility,
    Grid,
    Grids,
    Kind,
    grid_reach,
    outline,
    used_facilities,
)
from gis.analysis.overlay import blind_spots, road_coverage
from gis.analysis.reach import (
    Pairs,
    circle_pairs,
    distances_to_grid,
    finite_floats,
    lowest_covering,
    sector_pairs,
)
from gis.errors import InvalidInput
from gis.geo.geodesy import LocalFrame, geodesic_area_m2

__all__ = [
    "SHAPE_STEP_DEG",
    "Computed",
    "Demand",
    "DemandPoint",
    "Facility",
    "Grid",
    "Grids",
    "compute_coverage",
    "coverage_page",
    "coverage_report",
    "facilities_of",
]


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * float(part) / float(whole), 2) if whole > 0 else None


def _geojson(geometry: Any) -> dict[str, Any]:
    return mapping(shapely.set_precision(geometry, 1e-7, mode="pointwise"))


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


@dataclass(frozen=True)
class Computed:
    """A coverage report of the whole region before it is paged: ``summary`` (everything
    but the per-grid lists: the same on every page) and ``arrays`` — per grid (in the
    report's order) its code and figures, per uncovered point its code, place, households and
    grid, the local frame and the smallest blind piece kept.  What :mod:`gis.analysis.stored`
    keeps; :func:`coverage_page` lists a page of grids from it."""

    summary: dict[str, Any]
    arrays: dict[str, np.ndarray]


_GRID_FIGURES = (
    "buildings",
    "covered_buildings",
    "building_households",
    "covered_households",
    "covered_population",
    "area_m2",
    "blind_m2",
    "in_reach",
    "in_grid",
)


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

    The same as :func:`compute_coverage` then :func:`coverage_page` of every grid (the API
    pages it: ``gis.analysis.report``).
    """
    computed = compute_coverage(
        Grids.of(grids),
        Demand.of(demand),
        facilities,
        kind,
        default_radius_m=default_radius_m,
        redundant_share=redundant_share,
        min_blind_m2=min_blind_m2,
        roads=roads,
    )
    return coverage_page(computed, grids, 0)


def compute_coverage(
    grids: Grids,
    demand: Demand,
    facilities: Sequence[Facility],
    kind: Kind,
    *,
    default_radius_m: Mapping[str, float] | None = None,
    redundant_share: float = 0.8,
    min_blind_m2: float = 1.0,
    roads: Sequence[Any] = (),
    before: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Computed:
    """The report of :func:`coverage_report` for the whole region, before it is paged
    (``grids`` and ``demand`` as columns; ``before``: see ``grid_reach``)."""
    cameras = kind == "cameras"
    used, excluded, params, flon, flat, shapes = used_facilities(facilities, kind, default_radius_m)

    n_grids = len(grids.code)
    polygons = grids.polygons
    g_households, g_population = grids.households, grids.population
    plon, plat = finite_floats("demand point", demand.lon, demand.lat)
    households, pgrid = demand.households, demand.grid
    if len(pgrid) and ((pgrid < -1) | (pgrid >= n_grids)).any():
        bad = int(np.flatnonzero((pgrid < -1) | (pgrid >= n_grids))[0])
        raise InvalidInput(
            f"需求点 {demand.code[bad]} 的网格序号 {pgrid[bad]} 无效 (bad grid index)",
            code="invalid_parameter",
            details={"code": str(demand.code[bad]), "grid": int(pgrid[bad])},
        )
    if cameras:
        pairs = sector_pairs(plon, plat, flon, flat, *params.T)
    else:
        pairs = circle_pairs(plon, plat, flon, flat, params[:, 0])
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
    stored = grids.area_m2
    area = stored.copy()
    if np.isnan(stored).any():
        area[np.isnan(stored)] = geodesic_area_m2(polygons[np.isnan(stored)])
    blind_m2, in_reach, frame = grid_reach(
        polygons, area, (params, flon, flat, shapes), cameras, min_blind_m2, before
    )
    fgrid = lowest_covering(polygons, flon, flat) if n_grids else np.full(len(used), -1)
    in_grid = np.bincount(fgrid[fgrid >= 0], minlength=n_grids)

    def fac_ref(i: int) -> dict[str, Any]:
        return {"id": used[i].id, "name": used[i].name}

    # per facility
    fac_buildings = np.bincount(fac, minlength=len(used))
    fac_households = np.bincount(fac, households[point], minlength=len(used))
    shared_households = np.bincount(
        fac, households[point] * (times[point] > 1), minlength=len(used)
    )

    def grid_code(g: int) -> str | None:
        return str(grids.code[g]) if g >= 0 else None

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

    summary: dict[str, Any] = {
        "kind": kind,
        "crs": "EPSG:4326",
        "facilities_given": len(facilities),
        "facilities_used": len(used),
        "facilities_excluded": [{"id": f.id, "name": f.name, "status": f.status} for f in excluded],
        "totals": totals,
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
        summary["roads"] = {
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
        summary["redundant_centres"] = redundant
        summary["redundant_share"] = redundant_share
    uncovered = np.flatnonzero(~covered)
    figures = (
        buildings,
        covered_buildings,
        demand_households,
        covered_households,
        covered_population,
        area,
        blind_m2,
        in_reach,
        in_grid,
    )
    arrays = dict(zip(_GRID_FIGURES, figures, strict=True))
    arrays |= {
        "grid_code": np.asarray(grids.code, dtype=str),
        "uncovered_code": np.asarray(demand.code, dtype=str)[uncovered],
        "uncovered_lon": plon[uncovered],
        "uncovered_lat": plat[uncovered],
        "uncovered_households": households[uncovered],
        "uncovered_grid": pgrid[uncovered],
        "frame": np.array([getattr(frame, f.name) for f in fields(frame)], float),
        "min_blind_m2": np.array(float(min_blind_m2)),
    }
    return Computed(summary, arrays)


def facilities_of(summary: dict[str, Any]) -> list[Facility]:
    """The facilities a report counted, from its ``facilities`` rows (radius resolved,
    cameras online): the same parameters and shapes again."""
    rows = summary["facilities"]
    if summary["kind"] == "cameras":
        names = ("id", "name", "lon", "lat", "azimuth_deg", "fov_deg", "range_m", "status")
    else:
        names = ("id", "name", "lon", "lat", "radius_m", "level")
    return [Facility(**{n: r[n] for n in names}) for r in rows]


def coverage_page(computed: Computed, grids: Sequence[Grid], start: int) -> dict[str, Any]:
    """The report of :func:`coverage_report` listing ``grids``, the report's grids from
    ``start`` on (their polygons are needed for their blind spots and nearest facility)."""
    a, summary = computed.arrays, computed.summary
    cameras = summary["kind"] == "cameras"
    stop = start + len(grids)
    if a["grid_code"][start:stop].tolist() != [g.code for g in grids]:
        raise ValueError("the page's grids are not the report's grids from start")
    figure = {name: a[name][start:stop] for name in _GRID_FIGURES}
    used = summary["facilities"]
    _, _, params, flon, flat, shapes = used_facilities(
        facilities_of(summary), summary["kind"], None
    )
    polygons = np.empty(len(grids), dtype=object)
    polygons[:] = [g.polygon for g in grids]
    blind, _ = blind_spots(polygons, shapes, float(a["min_blind_m2"]), area_m2=figure["area_m2"])

    def fac_ref(i: int) -> dict[str, Any]:
        return {"id": used[i]["id"], "name": used[i]["name"]}

    # grids no facility reaches: the nearest facility by geodesic distance to the outline
    unreached = np.flatnonzero(figure["in_reach"] == 0)
    nearest: dict[int, tuple[int, float]] = {}
    if len(unreached) and len(used):
        frame = LocalFrame(*a["frame"].tolist())
        outlines = np.full(len(grids), None, dtype=object)
        outline(frame, polygons, outlines, unreached)
        projected = frame.geometries(polygons[unreached])
        tree = shapely.STRtree(frame.points(flon, flat))
        (which, _), metres = tree.query_nearest(projected, return_distance=True, all_matches=False)
        first = np.zeros(len(unreached))
        first[which] = metres
        grid_i, cand = tree.query(
            projected, predicate="dwithin", distance=first * frame.spread + 1e-3
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

    grid_rows = []
    for i, grid in enumerate(grids):
        f = {name: values[i] for name, values in figure.items()}
        km2 = float(f["area_m2"]) / 1e6
        placed = int(f["in_grid"])
        row = {
            "code": grid.code,
            "name": grid.name,
            "community_code": grid.community_code,
            "community_name": grid.community_name,
            "households": grid.households,
            "population": grid.population,
            "buildings": int(f["buildings"]),
            "covered_buildings": int(f["covered_buildings"]),
            "covered_buildings_pct": _pct(f["covered_buildings"], f["buildings"]),
            "building_households": int(f["building_households"]),
            "covered_households": int(f["covered_households"]),
            "covered_households_pct": _pct(f["covered_households"], f["building_households"]),
            "covered_population_estimated": round(float(f["covered_population"]), 1),
            "area_km2": round(km2, 4),
            "blind_area_m2": round(float(f["blind_m2"]), 2),
            "blind_area_pct": _pct(f["blind_m2"], f["area_m2"]),
            "facilities_in_reach": int(f["in_reach"]),
            "facilities_in_grid": placed,
        }
        if cameras:
            row["cameras_per_km2"] = round(placed / km2, 2) if km2 > 0 else None
            row["cameras_per_1000_households"] = (
                round(1000 * placed / grid.households, 2) if grid.households else None
            )
        grid_rows.append(row)

    # the points listed: those in the page's grids (and, on the first rows, those in none)
    pgrid = a["uncovered_grid"]
    listed = (pgrid >= start) & (pgrid < stop) | ((pgrid < 0) & (not len(grids) or start == 0))
    uncovered = [
        {
            "code": str(a["uncovered_code"][i]),
            "lon": float(a["uncovered_lon"][i]),
            "lat": float(a["uncovered_lat"][i]),
            "households": int(a["uncovered_households"][i]),
            "grid_code": str(a["grid_code"][g]) if (g := int(pgrid[i])) >= 0 else None,
        }
        for i in np.flatnonzero(listed).tolist()
    ]
    blind_m2 = figure["blind_m2"]
    head = ("kind", "crs", "facilities_given", "facilities_used", "facilities_excluded", "totals")
    return {
        **{k: summary[k] for k in head},
        "grids": grid_rows,
        "uncovered": uncovered,
        "blind_spots": [
            {
                "grid_code": grids[g].code,
                "area_m2": round(float(blind_m2[g]), 2),
                "geometry": _geojson(blind[g]),
            }
            for g in np.flatnonzero(blind_m2 > 0).tolist()
        ],
        "grids_without_facility": without,
        **{k: v for k, v in summary.items() if k not in head},
    }
