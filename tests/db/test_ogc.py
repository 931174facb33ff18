"""OGC API – Features under /ogc: the documents' structure, paging, bbox and property filters
checked against the demo files (shapely, csv), the errors — and real clients: GDAL's
``ogrinfo`` (OAPIF driver) against the app under uvicorn."""

from __future__ import annotations

import copy
import csv
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import OpenAPIV30SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from shapely.geometry import Point, box, shape
from sqlalchemy import Engine, text

from gis.query.features import COLLECTIONS, CRS84, PAGING_PARAMETERS, items_query, queryables
from gis.settings import Settings

DEMO = Settings().demo_dir
GEOJSON_FILES = {
    "counties": "county.geojson",
    "streets": "streets.geojson",
    "communities": "communities.geojson",
    "grids": "grids.geojson",
}
REGIONS = {
    name: json.loads((DEMO / file).read_text(encoding="utf-8"))["features"]
    for name, file in GEOJSON_FILES.items()
}


def _csv(name: str) -> list[dict[str, str]]:
    with (DEMO / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


POINTS = {
    "centres": _csv("centres.csv"),
    "cameras": _csv("cameras.csv"),
    "buildings": [r for r in _csv("addresses.csv") if r["households"]],
}
COUNTS = {**{k: len(v) for k, v in REGIONS.items()}, **{k: len(v) for k, v in POINTS.items()}}
"""Features per collection in the demo city: 1 county, 19 streets, 12 communities, 66 grids,
28 centres, 300 cameras, 193 buildings."""
GRID_NAME = "清泉里社区第1网格"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CLASSES = {
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
}


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


def _links(body: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {link["rel"]: link for link in body["links"]}


# --------------------------------------------------------------------------- documents


def test_landing_page_links_everything(client: TestClient) -> None:
    response = client.get("/ogc")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["title"] == "网格化治理 gridmap" and body["description"]
    links = _links(body)
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(links)
    assert links["self"]["href"].endswith("/ogc")
    desc = links["service-desc"]
    assert desc["href"] == links["self"]["href"] + "/api"
    assert desc["type"] == OPENAPI  # what QGIS and GDAL look for
    assert client.get(desc["href"]).json()["openapi"] == "3.0.3"
    assert links["service-doc"]["href"].endswith("/docs")
    assert links["service-doc"]["type"] == "text/html"
    assert client.get(links["conformance"]["href"]).json()["conformsTo"]
    assert client.get(links["data"]["href"]).json()["collections"]
    assert client.get("/ogc", params={"f": "json"}).status_code == 200


def test_api_document_is_valid_openapi_30(client: TestClient) -> None:
    response = client.get("/ogc/api", headers={"Accept": f"{OPENAPI}, application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == OPENAPI
    spec = response.json()
    validate(spec, cls=OpenAPIV30SpecValidator)  # raises on anything not OpenAPI 3.0
    assert spec["openapi"] == "3.0.3"
    assert spec["servers"] == [{"url": "http://testserver/ogc"}]
    assert {
        "/",
        "/api",
        "/conformance",
        "/collections",
        "/collections/{collectionId}",
        "/collections/{collectionId}/queryables",
        "/collections/{collectionId}/items",
        "/collections/{collectionId}/items/{featureId}",
    } <= set(spec["paths"])
    items = spec["paths"]["/collections/{collectionId}/items"]["get"]
    assert {"collectionId", *PAGING_PARAMETERS, "name", "status"} <= {
        p["name"] for p in items["parameters"]
    }
    assert items["responses"]["200"]["content"].keys() == {"application/geo+json"}
    assert {"400", "404"} <= set(items["responses"])
    assert client.get("/ogc/api", params={"bogus": "1"}).status_code == 400
    nullable = copy.deepcopy(spec)  # a 3.1-only construct: the validator does tell
    nullable["paths"]["/"]["get"]["parameters"][0]["schema"]["type"] = ["string", "null"]
    with pytest.raises(OpenAPIValidationError):
        validate(nullable, cls=OpenAPIV30SpecValidator)


@pytest.mark.parametrize("collection", list(COLLECTIONS))
def test_api_document_lists_each_collections_queryables(
    client: TestClient, collection: str
) -> None:
    """GDAL reads the server-side filters of a layer at ``/collections/<id>/items``."""
    paths = client.get("/ogc/api").json()["paths"]
    parameters = paths[f"/collections/{collection}/items"]["get"]["parameters"]
    fields = queryables(COLLECTIONS[collection])
    assert [p["name"] for p in parameters] == [*PAGING_PARAMETERS, *fields]
    assert all(p["in"] == "query" and not p["required"] for p in parameters)
    for p in parameters[len(PAGING_PARAMETERS) :]:
        assert p["schema"]["type"] == fields[p["name"]]["type"], p
    one = paths[f"/collections/{collection}/items/{{featureId}}"]["get"]["parameters"]
    assert [(p["name"], p["in"]) for p in one] == [("featureId", "path"), ("f", "query")]


def test_conformance_declares_core_geojson_oas30(client: TestClient) -> None:
    response = client.get("/ogc/conformance")
    assert response.status_code == 200
    assert set(response.json()["conformsTo"]) >= CLASSES


def _bounds(collection: str) -> tuple[float, float, float, float]:
    if collection in REGIONS:
        shapes = [shape(f["geometry"]) for f in REGIONS[collection]]
        return (
            min(s.bounds[0] for s in shapes),
            min(s.bounds[1] for s in shapes),
            max(s.bounds[2] for s in shapes),
            max(s.bounds[3] for s in shapes),
        )
    lons = [float(r["lon"]) for r in POINTS[collection]]
    lats = [float(r["lat"]) for r in POINTS[collection]]
    return min(lons), min(lats), max(lons), max(lats)


def test_collections_describe_each_level_and_layer(client: TestClient) -> None:
    body = client.get("/ogc/collections").json()
    assert _links(body)["self"]["href"].endswith("/ogc/collections")
    collections = body["collections"]
    assert [c["id"] for c in collections] == [
        "counties",
        "streets",
        "communities",
        "grids",
        "centres",
        "cameras",
        "buildings",
    ]
    titles = {c["id"]: c["title"] for c in collections}
    assert titles["grids"] == "网格" and titles["centres"] == "党群服务中心"
    for c in collections:
        assert c["description"] and c["itemType"] == "feature" and c["crs"] == [CRS84]
        [bbox] = c["extent"]["spatial"]["bbox"]
        assert c["extent"]["spatial"]["crs"] == CRS84
        assert bbox == pytest.approx(_bounds(c["id"]), abs=1e-7), c["id"]
        links = _links(c)
        assert links["self"]["href"].endswith(f"/ogc/collections/{c['id']}")
        assert links["items"]["type"] == "application/geo+json"
        assert links["items"]["href"].endswith(f"/ogc/collections/{c['id']}/items")
        assert links["queryables"]["href"].endswith(f"/ogc/collections/{c['id']}/queryables")
        assert "http://www.opengis.net/def/rel/ogc/1.0/queryables" in links
        one = client.get(links["self"]["href"])
        assert one.status_code == 200 and one.json() == c


def test_queryables_are_json_schemas_with_types(client: TestClient) -> None:
    response = client.get("/ogc/collections/grids/queryables")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/schema+json")
    schema = response.json()
    assert schema["type"] == "object" and schema["$schema"].startswith("https://json-schema.org")
    assert schema["$id"].endswith("/ogc/collections/grids/queryables")
    props = schema["properties"]
    assert props["name"]["type"] == "string" and props["code"]["type"] == "string"
    assert props["households"]["type"] == "integer" and props["level"]["enum"] == ["grid"]
    assert props["geometry"]["format"] == "geometry-multipolygon"
    cameras = client.get("/ogc/collections/cameras/queryables").json()["properties"]
    assert cameras["status"] == {"title": "状态", "type": "string", "enum": ["online", "offline"]}
    assert cameras["range_m"]["type"] == "number"
    assert cameras["geometry"]["format"] == "geometry-point"
    buildings = client.get("/ogc/collections/buildings/queryables").json()["properties"]
    assert buildings["households"]["type"] == "integer" and "status" not in buildings


def test_openapi_documents_the_items_parameters(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    get = spec["paths"]["/ogc/collections/{collectionId}/items"]["get"]
    params = {p["name"]: p for p in get["parameters"]}
    assert {"collectionId", "bbox", "limit", "offset", "f", "name", "code", "status"} <= set(params)
    # no maximum: a larger limit is clamped to 1000, not refused (OGC API Features Part 1)
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "default": 100}
    assert "clamped to 1000" in params["limit"]["description"]
    assert {"400", "404"} <= set(get["responses"])


# --------------------------------------------------------------------------- items


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
        links = _links(body)
        assert links["self"]["type"] == "application/geo+json"
        assert links["collection"]["href"].endswith(url.split("/items")[0])
        assert ("prev" in links) == (pages > 1)
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
    assert "limit=100" in _links(first)["next"]["href"]
    everything = client.get(url, params={"limit": 5000})  # clamped to 1000, not an error
    assert everything.status_code == 200 and everything.json()["numberReturned"] == 300
    clamped = items_query(
        COLLECTIONS["cameras"], [("limit", "5000")], default_limit=100, max_limit=1000
    )
    assert clamped.limit == 1000
    page = client.get(url, params={"limit": 10, "offset": 295}).json()
    assert page["numberReturned"] == 5 and "next" not in _links(page)
    assert "offset=285" in _links(page)["prev"]["href"]
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
    links = _links(body)
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


# --------------------------------------------------------------------------- GDAL ogrinfo


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy")


def _ogrinfo(*args: str) -> str:
    """Run GDAL's ogrinfo (Debian gdal-bin) with a timeout and no proxy; its stdout."""
    program = shutil.which("ogrinfo")
    if program is None:
        pytest.fail("ogrinfo is missing: run make bootstrap (Debian package gdal-bin)")
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}
    env.update(GDAL_HTTP_TIMEOUT="30", NO_PROXY="*", no_proxy="*", CPL_DEBUG="OFF")
    done = subprocess.run(
        [program, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "ERROR" not in done.stderr, done.stderr
    return done.stdout


def _features(output: str, layer: str) -> list[str]:
    """The ``OGRFeature(layer):N`` blocks of ogrinfo's output."""
    return re.split(rf"^OGRFeature\({layer}\):\d+$", output, flags=re.M)[1:]


def test_ogrinfo_lists_the_collections(app_server: str) -> None:
    output = _ogrinfo("-ro", "-so", f"OAPIF:{app_server}/ogc")
    layers = re.findall(r"^\d+: (\w+) \(title: ([^)]*\)?)\)", output, flags=re.M)
    assert [name for name, _ in layers] == list(COLLECTIONS), output
    assert dict(layers)["grids"] == "网格"
    assert re.search(r"^4: grids .*\(Multi Polygon\)$", output, flags=re.M), output
    assert re.search(r"^6: cameras .*\(Point\)$", output, flags=re.M), output


def test_ogrinfo_summary_of_grids(app_server: str) -> None:
    output = _ogrinfo("-ro", "-so", f"OAPIF:{app_server}/ogc", "grids")
    assert "Feature Count: 66" in output
    assert "Geometry: Multi Polygon" in output
    assert re.search(r"^name: String", output, flags=re.M)
    assert re.search(r"^households: Integer", output, flags=re.M)
    minx, miny, maxx, maxy = _bounds("grids")
    assert f"Extent: ({minx:.6f}, {miny:.6f}) - ({maxx:.6f}, {maxy:.6f})" in output


@pytest.mark.parametrize("layer", ["grids", "centres", "cameras", "buildings"])
def test_ogrinfo_reads_every_feature(app_server: str, layer: str) -> None:
    """ogrinfo pages through the items (10 a request) by the next links to the end."""
    output = _ogrinfo("-ro", "-q", f"OAPIF:{app_server}/ogc", layer)
    features = _features(output, layer)
    assert len(features) == COUNTS[layer]
    if layer == "grids":
        [grid] = [f for f in features if f"name (String) = {GRID_NAME}\n" in f]
        assert "MULTIPOLYGON (((" in grid
        assert f"party_branch (String) = {GRID_NAME}党支部" in grid
    if layer == "centres":
        assert "name (String) = 栗乡街道党群服务中心" in output
    if layer == "cameras":
        ids = re.findall(r"device_id \(String\) = (\d{20})", output)
        assert sorted(ids) == sorted(r["device_id"] for r in POINTS["cameras"])


def test_ogrinfo_filters(app_server: str) -> None:
    source = f"OAPIF:{app_server}/ogc"
    where = _ogrinfo("-ro", "-q", source, "grids", "-where", f"name = '{GRID_NAME}'")
    [grid] = _features(where, "grids")
    assert f"name (String) = {GRID_NAME}" in grid
    by_id = _ogrinfo("-ro", "-q", source, "grids", "-where", "id = '130227001002003'")
    [grid] = _features(by_id, "grids")  # fetched as /items/130227001002003
    assert "code (String) = 130227001002003" in grid
    area = (118.3012, 40.1337, 118.3289, 40.1523)
    spat = _ogrinfo("-ro", "-q", source, "cameras", "-spat", *map(str, area))
    expected = sum(
        box(*area).intersects(Point(float(r["lon"]), float(r["lat"]))) for r in POINTS["cameras"]
    )
    assert len(_features(spat, "cameras")) == expected > 10


def _requests(log: Path, start: int, path: str) -> list[dict[str, list[str]]]:
    """The query strings of the GET ``path`` requests in uvicorn's access log after byte
    ``start``."""
    found = []
    for line in log.read_bytes()[start:].decode(errors="replace").splitlines():
        match = re.search(r'"GET (\S+) HTTP/[\d.]+" 200', line)
        if match and urlsplit(match[1]).path == path:
            found.append(parse_qs(urlsplit(match[1]).query))
    return found


GRIDS_SQL = "SELECT code FROM regions WHERE valid_to IS NULL AND level = 'grid'"


@pytest.mark.parametrize(
    ("layer", "where", "sql"),
    [
        ("grids", {"name": GRID_NAME}, f"{GRIDS_SQL} AND name = :name"),
        ("grids", {"code": "130227001002003"}, f"{GRIDS_SQL} AND code = :code"),
        (
            "cameras",  # several pages, each asked with both filters
            {"status": "online", "type": "球机"},
            "SELECT device_id FROM cameras WHERE status = :status AND type = :type",
        ),
    ],
)
def test_ogrinfo_where_is_evaluated_by_the_server(
    app_server: str,
    app_server_log: Path,
    engine: Engine,
    layer: str,
    where: dict[str, str],
    sql: str,
) -> None:
    """GDAL finds the layer's queryables in /ogc/api and sends ``-where`` as query
    parameters (on every page); the features are exactly those PostGIS says match."""
    with engine.connect() as conn:
        expected = sorted(conn.scalars(text(sql), where))
    start = app_server_log.stat().st_size
    condition = " AND ".join(f"{field} = '{value}'" for field, value in where.items())
    output = _ogrinfo("-ro", "-q", f"OAPIF:{app_server}/ogc", layer, "-where", condition)
    key = "code" if layer == "grids" else "device_id"
    pattern = re.compile(rf"^  {key} \(String\) = (.*)$", flags=re.M)
    assert sorted(pattern.findall(output)) == expected
    pages = -(-len(expected) // 10)  # GDAL asks for 10 features a page
    asked = _requests(app_server_log, start, f"/ogc/collections/{layer}/items")
    filtered = [q for q in asked if all(q.get(f) == [v] for f, v in where.items())]
    assert len(filtered) == pages >= 1, asked
    assert len(asked) <= pages + 1, asked  # besides: one page without filter, for the fields
