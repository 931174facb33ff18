"""OGC API – Features under /ogc, its items: paging by next links, limit and offset, bbox and
property filters checked against the demo files (shapely, csv), single features, and the
errors (404, 400)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, box, shape

from gis.query.features import COLLECTIONS, items_query

from support import COUNTS, GRID_NAME, POINTS, REGIONS, links_by_rel


def test_demo_counts_are_what_the_issue_says() -> None:
    assert COUNTS == {
        "counties": 1,
        "streets": 19,
        "communities": 12,
        "grids": 66,
        "centres": 28,
        "cameras": 300,
        "buildings": 193,
    }
    assert any(f["properties"]["name"] == GRID_NAME for f in REGIONS["grids"])


def _walk(client: TestClient, url: str, **params: Any) -> tuple[list[dict[str, Any]], int, int]:
    """Every feature reached by following ``next`` links; (features, numberMatched, pages)."""
    response = client.get(url, params=params)
    features: list[dict[str, Any]] = []
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/geo+json"
        body = response.json()
        pages += 1
        assert body["type"] == "FeatureCollection"
        assert body["numberReturned"] == len(body["features"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timeStamp"])
        links = links_by_rel(body)
        assert links["self"]["type"] == "application/geo+json"
        assert links["collection"]["href"].endswith(url.split("/items")[0])
        assert "prev" not in links  # keyset pages (cursor) link forward only
        assert body["numberMatchedExact"] is True
        features += body["features"]
        if "next" not in links:
            assert len(features) == body["numberMatched"]
            return features, body["numberMatched"], pages
        assert links["next"]["type"] == "application/geo+json"
        response = client.get(links["next"]["href"])


@pytest.mark.parametrize("collection", list(COLLECTIONS))
def test_next_links_walk_to_number_matched(client: TestClient, collection: str) -> None:
    features, matched, pages = _walk(client, f"/ogc/collections/{collection}/items", limit=7)
    assert matched == len(features) == COUNTS[collection]
    assert pages == -(-COUNTS[collection] // 7)
    ids = [f["id"] for f in features]
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    kind = "MultiPolygon" if collection in REGIONS else "Point"
    assert {f["geometry"]["type"] for f in features} == {kind}
    if collection in REGIONS:
        assert {f["id"] for f in features} == {f["properties"]["code"] for f in REGIONS[collection]}


def test_limit_default_clamp_and_offset(client: TestClient) -> None:
    url = "/ogc/collections/cameras/items"
    first = client.get(url).json()
    assert first["numberReturned"] == 100 and first["numberMatched"] == 300
    assert "limit=100" in links_by_rel(first)["next"]["href"]
    everything = client.get(url, params={"limit": 5000})  # clamped to 1000, not an error
    assert everything.status_code == 200 and everything.json()["numberReturned"] == 300
    clamped = items_query(
        COLLECTIONS["cameras"], [("limit", "5000")], default_limit=100, max_limit=1000
    )
    assert clamped.limit == 1000
    page = client.get(url, params={"limit": 10, "offset": 295}).json()
    assert page["numberReturned"] == 5 and "next" not in links_by_rel(page)
    assert "offset=285" in links_by_rel(page)["prev"]["href"]
    assert client.get(url, params={"offset": 10_000}).json()["features"] == []
    ignored = client.get(url, params={"f": "json", "datetime": "2024-01-01T00:00:00Z"})
    assert ignored.json()["numberReturned"] == 100


def test_bbox_matches_shapely_on_the_demo_files(client: TestClient) -> None:
    area = (118.3012, 40.1337, 118.3289, 40.1523)
    bbox = ",".join(map(str, area))
    grids, _, _ = _walk(client, "/ogc/collections/grids/items", bbox=bbox, limit=1000)
    oracle = {
        f["properties"]["code"]
        for f in REGIONS["grids"]
        if shape(f["geometry"]).intersects(box(*area))
    }
    assert {f["id"] for f in grids} == oracle and 0 < len(oracle) < COUNTS["grids"]
    cameras, _, _ = _walk(client, "/ogc/collections/cameras/items", bbox=bbox, limit=1000)
    inside = Counter(
        box(*area).intersects(Point(float(r["lon"]), float(r["lat"]))) for r in POINTS["cameras"]
    )
    assert len(cameras) == inside[True] and 0 < inside[True] < COUNTS["cameras"]
    assert {f["properties"]["device_id"] for f in cameras} == {
        r["device_id"]
        for r in POINTS["cameras"]
        if box(*area).intersects(Point(float(r["lon"]), float(r["lat"])))
    }


def test_property_filters(client: TestClient) -> None:
    def ids(collection: str, **params: Any) -> list[Any]:
        found, _, _ = _walk(client, f"/ogc/collections/{collection}/items", limit=1000, **params)
        return [f["id"] for f in found]

    [grid] = [f for f in REGIONS["grids"] if f["properties"]["name"] == GRID_NAME]
    assert ids("grids", name=GRID_NAME) == [grid["properties"]["code"]]
    assert ids("grids", code=grid["properties"]["code"]) == [grid["properties"]["code"]]
    parent = grid["properties"]["parent_code"]
    assert set(ids("grids", parent_code=parent)) == {
        f["properties"]["code"]
        for f in REGIONS["grids"]
        if f["properties"]["parent_code"] == parent
    }
    households = grid["properties"]["households"]
    assert set(ids("grids", households=households)) == {
        f["properties"]["code"]
        for f in REGIONS["grids"]
        if f["properties"]["households"] == households
    }
    assert len(ids("grids", level="grid")) == 66 and ids("grids", level="street") == []
    assert ids("grids", name=GRID_NAME, bbox="118.0,39.0,118.1,39.1") == []
    stations = sum(r["level"] == "station" for r in POINTS["centres"])
    assert len(ids("centres", level="station")) == stations == 12
    assert len(ids("centres", level="党群服务站")) == stations  # the Chinese value too
    offline = sum(r["status"] == "offline" for r in POINTS["cameras"])
    assert len(ids("cameras", status="offline")) == offline > 0
    assert len(ids("cameras", status="offline", type="枪机")) == sum(
        r["status"] == "offline" and r["type"] == "枪机" for r in POINTS["cameras"]
    )


def test_single_features(client: TestClient) -> None:
    grid = client.get("/ogc/collections/grids/items/130227001001001")
    assert grid.status_code == 200 and grid.headers["content-type"] == "application/geo+json"
    body = grid.json()
    assert body["type"] == "Feature" and body["id"] == "130227001001001"
    assert body["properties"]["name"] == "山庄里社区第1网格"
    links = links_by_rel(body)
    assert links["self"]["href"].endswith("/ogc/collections/grids/items/130227001001001")
    assert links["collection"]["href"].endswith("/ogc/collections/grids")
    first = client.get("/ogc/collections/centres/items", params={"limit": 1}).json()["features"][0]
    centre = client.get(f"/ogc/collections/centres/items/{first['id']}").json()
    assert {k: centre[k] for k in first} == first
    code = POINTS["buildings"][0]["code"]
    assert client.get(f"/ogc/collections/buildings/items/{code}").json()["id"] == code
    assert client.get("/ogc/collections/streets/items/130227001").status_code == 200


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/ogc/collections/nowhere", "collection_not_found"),
        ("/ogc/collections/nowhere/items", "collection_not_found"),
        ("/ogc/collections/nowhere/queryables", "collection_not_found"),
        ("/ogc/collections/grids/items/130227001", "feature_not_found"),  # a street's code
        ("/ogc/collections/grids/items/999", "feature_not_found"),
        ("/ogc/collections/centres/items/abc", "feature_not_found"),
        ("/ogc/collections/centres/items/99999999", "feature_not_found"),
        ("/ogc/collections/centres/items/99999999999999999999999", "feature_not_found"),
        ("/ogc/collections/buildings/items/DZ-none", "feature_not_found"),
        ("/ogc/nothing", "not_found"),
    ],
)
def test_unknown_collections_and_features_are_404(client: TestClient, path: str, code: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == code and body["message"] and "details" in body


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("grids/items", {"bbox": "1,2,3"}, "invalid_bbox"),
        ("grids/items", {"bbox": "a,b,c,d"}, "invalid_bbox"),
        ("grids/items", {"bbox": "118.4,40,118.3,41"}, "invalid_bbox"),
        ("grids/items", {"bbox": "118,40,119,41,0,10"}, "invalid_bbox"),
        ("grids/items", {"bbox": "nan,40,119,41"}, "invalid_bbox"),
        ("grids/items", {"limit": 0}, "invalid_parameter"),
        ("grids/items", {"limit": "ten"}, "invalid_parameter"),
        ("grids/items", {"limit": "1_0"}, "invalid_parameter"),
        ("grids/items", {"offset": -1}, "invalid_parameter"),
        ("grids/items", {"f": "html"}, "invalid_parameter"),
        ("grids/items", {"foo": "1"}, "invalid_parameter"),  # unknown parameter
        ("grids/items", {"status": "online"}, "invalid_parameter"),  # not a grid queryable
        ("grids/items", {"households": "many"}, "invalid_parameter"),
        ("grids/items", {"households": "99999999999"}, "invalid_parameter"),
        ("cameras/items", {"range_m": "far"}, "invalid_parameter"),
        ("cameras/items", {"range_m": "inf"}, "invalid_parameter"),
        ("grids/items", [("limit", "5"), ("limit", "6")], "invalid_parameter"),
        ("grids/items/130227001001001", {"foo": "1"}, "invalid_parameter"),
        ("grids", {"f": "xml"}, "invalid_parameter"),
        ("grids/queryables", {"limit": "5"}, "invalid_parameter"),
    ],
)
def test_bad_parameters_are_400(client: TestClient, path: str, params: Any, code: str) -> None:
    response = client.get(f"/ogc/collections/{path}", params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code and body["message"] and "details" in body


def test_metadata_endpoints_refuse_unknown_parameters(client: TestClient) -> None:
    for path in ("/ogc", "/ogc/conformance", "/ogc/collections"):
        assert client.get(path, params={"bogus": "1"}).status_code == 400
