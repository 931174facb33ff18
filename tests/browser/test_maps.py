"""Map pages in a real browser (Debian Chromium, Playwright), with the network unused.

Counts come from the demo's files; the grid an address lies in comes from PostGIS; the
GCJ-02 shift is computed with ``gis.geo.crs`` in Python and compared with where the page drew.
Screenshots are kept in tests/artifacts/.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import shapely
from playwright.sync_api import Page, Route
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.access.auth import create_key
from gis.geo.crs import wgs84_to_gcj02
from gis.settings import Settings
from gis.store.demo_files import read_addresses, read_cameras, read_centres

from browser import BLANK_PNG, PageLog, StaticSite, click_map_at, screenshot
from support import GRIDMAP, serve_app, upload, write_layer

DEMO = Settings().demo_dir
GRIDS = json.loads((DEMO / "grids.geojson").read_text(encoding="utf-8"))["features"]
COMMUNITIES = json.loads((DEMO / "communities.geojson").read_text(encoding="utf-8"))["features"]
STREETS = json.loads((DEMO / "streets.geojson").read_text(encoding="utf-8"))["features"]
CENTRES = read_centres(DEMO)
CAMERAS = read_cameras(DEMO)

LAYERS_JS = """() => {
  const map = window[document.querySelector('.folium-map').id];
  const found = {};
  map.eachLayer(l => {
    if (l.feature && l.options) {
      const name = (l.options.className || '').split(' ')[0];
      found[name] = (found[name] || 0) + 1;
    }
  });
  return found;
}"""


def _labels_at(page: Page, zoom: int | None) -> list[str]:
    """The region names shown at ``zoom`` (None: as opened), sorted."""
    if zoom is not None:
        page.evaluate(
            "(z) => window[document.querySelector('.folium-map').id].setZoom(z, {animate: false})",
            zoom,
        )
    return sorted(page.locator(".gm-label").all_inner_texts())


def _count(page: Page, css_class: str) -> int:
    return page.locator(f"path.{css_class}").count()


def _open_map(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => document.querySelectorAll('path.gm-grid').length > 0")
    page.wait_for_load_state("networkidle")


def _grid_vertices(page: Page, code: str) -> list[list[float]]:
    """[lon, lat] of the outer ring's vertices of the drawn grid ``code``."""
    return page.evaluate(
        """(code) => {
          const map = window[document.querySelector('.folium-map').id];
          let ring = null;
          map.eachLayer(l => {
            if (l.feature && l.feature.properties.code === code && l.getLatLngs) {
              ring = l.getLatLngs().flat(3);
            }
          });
          return ring.map(p => [p.lng, p.lat]);
        }""",
        code,
    )


def test_city_map_draws_everything_offline(
    app_server: str, engine: Engine, page_log: PageLog
) -> None:
    page = page_log.page
    _open_map(page, f"{app_server}/maps")
    assert _count(page, "gm-grid") == len(GRIDS) == 66
    assert _count(page, "gm-community") == len(COMMUNITIES)
    assert _count(page, "gm-centre") == len(CENTRES)
    with engine.begin() as conn:
        key = create_key(conn, role="viewer", name="planner")
    areas = httpx.get(  # the demo city has roads: the areas are walked, where a centre reaches one
        f"{app_server}/api/v1/analysis/walking/areas",
        params={"region": "130227"},
        headers={"Authorization": f"Bearer {key}"},
    ).json()["features"]
    walked = sum(f["geometry"] is not None for f in areas)
    assert _count(page, "gm-reach") == walked and len(CENTRES) - 2 <= walked < len(CENTRES)
    assert _count(page, "gm-camera") == len(CAMERAS)
    assert _count(page, "gm-sector") == sum(c["status"] == "online" for c in CAMERAS)
    assert _labels_at(page, None) == ["迁西县"], "the whole city: the county's name alone"
    screenshot(page, "map-city-whole")
    view = page.evaluate(
        "() => window[document.querySelector('.folium-map').id].getBounds().toBBoxString()"
    )
    county = json.loads((DEMO / "county.geojson").read_text(encoding="utf-8"))["features"][0]
    assert shapely.box(*map(float, view.split(","))).contains(shape(county["geometry"]))
    assert _labels_at(page, 11) == sorted(f["properties"]["name"] for f in STREETS)
    screenshot(page, "map-city-streets")
    assert _labels_at(page, 13) == sorted(f["properties"]["name"] for f in COMMUNITIES)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    for control in (
        ".leaflet-control-layers",
        ".gm-legend",
        ".leaflet-control-search",
        ".leaflet-control-zoom-fullscreen",
        ".leaflet-control-measure",
        ".gm-lookup",
    ):
        assert page.locator(control).count() == 1, control  # fmt: skip
    assert "网格户数" in page.locator(".gm-legend").inner_text()
    screenshot(page, "map-city")
    assert page_log.problems() == {}


def test_a_popup_shows_the_grid_in_chinese(app_server: str, page_log: PageLog) -> None:
    page = page_log.page
    _open_map(page, f"{app_server}/maps/region/130227001002")
    feature = next(f for f in GRIDS if f["properties"]["code"] == "130227001002001")
    inside = shape(feature["geometry"]).representative_point()
    click_map_at(page, inside.x, inside.y)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    body = popup.inner_text()
    assert feature["properties"]["name"] in body and "清泉里社区" in body
    assert feature["properties"]["grid_worker"] not in body, "personal: not for anonymous"
    screenshot(page, "map-popup")
    assert page_log.problems() == {}


def test_the_address_box_finds_and_highlights_the_grid(
    app_server: str, page_log: PageLog, engine: Engine
) -> None:
    row = next(
        r for r in read_addresses(DEMO) if r["compound"] == "阳光小区" and r["building"] == "5"
    )
    with engine.connect() as conn:
        expected = conn.scalar(
            text(
                "SELECT min(r.code) FROM regions r, addresses a WHERE a.code = :c "
                "AND r.level = 'grid' AND r.valid_to IS NULL AND ST_Covers(r.geom, a.geom)"
            ),
            {"c": row["code"]},
        )
    page = page_log.page
    _open_map(page, f"{app_server}/maps")
    page.locator(".gm-lookup input").fill("阳光小区5-2-301")
    page.locator(".gm-lookup button").click()
    page.wait_for_function("() => window.gridmapLookup !== undefined")
    found = page.evaluate("() => window.gridmapLookup")
    assert found["code"] == expected is not None
    assert found["point"] == pytest.approx([float(row["lon"]), float(row["lat"])], abs=1e-7)
    assert expected in page.locator(".gm-answer").inner_text()
    highlighted = page.locator('path.gm-grid[stroke="#ff00ff"]')
    assert highlighted.count() == 1
    screenshot(page, "map-address-lookup")
    assert page_log.problems() == {}


def test_amap_mode_moves_overlays_by_the_gcj02_offset(app_server: str, page_log: PageLog) -> None:
    page = page_log.page
    code = "130227001002001"
    _open_map(page, f"{app_server}/maps")
    plain = _grid_vertices(page, code)

    tiles: list[str] = []

    def blank_tile(route: Route) -> None:
        tiles.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=BLANK_PNG)

    page.route("**/*autonavi.com/**", blank_tile)
    _open_map(page, f"{app_server}/maps?basemap=amap")
    shifted = _grid_vertices(page, code)
    assert len(shifted) == len(plain) > 3
    for (x, y), (sx, sy) in zip(plain, shifted, strict=True):
        assert (sx, sy) == pytest.approx(wgs84_to_gcj02(x, y), abs=2e-6)
    assert abs(shifted[0][0] - plain[0][0]) > 0.003, "GCJ-02 moves Hebei by hundreds of metres"
    assert tiles and all("autonavi.com" in t for t in tiles)
    screenshot(page, "map-amap")
    assert page_log.problems() == {}


def _problem_shape(problem: dict) -> shapely.Geometry:
    if problem.get("geometry"):
        return shape(problem["geometry"])
    return shapely.Point(problem["location"])


@pytest.fixture
def fresh_app(fresh_db_url: str, tmp_path: Path) -> Iterator[str]:
    with serve_app(fresh_db_url, tmp_path / "uvicorn.log") as base:
        yield base


def test_upload_review_shows_the_problems(
    fresh_app: str, fresh_engine: Engine, page_log: PageLog, tmp_path: Path
) -> None:
    with fresh_engine.begin() as conn:
        key = create_key(conn, role="editor", name="gis staff")
    siblings = [f for f in GRIDS if f["properties"]["parent_code"] == "130227001002"]
    shapes = [shape(f["geometry"]) for f in siblings]
    shapes[0] = shapes[0].buffer(0.0008)  # overlaps its neighbours
    path = write_layer(
        tmp_path / "grids.geojson",
        [
            {"code": f["properties"]["code"], "name": f["properties"]["name"],
             "parent_code": "130227001002"}
            for f in siblings
        ],
        shapes,
    )  # fmt: skip
    with httpx.Client(base_url=fresh_app) as client:
        response = upload(client, path, key, level="grid")
    report = response.json()["report"]
    mapped = [p for p in report["problems"] if p.get("geometry") or p.get("location")]
    assert any(p["kind"] == "overlap" for p in mapped)

    page = page_log.page
    upload_id = response.json()["id"]
    # its icon loaded too: else the next page's navigation aborts it (a flaky failed request)
    refused = page.goto(f"{fresh_app}/maps/uploads/{upload_id}", wait_until="networkidle")
    assert refused is not None and refused.status == 401
    page_log.failed_requests.clear()  # the refusal above was the point
    page_log.console_errors.clear()
    page.goto(f"{fresh_app}/maps/uploads/{upload_id}?key={key}")
    page.wait_for_function("() => document.querySelectorAll('path.gm-problem').length > 0")
    assert _count(page, "gm-problem") == len(mapped)
    box = shapely.box(*shapely.total_bounds([*shapes, *(_problem_shape(p) for p in mapped)]))
    around = [f for f in GRIDS if shape(f["geometry"]).intersects(box)]
    assert _count(page, "gm-context") == len(around) > 0
    assert _count(page, "gm-unknown") == len(siblings), "errors: no change worked out"
    assert "校验问题" in page.locator(".gm-legend").inner_text()
    screenshot(page, "map-upload-review")
    assert page_log.problems() == {}


def test_exported_map_is_one_offline_file(
    db_url: str, static_server: StaticSite, page_log: PageLog, tmp_path: Path
) -> None:
    output = tmp_path / "栗乡街道.html"
    done = subprocess.run(
        [GRIDMAP, "map", "export", "--region", "130227001", "-o", str(output)],
        env={**os.environ, "GRIDMAP_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    html = output.read_text(encoding="utf-8")
    assert "<script src=" not in html and 'rel="stylesheet" href=' not in html
    assert len(html.encode()) < 2_000_000
    page = page_log.page
    _open_map(page, static_server.publish("export.html", html))
    assert _count(page, "gm-grid") == 66
    assert page.locator(".leaflet-control-search").count() == 1
    screenshot(page, "map-export")
    assert page_log.problems() == {}
