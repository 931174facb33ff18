"""Small things of the map pages, in Chromium: the base-map choice in the layer list, a search
hit outlined with its popup open, grey grids explained (无建筑), popup labels on one line."""

from __future__ import annotations

import json

from playwright.sync_api import Page, Route
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.settings import Settings
from gis.web.styles import HIGHLIGHT

from browser import BLANK_PNG, PageLog, click_map_at, screenshot

DEMO = Settings().demo_dir
GRIDS = {
    f["properties"]["code"]: f
    for f in json.loads((DEMO / "grids.geojson").read_text(encoding="utf-8"))["features"]
}


def _open(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => document.querySelectorAll('path.gm-grid').length > 0")
    page.wait_for_load_state("networkidle")


def _base_maps(page: Page) -> dict[str, bool]:
    """The base-map choices of the layer list: name → selected."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll(
             '.leaflet-control-layers-base label')].map(l => [l.innerText.trim(),
             l.querySelector('input').checked]))"""
    )


def test_the_base_map_is_chosen_in_the_layer_list(app_server: str, page_log: PageLog) -> None:
    page = page_log.page
    _open(page, f"{app_server}/maps")
    assert _base_maps(page) == {"无底图": True, "OpenStreetMap": False, "高德地图": False}
    assert page_log.external_requests == [], "a choice not taken loads nothing"

    tiles: list[str] = []

    def blank_tile(route: Route) -> None:
        tiles.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=BLANK_PNG)

    page.route("**/*autonavi.com/**", blank_tile)
    with page.expect_navigation():
        page.locator(".leaflet-control-layers-base label", has_text="高德地图").click()
    page.wait_for_function("() => document.querySelectorAll('path.gm-grid').length > 0")
    assert "basemap=amap" in page.url
    assert _base_maps(page)["高德地图"] is True
    page.wait_for_load_state("networkidle")
    assert tiles and all("autonavi.com" in t for t in tiles)
    assert page_log.problems() == {}


def test_a_search_hit_is_outlined_with_its_popup_open(app_server: str, page_log: PageLog) -> None:
    page = page_log.page
    code = "130227001004005"
    name = GRIDS[code]["properties"]["name"]
    _open(page, f"{app_server}/maps/region/130227001")
    page.locator(".leaflet-control-search input").press_sequentially(name)
    page.locator(".leaflet-control-search .search-tip").first.click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert name in popup.inner_text() and code in popup.inner_text()
    assert page.locator(f'path.gm-grid[stroke="{HIGHLIGHT}"]').count() == 1
    screenshot(page, "map-search-hit")
    assert page_log.problems() == {}


def test_grids_without_buildings_are_explained(
    app_server: str, page_log: PageLog, engine: Engine
) -> None:
    with engine.connect() as conn:
        code = conn.scalar(
            text(
                "SELECT min(r.code) FROM regions r WHERE r.level = 'grid' "
                "AND r.valid_to IS NULL AND NOT EXISTS (SELECT 1 FROM addresses a "
                "WHERE a.households > 0 AND ST_Covers(r.geom, a.geom))"
            )
        )
    assert code is not None
    page = page_log.page
    _open(page, f"{app_server}/maps/region/{code[:12]}?colour_by=coverage")
    assert "无建筑" in page.locator(".gm-legend").inner_text()
    inside = shape(GRIDS[code]["geometry"]).representative_point()
    click_map_at(page, inside.x, inside.y)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    rows = dict(
        zip(
            popup.locator("th").all_inner_texts(),
            popup.locator("td").all_inner_texts(),
            strict=True,
        )
    )
    assert rows["编码"] == code and rows["服务覆盖率"] == "无建筑"
    lines = popup.locator("th").evaluate_all(
        """ths => ths.map(th => {
             const range = document.createRange();
             range.selectNodeContents(th);
             return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
           })"""
    )
    assert set(lines) == {1}, "every label on one line"
    screenshot(page, "map-popup-no-buildings")
    assert page_log.problems() == {}
