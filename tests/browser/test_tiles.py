"""MapLibre GL JS drawing gridmap's vector tiles in Chromium: from another origin, and the
vector map page with its labels and popup."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import shapely
from playwright.sync_api import Browser, sync_playwright
from shapely.geometry import shape

from gis.settings import Settings

from browser import LAUNCH_ARGS, PageLog, StaticSite, launch, screenshot
from support import GRID_CODE


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium as in conftest; WebGL2 comes from SwiftShader with the default arguments."""
    assert "--disable-gpu" in LAUNCH_ARGS
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


STYLE_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>tiles</title>
<link rel="stylesheet" href="{app}/vendor/maplibre-gl@5.24.1/dist/maplibre-gl.css">
<script src="{app}/vendor/maplibre-gl@5.24.1/dist/maplibre-gl.js"></script>
<style>html, body, #map {{ margin: 0; height: 100%; }}</style></head>
<body><div id="map"></div><script>
const map = new maplibregl.Map({{
  container: "map",
  style: {{
    version: 8,
    sources: {{grids: {{type: "vector", url: "{app}/tiles/grids.json"}}}},
    layers: [
      {{id: "background", type: "background", paint: {{"background-color": "#f4f2ec"}}}},
      {{id: "grids-fill", type: "fill", source: "grids", "source-layer": "grids",
        paint: {{"fill-color": "#a1d99b", "fill-opacity": 0.6}}}},
      {{id: "grids-line", type: "line", source: "grids", "source-layer": "grids",
        paint: {{"line-color": "#333", "line-width": 1}}}}
    ]
  }},
  bounds: {bounds}, fitBoundsOptions: {{padding: 40}}
}});
window.gridmapMap = map;
map.once("idle", () => {{ window.gridmapIdle = true; }});
</script></body></html>
"""

RENDERED_GRIDS = """() => {
  const found = window.gridmapMap.queryRenderedFeatures({layers: ['grids-fill']});
  return [...new Set(found.map(f => f.properties.code))].sort();
}"""


def _demo_codes(demo_grids: dict) -> list[str]:
    return sorted(f["properties"]["code"] for f in demo_grids["features"])


def test_maplibre_draws_the_grid_tiles_from_another_origin(
    app_server: str, static_server: StaticSite, page_log: PageLog, demo_grids: dict
) -> None:
    bounds = shapely.total_bounds([shape(f["geometry"]) for f in demo_grids["features"]]).tolist()
    url = static_server.publish("tiles.html", STYLE_PAGE.format(app=app_server, bounds=bounds))
    page = page_log.page
    tiles: list[str] = []
    page.on("response", lambda r: tiles.append(r.url) if ".mvt" in r.url else None)
    page.goto(url)
    page.wait_for_function("() => window.gridmapIdle === true", timeout=30_000)
    assert page.evaluate(RENDERED_GRIDS) == _demo_codes(demo_grids)
    assert tiles and all(t.startswith(f"{app_server}/tiles/grids/") for t in tiles)
    screenshot(page, "tiles-maplibre")
    assert page_log.problems() == {}


def test_the_vector_map_page(app_server: str, page_log: PageLog, demo_grids: dict) -> None:
    page = page_log.page
    page.goto(f"{app_server}/maps/vector")
    page.wait_for_function("() => window.gridmapIdle === true", timeout=30_000)
    assert page.evaluate(RENDERED_GRIDS) == _demo_codes(demo_grids)
    rendered = page.evaluate(
        """() => Object.fromEntries(['centres-circle', 'cameras-circle', 'centre_areas-fill',
             'camera_sectors-fill', 'communities-line', 'counties-line'].map(id =>
             [id, window.gridmapMap.queryRenderedFeatures({layers: [id]}).length]))"""
    )
    assert all(n > 0 for n in rendered.values()), rendered
    page.evaluate(
        """() => new Promise((done) => {
          window.gridmapMap.once("idle", done);
          window.gridmapMap.jumpTo({zoom: 13});
        })"""
    )
    communities = page.evaluate(
        """() => window.gridmapMap.queryRenderedFeatures({layers: ['communities-label']})
                 .map(f => f.properties.name)"""
    )
    demo = json.loads((Settings().demo_dir / "communities.geojson").read_text(encoding="utf-8"))
    assert set(communities) & {f["properties"]["name"] for f in demo["features"]}, communities
    screenshot(page, "tiles-vector-labels")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "边界版本 1" in page.locator(".gm-panel").inner_text()
    screenshot(page, "tiles-vector-city")
    feature = next(f for f in demo_grids["features"] if f["properties"]["code"] == GRID_CODE)
    inside = shape(feature["geometry"]).representative_point()
    x, y = page.evaluate(
        """async ([lon, lat]) => {
          const map = window.gridmapMap;
          const idle = new Promise((done) => map.once("idle", done));
          map.jumpTo({center: [lon, lat], zoom: 16});
          await idle;  // tiles loaded and labels placed
          const p = map.project([lon, lat]);
          return [p.x, p.y];
        }""",
        [inside.x, inside.y],
    )
    # labels, drawn in the browser (no glyph files): the grid's own name is placed, once
    labels = page.evaluate(
        """() => window.gridmapMap.queryRenderedFeatures({layers: ['grids-label']})
                 .map(f => f.properties.name)"""
    )
    assert labels.count(feature["properties"]["name"]) == 1, labels
    page.mouse.click(x, y)
    popup = page.locator(".maplibregl-popup-content")
    popup.wait_for()
    body = popup.inner_text()
    assert feature["properties"]["name"] in body and GRID_CODE in body
    assert "网格员" not in body  # personal data: never in tiles (gis.access.privacy)
    screenshot(page, "tiles-vector-popup")
    assert page_log.problems() == {}
