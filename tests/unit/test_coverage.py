"""Coverage by centres and cameras, checked against plain per-pair geodesic brute force.

The oracles use ``pyproj.Geod`` one pair at a time (or densify-and-test for roads); the
OSM extract is the real one bundled with pyrosm (Kouvola area, Finland), read with GDAL's
OSM driver.
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import pyogrio.raw
import pytest
import shapely
from pyproj import Geod

from gis.analysis.coverage import DemandPoint, Facility, Grid, coverage_report
from gis.analysis.overlay import blind_spots, road_coverage
from gis.analysis.reach import circle_pairs, sector_pairs
from gis.errors import InvalidInput
from gis.geo.geodesy import circle_polygons, geodesic_area_m2, geodesic_length_m, sector_polygons

GEOD = Geod(ellps="WGS84")
CENTRE = (118.32, 40.15)


def _set(pairs: tuple[np.ndarray, np.ndarray]) -> set[tuple[int, int]]:
    return set(zip(pairs[0].tolist(), pairs[1].tolist(), strict=True))


def _brute_circles(plon, plat, clon, clat, radius) -> set[tuple[int, int]]:
    found = set()
    for j in range(len(clon)):
        for i in range(len(plon)):
            _, _, d = GEOD.inv(float(clon[j]), float(clat[j]), float(plon[i]), float(plat[i]))
            if d <= radius[j]:
                found.add((i, j))
    return found


def _sees(cam_az: float, fov: float, reach: float, bearing: float, d: float) -> bool:
    """The sector rule written independently: signed angle off the axis in [-180, 180]."""
    off = math.remainder(bearing - cam_az, 360.0)
    return d <= reach and (d == 0.0 or fov >= 360.0 or abs(off) <= fov / 2.0)


def _brute_sectors(plon, plat, clon, clat, az, fov, reach) -> set[tuple[int, int]]:
    found = set()
    for j in range(len(clon)):
        for i in range(len(plon)):
            b, _, d = GEOD.inv(float(clon[j]), float(clat[j]), float(plon[i]), float(plat[i]))
            if _sees(float(az[j]), float(fov[j]), float(reach[j]), b, d):
                found.add((i, j))
    return found


def _city_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    lon = rng.uniform(CENTRE[0] - 0.03, CENTRE[0] + 0.03, n)
    lat = rng.uniform(CENTRE[1] - 0.02, CENTRE[1] + 0.02, n)
    return lon, lat


def _around(
    rng: np.random.Generator, lon: np.ndarray, lat: np.ndarray, az: np.ndarray, dist: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x, y, _ = GEOD.fwd(lon, lat, az, dist)
    return np.asarray(x), np.asarray(y)


def test_circle_pairs_equal_brute_force_at_the_boundary() -> None:
    rng = np.random.default_rng(5)
    clon, clat = _city_points(rng, 20)
    radius = rng.choice([300.0, 500.0, 1000.0], 20)
    # on each circle exactly, 1 mm inside and 1 mm outside, at the centre; the rest at random
    k = np.repeat(np.arange(20), 30)
    step = np.tile(np.repeat([0.0, -1e-3, 1e-3], 10), 20)
    blon, blat = _around(rng, clon[k], clat[k], rng.uniform(-180, 180, len(k)), radius[k] + step)
    rlon, rlat = _city_points(rng, 2000 - len(k) - 20)
    plon, plat = np.r_[blon, clon, rlon], np.r_[blat, clat, rlat]

    point, circle = circle_pairs(plon, plat, clon, clat, radius)
    got = set(zip(point.tolist(), circle.tolist(), strict=True))
    assert got == _brute_circles(plon, plat, clon, clat, radius)
    assert len(got) == len(point), "no pair twice"
    assert (np.diff(point) >= 0).all(), "sorted by point"
    inside = {(i, int(k[i])) for i in range(len(k)) if step[i] < 0}
    outside = {(i, int(k[i])) for i in range(len(k)) if step[i] > 0}
    assert inside <= got and not outside & got, "±1 mm around the radius"


def test_sector_pairs_equal_brute_force_at_edges_and_across_north() -> None:
    rng = np.random.default_rng(6)
    n = 50
    clon, clat = _city_points(rng, n)
    az = rng.uniform(0, 360, n)
    fov = rng.uniform(10, 170, n)
    az[:6] = [350.0, 10.0, 0.0, 355.0, 5.0, 359.9]  # sectors across north
    fov[:6] = [20.0, 20.0, 20.0, 30.0, 30.0, 40.0]
    fov[6:9] = [360.0, 270.0, 200.0]
    reach = rng.uniform(50, 300, n)
    # per camera: both edges ± 0.01°, range ± 1 mm on the axis, the camera itself
    j = np.repeat(np.arange(n), 8)
    edge = np.tile([-1, -1, 1, 1, 0, 0, 0, 0], n) * fov[j] / 2
    wiggle = np.tile([-0.01, 0.01, -0.01, 0.01, 0.0, 0.0, 0.0, 0.0], n)
    dist = reach[j] * rng.uniform(0.05, 0.95, len(j))
    dist[4::8] = reach + 1e-3
    dist[5::8] = reach - 1e-3
    dist[6::8] = rng.uniform(0.05, 0.95, n) * reach
    elon, elat = _around(rng, clon[j], clat[j], az[j] + edge + wiggle, dist)
    elon[7::8], elat[7::8] = clon, clat
    rlon, rlat = _city_points(rng, 2000 - len(j))
    plon, plat = np.r_[elon, rlon], np.r_[elat, rlat]

    point, camera = sector_pairs(plon, plat, clon, clat, az, fov, reach)
    got = set(zip(point.tolist(), camera.tolist(), strict=True))
    assert got == _brute_sectors(plon, plat, clon, clat, az, fov, reach)
    own = {(8 * c + s, c) for c in range(n) for s in range(8)}
    seen = {(8 * c + s, c) for c in range(n) for s in (1, 2, 5, 6, 7)}  # inside the edges
    seen |= {(8 * 6 + s, 6) for s in (0, 3)}  # a 360° camera has no edges
    assert own & got == seen


def test_invalid_shapes_are_refused() -> None:
    with pytest.raises(InvalidInput) as error:
        sector_pairs([118.3], [40.1], [118.3], [40.1], [0.0], [0.0], [100.0])
    assert error.value.code == "invalid_facility"
    with pytest.raises(InvalidInput):
        circle_pairs([118.3], [40.1], [118.3], [40.1], [-1.0])
    with pytest.raises(InvalidInput) as error:
        circle_pairs([np.nan], [40.1], [118.3], [40.1], [1.0])
    assert error.value.code == "invalid_coordinates"
    empty = circle_pairs([], [], [118.3], [40.1], [1.0])
    assert len(empty[0]) == len(empty[1]) == 0


@pytest.mark.parametrize(
    ("lons", "lats", "reach"),
    [((75, 135), (18, 53), 3e5), ((100, 140), (-50, -10), 3e6), ((20, 21), (60, 80), 1e5)],
)
def test_pairs_over_wide_areas(lons, lats, reach) -> None:
    """All China, the southern hemisphere, the far north: the candidate search misses nothing."""
    rng = np.random.default_rng(12)
    plon, plat = rng.uniform(*lons, 3000), rng.uniform(*lats, 3000)
    clon, clat = rng.uniform(*lons, 40), rng.uniform(*lats, 40)
    radius = rng.uniform(0, reach, 40)
    az, fov = rng.uniform(0, 360, 40), rng.uniform(1, 360, 40)
    p, c = np.repeat(np.arange(3000), 40), np.tile(np.arange(40), 3000)
    bearing, _, d = GEOD.inv(clon[c], clat[c], plon[p], plat[p])
    within = d <= radius[c]
    off = np.abs((bearing - az[c] + 180.0) % 360.0 - 180.0)
    seen = within & (off <= fov[c] / 2)
    circles = circle_pairs(plon, plat, clon, clat, radius)
    assert _set(circles) == _set((p[within], c[within]))
    assert _set(sector_pairs(plon, plat, clon, clat, az, fov, radius)) == _set((p[seen], c[seen]))
    with pytest.raises(InvalidInput) as error:
        circle_pairs([0.0], [86.0], [0.0], [86.0], [10.0])
    assert error.value.code == "coordinates_out_of_range"


@pytest.mark.parametrize("lat", [0.0, 40.15, 60.53])
def test_circle_vertices_lie_at_the_radius(lat: float) -> None:
    radius = np.array([1.0, 300.0, 1000.0, 25_000.0])
    polygons = circle_polygons(118.32, lat, radius, vertices=64)
    for r, polygon in zip(radius, polygons, strict=True):
        ring = shapely.get_coordinates(polygon.exterior)
        assert len(ring) == 65 and (ring[0] == ring[-1]).all()
        _, _, d = GEOD.inv(np.full(64, 118.32), np.full(64, lat), ring[:-1, 0], ring[:-1, 1])
        assert np.abs(np.asarray(d) / r - 1).max() < 1e-6
    assert shapely.is_valid(polygons).all()
    assert shapely.is_ccw(shapely.get_exterior_ring(polygons)).all()


def test_sector_polygons_apex_and_arc() -> None:
    az = np.array([350.0, 90.0, 0.0])
    fov = np.array([20.0, 200.0, 360.0])
    polygons = sector_polygons(118.32, 40.15, az, fov, 150.0, step_deg=2.0)
    assert shapely.is_valid(polygons).all()
    assert shapely.is_ccw(shapely.get_exterior_ring(polygons)).all()
    for a, f, polygon in zip(az, fov, polygons, strict=True):
        ring = shapely.get_coordinates(polygon.exterior)[:-1]
        if f < 360:
            assert tuple(ring[-1]) == (118.32, 40.15), "the apex"
            ring = ring[:-1]
        assert len(ring) == math.ceil(f / 2.0) + (f < 360)
        bearing, _, d = GEOD.inv(np.full(len(ring), 118.32), np.full(len(ring), 40.15), *ring.T)
        assert np.abs(np.asarray(d) - 150.0).max() < 1e-6
        off = np.abs((np.asarray(bearing) - a + 180) % 360 - 180)
        assert off.max() <= f / 2 + 1e-9


def test_areas_and_lengths() -> None:
    r = 1000.0
    exact = geodesic_area_m2(circle_polygons(*CENTRE, r, vertices=1024))[0]
    assert abs(exact / (math.pi * r * r) - 1) < 1e-3
    n = 64
    polygon = circle_polygons(*CENTRE, r, vertices=n)[0]
    inscribed = n / 2 * r * r * math.sin(2 * math.pi / n)  # the regular 64-gon
    assert abs(geodesic_area_m2(polygon)[0] / inscribed - 1) < 1e-6
    # holes subtract, whatever the orientation; the same as pyproj on a well-oriented polygon
    hole = circle_polygons(*CENTRE, 400.0)[0]
    ring = shapely.Polygon(polygon.exterior.coords, [hole.exterior.coords])
    ring_ccw_hole = shapely.orient_polygons(ring)
    expected = abs(GEOD.geometry_area_perimeter(ring_ccw_hole)[0])
    areas = geodesic_area_m2([ring, ring_ccw_hole, shapely.MultiPolygon([ring, hole])])
    assert np.allclose(areas, [expected, expected, geodesic_area_m2([polygon])[0]], rtol=1e-9)
    assert geodesic_area_m2([shapely.Polygon(), shapely.Point(1, 1)]).tolist() == [0.0, 0.0]
    # lengths: a meridian degree, a multiline, a polygon outline
    line = shapely.LineString([(118.0, 40.0), (118.0, 40.5), (118.0, 41.0)])
    expected = GEOD.inv(118.0, 40.0, 118.0, 41.0)[2]
    lengths = geodesic_length_m([line, shapely.MultiLineString([line, line]), polygon])
    assert lengths[0] == pytest.approx(expected, rel=1e-12)
    assert lengths[1] == pytest.approx(2 * expected, rel=1e-12)
    assert lengths[2] == pytest.approx(2 * n * r * math.sin(math.pi / n), rel=1e-6)


# --------------------------------------------------------------------------- real roads


@pytest.fixture(scope="module")
def roads() -> np.ndarray:
    """The highways of pyrosm's bundled OSM extract."""
    path = resources.files("pyrosm") / "data" / "test.osm.pbf"
    _, _, wkb, (highway,) = pyogrio.raw.read(str(path), layer="lines", columns=["highway"])
    lines = shapely.from_wkb(wkb)[np.array([h is not None for h in highway])]
    assert len(lines) > 300 and geodesic_length_m(lines).sum() > 60_000
    return lines


def _cameras(roads: np.ndarray) -> list[Facility]:
    rng = np.random.default_rng(8)
    vertices = shapely.get_coordinates(roads)
    picked = vertices[rng.choice(len(vertices), 16, replace=False)]
    cameras = []
    for i, (lon, lat) in enumerate(picked.tolist()):
        fov = [360.0, 300.0, 20.0][i] if i < 3 else float(rng.uniform(30, 120))
        az = 355.0 if i == 2 else float(rng.uniform(0, 360))
        cameras.append(
            Facility(
                id=f"cam{i}",
                name=f"摄像机{i}",
                lon=lon,
                lat=lat,
                azimuth_deg=az,
                fov_deg=fov,
                range_m=float(rng.uniform(60, 250)),
                status="offline" if i == 15 else "online",
            )
        )
    return cameras


def _brute_road_coverage(lines: np.ndarray, cameras: list[Facility]) -> float:
    """Covered share (%) by densify-and-test: ≤ 1 m pieces, each tested at its midpoint."""
    coords, owner = shapely.get_coordinates(lines, return_index=True)
    same = owner[1:] == owner[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    _, _, seg = GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    pieces = np.maximum(1, np.ceil(np.asarray(seg))).astype(int)
    seg_of = np.repeat(np.arange(len(a)), pieces)
    t = (np.arange(len(seg_of)) - np.repeat(np.cumsum(pieces) - pieces, pieces) + 0.5) / pieces[
        seg_of
    ]
    mid = a[seg_of] + (b[seg_of] - a[seg_of]) * t[:, None]
    weight = (np.asarray(seg) / pieces)[seg_of]
    seen = np.zeros(len(mid), dtype=bool)
    for c in cameras:
        near = np.abs(mid[:, 1] - c.lat) < 0.003  # 333 m of latitude: beyond every range
        bearing, _, d = GEOD.inv(
            np.full(near.sum(), c.lon), np.full(near.sum(), c.lat), mid[near, 0], mid[near, 1]
        )
        off = np.abs((np.asarray(bearing) - c.azimuth_deg + 180.0) % 360.0 - 180.0)
        hit = (np.asarray(d) <= c.range_m) & ((off <= c.fov_deg / 2) | (c.fov_deg >= 360))
        seen[np.flatnonzero(near)[hit]] = True
    return 100.0 * weight[seen].sum() / weight.sum()


def _grids(lines: np.ndarray) -> list[Grid]:
    x0, y0, x1, y1 = shapely.total_bounds(lines)
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    boxes = [(x0, y0, xm, ym), (xm, y0, x1, ym), (x0, ym, xm, y1), (xm, ym, x1, y1)]
    return [
        Grid(
            f"13022710200100{i}",
            f"第{i}网格",
            "130227102001",
            "测试社区",
            300,
            780,
            shapely.box(*b),
        )
        for i, b in enumerate(boxes, 1)
    ]


def test_road_coverage_on_osm_matches_densify_and_test(roads: np.ndarray) -> None:
    cameras = _cameras(roads)
    online = [c for c in cameras if c.status == "online"]
    shapes = sector_polygons(
        [c.lon for c in online],
        [c.lat for c in online],
        [c.azimuth_deg for c in online],
        [c.fov_deg for c in online],
        [c.range_m for c in online],
    )
    result = road_coverage(roads, shapes)
    brute = _brute_road_coverage(roads, online)
    assert 1.0 < brute < 50.0, "a meaningful share of the roads"
    assert abs(result.percent - brute) < 0.005 * brute, (result.percent, brute)
    assert result.total_m == pytest.approx(geodesic_length_m(roads).sum())
    assert (result.covered_m <= result.length_m + 1e-6).all()

    # the report: offline camera excluded, roads and blind spots consistent
    grids = _grids(roads)
    rng = np.random.default_rng(9)
    vertices = shapely.get_coordinates(roads)
    spots = vertices[rng.choice(len(vertices), 400, replace=False)]
    polygons = np.array([g.polygon for g in grids])
    cell = [int(np.flatnonzero(shapely.covers(polygons, shapely.Point(p)))[0]) for p in spots]
    offline = cameras[15]
    demand = [
        DemandPoint(f"B{i}", x, y, 10, g)
        for i, ((x, y), g) in enumerate(zip(spots, cell, strict=True))
    ]
    demand.append(DemandPoint("B-offline", offline.lon, offline.lat, 7, cell[0]))
    report = coverage_report(grids, demand, cameras, "cameras", roads=roads)
    assert report["facilities_used"] == 15
    assert [f["id"] for f in report["facilities_excluded"]] == ["cam15"]
    assert report["roads"]["covered_pct"] == pytest.approx(result.percent, abs=0.01)

    def seen_by(which: list[Facility]) -> set[str]:
        point, _ = sector_pairs(
            [d.lon for d in demand],
            [d.lat for d in demand],
            *([getattr(c, f) for c in which] for f in ("lon", "lat")),
            *([getattr(c, f) for c in which] for f in ("azimuth_deg", "fov_deg", "range_m")),
        )
        return {demand[i].code for i in point.tolist()}

    seen = seen_by(online)
    assert "B-offline" in seen_by([offline]) and "B-offline" not in seen
    assert {u["code"] for u in report["uncovered"]} == {d.code for d in demand} - seen
    assert report["totals"]["covered_buildings"] == len(seen)
    assert report["totals"]["cameras_in_grids"] == 15

    blind, blind_m2 = blind_spots(polygons, shapes, min_area_m2=0.0)
    covered = geodesic_area_m2(shapely.intersection(polygons, shapely.union_all(shapes)))
    area = geodesic_area_m2(polygons)
    assert np.allclose(blind_m2 + covered, area, rtol=1e-3)
    assert np.allclose(geodesic_area_m2(blind), blind_m2)
    by_code = {row["code"]: row for row in report["grids"]}
    for g, grid in enumerate(grids):
        assert by_code[grid.code]["blind_area_m2"] == pytest.approx(blind_m2[g], abs=1.0)


# --------------------------------------------------------------------------- the report


def _square(lon0: float, lat0: float, side_m: float) -> shapely.Polygon:
    """A lon/lat box side_m × side_m (approximately) with its south-west corner at lon0, lat0."""
    east = GEOD.fwd(lon0, lat0, 90.0, side_m)[0]
    north = GEOD.fwd(lon0, lat0, 0.0, side_m)[1]
    return shapely.box(lon0, lat0, east, north)


def _outline_distance(polygon: shapely.Polygon, lon: float, lat: float) -> float:
    """Brute force: geodesic distance to the outline densified every ~0.5 m."""
    outline = shapely.segmentize(polygon.exterior, 5e-6)
    xy = shapely.get_coordinates(outline)
    _, _, d = GEOD.inv(np.full(len(xy), lon), np.full(len(xy), lat), xy[:, 0], xy[:, 1])
    return float(np.min(d))


def test_centre_report() -> None:
    lon0, lat0 = CENTRE
    west = _square(lon0, lat0, 1000.0)
    east = shapely.box(
        west.bounds[2], lat0, west.bounds[2] + (west.bounds[2] - lon0), west.bounds[3]
    )
    far = _square(lon0 + 0.1, lat0, 500.0)  # about 8 km east: nothing reaches it
    grids = [
        Grid("130227102001001", "西网格", "130227102001", "甲社区", 200, 500, west),
        Grid("130227102001002", "东网格", "130227102001", "甲社区", 100, 300, east),
        Grid("130227102002001", "远网格", "130227102002", "乙社区", 50, 120, far),
    ]
    mid_lon, mid_lat = west.centroid.x, west.centroid.y
    home_lon, home_lat, _ = GEOD.fwd(mid_lon, mid_lat, 45.0, 100.0)
    facilities = [
        Facility(1, "栗乡街道党群服务中心", mid_lon, mid_lat, level="centre"),  # default 1000 m
        Facility(2, "阳光小区党群之家", home_lon, home_lat, radius_m=300.0, level="home"),
    ]
    rng = np.random.default_rng(10)
    demand = []
    for g, polygon in enumerate(grids[:2]):
        x0, y0, x1, y1 = polygon.polygon.bounds
        for k in range(50):
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
            demand.append(DemandPoint(f"{g}-{k}", x, y, int(rng.integers(1, 30)), g))
    demand.append(DemandPoint("far", *far.centroid.coords[0], 12, 2))
    demand.append(DemandPoint("nowhere", lon0 - 0.05, lat0, 5, -1))

    report = coverage_report(
        grids, demand, facilities, "centres", default_radius_m={"centre": 1000.0}
    )
    radius = np.array([1000.0, 300.0])
    lon = [d.lon for d in demand]
    lat = [d.lat for d in demand]
    flon, flat = [f.lon for f in facilities], [f.lat for f in facilities]
    brute = _brute_circles(lon, lat, flon, flat, radius)
    covered = {i for i, _ in brute}
    hh = np.array([d.households for d in demand])
    totals = report["totals"]
    assert totals["buildings"] == len(demand)
    assert totals["covered_buildings"] == len(covered)
    assert totals["households"] == hh.sum()
    assert totals["covered_households"] == hh[sorted(covered)].sum()
    assert {u["code"] for u in report["uncovered"]} == {
        demand[i].code for i in range(len(demand)) if i not in covered
    }
    rows = {r["code"]: r for r in report["grids"]}
    population = 0.0
    for g, grid in enumerate(grids):
        mine = [i for i, d in enumerate(demand) if d.grid == g and i in covered]
        estimate = hh[mine].sum() * grid.population / grid.households
        assert rows[grid.code]["covered_population_estimated"] == pytest.approx(estimate, abs=0.1)
        population += estimate
    assert totals["covered_population_estimated"] == pytest.approx(population, abs=0.2)
    assert rows[grids[0].code]["facilities_in_grid"] == 2
    assert rows[grids[1].code]["facilities_in_reach"] == 1  # the 1 000 m circle reaches it
    assert rows[grids[1].code]["facilities_in_grid"] == 0
    assert rows[grids[0].code]["blind_area_m2"] == 0.0  # the 1 000 m circle covers it
    assert rows[grids[2].code]["blind_area_pct"] == 100.0

    (unreached,) = report["grids_without_facility"]
    assert unreached["code"] == grids[2].code
    nearest = unreached["nearest"]
    gaps = [_outline_distance(far, x, y) for x, y in zip(flon, flat, strict=True)]
    best = int(np.argmin(gaps))
    assert nearest["id"] == facilities[best].id
    assert nearest["distance_m"] == pytest.approx(gaps[best], abs=0.01)
    assert nearest["beyond_radius_m"] == pytest.approx(gaps[best] - radius[best], abs=0.01)

    # the home lies inside the centre's circle: all its households are also the centre's
    (redundant,) = report["redundant_centres"]
    assert redundant["id"] == 2 and redundant["overlap_share"] == 1.0
    assert redundant["overlapping"][0]["id"] == 1
    assert redundant["overlapping"][0]["shared_households"] == redundant["covered_households"]
    assert report["blind_spots"][-1]["grid_code"] == grids[2].code
    assert report["blind_spots"][-1]["geometry"]["type"] == "MultiPolygon"


def test_report_refuses_bad_facilities_and_handles_nothing() -> None:
    grid = Grid("130227102001001", "网格", None, None, 10, 20, _square(*CENTRE, 300.0))
    bad = [
        (Facility("c1", None, *CENTRE, level="unknown"), "centres"),
        (Facility("c2", None, *CENTRE, radius_m=-1.0), "centres"),
        (Facility("k1", None, *CENTRE, azimuth_deg=0.0, fov_deg=400.0, range_m=5.0), "cameras"),
        (Facility("k2", None, *CENTRE, azimuth_deg=0.0, range_m=5.0), "cameras"),
    ]
    for facility, kind in bad:
        with pytest.raises(InvalidInput) as error:
            coverage_report([grid], [], [facility], kind)  # type: ignore[arg-type]
        assert error.value.code == "invalid_facility"
        assert error.value.details["id"] == facility.id
    empty = coverage_report([grid], [DemandPoint("b", *CENTRE, 3, 0)], [], "cameras")
    assert empty["totals"]["covered_buildings"] == 0
    assert empty["grids"][0]["blind_area_pct"] == 100.0
    assert empty["grids_without_facility"] == [{"code": grid.code, "name": "网格", "nearest": None}]


def test_grid_reach_is_the_geodesic_distance() -> None:
    """A centre just outside a grid reaches it exactly when its radius covers the gap."""
    grid_polygon = _square(*CENTRE, 800.0)
    x1 = grid_polygon.bounds[2]
    lon, lat, _ = GEOD.fwd(x1, grid_polygon.centroid.y, 90.0, 250.0)
    gap = _outline_distance(grid_polygon, lon, lat)
    grids = [Grid("130227102001001", "网格", None, None, 10, 20, grid_polygon)]
    for r, reached in ((gap - 0.01, False), (gap + 0.01, True)):
        report = coverage_report(grids, [], [Facility(1, "站", lon, lat, radius_m=r)], "centres")
        assert report["grids"][0]["facilities_in_reach"] == int(reached)
        assert bool(report["grids_without_facility"]) is not reached
