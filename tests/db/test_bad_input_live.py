"""The request line's refusals through a real uvicorn (tests/db/test_bad_input.py sends the
catalogue in-process): over-long URLs are a JSON 414, a NUL in the path or query a 422, and
the server keeps answering.

Above ~64 KB uvicorn's own HTTP parser answers a plain-text 400 before the app sees the
request; a proxy in front (nginx ``large_client_header_buffers``) should refuse those first.
"""

from __future__ import annotations

import httpx2 as httpx
import pytest

from api.request_line import MAX_URL_BYTES


def url_of(base: str, length: int) -> str:
    """A regions URL whose path and query string (without the ``?``) are ``length`` bytes."""
    path, query = "/api/v1/regions", "level=grid&parent="
    return f"{base}{path}?{query}{'1' * (length - len(path) - len(query))}"


@pytest.mark.parametrize("length", [MAX_URL_BYTES + 1, 60_000])
def test_an_overlong_url_is_a_json_414(app_server: str, length: int) -> None:
    response = httpx.get(url_of(app_server, length), timeout=10)
    assert response.status_code == 414
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == "uri_too_long"
    assert response.json()["details"]["limit"] == MAX_URL_BYTES
    assert httpx.get(f"{app_server}/health", timeout=10).status_code == 200


def test_a_url_at_the_limit_is_served(app_server: str) -> None:
    response = httpx.get(url_of(app_server, MAX_URL_BYTES), timeout=10)
    assert response.status_code == 422  # the parent code's own limit, not the URL's
    assert response.json()["code"] == "invalid_parameter"


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/regions/13%00", "path"),
        ("/api/v1/regions?parent=13%00", "parent"),
        ("/ogc/collections/grids/items?name=%E7%BD%91%00", "name"),
        ("/tiles/grids/14/13000/6000.mvt?cache=o%00n", "cache"),
    ],
)
def test_a_nul_in_the_url_is_invalid_text(app_server: str, path: str, parameter: str) -> None:
    response = httpx.get(app_server + path, timeout=10)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_text"
    assert response.json()["details"]["parameter"] == parameter
