"""Areas on the ellipsoid (``gis.geo.geodesy.geodesic_area_m2``, one numpy pass on the authalic
sphere) against Karney's geodesic polygon area, ring by ring (``pyproj.Geod``, GeographicLib:
what PostGIS's ``ST_Area(geography)`` computes) — an independent implementation.

Tolerances: 1e-8 relative for grid-sized polygons is four orders below what storage does to an
area (vertices snapped to 1e-7°, ~1 cm, move a 100 m grid's area by ~1e-4); a 1 m square
(1e-5°) agrees to ~1e-8 (both sides lose digits to cancellation), a 1° square drawn with four
vertices to ~2e-7 (its 111 km edges: great circles of the authalic sphere vs geodesics)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from gis.geo.geodesy import GEOD, SHORT_EDGE_M, geodesic_area_m2


def _karney(geometry: shapely.Geometry) -> float:
    """Oracle: exterior rings minus holes, each ring by ``Geod.polygon_area_perimeter``."""
    total = 0.0
    for polygon in shapely.get_parts(geometry):
        for k, ring in enumerate(shapely.get_rings(polygon)):
            xy = shapely.get_coordinates(ring)
            area = abs(GEOD.polygon_area_perimeter(xy[:, 0], xy[:, 1])[0])
            total += area if k == 0 else -area
    return total


def _square(lon: float, lat: float, size: float, per_side: int) -> shapely.Polygon:
    """A square of ``size`` degrees with ``per_side`` vertices on each side."""
    s = np.linspace(0.0, size, per_side, endpoint=False)
    x = np.r_[lon + s, np.full(per_side, lon + size), lon + size - s, np.full(per_side, lon)]
    y = np.r_[np.full(per_side, lat), lat + s, np.full(per_side, lat + size), lat + size - s]
    return shapely.Polygon(np.column_stack([x, y]))


@pytest.mark.parametrize("lat", [-35.0, 0.5, 20.0, 45.0, 60.0, 80.0])
@pytest.mark.parametrize(
    ("size", "rel"), [(1e-5, 1e-7), (1e-3, 1e-8), (1e-2, 1e-8), (0.1, 1e-8), (1.0, 1e-6)]
)
def test_squares_from_a_metre_to_a_degree_match_karney(lat: float, size: float, rel: float) -> None:
    """Four vertices per square (the longest edges) and ten: a 1° square's 111 km edges are
    the worst case (great circle of the authalic sphere vs geodesic of the ellipsoid)."""
    for per_side in (1, 10):
        square = _square(118.0, lat, size, per_side)
        assert geodesic_area_m2([square])[0] == pytest.approx(_karney(square), rel=rel)


def test_grid_cells_match_karney() -> None:
    """Seamless Voronoi cells of ~200 m near 七台河 (45.8°N), edges densified like drawn grids."""
    rng = np.random.default_rng(7)
    box = shapely.box(130.8, 45.7, 131.0, 45.85)
    seeds = shapely.multipoints(
        np.column_stack([rng.uniform(130.8, 131.0, 2000), rng.uniform(45.7, 45.85, 2000)])
    )
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds)), box)
    cells = shapely.segmentize(cells, 3e-4)
    expected = np.array([_karney(c) for c in cells])
    assert np.allclose(geodesic_area_m2(cells), expected, rtol=1e-8, atol=0)
    # the cells tile the box: their areas add up to the box's (densified like them)
    total = _karney(shapely.segmentize(box, 3e-4))
    assert geodesic_area_m2(cells).sum() == pytest.approx(total, rel=1e-8)


def test_holes_parts_orientation_and_non_areal() -> None:
    """Holes are subtracted, parts added, a clockwise ring counts as one counter-clockwise;
    empty and non-areal geometries measure 0, None too."""
    outer = shapely.box(116.3, 39.9, 116.32, 39.91)
    hole = shapely.box(116.305, 39.902, 116.31, 39.905)
    with_hole = outer.difference(hole)
    other = shapely.box(116.4, 39.9, 116.401, 39.93)
    multi = shapely.MultiPolygon([with_hole, other])
    clockwise = shapely.Polygon(list(outer.exterior.coords)[::-1])
    areas = geodesic_area_m2(
        [with_hole, multi, clockwise, shapely.Polygon(), None, shapely.LineString([(0, 0), (1, 1)])]
    )
    assert areas[0] == pytest.approx(_karney(outer) - _karney(hole), rel=1e-10)
    assert areas[1] == pytest.approx(_karney(with_hole) + _karney(other), rel=1e-10)
    assert areas[2] == pytest.approx(_karney(outer), rel=1e-10)
    assert areas[3:].tolist() == [0.0, 0.0, 0.0]


def test_a_collection_measures_its_polygons_only() -> None:
    """An overlay's result may be a collection of a polygon, a line and a point (dimension
    2): its area is its polygons', the line and the point are no rings."""
    outer = shapely.box(116.3, 39.9, 116.32, 39.91)
    line = shapely.LineString([(116.4, 39.9), (116.4005, 39.9003)])  # ~50 m
    mixed = shapely.GeometryCollection([line, outer, shapely.Point(116.6, 40.1)])
    areas = geodesic_area_m2([mixed, shapely.GeometryCollection([line]), outer])
    assert areas[0] == areas[2] == pytest.approx(_karney(outer), rel=1e-10)
    assert areas[1] == 0.0


def test_edges_across_the_antimeridian_take_the_short_way() -> None:
    """A ring crossing 180° is measured along its short edges, as geography measures it."""
    ring = shapely.Polygon([(179.99, 10.0), (-179.99, 10.0), (-179.99, 10.01), (179.99, 10.01)])
    assert geodesic_area_m2([ring])[0] == pytest.approx(_karney(ring), rel=1e-8)


def _planar(ring: shapely.Polygon) -> float:
    """Second oracle for rings of metres: the planar area in a Lambert azimuthal equal-area
    projection of the ellipsoid centred on the ring (pyproj) — exact but for its straight
    edges, whose bend from the geodesics is negligible this close to the centre, and free
    of the cancellation that costs Karney's sum ~1e-5 m² (a ring's area moves that much
    with its longitude)."""
    west, south, east, north = ring.bounds
    laea = f"+proj=laea +lat_0={(south + north) / 2} +lon_0={(west + east) / 2} +datum=WGS84"
    projected = Transformer.from_crs("EPSG:4326", laea, always_xy=True)
    return abs(shapely.transform(ring, lambda xy: np.column_stack(projected.transform(*xy.T))).area)


@pytest.mark.parametrize("edge_m", [5.0, 30.0, 99.0, 101.0, 1_000.0, 30_000.0])
def test_random_rings_from_metres_to_kilometres(edge_m: float) -> None:
    """Rings of 3–8 vertices at random latitudes (±85°), longitudes and azimuths: with edges
    under ``SHORT_EDGE_M``, within 1e-7 m² per metre of perimeter of the equal-area plane;
    with a longer edge, Karney's own answer (the edges' lengths decide, ±0.1 %)."""
    rng = np.random.default_rng(int(edge_m))
    for _ in range(300):
        n = int(rng.integers(3, 9))
        lon, lat = rng.uniform(-179.0, 179.0), rng.uniform(-85.0, 85.0)
        azimuths = np.sort(rng.uniform(0.0, 360.0, n))
        reach = rng.uniform(0.4, 1, n) * edge_m / 2
        x, y, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), azimuths, reach)
        ring = shapely.Polygon(np.column_stack([x, y])[::-1])
        area = geodesic_area_m2([ring])[0]
        closed = np.column_stack([x, y])[np.r_[np.arange(n), 0]]
        edges = GEOD.inv(closed[:-1, 0], closed[:-1, 1], closed[1:, 0], closed[1:, 1])[2]
        if max(edges) < 0.999 * SHORT_EDGE_M:
            perimeter = sum(edges)
            assert abs(area - _planar(ring)) <= 1e-7 * perimeter, (lon, lat, area, edges)
        elif max(edges) > 1.001 * SHORT_EDGE_M:
            assert area == pytest.approx(_karney(ring), rel=1e-12)
