"""The start page, ``/``: zh-CN, links every place a newcomer needs, says what is stored.

Counts are checked against the demo's files; every link on the page is followed and must
answer (the upload list with a key). Opened in Chromium with the network blocked.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable

import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import make_url

from api.app import create_app
from api.cli.serve import banner
from gis.settings import Settings
from gis.store.db import create_database, drop_database, migrate
from tiles.layers import LAYERS

from browser import PageLog, screenshot

DEMO = Settings().demo_dir
LEVEL_FILES = {
    "county": "county",
    "street": "streets",
    "community": "communities",
    "grid": "grids",
}


def _demo_counts() -> Counter[str]:
    return Counter(
        {
            level: len(json.loads((DEMO / f"{name}.geojson").read_text("utf-8"))["features"])
            for level, name in LEVEL_FILES.items()
        }
    )


def _links(page: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]+)"', page)]


def test_start_page_links_every_entry_point(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="zh-CN">' in page
    links = set(_links(page))
    for href in (
        "/maps",
        "/maps/vector",
        "/docs",
        "/redoc",
        "/docs#/uploads",
        "/api/v1/uploads",
        "/tiles",
        "/ogc",
        "/ogc/collections",
        "/api/v1/versions",
    ):
        assert href in links, href
    for layer in LAYERS:
        assert f"/tiles/{layer}.json" in links, layer


def test_start_page_shows_the_version_and_counts_by_level(client: TestClient) -> None:
    page = client.get("/").text
    assert re.search(r'data-version="1"', page)
    counts = {
        level: int(n) for level, n in re.findall(r'data-level="(\w+)" data-count="(\d+)"', page)
    }
    assert counts == _demo_counts()


def test_every_link_on_the_start_page_answers(
    fresh_client: TestClient, make_key: Callable[[str], str]
) -> None:
    key = make_key("viewer")
    for href in dict.fromkeys(_links(fresh_client.get("/").text)):
        path = href.split("#")[0]
        headers = {"Authorization": f"Bearer {key}"} if path.startswith("/api/v1/uploads") else {}
        response = fresh_client.get(path, headers=headers)
        assert response.status_code == 200, (href, response.status_code, response.text[:300])


def test_the_lookup_example_lies_inside_a_grid(client: TestClient) -> None:
    page = client.get("/").text
    (href,) = [h for h in _links(page) if h.startswith("/api/v1/lookup?")]
    lon, lat = (float(v) for v in re.findall(r"l(?:on|at)=([\d.]+)", href))
    grids = json.loads((DEMO / "grids.geojson").read_text("utf-8"))["features"]
    point = shapely.Point(lon, lat)
    assert any(shape(g["geometry"]).contains(point) for g in grids)
    answer = client.get(href).json()
    assert answer["covered"] is True


def test_an_empty_database_gets_a_start_page_too(server_url: str) -> None:
    """Before any boundary is loaded: no version, no counts, still every link."""
    url = make_url(server_url).set(database=f"gridmap_home_{uuid.uuid4().hex[:8]}")
    url_text = url.render_as_string(hide_password=False)
    create_database(url_text)
    try:
        migrate(url_text)
        with TestClient(create_app(Settings(database_url=url_text))) as client:
            response = client.get("/")
        assert response.status_code == 200
        assert "尚无边界数据" in response.text
        assert "/maps" in _links(response.text)
    finally:
        drop_database(url_text)


def test_start_page_in_chromium(app_server: str, page_log: PageLog) -> None:
    page = page_log.page
    page.goto(app_server)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1").inner_text().startswith("gridmap")
    assert page.get_by_role("link", name="城市地图").first.is_visible()
    screenshot(page, "home", full_page=True)
    page.get_by_role("link", name="API 文档 (Swagger UI)").click()
    page.locator(".opblock").first.wait_for()
    assert page_log.problems() == {}


def test_the_serve_banner_names_the_pages_to_open_first(client: TestClient) -> None:
    urls = re.findall(r"http://\S+", banner("127.0.0.1", 8000))
    paths = [url.removeprefix("http://127.0.0.1:8000") for url in urls]
    assert paths[:3] == ["/", "/maps", "/docs"]
    for path in paths:
        assert client.get(path).status_code == 200, path
    assert "http://127.0.0.1:8000/maps" in banner("0.0.0.0", 8000)  # a browser can open it
    assert "http://[::1]:8000/maps" in banner("::", 8000)
