"""Stored and reflected script injection: user-written text shows as text on every page.

Names, people, addresses and file names carrying script payloads of several shapes are
written through every path that stores user text (boundary uploads at each level, centres
and cameras over the JSON API and by upload, the address registry), then every page is
opened in Chromium: the literal text shows where expected, no payload runs (each sets
``window.__xss`` or calls ``alert``: no dialog, no global), no element gets an event handler
or a ``javascript:`` link, and the page logs no error.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page
from sqlalchemy import make_url

from api.app import create_app
from gis.access.auth import create_key
from gis.settings import Settings
from gis.store.db import create_database, drop_database, make_engine
from gis.web.page import MapOptions, page_html
from gis.web.region_page import region_map

from browser import PageLog, StaticSite, screenshot
from support import serve_app, upload

DEMO = Settings().demo_dir
PAYLOADS = {
    "img": '<img src=x onerror="window.__xss=1">',
    "script": "<script>window.__xss=1</script>",
    "svg": '"><svg onload="window.__xss=1">',
    "js_url": "javascript:alert(1)//",
    "close": "</script><script>alert(1)</script>",
    "template": "{{7*7}}${window.__xss=1}`${alert(1)}`",
    "quotes": "'\";window.__xss=1;//",
}
"""Each names a shape of injection; running any of them leaves a trace (global or dialog)."""
SHAPES = list(PAYLOADS)
COUNTY, STREET, COMMUNITY, GRID = "130227", "130227001", "130227001001", "130227001001001"
CAMERA_ID = "13022700001310009001"
CAMERA_AT = [118.2900, 40.1650]
FILE_NAME = "网格<img src=x onerror=window.__xss=1>'${x}{{7*7}}.geojson"
"""A file name a careless review page would run."""


def evil(shape: str, what: str) -> str:
    """A name: Chinese text, the payload, and which shape and field it is (to find it)."""
    return f"{what}{PAYLOADS[shape]}#{shape}"


def _boundary_file(path: Path, name: str, field_values: dict[str, Any]) -> Path:
    """The demo's file ``name`` with every name (and ``field_values``' fields) a payload."""
    features = json.loads((DEMO / f"{name}.geojson").read_text(encoding="utf-8"))["features"]
    for i, f in enumerate(features):
        p = f["properties"]
        shape = SHAPES[i % len(SHAPES)]
        p["name"] = evil(shape, p["name"])
        for field, what in field_values.items():
            p[field] = evil(shape, what)
        p.pop("attributes", None)
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


def _csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _write_everything(client: TestClient, key: str, tmp: Path) -> int:
    """Every write path that stores user text, each with payloads; the dry run's upload id
    (file name, names and a problem message carrying payloads) for the review page."""

    def ok(response: Any, status: int) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    levels = {
        "county": ("county", {}),
        "street": ("streets", {}),
        "community": ("communities", {"party_branch": "社区党委"}),
        "grid": ("grids", {"grid_worker": "网格员", "party_branch": "党支部"}),
    }
    for level, (name, fields) in levels.items():
        path = _boundary_file(tmp / f"{name}.geojson", name, fields)
        ok(upload(client, path, key, level=level, dry_run=False, allow_moves=True), 201)
    auth = {"Authorization": f"Bearer {key}"}
    point = {"type": "Point", "coordinates": [118.2860, 40.1610]}
    for i, shape in enumerate(SHAPES):
        props = {
            "name": evil(shape, "党群服务站"),
            "level": "station",
            "address": evil(shape, "地址"),
            "opening_hours": evil(shape, "开放时间"),
        }
        at = {**point, "coordinates": [118.2860 + i * 0.004, 40.1610]}
        body = {"type": "Feature", "geometry": at, "properties": props}
        created = ok(client.post("/api/v1/centres", json=body, headers=auth), 201)
        patch = {"properties": {"opening_hours": evil(shape, "新开放时间")}}
        ok(client.patch(f"/api/v1/centres/{created['id']}", json=patch, headers=auth), 200)
    camera = {
        "device_id": CAMERA_ID,
        "name": evil("img", "摄像机"),
        "azimuth_deg": 90,
        "fov_deg": 60,
        "range_m": 80,
        "type": evil("svg", "枪机"),
        "status": "online",
    }
    at = {**point, "coordinates": CAMERA_AT}
    body = {"type": "Feature", "geometry": at, "properties": camera}
    created = ok(client.post("/api/v1/cameras", json=body, headers=auth), 201)
    replaced = {**body, "properties": {**camera, "name": evil("script", "摄像机")}}
    ok(client.put(f"/api/v1/cameras/{created['id']}", json=replaced, headers=auth), 200)
    centres = [
        {"名称": evil(shape, "党群之家"), "类别": "党群之家", "lon": 118.30 + i * 0.003,
         "lat": 40.155, "地址": evil(shape, "地址")}
        for i, shape in enumerate(SHAPES)
    ]  # fmt: skip
    path = _csv(tmp / "centres.csv", centres)
    ok(upload(client, path, key, kind="centres", crs="wgs84", dry_run=False), 201)
    cameras = [
        {"国标编码": f"1302270000132{i:07d}", "名称": evil(shape, "路口"), "方位角": 45,
         "视场角": 90, "可视距离": 60, "状态": "在线", "类型": evil(shape, "球机"),
         "lon": 118.30 + i * 0.003, "lat": 40.150}
        for i, shape in enumerate(SHAPES)
    ]  # fmt: skip
    path = _csv(tmp / "cameras.csv", cameras)
    ok(upload(client, path, key, kind="cameras", crs="wgs84", dry_run=False), 201)
    addresses = [
        {"code": f"DZXSS{i:04d}", "address": evil(shape, "阳光小区5号楼"),
         "households": 20, "lon": 118.29 + i * 0.002, "lat": 40.16}
        for i, shape in enumerate(SHAPES)
    ]  # fmt: skip
    path = _csv(tmp / "addresses.csv", addresses)
    ok(upload(client, path, key, kind="addresses", crs="wgs84", dry_run=False), 201)
    grids = json.loads((DEMO / "grids.geojson").read_text(encoding="utf-8"))["features"]
    mine = [f for f in grids if f["properties"]["parent_code"] == COMMUNITY]
    for i, f in enumerate(mine):
        f["properties"] = {
            "code": f["properties"]["code"],
            "name": evil(SHAPES[i % len(SHAPES)], "审阅网格"),
            "parent_code": COMMUNITY,
        }
    mine[0]["properties"]["code"] = evil("svg", "编码")
    mine[1]["properties"]["parent_code"] = evil("quotes", "上级")  # a problem quoting it
    path = tmp / FILE_NAME
    path.write_text(json.dumps({"type": "FeatureCollection", "features": mine}), "utf-8")
    report = upload(client, path, key, level="grid")
    assert report.status_code in (200, 422), report.text
    return report.json()["id"]


class Hostile(NamedTuple):
    """The app on a database written through every path with payloads."""

    base: str
    viewer: str
    """A viewer key."""
    editor: str
    """An editor key (editors see grid workers and party branches)."""
    upload_id: int
    """The dry run to review."""
    database_url: str


@pytest.fixture(scope="module")
def hostile(
    server_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hostile]:
    """The app on a database written through every path with payloads."""
    tmp = tmp_path_factory.mktemp("xss")
    url = make_url(server_url).set(database=f"{template_db}_xss_{uuid.uuid4().hex[:6]}")
    url = url.render_as_string(hide_password=False)
    create_database(url, template=template_db)
    try:
        engine = make_engine(url)
        with engine.begin() as conn:
            editor = create_key(conn, role="editor", name="xss-editor")
            viewer = create_key(conn, role="viewer", name="xss-viewer")
        engine.dispose()
        with TestClient(create_app(Settings(database_url=url))) as client:
            upload_id = _write_everything(client, editor, tmp)
        with serve_app(url, tmp / "uvicorn.log") as base:
            yield Hostile(base, viewer, editor, upload_id, url)
    finally:
        drop_database(url)


def assert_inert(log: PageLog, name: str) -> None:
    """Nothing ran: no global, no dialog, no event-handler attribute or javascript: link, no
    injected element, no CSP violation and no error; a screenshot for the eye."""
    page = log.page
    screenshot(page, f"xss-{name}")
    ran = page.evaluate(
        """() => ({
          xss: window.__xss === undefined ? null : window.__xss,
          handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes]
            .some(a => /^on/i.test(a.name))).map(e => e.outerHTML.slice(0, 120)),
          links: [...document.querySelectorAll('[href], [src]')]
            .map(e => e.getAttribute('href') || e.getAttribute('src'))
            .filter(u => /^\\s*javascript:/i.test(u)),
          injected: document.querySelectorAll('img[src=x], svg[onload]').length
            + [...document.scripts].filter(s => /^(window\\.__xss|alert)/.test(s.text)).length,
          csp: window.__csp || [],
        })"""
    )
    assert ran == {"xss": None, "handlers": [], "links": [], "injected": 0, "csp": []}
    assert log.problems() == {}


def assert_literal(texts: list[str]) -> None:
    """Some of ``texts`` carry payloads, and each shows its payload literally."""
    marked = [t for t in texts if "#" in t]
    assert marked, texts
    for text in marked:
        shape = text.rsplit("#", 1)[1].split()[0]
        assert PAYLOADS[shape] + "#" + shape in text, text


def _wait_for_map(page: Page) -> None:
    page.wait_for_function("() => document.querySelectorAll('path.leaflet-interactive').length")
    page.wait_for_load_state("networkidle")


OPEN_TOOLTIPS = """(codes) => {
  const map = window[document.querySelector('.folium-map').id];
  map.eachLayer(l => {
    if (l.feature && l.getBounds && codes.includes(l.feature.properties.code)) {
      l.fire('mouseover', {latlng: l.getBounds().getCenter()}, true);
    }
  });
}"""

CLICK = """(want) => {
  const map = window[document.querySelector('.folium-map').id];
  let done = false;
  map.eachLayer(l => {
    if (done || !l.feature || l.options.interactive === false) return;
    const p = l.feature.properties;
    if (p.code === want || p.name === want) {
      l.fire('click', {latlng: l.getBounds ? l.getBounds().getCenter() : l.getLatLng()}, true);
      done = true;
    }
  });
  return done;
}"""


def _popup_text(page: Page) -> str:
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    return popup.inner_text()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (COUNTY, [evil("img", "迁西县")]),
        (STREET, [evil("img", "栗乡街道")]),
        (COMMUNITY, [evil("img", "山庄里社区")]),
        (GRID, [evil("img", "山庄里社区第1网格")]),
        (None, []),
    ],
)
def test_region_pages_show_payloads_as_text(
    hostile: Hostile, watched: PageLog, code: str | None, expected: list[str]
) -> None:
    base = hostile.base
    page = watched.page
    path = f"/maps/region/{code}" if code else "/maps"
    page.goto(f"{base}{path}?key={hostile.editor}")
    _wait_for_map(page)
    if code is not None:
        assert page.title() == f"网格地图 · {expected[0]}", page.url
    assert_literal(page.locator(".gm-label").all_inner_texts())
    page.evaluate(OPEN_TOOLTIPS, [code or STREET, COMMUNITY, GRID])
    tooltips = " ".join(page.locator(".leaflet-tooltip:not(.gm-label)").all_inner_texts())
    for text in expected:
        assert text in tooltips
    assert page.evaluate(CLICK, GRID)
    popup = _popup_text(page)
    for text in (evil("img", "山庄里社区第1网格"), evil("img", "网格员"), evil("img", "党支部")):
        assert text in popup, text
    assert_inert(watched, f"region-{code or 'city'}")


def test_centres_cameras_and_search_show_payloads_as_text(
    hostile: Hostile, watched: PageLog
) -> None:
    base = hostile.base
    page = watched.page
    page.goto(f"{base}/maps/region/{STREET}")
    _wait_for_map(page)
    for shape in SHAPES:
        name = evil(shape, "党群服务站")
        assert page.evaluate(CLICK, name), name
        assert name in _popup_text(page)
    shown = page.evaluate(
        """() => { const out = [];
          window[document.querySelector('.folium-map').id].eachLayer(l => {
            if (l.options.className === 'gm-camera' && l.getPopup()) {
              l.openPopup();
              out.push(l.getPopup().getElement().innerText);
              l.closePopup();
            } });
          return out; }"""
    )
    for shape in SHAPES:
        assert any(evil(shape, "路口") in t for t in shown), shape
    assert any(evil("script", "摄像机") in t for t in shown)
    search = page.locator(".leaflet-control-search input")
    search.press_sequentially("第2网格")
    tips = page.locator(".search-tooltip .search-tip")
    tips.first.wait_for()
    assert_literal([t.rsplit(" ", 1)[0] for t in tips.all_inner_texts()])
    tips.first.click()
    assert "第2网格" in _popup_text(page)
    assert_literal([search.input_value().rsplit(" ", 1)[0]])
    assert_inert(watched, "street-centres-cameras-search")


def test_the_lookup_box_shows_names_as_text(hostile: Hostile, watched: PageLog) -> None:
    base = hostile.base
    page = watched.page
    page.goto(f"{base}/maps/region/{COMMUNITY}")
    _wait_for_map(page)
    page.fill(".gm-lookup input", evil("img", "阳光小区5号楼"))
    page.click(".gm-lookup button")
    page.wait_for_function(
        "() => !document.querySelector('.gm-answer').textContent.includes('查询中')"
    )
    answer = page.locator(".gm-answer").inner_text()
    assert answer
    page.evaluate("() => { window.gridmapLookup = null; }")
    page.fill(".gm-lookup input", "118.2860,40.1610")
    page.click(".gm-lookup button")
    page.wait_for_function("() => window.gridmapLookup")
    assert "#" in page.locator(".gm-answer").inner_text()  # a payload-named grid, as text
    assert_inert(watched, "lookup-box")


def test_the_upload_review_shows_payloads_as_text(hostile: Hostile, watched: PageLog) -> None:
    base, viewer, upload_id = hostile.base, hostile.viewer, hostile.upload_id
    page = watched.page
    page.goto(f"{base}/maps/uploads/{upload_id}?key={viewer}")
    _wait_for_map(page)
    assert page.title() == f"上传校验 · {FILE_NAME}"
    assert FILE_NAME in page.locator(".gm-legend").inner_text()
    clicked = page.evaluate(
        """() => { const out = [];
          window[document.querySelector('.folium-map').id].eachLayer(l => {
            if (l.feature && (l.feature.properties.change || l.feature.properties.kind)) {
              l.fire('click', {latlng: l.getBounds().getCenter()}, true);
              out.push(document.querySelector('.leaflet-popup-content').innerText);
            } });
          return out; }"""
    )
    assert len(clicked) > 6, clicked
    assert_literal([t.replace("\n", " ").replace("\t", " ") for t in clicked])
    assert_inert(watched, "upload-review")


VECTOR_CLICK = """([lon, lat]) => {
  const map = window.gridmapMap, point = map.project([lon, lat]);
  map.fire('click', {point, lngLat: map.unproject(point)});
}"""


def _vector_popup(page: Page, lon: float, lat: float, zoom: float) -> str:
    """The popup of a click at (lon, lat) once the map, centred there, has drawn."""
    page.evaluate(
        "([lon, lat, zoom]) => { window.gridmapIdle = false; window.gridmapMap.jumpTo("
        "{center: [lon, lat], zoom}); window.gridmapMap.once('idle', () => "
        "{ window.gridmapIdle = true; }); }",
        [lon, lat, zoom],
    )
    page.wait_for_function("() => window.gridmapIdle")
    page.evaluate(VECTOR_CLICK, [lon, lat])
    return page.locator(".maplibregl-popup-content").inner_text()


def test_the_vector_map_shows_payloads_as_text(hostile: Hostile, watched: PageLog) -> None:
    base = hostile.base
    page = watched.page
    page.goto(f"{base}/maps/vector")
    page.wait_for_function("() => window.gridmapIdle")
    centre = _vector_popup(page, 118.2860, 40.1610, 19)
    assert evil("img", "党群服务站") in centre
    assert CAMERA_ID in _vector_popup(page, *CAMERA_AT, 19)
    grid = _vector_popup(page, 118.2860, 40.1625, 19)
    assert_literal([grid.replace("\n", " ").replace("\t", " ")])
    assert_inert(watched, "vector-map")


@pytest.mark.parametrize(
    "path",
    ["/", "/docs", "/redoc", "/maps?colour_by=coverage"],
)
def test_other_pages_are_inert(hostile: Hostile, watched: PageLog, path: str) -> None:
    base = hostile.base
    page = watched.page
    page.goto(base + path)
    page.wait_for_load_state("networkidle")
    if path == "/docs":
        page.locator(".swagger-ui .opblock").first.wait_for()
    if path == "/redoc":
        page.locator("redoc .api-content").first.wait_for()
    assert_inert(watched, "page" + path.replace("/", "-").split("?")[0])


@pytest.mark.parametrize("shape", SHAPES)
def test_error_pages_show_payloads_as_text(hostile: Hostile, watched: PageLog, shape: str) -> None:
    base = hostile.base
    page = watched.page
    payload = quote(PAYLOADS[shape], safe="")
    for i, (path, status) in enumerate(
        (
            (f"/maps/region/{payload}", 404),
            (f"/nowhere/{payload}?q={payload}", 404),
            (f"/maps?basemap={payload}", 422),
            (f"/maps/uploads/1?key={payload}", 401),
        )
    ):
        response = page.goto(base + path)
        assert response is not None and response.status == status, path
        assert "text/html" in response.headers["content-type"]
        if i == 0 and "/" not in PAYLOADS[shape]:  # the region's code, quoted in the message
            assert PAYLOADS[shape] in page.locator(".gm-message").inner_text()
        watched.failed_requests.clear()  # the error status itself is the point
        watched.console_errors[:] = [e for e in watched.console_errors if response.url not in e]
        assert_inert(watched, f"error-{i}-{status}-{shape}")


def test_the_exported_page_shows_payloads_as_text(
    hostile: Hostile, watched: PageLog, static_server: StaticSite
) -> None:
    settings = Settings()
    engine = make_engine(hostile.database_url)
    try:
        with engine.connect() as conn:
            html = page_html(
                region_map(conn, settings, STREET, MapOptions()), settings, inline=True
            )
    finally:
        engine.dispose()
    page = watched.page
    page.goto(static_server.publish("export.html", html))
    _wait_for_map(page)
    assert evil("img", "栗乡街道") in page.title()
    assert page.evaluate(CLICK, GRID)
    assert evil("img", "山庄里社区第1网格") in _popup_text(page)
    assert_inert(watched, "export")
