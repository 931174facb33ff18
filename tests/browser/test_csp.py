"""Content-Security-Policy on every HTML page: scripts from gridmap itself or by the
response's nonce, no inline handlers, no plug-ins, no <base>; the pages still work under it
(Chromium, no violation), the chosen base maps' tiles still load, and a script injected into
a page is refused by the browser."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Route

from api.security_headers import content_security_policy
from gis.settings import Settings
from gis.web.page import basemap_hosts

from browser import PageLog, screenshot

PAGES = [
    "/",
    "/maps",
    "/maps/region/130227001",
    "/maps/region/130227001001001",
    "/maps/vector",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\b(?:src=|type=\"application/json))([^>]*)>")
"""An inline script's attributes (JSON data blocks are not scripts)."""


def _policy(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in header.split("; ")}


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_the_policy_and_its_own_nonce(client: TestClient, path: str) -> None:
    nonces = []
    for _ in range(2):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        policy = _policy(response.headers["content-security-policy"])
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'self'"]
        assert "'unsafe-inline'" not in policy["script-src"]
        nonce = next(s for s in policy["script-src"] if s.startswith("'nonce-"))[7:-1]
        inline = INLINE_SCRIPT.findall(response.text)
        assert all(f'nonce="{nonce}"' in attrs for attrs in inline), inline
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


def test_error_pages_and_json_answers_carry_the_headers(client: TestClient) -> None:
    page = client.get("/maps/region/999", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self' 'nonce-" in page.headers["content-security-policy"]
    answer = client.get("/api/v1/regions/130227")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in answer.headers


def test_the_policy_names_the_base_map_hosts() -> None:
    assert basemap_hosts(Settings(tianditu_key="")) == [
        "https://tile.openstreetmap.org",
        *(f"https://webrd0{s}.is.autonavi.com" for s in "1234"),
    ]
    with_key = basemap_hosts(Settings(tianditu_key="k"))
    assert [f"https://t{s}.tianditu.gov.cn" for s in "01234567"] == with_key[-8:]
    policy = _policy(content_security_policy("n", with_key))
    assert set(with_key) <= set(policy["img-src"])


@pytest.mark.parametrize("path", [p for p in PAGES if p != "/docs/oauth2-redirect"])
def test_pages_work_under_the_policy(app_server: str, watched: PageLog, path: str) -> None:
    page = watched.page
    page.goto(app_server + path)
    page.wait_for_load_state("networkidle")
    if path.startswith("/maps/region") or path == "/maps":
        page.locator("path.leaflet-interactive").first.wait_for()
        page.locator(".leaflet-control-measure").first.wait_for()
    elif path == "/maps/vector":
        page.wait_for_function("() => window.gridmapIdle")
    elif path == "/docs":
        page.locator(".swagger-ui .opblock").first.wait_for()
    elif path == "/redoc":
        page.locator("redoc .api-content").first.wait_for()
    assert page.evaluate("window.__csp") == []
    assert watched.problems() == {}


@pytest.mark.parametrize(
    ("basemap", "host"), [("osm", "tile.openstreetmap.org"), ("amap", "is.autonavi.com")]
)
def test_a_chosen_base_map_loads_its_tiles(
    app_server: str, watched: PageLog, basemap: str, host: str
) -> None:
    page = watched.page
    page.goto(f"{app_server}/maps/region/130227001?basemap={basemap}")
    page.locator("path.leaflet-interactive").first.wait_for()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__csp") == []
    asked = [u for u in watched.external_requests if host in u]
    assert asked, "the tiles were requested (then aborted by the test: no internet)"
    assert len(asked) == len(watched.external_requests)


def test_a_script_injected_into_a_page_does_not_run(app_server: str, watched: PageLog) -> None:
    """Were an escape ever missed: the page as served, with markup injected into its HTML
    (an inline script, an event handler, a javascript: link), keeps its own scripts running
    and refuses the injected ones."""
    injected = (
        '<script>window.__xss = "script"</script>'
        '<img src="/static/favicon.svg" onload="window.__xss = \'handler\'">'
        '<a id="gm-evil" href="javascript:window.__xss=\'link\'">x</a>'
    )

    def inject(route: Route) -> None:
        response = route.fetch()
        body = response.text().replace("<body>", "<body>" + injected, 1)
        route.fulfill(response=response, body=body)

    page = watched.page
    page.route("**/maps/region/*", inject)
    page.goto(f"{app_server}/maps/region/130227001")
    page.locator("path.leaflet-interactive").first.wait_for()  # our own scripts ran
    page.click("#gm-evil", force=True)
    page.wait_for_function(  # the link refused as well as the injected script
        "() => window.__csp.filter(b => b.startsWith('script-src-elem inline')).length >= 2"
    )
    assert page.evaluate("window.__xss === undefined")
    blocked = page.evaluate("window.__csp")
    assert any(b.startswith("script-src-elem inline") for b in blocked), blocked
    assert any(b.startswith("script-src-attr inline") for b in blocked), blocked
    screenshot(page, "csp-injected-script-refused")
    watched.console_errors.clear()  # Chromium reports each refusal as an error
    assert watched.problems() == {}
