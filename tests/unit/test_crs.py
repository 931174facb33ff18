"""Coordinate reference systems: GCJ-02/BD-09, CRS parsing, Gauss-Krüger, inference.

Pure Python, no database.  ``prcoords`` (an independent implementation) is the oracle for
GCJ-02/BD-09, and a textbook Krüger series is the oracle for the Gauss-Krüger projection.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import prcoords
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS, Geod, Transformer
from shapely import LineString, MultiPolygon, Point, Polygon

from gis.errors import InvalidInput
from gis.geo.crs import (
    CHINA_BBOX,
    WGS84,
    CrsSpec,
    bd09_to_wgs84,
    crs_from_file,
    flat,
    from_wgs84,
    gcj02_to_wgs84,
    gk_zone_epsg,
    infer_crs,
    parse_crs,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from gis.geo.shift import bd09_to_gcj02, gcj02_to_bd09

# Named places across China (lon, lat).
PLACES = {
    "唐山": (118.3, 40.1),
    "迁西": (118.31, 40.15),
    "七台河": (131.0, 45.8),
    "三亚": (109.5, 18.25),
    "海口": (110.33, 20.03),
    "喀什": (75.99, 39.47),
    "乌鲁木齐": (87.62, 43.83),
    "拉萨": (91.13, 29.65),
    "漠河": (122.53, 52.97),
    "曾母暗沙": (112.28, 3.97),
    "北京": (116.4, 39.9),
    "上海": (121.47, 31.23),
    "重庆": (106.55, 29.56),
}
OUTSIDE = [(139.69, 35.69), (-0.13, 51.51), (151.2, -33.87), (70.0, 40.0), (100.0, 60.0)]


def _grid(n: int = 40, seed: int = 20240601) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random sample of lon/lat inside China's box, plus the named places."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(73.0, 135.0, n * n)
    lat = rng.uniform(3.5, 53.5, n * n)
    named = np.array(list(PLACES.values()))
    return np.concatenate([lon, named[:, 0]]), np.concatenate([lat, named[:, 1]])


LON, LAT = _grid()
china_lon = st.floats(73.0, 135.0)
china_lat = st.floats(3.5, 53.5)
FAST = settings(max_examples=300, deadline=None, database=None)


# --------------------------------------------------------------------------- GCJ-02 / BD-09


def _oracle(func, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a prcoords function (which takes and returns (lat, lon)) point by point."""
    out = np.array([func((la, lo)) for lo, la in zip(lon, lat, strict=True)])
    return out[:, 1], out[:, 0]


def _max_diff(a: tuple, b: tuple) -> float:
    return float(max(np.max(np.abs(np.asarray(a[0]) - b[0])), np.max(np.abs(a[1] - b[1]))))


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (wgs84_to_gcj02, prcoords.wgs_gcj),
        (wgs84_to_bd09, prcoords.wgs_bd),
        (gcj02_to_bd09, prcoords.gcj_bd),
    ],
    ids=["wgs-gcj", "wgs-bd", "gcj-bd"],
)
def test_forward_matches_prcoords_on_grid(ours, theirs) -> None:
    assert _max_diff(ours(LON, LAT), _oracle(theirs, LON, LAT)) < 1e-6


@FAST
@given(china_lon, china_lat)
def test_forward_matches_prcoords_anywhere(lon: float, lat: float) -> None:
    gcj = wgs84_to_gcj02(lon, lat)
    assert isinstance(gcj[0], float) and isinstance(gcj[1], float)
    expected = prcoords.wgs_gcj((lat, lon))
    assert gcj == pytest.approx((expected.lon, expected.lat), abs=1e-9)
    expected = prcoords.wgs_bd((lat, lon))
    assert wgs84_to_bd09(lon, lat) == pytest.approx((expected.lon, expected.lat), abs=1e-9)


@pytest.mark.parametrize(
    ("forward", "inverse"),
    [
        (wgs84_to_gcj02, gcj02_to_wgs84),
        (wgs84_to_bd09, bd09_to_wgs84),
        (gcj02_to_bd09, bd09_to_gcj02),
    ],
    ids=["gcj", "bd", "gcj-bd"],
)
def test_inverse_round_trips(forward, inverse) -> None:
    back = inverse(*forward(LON, LAT))
    assert _max_diff(back, (LON, LAT)) < 1e-9
    # And the inverse really is the forward's inverse, not merely self-consistent.
    there = inverse(LON, LAT)
    assert _max_diff(forward(*there), (LON, LAT)) < 1e-9


@FAST
@given(china_lon, china_lat)
def test_inverse_round_trips_anywhere(lon: float, lat: float) -> None:
    assert gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat)) == pytest.approx((lon, lat), abs=1e-9)
    assert bd09_to_wgs84(*wgs84_to_bd09(lon, lat)) == pytest.approx((lon, lat), abs=1e-9)
    assert bd09_to_gcj02(*gcj02_to_bd09(lon, lat)) == pytest.approx((lon, lat), abs=1e-9)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (gcj02_to_wgs84, prcoords.gcj_wgs_bored),
        (bd09_to_wgs84, prcoords.bd_wgs_bored),
        (bd09_to_gcj02, prcoords.bd_gcj_bored),
    ],
    ids=["gcj-wgs", "bd-wgs", "bd-gcj"],
)
def test_inverse_matches_prcoords_precise_inverse(ours, theirs, monkeypatch) -> None:
    assert _max_diff(ours(LON, LAT), _oracle(theirs, LON, LAT)) < 1e-6
    # With its stopping threshold tightened, prcoords agrees to far better than that.
    monkeypatch.setattr(prcoords, "PRC_EPS", 1e-12)
    assert _max_diff(ours(LON, LAT), _oracle(theirs, LON, LAT)) < 1e-10


def test_one_step_inverse_is_not_good_enough() -> None:
    """The textbook one-step inverse is metres off; ours is exact."""
    rough = _oracle(prcoords.gcj_wgs, *wgs84_to_gcj02(LON, LAT))
    assert _max_diff(rough, (LON, LAT)) > 1e-6
    assert _max_diff(gcj02_to_wgs84(*wgs84_to_gcj02(LON, LAT)), (LON, LAT)) < 1e-12


def test_offset_magnitude_in_hebei() -> None:
    lon, lat = np.meshgrid(np.linspace(113.5, 119.8, 15), np.linspace(36.1, 42.6, 15))
    lon, lat = lon.ravel(), lat.ravel()
    geod = Geod(ellps="WGS84")
    _, _, gcj = geod.inv(lon, lat, *wgs84_to_gcj02(lon, lat))
    assert gcj.min() > 300 and gcj.max() < 700
    _, _, bd = geod.inv(lon, lat, *wgs84_to_bd09(lon, lat))
    assert (bd > gcj).all() and bd.max() < 2000


@pytest.mark.parametrize(
    "func",
    [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84],
)
def test_identity_outside_china(func) -> None:
    lon, lat = np.array(OUTSIDE).T
    out = func(lon, lat)
    assert np.array_equal(out[0], lon) and np.array_equal(out[1], lat)
    assert func(139.69, 35.69) == (139.69, 35.69)
    # Mixed input: only the Chinese points move.
    mixed = func(np.array([118.3, 139.69]), np.array([40.1, 35.69]))
    assert mixed[0][0] != 118.3 and (mixed[0][1], mixed[1][1]) == (139.69, 35.69)


def test_shapes_scalars_and_nan() -> None:
    lon = np.full((3, 4), 118.3)
    lat = np.full((3, 4), 40.1)
    x, y = gcj02_to_wgs84(lon, lat)
    assert x.shape == (3, 4) and y.shape == (3, 4)
    x, y = wgs84_to_bd09([118.3, np.nan], 40.1)  # broadcasts, NaN passes through
    assert x.shape == (2,) and np.isnan(x[1]) and y[1] == 40.1
    x, y = bd09_to_wgs84(np.array([]), np.array([]))
    assert x.shape == (0,) and y.shape == (0,)
    source = np.array([118.3])
    wgs84_to_gcj02(source, np.array([40.1]))
    assert source[0] == 118.3  # inputs are not modified


def test_large_arrays() -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(73.0, 135.0, 200_000)
    lat = rng.uniform(3.5, 53.5, 200_000)
    assert _max_diff(bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), (lon, lat)) < 1e-10


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("value", "label", "epsg", "kind"),
    [
        ("wgs84", "EPSG:4326", 4326, "crs"),
        ("WGS-84", "EPSG:4326", 4326, "crs"),
        ("CGCS2000", "EPSG:4490", 4490, "crs"),
        ("gcj02", "GCJ-02", None, "gcj02"),
        ("GCJ-02", "GCJ-02", None, "gcj02"),
        ("bd09", "BD-09", None, "bd09"),
        ("BD-09", "BD-09", None, "bd09"),
        ("EPSG:4527", "EPSG:4527", 4527, "crs"),
        ("epsg:4548", "EPSG:4548", 4548, "crs"),
        (" 4490 ", "EPSG:4490", 4490, "crs"),
        ("4326", "EPSG:4326", 4326, "crs"),
        ("+proj=longlat +datum=WGS84 +no_defs", "EPSG:4326", 4326, "crs"),
        ("EPSG:4527+5773", "EPSG:4527", 4527, "crs"),  # compound: the horizontal part
    ],
)
def test_parse_crs(value: str, label: str, epsg: int | None, kind: str) -> None:
    spec = parse_crs(value)
    assert (spec.label, spec.epsg, spec.kind) == (label, epsg, kind)


def test_parse_crs_wkt_and_proj_string() -> None:
    assert parse_crs(CRS.from_epsg(4527).to_wkt()).epsg == 4527
    custom = parse_crs(
        "+proj=tmerc +lat_0=0 +lon_0=117 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m"
    )
    assert custom.kind == "crs" and custom.epsg is None and custom.wkt
    assert "tmerc" in custom.label
    geom = Point(118.3, 40.1)
    there = from_wgs84(geom, custom)
    assert there.x == pytest.approx(from_wgs84(geom, parse_crs("EPSG:4548")).x, abs=1e-6)
    assert to_wgs84(there, custom).equals_exact(geom, 1e-9)


@pytest.mark.parametrize(
    "value",
    ["EPSG:999999", "foo", "EPSG:5773", "EPSG:4978", "", "  ", "IAU_2015:49900", "39"],
)
def test_parse_crs_rejects(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_crs(value)
    assert info.value.code == "unknown_crs"
    assert info.value.details == {"crs": value}
    assert "坐标系" in info.value.message and "CRS" in info.value.message


def test_vertical_crs_message_says_why() -> None:
    with pytest.raises(InvalidInput, match="高程") as info:
        parse_crs("EPSG:5773")
    assert "Vertical" in info.value.message


def test_crs_spec_is_frozen_and_hashable() -> None:
    spec = parse_crs("EPSG:4527")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.label = "x"  # type: ignore[misc]
    assert spec == CrsSpec("EPSG:4527", 4527) and len({spec, parse_crs("4527")}) == 1
    assert WGS84.is_wgs84 and not spec.is_wgs84 and not parse_crs("gcj02").is_wgs84
    assert spec.to_pyproj() == CRS.from_epsg(4527) and parse_crs("bd09").to_pyproj() is None
    assert spec.to_dict() == {"label": "EPSG:4527", "epsg": 4527, "kind": "crs"}


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("epsg", [4527, 4548, 4490, 4513, 4533, 4554])
@pytest.mark.parametrize("flavour", ["WKT1_ESRI", "WKT1_GDAL", "WKT2_2019"])
def test_crs_from_file_resolves_epsg(epsg: int, flavour: str) -> None:
    wkt = CRS.from_epsg(epsg).to_wkt(flavour)
    spec = crs_from_file(wkt)
    assert (spec.label, spec.epsg, spec.kind) == (f"EPSG:{epsg}", epsg, "crs")


def test_crs_from_file_esri_prj_names() -> None:
    zone39 = CRS.from_epsg(4527).to_wkt("WKT1_ESRI")
    cm117 = CRS.from_epsg(4548).to_wkt("WKT1_ESRI")
    assert zone39.startswith('PROJCS["CGCS2000_3_Degree_GK_Zone_39"')
    assert cm117.startswith('PROJCS["CGCS2000_3_Degree_GK_CM_117E"')
    assert crs_from_file(zone39).epsg == 4527
    assert crs_from_file(cm117).epsg == 4548
    assert crs_from_file("EPSG:4527").epsg == 4527


def test_crs_from_file_keeps_wkt_with_own_datum_shift() -> None:
    """A .prj with its own TOWGS84 is not silently replaced by the EPSG definition."""
    wkt = (
        'GEOGCS["Beijing 1954",DATUM["Beijing_1954",SPHEROID["Krassowsky 1940",6378245,298.3],'
        'TOWGS84[15.8,-154.4,-82.3,0,0,0,0]],PRIMEM["Greenwich",0],'
        'UNIT["degree",0.0174532925199433]]'
    )
    spec = crs_from_file(wkt)
    assert (spec.label, spec.epsg, spec.kind) == ("Beijing 1954", None, "crs")
    moved = to_wgs84(Point(118.3, 40.1), spec)
    assert 0 < moved.distance(Point(118.3, 40.1)) < 0.01
    # 2-D datum shifts assume zero height each way, so the round trip is good to ~1 mm only.
    assert from_wgs84(moved, spec).equals_exact(Point(118.3, 40.1), 1e-7)


def test_crs_from_file_rejects() -> None:
    for text in ["EPSG:4978", "not a crs", ""]:
        with pytest.raises(InvalidInput) as info:
            crs_from_file(text)
        assert info.value.code == "unknown_crs" and info.value.details == {"crs": text}
        assert "文件" in info.value.message


# --------------------------------------------------------------------------- Gauss-Krüger


def _kruger_forward(lon: float, lat: float, lon0: float, false_easting: float) -> tuple:
    """Textbook Gauss-Krüger (Krüger n-series to n⁴, Karney 2011), CGCS2000 ellipsoid, k0=1."""
    a, f = 6378137.0, 1 / 298.257222101
    n = f / (2 - f)
    e = math.sqrt(f * (2 - f))
    big_a = a / (1 + n) * (1 + n**2 / 4 + n**4 / 64)
    alpha = [
        n / 2 - 2 * n**2 / 3 + 5 * n**3 / 16 + 41 * n**4 / 180,
        13 * n**2 / 48 - 3 * n**3 / 5 + 557 * n**4 / 1440,
        61 * n**3 / 240 - 103 * n**4 / 140,
        49561 * n**4 / 161280,
    ]
    phi, lam = math.radians(lat), math.radians(lon - lon0)
    t = math.sinh(math.atanh(math.sin(phi)) - e * math.atanh(e * math.sin(phi)))
    xi_p = math.atan2(t, math.cos(lam))
    eta_p = math.atanh(math.sin(lam) / math.sqrt(1 + t * t))
    xi = xi_p + sum(
        al * math.sin(2 * j * xi_p) * math.cosh(2 * j * eta_p) for j, al in enumerate(alpha, 1)
    )
    eta = eta_p + sum(
        al * math.cos(2 * j * xi_p) * math.sinh(2 * j * eta_p) for j, al in enumerate(alpha, 1)
    )
    return false_easting + big_a * eta, big_a * xi


@pytest.mark.parametrize("name", list(PLACES))
def test_gauss_kruger_matches_textbook_series(name: str) -> None:
    lon, lat = PLACES[name]
    epsg = gk_zone_epsg(lon)
    zone = epsg - 4488
    there = from_wgs84(Point(lon, lat), parse_crs(f"EPSG:{epsg}"))
    x, y = _kruger_forward(lon, lat, 3.0 * zone, zone * 1e6 + 500_000)
    assert math.hypot(there.x - x, there.y - y) < 1e-3
    assert str(int(there.x)).startswith(str(zone)) and len(str(int(there.x))) == 8


def test_gauss_kruger_tangshan() -> None:
    point = Point(118.3, 40.1)
    zone39 = from_wgs84(point, parse_crs("EPSG:4527"))
    cm117 = from_wgs84(point, parse_crs("EPSG:4548"))
    assert str(int(zone39.x)).startswith("39") and len(str(int(zone39.x))) == 8
    assert len(str(int(cm117.x))) == 6
    assert zone39.x - cm117.x == pytest.approx(39_000_000, abs=1e-6)
    assert zone39.y == pytest.approx(cm117.y, abs=1e-6)
    back = to_wgs84(zone39, parse_crs("EPSG:4527"))
    assert abs(back.x - 118.3) < 1e-9 and abs(back.y - 40.1) < 1e-9


@pytest.mark.parametrize(
    ("lon", "prefixed", "cm"),
    [(118.3, 4527, 4548), (117.0, 4527, 4548), (131.0, 4532, 4553), (75.99, 4513, 4534)],
)
def test_gk_zone_epsg(lon: float, prefixed: int, cm: int) -> None:
    assert gk_zone_epsg(lon) == prefixed
    assert gk_zone_epsg(lon, prefixed=False) == cm
    name = CRS.from_epsg(cm).name
    assert name.endswith(f"CM {3 * (prefixed - 4488)}E")
    assert CRS.from_epsg(prefixed).name.endswith(f"zone {prefixed - 4488}")


def test_gk_zone_epsg_range() -> None:
    assert gk_zone_epsg(73.5) == 4513 and gk_zone_epsg(136.49) == 4533
    for lon in (70.0, 136.5, 140.0, float("nan")):
        with pytest.raises(InvalidInput) as info:
            gk_zone_epsg(lon)
        assert info.value.code == "unknown_crs"


# --------------------------------------------------------------------------- inference


def test_infer_lon_lat_in_china() -> None:
    spec, reason = infer_crs(118.2, 40.0, 118.5, 40.3)
    assert spec == WGS84
    assert "经纬度" in reason and "EPSG:4326" in reason and "WGS84" in reason


def test_infer_zone_prefixed_gauss_kruger() -> None:
    bounds = shapely.total_bounds(from_wgs84(_tangshan_polygons(), parse_crs("EPSG:4527")))
    spec, reason = infer_crs(*bounds)
    assert (spec.label, spec.epsg) == ("EPSG:4527", 4527)
    assert "39" in reason and "EPSG:4527" in reason and "高斯" in reason


@pytest.mark.parametrize(
    "bounds",
    [
        (610_000.0, 4_440_000.0, 640_000.0, 4_470_000.0),  # 6-digit eastings: CM unknown
        (40.0, 118.2, 40.3, 118.5),  # swapped lat/lon
        (38_600_000.0, 4_440_000.0, 39_400_000.0, 4_470_000.0),  # mixed zones
        (39_610_000.0, 44_400.0, 39_640_000.0, 60_000.0),  # northing too small
        (39_610_000.0, 4_440_000.0, 39_640_000.0, 8_000_000.0),  # northing too large
        (39_900_000.0, 4_440_000.0, 39_950_000.0, 4_470_000.0),  # outside the zone's band
        (50_500_000.0, 4_440_000.0, 50_600_000.0, 4_470_000.0),  # zone 50 is not in China
        (-1.0, 51.0, 0.5, 52.0),  # London
        (float("nan"), float("nan"), float("nan"), float("nan")),  # nothing to look at
    ],
)
def test_infer_refuses_ambiguous(bounds: tuple[float, float, float, float]) -> None:
    assert infer_crs(*bounds) is None


def test_china_bbox() -> None:
    assert CHINA_BBOX == (72.004, 0.8293, 137.8347, 55.8271)


# --------------------------------------------------------------------------- geometries


def _tangshan_polygons() -> np.ndarray:
    square = Polygon(
        [(118.2, 40.0), (118.5, 40.0), (118.5, 40.3), (118.2, 40.3)],
        holes=[[(118.3, 40.1), (118.4, 40.1), (118.4, 40.2), (118.3, 40.2)]],
    )
    multi = MultiPolygon([Polygon([(118.6, 39.6), (118.7, 39.6), (118.65, 39.7)]), square])
    return np.array(
        [square, multi, None, Polygon(), LineString([(118.1, 39.9), (118.2, 39.95)])],
        dtype=object,
    )


@pytest.mark.parametrize("value", ["EPSG:4527", "EPSG:4548", "gcj02", "bd09", "wgs84", "4490"])
def test_geometry_round_trip(value: str) -> None:
    spec = parse_crs(value)
    original = _tangshan_polygons()
    there = from_wgs84(original, spec)
    back = to_wgs84(there, spec)
    assert isinstance(back, np.ndarray) and back.shape == original.shape
    assert back[2] is None and back[3].is_empty
    for before, after in zip(original, back, strict=True):
        if before is None or before.is_empty:
            continue
        assert after.geom_type == before.geom_type
        assert shapely.get_num_coordinates(after) == shapely.get_num_coordinates(before)
        diff = shapely.get_coordinates(after) - shapely.get_coordinates(before)
        assert np.abs(diff).max() < 1e-7
    if value not in ("wgs84", "4490"):  # CGCS2000 ≈ WGS84: PROJ's ballpark no-op
        moved = shapely.get_coordinates(there[0]) - shapely.get_coordinates(original[0])
        assert np.abs(moved).max() > 1e-3


def test_geometry_transform_matches_point_functions() -> None:
    polygon = _tangshan_polygons()[0]
    gcj = from_wgs84(polygon, parse_crs("gcj02"))
    expected = wgs84_to_gcj02(*shapely.get_coordinates(polygon).T)
    assert np.array_equal(shapely.get_coordinates(gcj), np.column_stack(expected))
    transformer = Transformer.from_crs("EPSG:4527", "EPSG:4326", always_xy=True)
    point = Point(39_610_851.5, 4_441_442.7)
    assert to_wgs84(point, parse_crs("EPSG:4527")).equals_exact(
        Point(transformer.transform(point.x, point.y)), 1e-12
    )


def test_z_is_dropped() -> None:
    point = Point(118.3, 40.1, 55.0)
    for value in ("EPSG:4527", "gcj02", "wgs84"):
        spec = parse_crs(value)
        assert not to_wgs84(point, spec).has_z
        assert not from_wgs84(point, spec).has_z


def test_flat_drops_z_and_m_only_when_some_geometry_has_them() -> None:
    """A 2-D array comes back as it is (no copy of every geometry); one 3-D or measured
    geometry among them and all come back 2-D, the same in x and y."""
    flat_ones = np.array([Point(1, 2), None, shapely.box(0, 0, 1, 1)], dtype=object)
    assert flat(flat_ones) is flat_ones
    for odd in (Point(3, 4, 5), shapely.from_wkt("POINT M (3 4 5)")):
        mixed = np.array([*flat_ones, odd], dtype=object)
        made = flat(mixed)
        assert not (shapely.has_z(made) | shapely.has_m(made)).any()
        assert shapely.equals_exact(
            made[[0, 2, 3]], np.array([Point(1, 2), flat_ones[2], Point(3, 4)])
        ).all()
        assert made[1] is None
