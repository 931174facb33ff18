"""Coverage of a region's households by walking to the party-service centres, beside coverage
by straight-line radius: GB 50180's life circles are walks, and a river without a bridge or a
fenced compound makes a circle promise what the roads do not give.

Each centre serves its own service distance (its ``radius_m``, else its level's default:
``settings.centre_radius_m``, the life circles' 300 / 500 / 1 000 m) — the same distance the
radius coverage draws as a circle, here walked along the roads (``gis.network.walk``).  A
building is covered by walking when some centre's walk to its door is at most that centre's
distance; by radius when some centre is within it in a straight line (geodesic).  Walking is
never shorter than the straight line, so a building covered by walking is covered by radius;
``radius_only`` counts the households the circles claim and the roads do not reach.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Connection

from gis.analysis import paging, stored
from gis.analysis.facilities import parameters
from gis.analysis.inputs import page_grids, region_inputs
from gis.analysis.reach import circle_pairs
from gis.analysis.report import data_state, region_facilities
from gis.network.blind import walking_blind_spots
from gis.network.isochrones import BAND_M, service_areas
from gis.network.walk import distances, require_network, snap, within_service
from gis.settings import Settings

NEAREST_LIMIT_FACTOR = 2.0
"""How far (times the longest service distance) a building's walk to its nearest centre is
measured; beyond it the distance is reported as null."""
TABLES = ("centres", "addresses", "roads")
"""The layers a walking analysis reads (their data stamps are in the answer)."""


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 2) if whole > 0 else None


def _figures(covered: np.ndarray, households: np.ndarray) -> dict[str, Any]:
    return {
        "covered_buildings": int(covered.sum()),
        "covered_households": int(households[covered].sum()),
        "covered_households_pct": _pct(float(households[covered].sum()), float(households.sum())),
    }


def walking_coverage(
    conn: Connection, region: str, settings: Settings, page: paging.GridPage | None = None
) -> dict[str, Any]:
    """Households of ``region`` within walking distance of a centre and within its radius,
    in total and per grid (a ``page`` of grids, in code order), and the buildings walking
    leaves uncovered on that page with their walk to the nearest centre and the page's
    blind spots (``gis.network.blind``)."""
    version, stamps = data_state(conn, region, TABLES)
    require_network(conn)
    with stored.beside() as save:
        grids, demand = region_inputs(conn, region, version, stamps["addresses"], settings, save)
    facilities = region_facilities(conn, "centres", grids, settings)
    service = parameters(facilities, "centres", settings.centre_radius_m)[:, 0]
    households = demand.households
    by_radius = np.zeros(len(demand), bool)
    walked = np.full(len(demand), np.inf)
    covered = np.zeros(len(demand), bool)
    if len(facilities) and len(demand):
        flon = np.array([f.lon for f in facilities])
        flat = np.array([f.lat for f in facilities])
        by_radius[circle_pairs(demand.lon, demand.lat, flon, flat, service)[0]] = True
        doors, centres = snap(conn, demand.lon, demand.lat), snap(conn, flon, flat)
        covered = within_service(conn, doors, centres, service)
        limit = NEAREST_LIMIT_FACTOR * float(service.max())
        walked = distances(conn, doors, centres, limit_m=limit)
    codes = grids.code.tolist()
    shown = paging.rows(codes, page) if page is not None else slice(0, len(codes))
    listed = page_grids(conn, codes[shown], version)[0]

    def per_grid(mask: np.ndarray) -> np.ndarray:
        inside = demand.grid >= 0
        return np.bincount(demand.grid[inside & mask], households[inside & mask], len(codes))

    all_hh, walk_hh = per_grid(np.ones(len(demand), bool)), per_grid(covered)
    radius_hh = per_grid(by_radius)
    rows = []
    for offset, grid in enumerate(listed):
        i = shown.start + offset
        rows.append(
            {
                "code": grid.code,
                "name": grid.name,
                "households": int(all_hh[i]),
                "walking_households": int(walk_hh[i]),
                "walking_pct": _pct(walk_hh[i], all_hh[i]),
                "radius_households": int(radius_hh[i]),
                "radius_pct": _pct(radius_hh[i], all_hh[i]),
            }
        )
    paged = (demand.grid >= shown.start) & (demand.grid < shown.stop)
    position = np.where(paged, demand.grid - shown.start, -1)
    blind = walking_blind_spots(listed, demand.lon, demand.lat, households, position, covered)
    on_page = paged & ~covered
    uncovered = [
        {
            "code": str(demand.code[j]),
            "lon": float(demand.lon[j]),
            "lat": float(demand.lat[j]),
            "households": int(households[j]),
            "grid": codes[int(demand.grid[j])],
            "walk_to_nearest_m": round(float(walked[j]), 1) if np.isfinite(walked[j]) else None,
            "within_radius": bool(by_radius[j]),
        }
        for j in np.flatnonzero(on_page)
    ]
    radius_only = by_radius & ~covered
    answer = {
        "region": region,
        "crs": "EPSG:4326",
        "distance": "walking",
        "version": version,
        "stamps": stamps,
        "centres": len(facilities),
        "totals": {
            "buildings": len(demand),
            "households": int(households.sum()),
            "walking": _figures(covered, households),
            "radius": _figures(by_radius, households),
            "radius_only_buildings": int(radius_only.sum()),
            "radius_only_households": int(households[radius_only].sum()),
        },
        "grids": rows,
        "uncovered": uncovered,
        "blind_spots": blind,
    }
    if page is not None:
        answer["page"] = paging.about(codes, shown, page)
    return answer


def walking_areas(conn: Connection, region: str, settings: Settings) -> dict[str, Any]:
    """The service area by walking of each centre that can reach ``region``: a GeoJSON
    FeatureCollection (EPSG:4326), the reached roads widened by :data:`BAND_M` each side."""
    version, stamps = data_state(conn, region, TABLES)
    require_network(conn)
    with stored.beside() as save:
        grids, _ = region_inputs(conn, region, version, stamps["addresses"], settings, save)
    facilities = region_facilities(conn, "centres", grids, settings)
    service = parameters(facilities, "centres", settings.centre_radius_m)[:, 0]
    flon = np.array([f.lon for f in facilities], float)
    flat = np.array([f.lat for f in facilities], float)
    areas = service_areas(conn, snap(conn, flon, flat), service) if len(facilities) else []
    features = [
        {
            "type": "Feature",
            "id": f.id,
            "properties": {
                "name": f.name,
                "level": f.level,
                "service_m": float(r),
                "distance": "walking",
                "band_m": BAND_M,
            },
            "geometry": area,
        }
        for f, r, area in zip(facilities, service, areas, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}
