"""Printed maps over HTTP, without a browser: the sheet page ``/maps/print`` and the bounds
of ``/api/v1/print`` — every bad view or parameter a 422 before any browser starts, a key
needed, one print at a time (the rendering itself: tests/browser/test_print.py — this module
has a name of its own: pytest imports test modules by their basename)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.routers import printing
from gis.access.auth import create_key

BAD_VIEWS = [
    "http://evil.example/maps",
    "//evil.example/maps",
    "/api/v1/keys",
    "/maps/uploads/1",
    "/maps/region/130227001#top",
    "/maps?key=gm_x",
    "/maps/../api/v1/keys",
]


@pytest.fixture(scope="module")
def viewer(engine: Engine) -> dict[str, str]:
    with engine.begin() as conn:
        return {"Authorization": f"Bearer {create_key(conn, role='viewer', name='printer')}"}


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


def test_the_sheet_is_the_paper_with_the_title_as_text(client: TestClient) -> None:
    title = '栗乡街道<script>alert("x")</script>'
    page = client.get(
        "/maps/print",
        params={
            "view": "/maps/region/130227001?colour_by=coverage",
            "title": title,
            "paper": "A3",
            "orientation": "portrait",
        },
    )
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "@page { size: A3 portrait; margin: 0; }" in html
    assert "width: 297mm; height: 420mm;" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)" in html
    assert 'data-src="/maps/region/130227001?colour_by=coverage"' in html
    assert re.search(r'data-testid="print-version">1<', html)  # the demo city: version 1
    assert "数据来源" in html and "制图日期" in html and "指北针" in html


def test_the_sheet_of_a_vector_map_names_the_version_it_shows(client: TestClient) -> None:
    html = client.get("/maps/print", params={"view": "/maps/vector?as_of=1"}).text
    assert "@page { size: A4 landscape; margin: 0; }" in html
    assert 'data-src="/maps/vector?as_of=1"' in html
    assert 'data-testid="print-version">1<' in html


@pytest.mark.parametrize("view", BAD_VIEWS)
def test_a_view_not_of_our_map_pages_is_refused(
    client: TestClient, viewer: dict[str, str], view: str
) -> None:
    assert _error(client.get("/maps/print", params={"view": view})) == (422, "invalid_view")
    answer = client.get("/api/v1/print", params={"view": view}, headers=viewer)
    assert _error(answer) == (422, "invalid_view")
    assert "不能打印" in answer.json()["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"title": ""},
        {"title": "   "},
        {"title": "长" * 81},
        {"title": "a\x00b"},
        {"paper": "A5"},
        {"orientation": "sideways"},
        {"format": "svg"},
        {"dpi": "71"},
        {"dpi": "301"},
        {"view": "/maps?" + "a" * 300},
    ],
)
def test_parameters_out_of_bounds_are_refused_before_printing(
    client: TestClient, viewer: dict[str, str], params: dict[str, str]
) -> None:
    status, code = _error(client.get("/api/v1/print", params=params, headers=viewer))
    assert status == 422 and code in ("invalid_parameter", "invalid_text")


def test_printing_needs_a_key(client: TestClient) -> None:
    assert _error(client.get("/api/v1/print")) == (401, "auth_required")


def test_one_print_at_a_time(client: TestClient, viewer: dict[str, str]) -> None:
    assert printing._one_print.acquire(blocking=False)  # a print under way
    try:
        answer = client.get("/api/v1/print", headers=viewer)
    finally:
        printing._one_print.release()
    assert _error(answer) == (429, "print_busy")
    assert answer.headers["Retry-After"] == str(printing.BUSY_RETRY_S)


def test_the_api_document_states_both_files_and_the_timeout(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/print"]["get"]
    assert set(operation["responses"]["200"]["content"]) >= {"application/pdf", "image/png"}
    assert {"401", "422", "429", "504"} <= set(operation["responses"])
