"""The tile fast path (``api.fast_tiles``) answers exactly what the route answers: status,
body and headers, cached or not, gzipped or not, 304, 204, and the route's errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from support import CITY, tile_at

ASK = [
    {},
    {"Accept-Encoding": "gzip"},
    {"Accept-Encoding": "identity"},
    {"Origin": "https://example.org", "Accept-Encoding": "gzip"},
]


def _answer(client: TestClient, url: str, headers: dict[str, str]) -> tuple:
    response = client.get(url, headers=headers)
    return response.status_code, response.content, sorted(response.headers.multi_items())


def _uncounted(answer: tuple) -> tuple:
    """The answer without its ``X-Tile-Cache`` (hit or miss)."""
    return *answer[:2], [h for h in answer[2] if h[0] != "x-tile-cache"]


@pytest.mark.parametrize(
    "path",
    [
        "/tiles/grids/{z}/{x}/{y}.mvt",
        "/tiles/labels/{z}/{x}/{y}.mvt",
        "/tiles/communities/{z}/{x}/{y}.mvt",
        "/tiles/centres/{z}/{x}/{y}.mvt",
    ],
)
@pytest.mark.parametrize("z", [10, 14])
def test_the_fast_path_answers_as_the_route(client: TestClient, path: str, z: int) -> None:
    """``?cache=on`` (the default, as a query string) goes through the route; without a query
    string the fast path answers — the same answer, the first time (made) and the second
    (cached), with and without gzip, and 304 for its own ETag."""
    url = path.format(**dict(zip("zxy", tile_at(*CITY, z), strict=True)))
    for headers in ASK:
        first = _answer(client, url, headers)  # made, or cached by an earlier request
        fast = _answer(client, url, headers)  # cached
        assert ("x-tile-cache", "hit") in fast[2]
        assert fast == _answer(client, f"{url}?cache=on", headers)
        assert _uncounted(first) == _uncounted(fast)
    etag = client.get(url, headers={"Accept-Encoding": "gzip"}).headers.get("etag")
    if etag:
        again = {"If-None-Match": etag, "Accept-Encoding": "gzip"}
        fast = _answer(client, url, again)
        assert fast[0] == 304 and fast == _answer(client, f"{url}?cache=on", again)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tiles/nothing/1/0/0.mvt", 404),
        ("/tiles/grids/3/8/0.mvt", 400),
        ("/tiles/grids/23/0/0.mvt", 400),
        ("/tiles/grids/4/0/0.mvt", 204),
    ],
)
def test_what_the_service_refuses_the_route_answers(
    client: TestClient, path: str, status: int
) -> None:
    fast = _answer(client, path, {"Accept": "application/json"})
    assert fast[0] == status
    route = _answer(client, f"{path}?cache=on", {"Accept": "application/json"})
    assert _uncounted(fast) == _uncounted(route)
