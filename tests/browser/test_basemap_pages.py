"""Office base maps in Chromium, every request off this machine aborted and counted: with
none registered the Folium page, the MapLibre page and a workbench map show a plain
background and "无底图" and ask nothing of the internet; once ``gridmap basemap add`` has
registered a raster MBTiles and a vector PMTiles, each page draws the office tiles from
``/basemaps/`` (requests counted, images decoded), the first base map by default."""

from __future__ import annotations

import gzip
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Response
from pmtiles.tile import TileType

from basemap_files import (
    city_tiles,
    raster_metadata,
    raster_tiles,
    vector_metadata,
    write_mbtiles,
    write_pmtiles,
)
from browser import guarded_page, screenshot
from support import CITY, GRIDMAP, serve_app

pytestmark = pytest.mark.browser

ZOOMS = range(11, 15)
REGION = "130227001"  # 栗乡街道
TITLE = "区影像<i>2026</i>"
ATTRIBUTION = "<b>© 测试测绘院</b>"
"""A title and attribution with markup: shown as text, never parsed."""


@pytest.fixture
def office(fresh_db_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The app under uvicorn on this test's database and data directory: (URL, home)."""
    home = tmp_path / "home"
    with serve_app(fresh_db_url, tmp_path / "uvicorn.log", GRIDMAP_HOME=str(home)) as base:
        yield base, home


def add(db_url: str, home: Path, source: Path, name: str, *options: str) -> None:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url, "GRIDMAP_HOME": str(home)}
    done = subprocess.run(
        [GRIDMAP, "basemap", "add", str(source), "--name", name, *options],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def tile_answers(page: Page) -> list[Response]:
    """Every answer the page gets from ``/basemaps/`` (appended as they come)."""
    answers: list[Response] = []
    page.on("response", lambda r: answers.append(r) if "/basemaps/" in r.url else None)
    return answers


def wait_for(page: Page, check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    for _ in range(int(seconds * 10)):
        if check():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


def open_folium(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => document.querySelectorAll('path.gm-grid').length > 0")


def open_vector(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => window.gridmapIdle === true", timeout=30_000)
    page.wait_for_function("() => window.gridmapBasemap !== undefined")


WORKBENCH_MAP = """([lat, lon]) => {
  const div = document.createElement('div');
  div.id = 'basemap-test-map';
  div.style.cssText = 'height: 500px; width: 800px';
  document.body.prepend(div);
  gm.map(div, {center: [lat, lon], zoom: 13});
}"""


def open_workbench_map(page: Page, base: str, key: str) -> None:
    page.goto(f"{base}/workbench?key={key}")
    assert page.url.startswith(f"{base}/workbench"), page.url
    page.evaluate(WORKBENCH_MAP, [CITY[1], CITY[0]])


def test_office_base_maps_on_every_map_page(
    office: tuple[str, Path],
    fresh_db_url: str,
    make_key: Callable[[str], str],
    browser: Browser,
    tmp_path: Path,
) -> None:
    base, home = office
    key = make_key("viewer")
    context, log = guarded_page(browser)
    page = log.page
    answers = tile_answers(page)
    try:
        # none registered: a plain background, the note, nothing from the internet
        open_folium(page, f"{base}/maps/region/{REGION}")
        assert page.locator(".gm-nobase").inner_text() == "无底图"
        screenshot(page, "basemap_folium_none")
        open_vector(page, f"{base}/maps/vector")
        assert page.locator(".gm-panel .gm-nobase").is_visible()
        open_workbench_map(page, base, key)
        page.wait_for_selector(".wb-nobase")
        assert answers == [] and log.problems() == {}, log.problems()

        add(fresh_db_url, home, write_mbtiles(
            tmp_path / "imagery.mbtiles", raster_tiles(ZOOMS), metadata=raster_metadata(ZOOMS)
        ), "imagery", "--title", TITLE, "--attribution", ATTRIBUTION)  # fmt: skip
        vector = {}
        for z, x, y in city_tiles(range(13, 15)):
            got = page.request.get(f"{base}/tiles/grids/{z}/{x}/{y}.mvt")
            if got.status == 200:
                vector[(z, x, y)] = gzip.compress(got.body(), mtime=0)
        add(fresh_db_url, home, write_pmtiles(
            tmp_path / "streets.pmtiles", vector, tile_type=TileType.MVT, zooms=range(13, 15),
            gzipped=True, metadata=vector_metadata(["grids"]),
        ), "streets", "--title", "街巷矢量")  # fmt: skip

        # the Folium page: the first office base map by default, its tiles drawn
        open_folium(page, f"{base}/maps/region/{REGION}")
        wait_for(page, lambda: _drawn(page, "imagery") > 0, "office tiles on the Folium page")
        assert all(a.status in (200, 204) for a in answers), [a.url for a in answers]
        assert page.locator(".gm-nobase").count() == 0
        assert page.get_by_text(TITLE).count() == 1, "offered by its title, as text"
        assert ATTRIBUTION in page.locator(".leaflet-control-attribution").inner_text()
        screenshot(page, "basemap_folium_office")
        folium_tiles = len(answers)
        assert folium_tiles > 0

        # the MapLibre page: raster by default, then the vector one in its plain style
        open_vector(page, f"{base}/maps/vector")
        assert page.evaluate("() => window.gridmapBasemap") == "imagery"
        wait_for(page, lambda: _requested(answers[folium_tiles:], "imagery"), "raster tiles")
        screenshot(page, "basemap_vector_raster")
        page.get_by_label("街巷矢量（矢量）").check()
        page.evaluate("(c) => window.gridmapMap.jumpTo({center: c, zoom: 13.5})", list(CITY))
        wait_for(page, lambda: _requested(answers, "streets"), "vector base map tiles")
        page.locator("input[data-layer=grids]").uncheck()  # the base map's areas show
        page.wait_for_function(
            "() => window.gridmapMap.queryRenderedFeatures("
            "{layers: ['basemap-streets-grids-fill']}).length > 0"
        )
        screenshot(page, "basemap_vector_vector")
        assert page.evaluate("() => window.gridmapBasemap") == "streets"

        # a workbench map: the raster office base map
        before = len(answers)
        open_workbench_map(page, base, key)
        wait_for(page, lambda: _drawn(page, "imagery") > 0, "office tiles on a workbench map")
        assert _requested(answers[before:], "imagery")
        assert ATTRIBUTION in page.locator(".leaflet-control-attribution").inner_text()
        page.locator(".leaflet-control-layers").hover()
        assert page.get_by_text(TITLE).count() == 1
        screenshot(page, "basemap_workbench_office")
        assert log.external_requests == [], log.external_requests
        assert log.problems() == {}, log.problems()
    finally:
        context.close()


def _requested(answers: list[Response], name: str) -> bool:
    return any(f"/basemaps/{name}/" in a.url and a.status == 200 for a in answers)


def _drawn(page: Page, name: str) -> int:
    """Tile images of base map ``name`` the page has loaded and decoded."""
    return page.evaluate(
        "(name) => [...document.querySelectorAll('img.leaflet-tile')].filter("
        "(i) => i.src.includes(`/basemaps/${name}/`) && i.complete && i.naturalWidth === 256"
        ").length",
        name,
    )
