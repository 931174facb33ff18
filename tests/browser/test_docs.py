"""The API documentation pages, /docs (Swagger UI) and /redoc (ReDoc), work offline.

Opened in Chromium with every request off this machine aborted and recorded: their scripts
and styles come from /vendor (npm's swagger-ui-dist and redoc, fetched at build time).
Screenshots are kept in tests/artifacts/.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from gis.web.map_assets import external_references

from browser import PageLog, screenshot

OPERATION = "Map of the whole city"
"""The summary of ``GET /maps``: one operation both pages must list."""


def test_docs_pages_name_no_other_host(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert external_references(response.text) == [], path
        assert "/vendor/" in response.text, path


def test_swagger_ui_lists_the_operations_offline(app_server: str, page_log: PageLog) -> None:
    page = page_log.page
    page.goto(f"{app_server}/docs")
    page.locator(".opblock-summary-description", has_text=OPERATION).wait_for(timeout=20_000)
    assert page.locator(".opblock").count() > 20
    screenshot(page, "docs-swagger")
    assert page_log.problems() == {}


def test_swagger_ui_oauth2_redirect_page_is_local(client: TestClient) -> None:
    response = client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert external_references(response.text) == []


def test_redoc_renders_offline(app_server: str, page_log: PageLog) -> None:
    page = page_log.page
    page.goto(f"{app_server}/redoc")
    page.locator("h2", has_text=OPERATION).wait_for(timeout=30_000)
    assert page.locator("h1").first.inner_text().startswith("gridmap")
    screenshot(page, "docs-redoc")
    assert page_log.problems() == {}


def test_every_openapi_reference_resolves(client: TestClient) -> None:
    """References are JSON pointers into the whole document (ReDoc stops at the first that
    does not resolve): a model's ``$defs`` embedded by hand must not stay where it was."""
    document = client.get("/openapi.json").json()

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return own + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    found = refs(document)
    assert any("BatchPoint" in ref for ref in found)
    for ref in found:
        target = document
        for token in ref.removeprefix("#/").split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        assert isinstance(target, dict), ref
