"""Browsers get pages, programs get JSON: errors of page routes (/maps, /, /docs, unknown
paths) are a zh-CN HTML page for a client whose ``Accept`` prefers text/html; every other
client, and every API route, keeps the JSON error body.
"""

from __future__ import annotations

import pytest
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from markupsafe import escape

from api.app import create_app
from api.errors import prefers_html
from gis.settings import Settings

from browser import PageLog, screenshot

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
CODE = '9<img src=x onerror="alert(1)">&amp;'
"""A region code no region has, with markup in it: the page must show it as text."""


@pytest.mark.parametrize(
    ("accept", "html_wanted"),
    [
        (BROWSER, True),
        ("text/html", True),
        ("text/*", True),
        ("*/*", False),
        ("", False),
        ("application/json", False),
        ("application/json, text/html;q=0.9", False),
        ("text/html;q=0.5, application/json", False),
        ("text/html, application/json", False),
        ("text/html;q=0, */*", False),
        ("application/geo+json, text/html", True),
        ("TEXT/HTML; charset=utf-8", True),
    ],
)
def test_prefers_html(accept: str, html_wanted: bool) -> None:
    assert prefers_html(accept) is html_wanted


def test_a_browser_gets_an_html_error_page(client: TestClient) -> None:
    response = client.get(f"/maps/region/{CODE}", headers={"Accept": BROWSER})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Accept" in response.headers["vary"]
    page = response.text
    assert '<html lang="zh-CN">' in page
    assert "region_not_found" in page
    assert "<img src=x" not in page  # the user's text is escaped …
    assert escape(CODE) in page  # … and shown
    assert 'href="/"' in page


def test_json_clients_keep_the_json_error_body(client: TestClient) -> None:
    for accept in ("application/json", "*/*", None):
        headers = {"Accept": accept} if accept else {}
        response = client.get(f"/maps/region/{CODE}", headers=headers)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body == {
            "code": "region_not_found",
            "message": body["message"],
            "details": {"code": CODE, "version": 1},
        }
        assert CODE in body["message"]


def test_api_routes_answer_json_even_to_browsers(client: TestClient) -> None:
    response = client.get("/api/v1/regions/000000", headers={"Accept": BROWSER})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == "region_not_found"


def test_invalid_parameters_on_a_page_list_each_problem(client: TestClient) -> None:
    response = client.get("/maps?basemap=<i>bing</i>", headers={"Accept": BROWSER})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "invalid_parameter" in response.text
    assert "basemap" in response.text
    json_response = client.get("/maps?basemap=<i>bing</i>")
    assert json_response.json()["details"]["problems"][0]["parameter"] == "basemap"


def test_an_unknown_path_is_a_page_for_browsers_and_json_for_programs(
    client: TestClient,
) -> None:
    page = client.get("/no/such/<b>page</b>", headers={"Accept": BROWSER})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<b>page</b>" not in page.text
    program = client.get("/no/such/page")
    assert program.status_code == 404
    assert program.json() == {"code": "not_found", "message": "未找到 (Not Found)", "details": {}}


def test_the_error_page_in_chromium(app_server: str, page_log: PageLog) -> None:
    page = page_log.page
    response = page.goto(f"{app_server}/maps/region/{CODE}")
    assert response is not None and response.status == 404
    page_log.failed_requests.clear()  # the 404 was the point
    page_log.console_errors.clear()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "region_not_found" in page.locator("body").inner_text()
    assert CODE in page.locator("body").inner_text()  # shown as text, not run
    assert page.locator("a[href='/']").count() >= 1
    screenshot(page, "error-page")
    assert page_log.problems() == {}


def test_an_internal_error_on_a_page_is_a_page_too(db_url: str) -> None:
    app = create_app(Settings(database_url=db_url))

    @app.get("/maps/broken", response_class=HTMLResponse)
    def broken() -> HTMLResponse:
        raise RuntimeError("<b>boom</b>")

    with TestClient(app, raise_server_exceptions=False) as client:
        page = client.get("/maps/broken", headers={"Accept": BROWSER})
        program = client.get("/maps/broken")
    assert page.status_code == program.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert "internal_error" in page.text and "<b>boom" not in page.text
    assert program.json()["code"] == "internal_error"
