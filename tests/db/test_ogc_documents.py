"""OGC API – Features under /ogc, its documents: the landing page, the OpenAPI 3.0 document
and the queryables it lists, conformance, the collections (extents checked against the demo
files) and their queryables."""

from __future__ import annotations

import copy

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import OpenAPIV30SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from gis.query.features import COLLECTIONS, CRS84, PAGING_PARAMETERS, queryables

from support import demo_bounds, links_by_rel

OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CLASSES = {
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
}


def test_landing_page_links_everything(client: TestClient) -> None:
    response = client.get("/ogc")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["title"] == "网格化治理 gridmap" and body["description"]
    links = links_by_rel(body)
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


def test_collections_describe_each_level_and_layer(client: TestClient) -> None:
    body = client.get("/ogc/collections").json()
    assert links_by_rel(body)["self"]["href"].endswith("/ogc/collections")
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
        assert bbox == pytest.approx(demo_bounds(c["id"]), abs=1e-7), c["id"]
        links = links_by_rel(c)
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
