"""Offline map assets: fetched at build time, served at /vendor, pages that need no CDN.

The browser tests open Folium pages in headless Chromium with every request off this
machine aborted and recorded: they pass only if nothing reaches a CDN.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import folium
import pytest
from fastapi.testclient import TestClient
from folium import plugins
from playwright.sync_api import Page

from api.app import create_app
from api.vendor import CACHE_CONTROL
from gis.settings import Settings
from gis.web.map_assets import (
    PACKAGES,
    VENDOR_URL,
    ExternalReferenceError,
    MapAssetsError,
    external_references,
    fetch,
    local_url,
    offline_html,
)

from browser import PageLog, StaticSite, screenshot

VENDOR = Settings().vendor_dir

FOLIUM_URLS = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet@1.9.3/dist/leaflet.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "leaflet@1.9.3/dist/leaflet.css",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js": (
        "leaflet.fullscreen@3.0.0/Control.FullScreen.js"
    ),
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css": (
        "leaflet.fullscreen@3.0.0/Control.FullScreen.css"
    ),
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.js": (
        "leaflet-measure@2.1.7/dist/leaflet-measure.min.js"
    ),
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.css": (
        "leaflet-measure@2.1.7/dist/leaflet-measure.css"
    ),
    "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.js": (
        "leaflet-search@2.9.7/dist/leaflet-search.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.css": (
        "leaflet-search@2.9.7/dist/leaflet-search.min.css"
    ),
}
"""Every CDN URL of the Folium map and plugins gridmap uses → its path under /vendor."""

GRID = "清泉里社区第1网格"
SQUARE = [[118.300, 40.150], [118.312, 40.150], [118.312, 40.159], [118.300, 40.159]]


@pytest.fixture(scope="module")
def vendor() -> Path:
    """The fetched assets (make bootstrap fetches them; tests never touch the network)."""
    missing = [p.dirname for p in PACKAGES if not (VENDOR / p.dirname / ".npm-integrity").exists()]
    if missing:
        pytest.fail(f"map assets not fetched into {VENDOR}: {missing}; run make bootstrap")
    return VENDOR


def _folium_urls() -> set[str]:
    classes = (folium.Map, plugins.Fullscreen, plugins.MeasureControl, plugins.Search)
    urls = {url for cls in classes for _, url in [*cls.default_js, *cls.default_css]}
    return {u for u in urls if "leaflet" in u.lower() and "awesome" not in u}


def _map(*, marker: bool = False) -> folium.Map:
    """A Folium map with Leaflet only (no jQuery, Bootstrap, Font Awesome), no tiles, the
    three plugins and one polygon with a Chinese popup."""
    m = folium.Map(location=[40.1545, 118.306], zoom_start=15, tiles=None)
    m.default_js = [js for js in m.default_js if js[0] == "leaflet"]
    m.default_css = [css for css in m.default_css if css[0] == "leaflet_css"]
    layer = folium.GeoJson(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"name": GRID, "worker": "张伟"},
                    "geometry": {"type": "Polygon", "coordinates": [[*SQUARE, SQUARE[0]]]},
                }
            ],
        },
        name="网格",
        popup=folium.GeoJsonPopup(fields=["name", "worker"], aliases=["网格", "网格员"]),
    ).add_to(m)
    if marker:
        folium.Marker([40.1585, 118.315], tooltip="栗乡街道党群服务中心").add_to(m)
    plugins.Fullscreen().add_to(m)
    plugins.MeasureControl().add_to(m)
    plugins.Search(layer=layer, search_label="name", geom_type="Polygon").add_to(m)
    return m


# ---- fetch, local_url ------------------------------------------------------------------------


def test_fetch_produced_the_files(vendor: Path) -> None:
    for package in PACKAGES:
        root = vendor / package.dirname
        assert (root / ".npm-integrity").read_text().strip() == package.integrity
        kept = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
        for pattern in package.files:
            assert any(package.keeps(k) and Path(k).match(pattern) for k in kept), pattern
    assert (vendor / "maplibre-gl@5.24.1/dist/maplibre-gl.js").stat().st_size > 500_000
    assert (vendor / "leaflet-measure@2.1.7/dist/images/rulers.png").is_file()
    assert (vendor / "leaflet-search@2.9.7/images/search-icon.png").is_file()


def test_fetch_again_needs_no_npm(vendor: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert fetch(vendor, quiet=True) == []


def test_fetch_without_npm_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "gis.web.map_assets", "fetch", "--vendor-dir", str(tmp_path)],
        env={**os.environ, "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "npm" in run.stderr and "not on PATH" in run.stderr, run.stderr
    monkeypatch.setenv("PATH", "")
    with pytest.raises(MapAssetsError, match="npm"):
        fetch(tmp_path / "other", quiet=True)


def test_local_url_maps_folium_cdn_urls(vendor: Path) -> None:
    assert _folium_urls() == set(FOLIUM_URLS)  # folium's own URLs, as pinned here
    for cdn, path in FOLIUM_URLS.items():
        assert local_url(cdn) == f"{VENDOR_URL}/{path}"
        assert (vendor / path).is_file()
    assert local_url("https://code.jquery.com/jquery-3.7.1.min.js") == (
        "/vendor/jquery@3.7.1/dist/jquery.min.js"
    )
    assert (
        local_url("https://unpkg.com/maplibre-gl@5.24.1/dist/maplibre-gl.js")
        == "/vendor/maplibre-gl@5.24.1/dist/maplibre-gl.js"
    )
    assert local_url("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js?v=1") == (
        "/vendor/leaflet@1.9.3/dist/leaflet.js"
    )
    for unknown in (
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js",  # another version
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet-src.js",  # a file not kept
        "https://code.jquery.com/jquery-3.7.0.min.js",  # another version
    ):
        assert local_url(unknown) is None


# ---- offline_html ------------------------------------------------------------------------------


def test_offline_html_links_to_vendor(vendor: Path) -> None:
    html = _map().get_root().render()
    assert len(external_references(html)) == 8
    page = offline_html(html, inline=False, vendor_dir=vendor)
    assert external_references(page) == []
    assert "https://" not in "".join(
        line for line in page.splitlines() if "<script src" in line or "<link" in line
    )
    for path in FOLIUM_URLS.values():
        assert f'"{VENDOR_URL}/{path}"' in page


def test_offline_html_inlines_everything(vendor: Path) -> None:
    page = offline_html(_map(marker=True).get_root().render(), inline=True, vendor_dir=vendor)
    assert external_references(page) == []
    assert "<script src" not in page and "<link" not in page
    assert "/vendor/" not in page and "sourceMappingURL" not in page
    assert page.count("data:image/png;base64,") >= 20  # measure and search icons, markers
    assert "data:image/svg+xml;base64," in page  # the fullscreen icon


def test_offline_html_inlines_every_kept_stylesheet(vendor: Path) -> None:
    """Every url(…) of every kept stylesheet (MapLibre's too) resolves to a kept file."""
    links = "".join(
        f'<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/{p.dirname}/{f}"/>'
        for p in PACKAGES
        for f in p.files
        if f.endswith(".css")
    )
    scripts = '<script src="https://unpkg.com/maplibre-gl@5.24.1/dist/maplibre-gl.js"></script>'
    page = offline_html(f"<head>{links}{scripts}</head>", inline=True, vendor_dir=vendor)
    assert page.count("<style>") == links.count("<link") and "maplibregl" in page
    assert external_references(page) == []


def test_unknown_cdn_references_are_reported(vendor: Path) -> None:
    default = folium.Map(tiles=None).get_root().render()  # jQuery, Bootstrap, Font Awesome …
    with pytest.raises(ExternalReferenceError) as raised:
        offline_html(default, inline=False, vendor_dir=vendor)
    assert "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css" in (
        raised.value.urls
    )
    assert len(raised.value.urls) == 7  # all but Leaflet's and jQuery's
    assert not any("leaflet@1.9.3" in u or "jquery" in u for u in raised.value.urls)

    page = (
        '<script src="//example.org/x.js"></script>'
        '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet-src.js"></script>'
        "<style>@import 'https://fonts.googleapis.com/css?family=Noto';"
        " .a { background: url(http://example.org/a.png) }</style>"
        '<link rel="preconnect" href="https://cdn.example.org">'
        '<script src="/vendor/leaflet@1.9.3/dist/leaflet.js"></script><script>var a;</script>'
        '<script src="https://cdn.example.org/b.js">var b;</script>'
    )
    for inline in (False, True):
        with pytest.raises(ExternalReferenceError) as raised:
            offline_html(page, inline=inline, vendor_dir=vendor)
        assert raised.value.urls == [
            "//example.org/x.js",
            "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet-src.js",
            "https://cdn.example.org/b.js",
            "https://cdn.example.org",
            "https://fonts.googleapis.com/css?family=Noto",
            "http://example.org/a.png",
        ]


def test_offline_html_needs_the_fetched_files(tmp_path: Path) -> None:
    with pytest.raises(MapAssetsError, match=r"gis\.web\.map_assets fetch"):
        offline_html(_map().get_root().render(), inline=True, vendor_dir=tmp_path)


# ---- /vendor ---------------------------------------------------------------------------------


def test_app_serves_vendor_files(client: TestClient, vendor: Path) -> None:
    response = client.get("/vendor/leaflet@1.9.3/dist/leaflet.js")
    assert response.status_code == 200
    assert response.content == (vendor / "leaflet@1.9.3/dist/leaflet.js").read_bytes()
    assert response.headers["cache-control"] == CACHE_CONTROL
    assert "javascript" in response.headers["content-type"]
    again = client.get(
        "/vendor/leaflet@1.9.3/dist/leaflet.js",
        headers={"if-none-match": response.headers["etag"]},
    )
    assert again.status_code == 304
    assert client.get("/vendor/leaflet@1.9.3/dist/images/marker-icon.png").status_code == 200
    assert client.get("/vendor/leaflet@1.9.3/nothing.js").status_code == 404
    assert client.get("/vendor/../pyproject.toml").status_code == 404


def test_app_starts_without_vendor_dir(db_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=db_url, vendor_dir=tmp_path / "absent")
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/vendor/leaflet@1.9.3/dist/leaflet.js").status_code == 404


# ---- in a real browser ---------------------------------------------------------------------


def _check_map(page: Page, page_log: PageLog, name: str) -> None:
    page.wait_for_selector("path.leaflet-interactive")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.querySelectorAll('path.leaflet-interactive').length") == 1
    for control in (
        "a.leaflet-control-zoom-fullscreen",
        ".leaflet-control-measure",
        ".leaflet-control-search",
    ):
        assert page.locator(control).count() == 1, control
    # the plugins' icons are CSS background images: local files or data: URIs
    icon = page.evaluate(
        "getComputedStyle(document.querySelector('.leaflet-control-measure-toggle'))"
        ".backgroundImage"
    )
    assert icon.startswith('url("') and "https:" not in icon
    # the default marker icon (Leaflet finds it next to leaflet.css, or inline)
    marker = page.locator("img.leaflet-marker-icon")
    assert marker.evaluate("img => img.complete && img.naturalWidth") == 25
    # search in Chinese (the plugin listens to keyup), then the popup of the polygon
    search = page.locator(".leaflet-control-search input")
    search.fill("清泉")
    search.dispatch_event("keyup")
    page.locator(".search-tip", has_text=GRID).wait_for()
    search.press("Escape")
    page.locator("path.leaflet-interactive").click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert GRID in popup.inner_text() and "张伟" in popup.inner_text()
    screenshot(page, name)
    assert page_log.external_requests == []
    assert page_log.console_errors == []
    assert page_log.problems() == {}


def test_inline_page_works_alone_in_chromium(
    page: Page, page_log: PageLog, static_server: StaticSite, vendor: Path
) -> None:
    html = offline_html(_map(marker=True).get_root().render(), inline=True, vendor_dir=vendor)
    page.goto(static_server.publish("网格地图.html", html))
    _check_map(page, page_log, "map-assets-inline")


def test_linked_page_loads_from_app_vendor(
    page: Page, page_log: PageLog, app_server: str, vendor: Path
) -> None:
    html = offline_html(_map(marker=True).get_root().render(), inline=False, vendor_dir=vendor)
    url = f"{app_server}/__map_assets_test__.html"  # served beside /vendor by the route below
    page.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
    vendor_responses = []
    page.on("response", lambda r: "/vendor/" in r.url and vendor_responses.append(r))
    page.goto(url)
    _check_map(page, page_log, "map-assets-linked")
    loaded = {r.url.removeprefix(app_server) for r in vendor_responses if r.status == 200}
    assert {f"{VENDOR_URL}/{p}" for p in FOLIUM_URLS.values()} <= loaded
    assert f"{VENDOR_URL}/leaflet@1.9.3/dist/images/marker-icon.png" in loaded


def test_the_guard_blocks_and_records_external_requests(
    page: Page, page_log: PageLog, static_server: StaticSite
) -> None:
    page.goto(
        static_server.publish(
            "external.html",
            '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"></script>'
            '<img src="http://tile.openstreetmap.org/1/1/1.png"><p>页面</p>',
        )
    )
    page.wait_for_load_state("networkidle")
    assert sorted(page_log.external_requests) == [
        "http://tile.openstreetmap.org/1/1/1.png",
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js",
    ]
    assert len(page_log.console_errors) == 2  # the browser says so too
    assert page.evaluate("typeof L") == "undefined"
