"""Blind spots by walking: the parts of a grid whose households cannot walk to a centre.

A straight-line radius leaves a grid's parts outside every circle; a walk is decided per
building, so the part of a grid a building stands for is its Voronoi cell among the grid's
buildings (drawn in the grid's local metric frame, clipped to the grid): a blind spot is the
union of the cells of the buildings no centre reaches on foot.  Every uncovered building lies
in a blind spot, no covered one does; a grid without buildings has none.  Areas are
geodesic (m²).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from gis.analysis.facilities import Grid
from gis.geo.geodesy import LocalFrame, geodesic_area_m2


def _cells(grid: Any, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Voronoi cells (lon/lat, clipped to ``grid``) of the distinct places, and each
    building's place."""
    places, place_of = np.unique(np.column_stack([lon, lat]), axis=0, return_inverse=True)
    place_of = place_of.reshape(-1)
    if len(places) == 1:
        return np.array([grid], dtype=object), place_of
    frame = LocalFrame.around(places[:, 0], places[:, 1])
    x, y = frame.forward(places[:, 0], places[:, 1])
    metric_grid = frame.geometries(np.array([grid], dtype=object))[0]
    cells = shapely.get_parts(
        shapely.voronoi_polygons(
            shapely.multipoints(np.column_stack([x, y])), extend_to=shapely.envelope(metric_grid)
        )
    )
    which = shapely.STRtree(cells).query(shapely.points(x, y), predicate="within")
    ordered = np.empty(len(places), dtype=object)
    ordered[which[0]] = cells[which[1]]

    def back(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(frame.inverse(xy[:, 0], xy[:, 1]))

    return shapely.intersection(shapely.transform(ordered, back), grid), place_of


def walking_blind_spots(
    grids: list[Grid],
    lon: np.ndarray,
    lat: np.ndarray,
    households: np.ndarray,
    grid_of: np.ndarray,
    covered: np.ndarray,
) -> list[dict[str, Any]]:
    """For each of ``grids`` (``grid_of``: each building's position in that list, -1 for
    others) with a building left uncovered, its blind spot: GeoJSON geometry, geodesic area
    in m², the uncovered buildings and households in it."""
    found = []
    for g, grid in enumerate(grids):
        mine = np.flatnonzero(grid_of == g)
        if not len(mine) or covered[mine].all():
            continue
        cells, place_of = _cells(grid.polygon, lon[mine], lat[mine])
        left = np.unique(place_of[~covered[mine]])
        blind = shapely.union_all(cells[left])
        if blind.is_empty:
            continue
        held = households[mine][~covered[mine]]
        found.append(
            {
                "grid": grid.code,
                "area_m2": round(float(geodesic_area_m2(np.array([blind]))[0]), 1),
                "buildings": int((~covered[mine]).sum()),
                "households": int(held.sum()),
                "geometry": shapely.geometry.mapping(blind),
            }
        )
    return found
