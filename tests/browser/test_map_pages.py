"""Every region has a map page: the demo's codes at every level, an uploaded county, regions
without children (shown with their parent and neighbours); user-written names show literally.

Pages are read over HTTP (TestClient) for every code and opened in Chromium for a sample.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.settings import Settings

from browser import DRAWN_JS, PageLog, screenshot
from support import serve_app, upload, write_layer

DEMO = Settings().demo_dir
LEVEL_FILES = {
    "county": "county",
    "street": "streets",
    "community": "communities",
    "grid": "grids",
}
DEMO_CODES = {
    level: [
        f["properties"]["code"]
        for f in json.loads((DEMO / f"{name}.geojson").read_text(encoding="utf-8"))["features"]
    ]
    for level, name in LEVEL_FILES.items()
}
EVIL = "山庄里<img src=x onerror=alert(1)>"
"""A name a careless page would run as HTML."""
NEW_COUNTY = "130299"


def test_every_region_of_the_demo_has_a_map_page(client: TestClient) -> None:
    codes = [c for level in LEVEL_FILES for c in DEMO_CODES[level]]
    assert len(codes) == 1 + 19 + 12 + 66
    failed = {}
    for code in codes:
        response = client.get(f"/maps/region/{code}")
        if response.status_code != 200 or not response.headers["content-type"].startswith(
            "text/html"
        ):
            failed[code] = response.status_code
    assert failed == {}


def test_a_region_without_children_shows_its_parent_and_neighbours(
    client: TestClient, engine: Engine
) -> None:
    town = next(c for c in DEMO_CODES["street"] if c != "130227001")
    with engine.connect() as conn:
        neighbours = set(
            conn.scalars(
                text(
                    "SELECT n.code FROM regions r, regions n WHERE r.code = :c "
                    "AND r.valid_to IS NULL AND n.valid_to IS NULL AND n.level = r.level "
                    "AND n.code <> r.code AND ST_Intersects(n.geom, r.geom)"
                ),
                {"c": town},
            )
        )
        names = dict(conn.execute(text("SELECT code, name FROM regions")).all())
    assert neighbours
    html = client.get(f"/maps/region/{town}").text
    for code in [town, "130227", *neighbours]:
        assert f'"code":"{code}"' in html, code
    assert names["130227"] in html


def _fresh_county(tmp_path: Path, engine: Engine) -> Path:
    """The stored 迁西县 polygon moved 1.2° east (clear of it), as a new county file."""
    with engine.connect() as conn:
        wkb = conn.scalar(text("SELECT ST_AsBinary(geom) FROM regions WHERE code = '130227'"))
    moved = shapely.transform(shapely.from_wkb(bytes(wkb)), lambda xy: xy + np.array([1.2, 0.0]))
    rows = [{"code": NEW_COUNTY, "name": EVIL}]
    return write_layer(tmp_path / "新县.geojson", rows, [moved])


@pytest.fixture
def county_app(
    fresh_db_url: str,
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
) -> Iterator[str]:
    """The app on a database where a second county (named ``EVIL``) was uploaded."""
    path = _fresh_county(tmp_path, fresh_engine)
    response = upload(fresh_client, path, make_key("editor"), level="county", dry_run=False)
    assert response.status_code == 201, response.json()
    page = fresh_client.get(f"/maps/region/{NEW_COUNTY}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert EVIL not in page.text, "the name is escaped in the page"
    with serve_app(fresh_db_url, tmp_path / "uvicorn.log") as base:
        yield base


def _open(page_log: PageLog, url: str) -> dict[str, int]:
    page = page_log.page
    page.goto(url)
    page.wait_for_function("() => document.querySelectorAll('path.leaflet-interactive').length")
    page.wait_for_load_state("networkidle")
    return page.evaluate(DRAWN_JS)


def test_an_uploaded_county_shows_its_name_literally(county_app: str, page_log: PageLog) -> None:
    page = page_log.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    drawn = _open(page_log, f"{county_app}/maps/region/{NEW_COUNTY}")
    assert drawn.get("gm-county") == 1
    assert drawn.get("gm-neighbour", 0) == 0, "far from 迁西县"
    assert page.locator("img[src=x]").count() == 0
    assert page.title().endswith(EVIL)
    label = page.locator(".gm-label", has_text="onerror")
    assert label.count() == 1 and label.inner_text() == EVIL
    page.evaluate(
        """(code) => window[document.querySelector('.folium-map').id].eachLayer(group => {
             if (group.getTooltip && group.getTooltip() && group.eachLayer) {
               group.eachLayer(l => {
                 if (l.feature && l.feature.properties.code === code) { group.openTooltip(); }
               });
             }
           })""",
        NEW_COUNTY,
    )
    tooltip = page.locator(".leaflet-tooltip:not(.gm-label)")
    assert EVIL in tooltip.inner_text() and tooltip.locator("img").count() == 0
    screenshot(page, "map-page-uploaded-county")
    assert dialogs == []
    assert page_log.problems() == {}


@pytest.mark.parametrize(
    ("code", "classes"),
    [
        ("130227100", {"gm-street": 1, "gm-parent": 1}),  # a town without communities
        ("130227001003002", {"gm-grid": 1, "gm-parent": 1}),  # a grid
        ("130227", {"gm-county": 1, "gm-street": 19, "gm-community": 12, "gm-grid": 66}),
    ],
)
def test_sample_pages_draw_in_chromium(
    app_server: str, page_log: PageLog, code: str, classes: dict[str, int]
) -> None:
    drawn = _open(page_log, f"{app_server}/maps/region/{code}")
    assert {k: drawn.get(k) for k in classes} == classes
    if code != "130227":
        assert drawn.get("gm-neighbour", 0) > 0, drawn
    screenshot(page_log.page, f"map-page-{code}")
    assert page_log.problems() == {}


def test_region_page_opens_on_the_region(app_server: str, page_log: PageLog) -> None:
    code = "130227100"
    _open(page_log, f"{app_server}/maps/region/{code}")
    region = shape(
        json.loads((DEMO / "streets.geojson").read_text(encoding="utf-8"))["features"][
            DEMO_CODES["street"].index(code)
        ]["geometry"]
    )
    view = page_log.page.evaluate(
        """() => {
          const b = window[document.querySelector('.folium-map').id].getBounds();
          return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
        }"""
    )
    assert shapely.box(*view).contains(region.centroid)
    assert page_log.problems() == {}
