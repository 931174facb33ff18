"""Point layers over HTTP: writes with validation, and spatial queries checked against
independent computations (pyproj geodesics, shapely) on the demo registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.geo.crs import gcj02_to_wgs84, wgs84_to_gcj02
from gis.settings import Settings
from gis.store.demo_files import read_addresses

GEOD = Geod(ellps="WGS84")
BUILDINGS = [r for r in read_addresses(Settings().demo_dir) if r["households"]]
LON = np.array([float(r["lon"]) for r in BUILDINGS])
LAT = np.array([float(r["lat"]) for r in BUILDINGS])
CODES = np.array([r["code"] for r in BUILDINGS])
CENTRE = (round(LON[len(LON) // 2] + 0.0004, 6), round(LAT[len(LAT) // 2] - 0.0003, 6))
"""A point among the demo buildings (near one of them, not on it)."""
CAMERA_ID = "13022700011320000001"
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
CAMS, CENTRES = "/api/v1/cameras", "/api/v1/centres"
NO_POINT = {"type": "Feature", "properties": {"name": "站", "level": "home"}}


def _feature(lon: float, lat: float, **properties: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


def _camera(**changes: Any) -> dict[str, Any]:
    properties = {
        "device_id": CAMERA_ID,
        "name": "滦河路与兴安街交叉口",
        "azimuth_deg": 90,
        "fov_deg": 60,
        "range_m": 80,
    }
    return _feature(*CENTRE, **{**properties, **changes})


def _all(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every feature of a paged query."""
    features, offset = [], 0
    while True:
        page = client.get(path, params={**params, "limit": 100, "offset": offset}).json()
        features += page["features"]
        offset += 100
        if offset >= page["numberMatched"]:
            return features


# --------------------------------------------------------------------------- queries


def _metres_from(lon: float, lat: float) -> np.ndarray:
    _, _, metres = GEOD.inv(np.full(len(LON), lon), np.full(len(LAT), lat), LON, LAT)
    return metres


def test_within_a_distance_is_geodesic(client: TestClient) -> None:
    metres = _metres_from(*CENTRE)
    for radius in (150.0, 500.0, 1000.0):
        got = _all(client, "/api/v1/buildings", lon=CENTRE[0], lat=CENTRE[1], within_m=radius)
        assert {f["id"] for f in got} == set(CODES[metres <= radius].tolist())
        assert all(f["properties"]["distance_m"] <= radius for f in got)
        distances = [f["properties"]["distance_m"] for f in got]
        assert distances == sorted(distances), "nearest first"
    assert 0 < (metres <= 500).sum() < len(BUILDINGS), "the test point has some, not all"


def test_nearest_k_matches_geodesic_order(client: TestClient) -> None:
    gx, gy = wgs84_to_gcj02(CENTRE[0], CENTRE[1])  # asked in GCJ-02, answered in WGS84
    body = client.get(
        "/api/v1/buildings", params={"lon": gx, "lat": gy, "crs": "gcj02", "nearest": 7}
    ).json()
    metres = _metres_from(*CENTRE)
    assert [f["id"] for f in body["features"]] == CODES[np.argsort(metres, kind="stable")][
        :7
    ].tolist()
    for f in body["features"]:
        i = CODES.tolist().index(f["id"])
        assert f["properties"]["distance_m"] == pytest.approx(metres[i], abs=0.01)
    assert (body["numberMatched"], body["crs_name"]) == (7, "EPSG:4326")


def test_bbox_polygon_and_region_filters(client: TestClient) -> None:
    box = (118.31, 40.145, 118.33, 40.16)
    got = _all(client, "/api/v1/buildings", bbox=",".join(map(str, box)))
    inside = (box[0] <= LON) & (box[2] >= LON) & (box[1] <= LAT) & (box[3] >= LAT)
    assert {f["id"] for f in got} == set(CODES[inside].tolist()) and inside.any()

    triangle = shapely.Polygon([(118.30, 40.14), (118.34, 40.15), (118.31, 40.175)])
    got = _all(client, "/api/v1/buildings", intersects=shapely.to_geojson(triangle))
    hits = shapely.intersects_xy(triangle, LON, LAT)
    assert {f["id"] for f in got} == set(CODES[hits].tolist()) and hits.any()

    grid = client.get("/api/v1/regions/130227001002006").json()
    got = _all(client, "/api/v1/buildings", region="130227001002006")
    covered = shapely.covers(shape(grid["geometry"]), shapely.points(LON, LAT))
    assert {f["id"] for f in got} == set(CODES[covered].tolist()) and covered.any()


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"within_m": 100}, "invalid_parameter"),
        ({"lon": 118.3, "lat": 40.1, "within_m": -5}, "invalid_parameter"),
        ({"bbox": "1,2,3"}, "invalid_bbox"),
        ({"intersects": "POLYGON((0 0, 1 1"}, "invalid_geometry"),
        ({"region": "999999"}, "region_not_found"),
        ({"lon": 118.3, "lat": 40.1, "crs": "mars"}, "unknown_crs"),
        ({"status": "online"}, "invalid_parameter"),
    ],
)
def test_bad_queries(client: TestClient, params: dict[str, Any], code: str) -> None:
    response = client.get("/api/v1/buildings", params=params)
    assert response.json()["code"] == code
    assert response.status_code == (404 if code.endswith("not_found") else 422)


# --------------------------------------------------------------------------- writes


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(text(f"SELECT count(*) FROM {table}"))


def test_create_centre_in_gcj02_with_derived_grid_and_default_radius(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    key = {"Authorization": f"Bearer {make_key('editor')}"}
    gx, gy = wgs84_to_gcj02(*CENTRE)
    created = fresh_client.post(
        "/api/v1/centres",
        params={"crs": "gcj02"},
        json=_feature(gx, gy, name="山庄里社区党群服务站", level="station", floor_area_m2=420),
        headers=key,
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    lon, lat = body["geometry"]["coordinates"]
    want = gcj02_to_wgs84(gx, gy)
    assert (lon, lat) == pytest.approx(want, abs=1e-9)
    with fresh_engine.connect() as conn:
        grid = conn.scalar(
            text(
                "SELECT min(code) FROM regions WHERE level = 'grid' AND valid_to IS NULL "
                "AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
            ),
            {"x": lon, "y": lat},
        )
    props = body["properties"]
    assert props["region_code"] == grid is not None
    assert (props["radius_m"], props["service_radius_m"]) == (None, 500.0)
    assert props["name"] == "山庄里社区党群服务站"

    fid = body["id"]
    patched = fresh_client.patch(
        f"/api/v1/centres/{fid}", json={"properties": {"radius_m": 650}}, headers=key
    ).json()
    assert patched["properties"]["service_radius_m"] == 650
    assert patched["geometry"]["coordinates"] == [lon, lat]
    replaced = fresh_client.put(
        f"/api/v1/centres/{fid}",
        json=_feature(118.33, 40.16, name="新站", level="home"),
        headers=key,
    ).json()
    assert (replaced["properties"]["radius_m"], replaced["properties"]["service_radius_m"]) == (
        None,
        300.0,
    )
    assert fresh_client.delete(f"/api/v1/centres/{fid}", headers=key).status_code == 204
    gone = fresh_client.get(f"/api/v1/centres/{fid}")
    assert (gone.status_code, gone.json()["code"]) == (404, "centre_not_found")


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        (CAMS, _camera(device_id="1302270001132000001"), "invalid_device_id"),
        (CAMS, _camera(device_id="13022700011320A00001"), "invalid_device_id"),
        (CAMS, _camera(device_id="13022700011330000001"), "invalid_device_id"),
        (CAMS, _camera(device_id=CAMERA_ID.translate(FULL_WIDTH)), "invalid_device_id"),
        (CAMS, _camera(azimuth_deg=361), "invalid_azimuth"),
        (CAMS, _camera(azimuth_deg=-0.5), "invalid_azimuth"),
        (CAMS, _camera(fov_deg=0), "invalid_fov"),
        (CAMS, _camera(fov_deg=360.5), "invalid_fov"),
        (CAMS, _camera(range_m=-10), "invalid_range"),
        (CAMS, _camera(status="broken"), "invalid_status"),
        (CAMS, _camera(azimuth_deg="east"), "invalid_field"),
        (CAMS, _camera(region_code="130227999"), "unknown_region"),
        (CENTRES, _feature(*CENTRE, name="站", level="station", radius_m=-1), "invalid_radius"),
        (CENTRES, _feature(*CENTRE, name="站", level="station", radius_m=0), "invalid_radius"),
        (CENTRES, _feature(*CENTRE, name="站", level="tower"), "invalid_level"),
        (CENTRES, _feature(*CENTRE, level="station"), "missing_field"),
        (CENTRES, _feature(*CENTRE, name="站", level="home", colour="red"), "unknown_field"),
        (CENTRES, NO_POINT, "invalid_geometry"),
        (CENTRES, _feature(40.15, 118.3, name="站", level="home"), "coordinates_out_of_range"),
    ],
)  # fmt: skip
def test_bad_features_are_refused_and_nothing_is_written(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    path: str,
    body: dict[str, Any],
    code: str,
) -> None:
    table = path.rsplit("/", 1)[1]
    before = _count(fresh_engine, table)
    response = fresh_client.post(
        path, json=body, headers={"Authorization": f"Bearer {make_key('editor')}"}
    )
    assert (response.status_code, response.json()["code"]) == (422, code), response.json()
    assert response.json()["message"]
    assert _count(fresh_engine, table) == before


def test_camera_ids_are_unique_and_writes_need_an_editor(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    editor = {"Authorization": f"Bearer {make_key('editor')}"}
    viewer = {"Authorization": f"Bearer {make_key('viewer')}"}
    assert fresh_client.post("/api/v1/cameras", json=_camera()).status_code == 401
    assert fresh_client.post("/api/v1/cameras", json=_camera(), headers=viewer).status_code == 403
    first = fresh_client.post("/api/v1/cameras", json=_camera(), headers=editor)
    assert first.status_code == 201 and first.json()["properties"]["status"] == "online"
    before = _count(fresh_engine, "cameras")
    again = fresh_client.post("/api/v1/cameras", json=_camera(name="另一台"), headers=editor)
    assert (again.status_code, again.json()["code"]) == (409, "duplicate_device_id")
    assert _count(fresh_engine, "cameras") == before
    bad_patch = fresh_client.patch(
        f"/api/v1/cameras/{first.json()['id']}",
        json={"properties": {"fov_deg": 400}},
        headers=editor,
    )
    assert (bad_patch.status_code, bad_patch.json()["code"]) == (422, "invalid_fov")
    stored = fresh_client.get(f"/api/v1/cameras/{first.json()['id']}").json()
    assert stored["properties"]["fov_deg"] == 60
    assert fresh_client.post("/api/v1/buildings", json=_camera(), headers=editor).status_code in (
        404,
        405,
    )
