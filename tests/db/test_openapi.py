"""The OpenAPI documents tell the truth (issue 13): every error status an operation answers is
declared with the one shared error schema, the documents are valid, and a declared limit is
the enforced one.  (Every reference resolving: tests/browser/test_docs.py; each status of the
bad-input catalogue declared: tests/db/test_bad_input.py; generated requests: schemathesis.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from api.schemas import (
    BatchAnswer,
    CompactBatchAnswer,
    Health,
    LookupAnswer,
    RegionCollection,
    RegionDetail,
    UploadAnswer,
    VersionList,
)

from support import upload

ERROR = {"$ref": "#/components/schemas/Error"}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def test_the_app_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_every_error_has_the_shared_error_schema(document: dict[str, Any]) -> None:
    """One ``Error`` component, ``{code, message, details}``; FastAPI's validation error
    (``{"detail": [...]}``), which gridmap never answers, is gone."""
    schemas = document["components"]["schemas"]
    assert schemas["Error"]["required"] == ["code", "message", "details"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert response["content"]["application/json"]["schema"] == ERROR, (
                    method,
                    path,
                    status,
                )


def test_statuses_follow_what_an_operation_does(document: dict[str, Any]) -> None:
    """414, 422 and 503 everywhere; 401/403 where a role is needed; 413 where a body is read;
    429 where a throttle applies; the statuses particular to one route."""
    for method, path, operation in operations(document):
        declared = set(operation["responses"])
        assert {"414", "422", "503"} <= declared, (method, path)
        if operation.get("security"):
            assert {"401", "403"} <= declared, (method, path)
        if method in ("post", "put", "patch"):
            assert {"408", "413"} <= declared, (method, path)
    paths = document["paths"]
    assert "429" in paths["/api/v1/analysis/siting"]["post"]["responses"]
    assert "429" in paths["/api/v1/lookup/batch"]["post"]["responses"]
    assert "415" in paths["/api/v1/lookup/batch"]["post"]["responses"]
    assert "415" in paths["/api/v1/uploads"]["post"]["responses"]
    assert "409" in paths["/api/v1/cameras"]["post"]["responses"]
    assert "413" in paths["/api/v1/analysis/coverage"]["get"]["responses"]
    assert "400" in paths["/tiles/{layer}/{z}/{x}/{y}.mvt"]["get"]["responses"]
    assert "404" in paths["/api/v1/regions/{code}"]["get"]["responses"]
    assert "401" not in paths["/health"]["get"]["responses"]


def test_limits_are_stated_where_they_are_enforced(
    client: TestClient, document: dict[str, Any]
) -> None:
    parameters = {
        p["name"]: p["schema"] for p in document["paths"]["/api/v1/regions"]["get"]["parameters"]
    }
    assert parameters["limit"]["maximum"] == 1000
    assert parameters["offset"]["maximum"] == 2**31 - 1
    assert client.get("/api/v1/regions", params={"offset": 2**31}).status_code == 422
    code = document["paths"]["/api/v1/regions/{code}"]["get"]["parameters"][0]["schema"]
    assert code["maxLength"] == 64
    assert client.get("/api/v1/regions/" + "1" * 65).status_code == 422


@pytest.mark.parametrize("url", ["/openapi.json", "/ogc/api"])
def test_the_ogc_limit_is_clamped_and_says_so(client: TestClient, url: str) -> None:
    """OGC API Features Part 1: a limit above the largest page is no error, the page is cut
    to it.  So neither document claims a maximum it does not enforce (it said ≤ 1000 and
    took 316 898)."""
    document = client.get(url).json()
    for _, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if path.endswith("/items") and parameter["name"] == "limit":
                assert "maximum" not in parameter["schema"], path
                assert "clamped to 1000" in parameter["description"]
    page = client.get("/ogc/collections/buildings/items", params={"limit": 316898}).json()
    assert page["numberReturned"] <= 1000 < page["numberMatched"] or page["numberMatched"] <= 1000


def test_the_ogc_document_declares_its_errors(client: TestClient) -> None:
    document = client.get("/ogc/api").json()
    for method, path, operation in operations(document):
        assert {"400", "404", "414", "422", "503"} <= set(operation["responses"]), (method, path)


ANSWERS = [
    ("/health", {}, Health),
    ("/api/v1/versions", {}, VersionList),
    ("/api/v1/lookup", {"lon": 118.3186, "lat": 40.1502}, LookupAnswer),  # in a grid
    ("/api/v1/lookup", {"lon": 118.0, "lat": 40.6}, LookupAnswer),  # outside: nearest
    ("/api/v1/lookup", {"address": "阳光小区5-2-301"}, LookupAnswer),
    ("/api/v1/regions", {"level": "grid", "limit": 3, "offset": 3}, RegionCollection),
    ("/api/v1/regions/130227001", {"simplify": 100}, RegionDetail),
    ("/api/v1/regions/130227/children", {"simplify": 100}, RegionCollection),
]


@pytest.mark.parametrize(("path", "params", "model"), ANSWERS)
def test_main_answers_are_what_the_document_says(
    client: TestClient, document: dict[str, Any], path: str, params: dict, model: type
) -> None:
    """The response models (``api.schemas``) describe the answers sent, and the document
    names them (the answers are sent as built, so a model could drift: this holds it)."""
    response = client.get(path, params=params)
    assert response.status_code == 200
    model.model_validate(response.json(), strict=True)
    template = path.replace("130227001", "{code}").replace("130227/", "{code}/")
    content = document["paths"][template]["get"]["responses"]["200"]["content"]
    (schema,) = (c["schema"] for c in content.values())
    assert schema == {"$ref": f"#/components/schemas/{model.__name__}"}


def test_batch_and_upload_answers_are_what_the_document_says(
    fresh_client: TestClient, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    points = {"points": [{"lon": 118.3186, "lat": 40.1502, "id": "a"}, {"lon": 118.0, "lat": 40.6}]}
    batch = fresh_client.post("/api/v1/lookup/batch", json=points)
    BatchAnswer.model_validate(batch.json(), strict=True)
    compact = fresh_client.post("/api/v1/lookup/batch", json=points, params={"fields": "grid.name"})
    CompactBatchAnswer.model_validate(compact.json(), strict=True)
    grids = fresh_client.get("/api/v1/regions", params={"parent": "130227001001"}).json()
    for feature in grids["features"]:
        feature["properties"] = {
            k: feature["properties"][k] for k in ("code", "name", "parent_code")
        }
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(grids), encoding="utf-8")
    dry_run = upload(fresh_client, path, make_key("editor"), level="grid")
    assert dry_run.status_code == 200, dry_run.json()
    UploadAnswer.model_validate(dry_run.json(), strict=True)
    document = fresh_client.get("/openapi.json").json()
    content = document["paths"]["/api/v1/uploads"]["post"]["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/UploadAnswer"}
    content = document["paths"]["/api/v1/lookup/batch"]["post"]["responses"]["200"]["content"]
    assert [a["$ref"] for a in content["application/json"]["schema"]["anyOf"]] == [
        f"#/components/schemas/{model.__name__}" for model in (BatchAnswer, CompactBatchAnswer)
    ]
