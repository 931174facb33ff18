"""The OpenAPI documents tell the truth (issue 13): every error status an operation answers is
declared with the one shared error schema, the documents are valid, and a declared limit is
the enforced one.  (Every reference resolving: tests/browser/test_docs.py; each status of the
bad-input catalogue declared: tests/db/test_bad_input.py; generated requests: schemathesis.)"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

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
