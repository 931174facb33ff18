"""The read API over the demo city, with spatial answers checked by shapely and pyproj."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from shapely import hausdorff_distance, transform
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from support import links_by_rel, next_href

GEOJSON_CRS84 = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}


def _all(client: TestClient, **params: object) -> list[dict]:
    """Follow ``next`` links to collect every feature."""
    features: list[dict] = []
    url: str | None = "/api/v1/regions"
    query: dict | None = params
    while url:
        body = client.get(url, params=query).json()
        features += body["features"]
        url = next_href(body)
        query = None
    return features


def test_list_grids(client: TestClient) -> None:
    response = client.get("/api/v1/regions", params={"level": "grid", "limit": 1000})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    assert "CRS84" in response.headers["content-crs"]
    body = response.json()
    assert body["crs"] == GEOJSON_CRS84
    assert body["crs_name"] == "EPSG:4326"
    assert body["version"] == 1
    assert body["numberMatched"] == body["numberReturned"] == 66
    codes = [f["id"] for f in body["features"]]
    assert codes == sorted(codes)
    grid = body["features"][0]
    assert grid["geometry"]["type"] == "MultiPolygon"
    props = grid["properties"]
    assert props["name"] == "山庄里社区第1网格"
    assert props["parent_code"] == "130227001001"
    assert 150 <= props["households"] <= 400
    assert props["party_branch"].endswith("党支部")
    assert props["grid_worker"] is None, "personal: not for anonymous callers (gis.access.privacy)"


def test_paging_follows_next_links(client: TestClient) -> None:
    first = client.get("/api/v1/regions", params={"level": "grid", "limit": 10}).json()
    assert first["numberReturned"] == 10 and first["numberMatched"] == 66
    paged = _all(client, level="grid", limit=10)
    assert len(paged) == 66
    assert len({f["id"] for f in paged}) == 66
    whole = client.get("/api/v1/regions", params={"level": "grid", "limit": 1000}).json()
    assert [f["id"] for f in paged] == [f["id"] for f in whole["features"]]
    last = client.get("/api/v1/regions", params={"level": "grid", "limit": 10, "offset": 60})
    assert set(links_by_rel(last.json())) == {"self", "prev"}


def test_parent_filter_and_children_endpoint(client: TestClient) -> None:
    filtered = _all(client, parent="130227001")
    children = client.get("/api/v1/regions/130227001/children").json()
    assert [f["id"] for f in filtered] == [f["id"] for f in children["features"]]
    assert len(filtered) == 12
    assert {f["properties"]["level"] for f in filtered} == {"community"}
    assert children["crs"] == GEOJSON_CRS84


def test_bbox_filter_matches_shapely(client: TestClient) -> None:
    every = _all(client, limit=1000)
    bbox = (118.30, 40.13, 118.32, 40.15)
    hits = _all(client, bbox=",".join(map(str, bbox)), limit=1000)
    oracle = {f["id"] for f in every if shape(f["geometry"]).intersects(box(*bbox))}
    assert {f["id"] for f in hits} == oracle
    assert any(f["properties"]["level"] == "grid" for f in hits)
    assert len(oracle) < len(every)


def test_region_detail_has_parent_chain_and_children(client: TestClient) -> None:
    grid = client.get("/api/v1/regions/130227001001001")
    assert grid.status_code == 200
    body = grid.json()
    assert body["type"] == "Feature" and body["crs"] == GEOJSON_CRS84
    assert [p["level"] for p in body["parents"]] == ["county", "street", "community"]
    assert [p["name"] for p in body["parents"]][:2] == ["迁西县", "栗乡街道"]
    assert body["children"]["count"] == 0
    community = client.get("/api/v1/regions/130227001001").json()
    grids = client.get("/api/v1/regions/130227001001/children").json()["features"]
    summary = community["children"]
    assert summary["count"] == len(grids) >= 3
    assert summary["levels"] == ["grid"]
    assert summary["households"] == sum(g["properties"]["households"] for g in grids)


def _gauss_kruger(geometry: dict) -> BaseGeometry:
    """The geometry in CGCS2000 3-degree Gauss-Kruger, CM 117°E (EPSG:4548), in metres."""
    to_gk = Transformer.from_crs("EPSG:4326", "EPSG:4548", always_xy=True)
    return transform(shape(geometry), lambda xy: np.column_stack(to_gk.transform(*xy.T)))


def test_simplify_tolerance_is_in_metres(client: TestClient) -> None:
    """The simplified county stays within the tolerance (in metres) of the original."""
    original = client.get("/api/v1/regions/130227").json()["geometry"]
    exact = _gauss_kruger(original)
    for tolerance in (500, 2000):
        simplified = client.get("/api/v1/regions/130227", params={"simplify": tolerance}).json()
        geom = _gauss_kruger(simplified["geometry"])
        n_orig = len(original["coordinates"][0][0])
        n_simple = len(simplified["geometry"]["coordinates"][0][0])
        assert n_simple < n_orig
        # GK zone 39 (CM 117°E) scales distances by < 1.0002 at 118.3°E
        assert hausdorff_distance(exact, geom) <= tolerance * 1.001
        assert hausdorff_distance(exact, geom) > tolerance / 10


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/api/v1/regions/999999", {}, 404, "region_not_found"),
        ("/api/v1/regions/999999/children", {}, 404, "region_not_found"),
        ("/api/v1/regions", {"bbox": "1,2,3"}, 422, "invalid_bbox"),
        ("/api/v1/regions", {"bbox": "a,b,c,d"}, 422, "invalid_bbox"),
        ("/api/v1/regions", {"bbox": "118.4,40,118.3,41"}, 422, "invalid_bbox"),
        ("/api/v1/regions", {"bbox": "nan,40,118.3,41"}, 422, "invalid_bbox"),
        ("/api/v1/regions", {"bbox": "40,118,41,119"}, 422, "invalid_bbox"),
        ("/api/v1/regions", {"limit": 0}, 422, "invalid_parameter"),
        ("/api/v1/regions", {"limit": 1001}, 422, "invalid_parameter"),
        ("/api/v1/regions", {"limit": "ten"}, 422, "invalid_parameter"),
        ("/api/v1/regions", {"offset": -1}, 422, "invalid_parameter"),
        ("/api/v1/regions", {"level": "province"}, 422, "invalid_parameter"),
        ("/api/v1/regions", {"simplify": -5}, 422, "invalid_parameter"),
        ("/api/v1/regions", {"as_of": 99}, 404, "version_not_found"),
        ("/api/v1/regions", {"as_of": 0}, 422, "invalid_parameter"),
        ("/api/v1/nothing-here", {}, 404, "not_found"),
    ],
)
def test_bad_requests_get_stable_codes(
    client: TestClient, path: str, params: dict, status: int, code: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert body["message"]
    assert "details" in body


def test_versions_and_health(client: TestClient) -> None:
    versions = client.get("/api/v1/versions").json()
    assert versions["current"] == 1
    (v1,) = versions["versions"]
    assert v1["action"] == "load" and v1["author"] == "gridmap demo loader"
    assert len(v1["changes"]["added"]) == 98
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["version"] == 1
    assert health["postgis"].startswith("3.")


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    limit = next(
        p for p in spec["paths"]["/api/v1/regions"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert limit["schema"]["maximum"] == 1000
