"""The address box on a GCJ-02 page (AMap): the point it looked up is marked where the server
says it is drawn (``GET /maps/point``, ``gis.geo.crs``) — the page holds no copy of the shift."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Route

from gis.geo.crs import wgs84_to_gcj02
from gis.settings import Settings
from gis.store.demo_files import read_addresses

from browser import BLANK_PNG, PageLog, screenshot


def test_the_drawn_point_is_the_gcj02_shift_on_amap_only(client: TestClient) -> None:
    amap = client.get("/maps/point", params={"lon": 118.3, "lat": 40.1, "basemap": "amap"})
    assert amap.status_code == 200, amap.text
    assert [amap.json()["lon"], amap.json()["lat"]] == pytest.approx(
        wgs84_to_gcj02(118.3, 40.1), abs=1e-6
    )
    assert amap.json()["crs"] == "GCJ-02", "every answer says which CRS it is in"
    for basemap in ("none", "osm"):
        same = client.get("/maps/point", params={"lon": 118.3, "lat": 40.1, "basemap": basemap})
        assert same.json() == {"lon": 118.3, "lat": 40.1, "crs": "EPSG:4326"}
    shared = client.get(
        "/maps/point",
        params={"lon": 118.3, "lat": 40.1, "basemap": "amap"},
        headers={"Origin": "null"},
    )
    assert shared.headers["access-control-allow-origin"] == "*", "exported pages ask it too"
    assert client.get("/maps/point", params={"lon": 200, "lat": 40}).status_code == 422


def test_the_address_box_marks_the_point_shifted_on_amap(
    app_server: str, page_log: PageLog
) -> None:
    row = next(
        r
        for r in read_addresses(Settings().demo_dir)
        if r["compound"] == "阳光小区" and r["building"] == "5"
    )
    page = page_log.page

    def blank_tile(route: Route) -> None:
        route.fulfill(status=200, content_type="image/png", body=BLANK_PNG)

    page.route("**/*autonavi.com/**", blank_tile)
    page.goto(f"{app_server}/maps?basemap=amap")
    page.wait_for_function("() => document.querySelectorAll('path.gm-grid').length > 0")
    page.locator(".gm-lookup input").fill("阳光小区5-2-301")
    page.locator(".gm-lookup button").click()
    page.wait_for_function("() => window.gridmapLookup !== undefined")
    point = page.evaluate("() => window.gridmapLookup.point")
    shifted = wgs84_to_gcj02(float(row["lon"]), float(row["lat"]))
    assert point == pytest.approx(shifted, abs=2e-6)
    assert abs(point[0] - float(row["lon"])) > 0.003, "GCJ-02 moves Hebei by hundreds of metres"
    marked = page.evaluate(
        """() => {
          const map = window[document.querySelector('.folium-map').id];
          let found = null;
          map.eachLayer(l => {
            if (l.options && l.options.className === 'gm-found') { found = l.getLatLng(); }
          });
          return [found.lng, found.lat];
        }"""
    )
    assert marked == pytest.approx(shifted, abs=2e-6)
    screenshot(page, "map-amap-address-lookup")
    assert page_log.problems() == {}
