"""The cell index answers exactly what GEOS `covers` answers, on a city of many grids."""

from __future__ import annotations

import numpy as np
import shapely

from gis.query.cells import CellIndex


def _oracle(polygons: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Lowest index of a polygon covering each point, by plain STRtree + covers."""
    tree = shapely.STRtree(polygons)
    point, polygon = tree.query(shapely.points(lon, lat), predicate="covered_by")
    found = np.full(len(lon), -1)
    for p, g in zip(point.tolist(), polygon.tolist(), strict=True):
        if found[p] < 0 or g < found[p]:
            found[p] = g
    return found


def test_cells_match_covers_on_3000_voronoi_grids() -> None:
    rng = np.random.default_rng(11)
    box = shapely.box(118.0, 40.0, 118.6, 40.4)
    seeds = shapely.multipoints(rng.uniform((118.0, 40.0), (118.6, 40.4), size=(3000, 2)))
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds)), box)
    cells = cells[~shapely.is_empty(cells)]
    cells = np.delete(cells, np.arange(0, len(cells), 97))  # holes in the coverage
    shapely.prepare(cells)
    index = CellIndex(cells, shapely.STRtree(cells))

    coords = np.unique(shapely.get_coordinates(cells), axis=0)
    rings = [shapely.get_coordinates(c.exterior) for c in cells[::5]]
    mids = np.vstack([(r[:-1] + r[1:]) / 2 for r in rings])
    random = rng.uniform((117.95, 39.95), (118.65, 40.45), size=(50_000, 2))
    points = np.vstack([coords, mids, random])
    lon, lat = points[:, 0].copy(), points[:, 1].copy()

    found = index.covering(lon, lat)
    assert (found == _oracle(cells, lon, lat)).all()
    one_by_one = [index.covering_point(x, y) for x, y in zip(lon[::7], lat[::7], strict=True)]
    assert one_by_one == found[::7].tolist(), "the single-point path answers the same"
    assert (found[: len(coords)] >= 0).sum() > len(coords) * 0.9, "vertices are covered"
    assert (found < 0).any(), "points in the holes and outside are not"
